"""Custom-field model: typing per field_type, column naming, v1 flat <-> v2 nested."""

from __future__ import annotations

import pytest

from pipedrive_core.fields import (
    FieldDef,
    UnknownOptionError,
    assign_columns,
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
    assert (f.key, f.name, f.option_id("gold"), f.option_label(3)) == (K[7], "Tier", 3, "Gold")


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
