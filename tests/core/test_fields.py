"""Custom-field model: typing per field_type, column naming, v1 flat <-> v2 nested."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipedrive_core.fields import (
    SUBFIELDS,
    FieldDef,
    UnknownOptionError,
    assign_columns,
    columns_of,
    flat_schema,
    flatten_v2,
    nest_v2,
    parse_fields,
    snake_case,
)

K = {n: f"{n:040x}" for n in range(1, 20)}


def fd(n: int, name: str, ftype: str, options=()) -> FieldDef:
    return FieldDef.from_api({"id": n, "key": K[n], "name": name, "field_type": ftype,
                              "options": [{"id": i, "label": lab} for i, lab in options]})


@pytest.mark.parametrize(
    ("ftype", "expected"),
    [
        ("int", {"type": ["integer", "null"]}),
        ("double", {"type": ["number", "null"]}),
        ("monetary", {"type": ["number", "null"]}),
        ("date", {"type": ["string", "null"], "format": "date"}),
        ("time", {"type": ["string", "null"], "format": "time"}),
        ("enum", {"type": ["integer", "null"]}),
        ("set", {"type": ["array", "null"], "items": {"type": "integer"}}),
        ("user", {"type": ["integer", "null"]}),
        ("org", {"type": ["integer", "null"]}),
        ("people", {"type": ["integer", "null"]}),
        ("varchar", {"type": ["string", "null"]}),
        ("text", {"type": ["string", "null"]}),
        ("phone", {"type": ["string", "null"]}),
    ],
)
def test_value_types_per_field_type(ftype, expected):
    f = fd(1, "X", ftype)
    assert flat_schema(f)[f.key] == expected


def test_composite_types_have_their_subfields():
    money, dates, times, addr = fd(1, "M", "monetary"), fd(2, "D", "daterange"), fd(3, "T", "timerange"), fd(
        4, "A", "address")
    assert flat_schema(money)[f"{K[1]}_currency"] == {"type": ["string", "null"]}
    assert flat_schema(dates)[f"{K[2]}_until"]["format"] == "date"
    assert flat_schema(times)[f"{K[3]}_until"]["format"] == "time"
    assert {f"{K[4]}_locality", f"{K[4]}_postal_code", f"{K[4]}_formatted_address"} <= set(flat_schema(addr))


def test_v2_fields_records_parse_too():
    f = FieldDef.from_api({"id": 7, "field_code": K[7], "field_name": "Tier", "field_type": "enum",
                           "options": [{"id": 3, "label": "Gold"}]})
    assert (f.key, f.name, f.option_id("gold")) == (K[7], "Tier", 3)


def test_option_lookup_by_id_label_and_unknown():
    f = fd(1, "Tier", "enum", [(1, "Gold"), (2, "Silver")])
    assert f.option_id(2) == 2
    assert f.option_id("2") == 2
    assert f.option_id(" SILVER ") == 2
    with pytest.raises(UnknownOptionError, match="'Bronze' is not an option of field 'Tier'"):
        f.option_id("Bronze")
    with pytest.raises(UnknownOptionError):
        f.option_id(True)


def test_snake_case():
    assert snake_case("Deal Size (€)") == "deal_size"
    assert snake_case("CamelCase name") == "camel_case_name"
    assert snake_case("2nd phone") == "f_2nd_phone"
    assert snake_case("💥") == "field"


def test_name_columns_dedupe_against_each_other_builtins_and_subfields():
    fields = [fd(1, "Region", "varchar"), fd(2, "Region", "varchar"), fd(3, "Value", "double"),
              fd(4, "Budget", "monetary"), fd(5, "Budget currency", "varchar"), fd(6, "Size", "int")]
    cols = assign_columns(fields, mode="name", reserved={"id", "value", "title"})
    assert cols[K[1]] == "region_1"
    assert cols[K[2]] == "region_2"
    assert cols[K[3]] == "value_3"
    assert cols[K[4]] == "budget"
    assert cols[K[5]] == "budget_currency_5"  # would collide with budget's subfield column
    assert cols[K[6]] == "size"
    assert len(set(cols.values())) == len(cols)


def test_name_columns_are_stable_across_renames_and_key_mode_keeps_keys():
    before = assign_columns([fd(1, "Size", "int")], mode="name")
    after = assign_columns([fd(1, "Company size", "int"), fd(2, "Size", "int")], mode="name", previous=before)
    assert after[K[1]] == "size"  # kept
    assert after[K[2]] == "size_2"  # the new field cannot take it
    assert assign_columns([fd(1, "Size", "int")], mode="key") == {K[1]: K[1]}


def test_builtin_fields_get_no_custom_column():
    fields = parse_fields([{"id": 1, "key": "title", "name": "Title", "field_type": "varchar"}])
    assert assign_columns(fields.values(), mode="name") == {}


def test_v2_nested_and_v1_flat_round_trip():
    fields = {f.key: f for f in [fd(1, "M", "monetary"), fd(2, "D", "daterange"), fd(3, "A", "address"),
                                 fd(4, "S", "set"), fd(5, "V", "varchar")]}
    nested = {
        K[1]: {"value": 10.5, "currency": "EUR"},
        K[2]: {"value": "2026-01-01", "until": "2026-01-31"},
        K[3]: {"value": "Main St 1, Tallinn", "locality": "Tallinn", "formatted_address": "Main St 1, Tallinn"},
        K[4]: [1, 2],
        K[5]: "text",
    }
    flat = flatten_v2(nested, fields)
    assert flat[K[1]] == 10.5 and flat[f"{K[1]}_currency"] == "EUR"
    assert flat[f"{K[2]}_until"] == "2026-01-31"
    assert flat[f"{K[3]}_locality"] == "Tallinn" and flat[f"{K[3]}_route"] is None
    back = nest_v2(flat, fields)
    assert back[K[1]] == nested[K[1]] and back[K[2]] == nested[K[2]] and back[K[4]] == [1, 2]
    assert back[K[3]]["locality"] == "Tallinn"
    assert nest_v2({K[1]: None}, fields) == {K[1]: None}
    assert flatten_v2({K[2]: {"start": "2026-02-01", "end": "2026-02-02"}}, fields)[f"{K[2]}_until"] == "2026-02-02"
    assert flatten_v2(None, fields) == {}


# -- column names are unique in every case (property-based) ------------------------------------------------

FIELD_TYPES = ("varchar", "varchar_auto", "text", "int", "double", "monetary", "date", "daterange", "time",
               "timerange", "enum", "set", "user", "org", "people", "phone", "address", "varchar_options")
BUILTINS = ("id", "title", "value", "currency", "name", "add_time", "update_time", "label", "region",
            "budget_currency", "owner_id")
_SUFFIXES = sorted({s for parts in SUBFIELDS.values() for s in parts} | {"label", "labels"})


@st.composite
def field_sets(draw: st.DrawFn) -> tuple[list[FieldDef], set[str], dict[str, str]]:
    """Fields whose names collide every way we know: with built-ins, with each other, with another field's
    derived names (``foo_currency``, ``foo_label``, ``foo_12``), in odd spellings; plus a ``previous`` mapping
    that may itself be stale or colliding."""
    count = draw(st.integers(1, 12))
    ids = draw(st.lists(st.integers(0, 40), min_size=count, max_size=count))  # repeats and 0 on purpose
    stems = ["Foo", "Region", "Budget", "ID", "Value", "Label", "12", "Größe", "", "!!"]
    names: list[str] = []
    for _ in range(count):
        kind = draw(st.sampled_from(["stem", "builtin", "derived", "suffixed", "free"]))
        if kind == "stem":
            names.append(draw(st.sampled_from(stems)))
        elif kind == "builtin":
            names.append(draw(st.sampled_from(BUILTINS)).replace("_", " ").title())
        elif kind == "derived":
            names.append(f"{draw(st.sampled_from(stems))} {draw(st.sampled_from(_SUFFIXES))}")
        elif kind == "suffixed":
            names.append(f"{draw(st.sampled_from(stems))} {draw(st.sampled_from(ids))}")
        else:
            names.append(draw(st.text(min_size=0, max_size=12)))
    fields = [
        FieldDef(id=fid, key=f"{n:040x}", name=name, field_type=draw(st.sampled_from(FIELD_TYPES)))
        for n, (fid, name) in enumerate(zip(ids, names, strict=True))
    ]
    reserved = set(draw(st.lists(st.sampled_from(BUILTINS), max_size=len(BUILTINS))))
    previous = draw(st.dictionaries(st.sampled_from([f.key for f in fields]),
                                    st.sampled_from(["foo", "foo_currency", "region", "id", "budget", "foo_1",
                                                     "region_label"]), max_size=4))
    return fields, reserved, previous


def _all_columns(fields: list[FieldDef], assigned: dict[str, str]) -> list[str]:
    by_key = {f.key: f for f in fields}
    return [col for key, base in assigned.items() for col in columns_of(by_key[key], base)]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(field_sets(), st.randoms(use_true_random=False))
def test_every_column_is_unique_whatever_the_field_names(case, rng):
    fields, reserved, previous = case
    assigned = assign_columns(fields, mode="name", reserved=reserved, previous=previous)
    assert set(assigned) == {f.key for f in fields}
    columns = _all_columns(fields, assigned)
    assert len(columns) == len(set(columns)), sorted(columns)
    assert not set(columns) & reserved
    shuffled = list(fields)
    rng.shuffle(shuffled)
    assert assign_columns(shuffled, mode="name", reserved=reserved, previous=previous) == assigned


@settings(max_examples=200, deadline=None)
@given(field_sets(), field_sets())
def test_columns_kept_from_a_previous_run_survive_new_fields(first, later):
    """Stability: once assigned, a field keeps its column when fields are added (unless its own type changed)."""
    old_fields, reserved, _ = first
    before = assign_columns(old_fields, mode="name", reserved=reserved)
    new_fields = [FieldDef(id=f.id + 100, key=f"{i + 100:040x}", name=f.name, field_type=f.field_type)
                  for i, f in enumerate(later[0])]
    after = assign_columns(old_fields + new_fields, mode="name", reserved=reserved, previous=before)
    assert {k: after[k] for k in before} == before
    columns = _all_columns(old_fields + new_fields, after)
    assert len(columns) == len(set(columns))


def test_a_field_named_like_another_fields_suffixed_or_label_column_gets_its_own():
    """Found by the property test's class: ``ID 5`` (id 3) takes ``id_5``, then field 5 named ``ID`` (a built-in)
    must not get ``id_5`` too; an enum ``Region`` owns ``region_label`` even when labels are not resolved."""
    fields = [fd(3, "ID 5", "varchar"), fd(5, "ID", "int"), fd(6, "Region", "enum"), fd(7, "Region label", "text")]
    cols = assign_columns(fields, mode="name", reserved={"id"})
    assert cols[K[3]] == "id_5"
    assert cols[K[5]] == "id_5_2"
    assert cols[K[6]] == "region" and cols[K[7]] == "region_label_7"
