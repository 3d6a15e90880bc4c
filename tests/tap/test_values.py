"""Value coercion (``pipedrive_core.values``): the one form of every timestamp, date, time and number, impossible
values as null and counted; the fused v2 custom-field pass equals flattening then filling."""

from __future__ import annotations

import copy
import datetime as dt
import decimal
import logging
import math
import re

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from pipedrive_core.fields import SUBFIELDS, FieldDef, FieldOption, flatten_v2
from pipedrive_core.values import (
    RememberedConverter,
    TemporalColumns,
    plain_number,
    to_date,
    to_datetime,
    to_int,
    to_number,
    to_time,
    to_utc_time,
)
from tap_pipedrive.custom_fields import CustomFieldPlan

IMPOSSIBLE_DATES = ["0000-00-00", "2024-02-30", "2023-02-29", "2024-13-01", "2024-04-31", "2024-00-10", "garbage", ""]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2024-02-21T07:18:14Z", "2024-02-21T07:18:14Z"),  # v2
        ("2024-02-21 07:18:14", "2024-02-21T07:18:14Z"),  # v1: UTC without a zone
        ("2024-02-21T07:18:14.123Z", "2024-02-21T07:18:14Z"),  # milliseconds
        ("2024-02-21 07:18:14+00:00", "2024-02-21T07:18:14Z"),
        ("2024-02-21T07:18:14+0000", "2024-02-21T07:18:14Z"),
        ("2024-02-21T09:18:14+02:00", "2024-02-21T07:18:14Z"),  # another offset: converted
        ("2024-02-21", "2024-02-21T00:00:00Z"),  # a bare date: its midnight
        ("2024-02-29 23:59:59", "2024-02-29T23:59:59Z"),  # leap day
        (dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc), "2024-01-02T03:04:05Z"),
        ("0000-00-00 00:00:00", None),
        ("2024-02-30 10:00:00", None),
        ("2023-02-29T00:00:00Z", None),
        ("2024-01-01T25:61:00Z", None),
        ("2024-01-01 24:00:00", None),
        ("2024-01-01T10:60:00Z", None),
        ("not a time", None),
        ("", None),
        (12345, None),
    ],
)
def test_to_datetime(raw, expected):
    assert to_datetime(raw) == expected


#: characters a timestamp's digit positions are drawn from: ASCII digits (most), other scripts' digits (which
#: ``\d`` matches and the standard library does not read) and separators out of place
_STAMP_CHARS = st.sampled_from("0123456789" * 6 + "٣१０²-: TZ+.")
_PLAIN_STAMP = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})Z")


def _stamp_oracle(text: str) -> str | None:
    """What ``YYYY-MM-DDTHH:MM:SSZ``-shaped text must give: itself when it is a real UTC moment in ASCII digits."""
    match = _PLAIN_STAMP.fullmatch(text)
    if match is None:
        return None
    try:
        dt.datetime(*map(int, match.groups()))  # type: ignore[misc]
    except ValueError:
        return None
    return text


@settings(max_examples=3000, deadline=None)
@given(year=st.text(_STAMP_CHARS, min_size=4, max_size=4), month=st.sampled_from(["01", "02", "04", "12", "13", "00",
       "1١", "0²"]), day=st.sampled_from(["01", "28", "29", "30", "31", "32", "0٣", "2 "]),
       clock=st.lists(st.one_of(st.sampled_from(["00", "07", "19", "23", "24", "59", "60", "1١", "0٣", "१0", "5 "]),
                                st.text(_STAMP_CHARS, min_size=2, max_size=2)), min_size=3, max_size=3))
def test_timestamps_laid_out_as_v2_are_real_moments_in_ascii_digits_or_none(year: str, month: str, day: str,
                                                                            clock: list[str]) -> None:
    text = f"{year}-{month}-{day}T{':'.join(clock)}Z"
    assume(clock[0] != "24")  # the hour 24 is the standard library's to read (the next day, or not at all)
    assert to_datetime(text) == _stamp_oracle(text)
    assert to_datetime(text.replace("T", " ")[:-1]) == _stamp_oracle(text)  # v1's spelling of the same moment


@pytest.mark.parametrize("text", ["2024-02-21T1١:18:14Z", "2024-02-21 0٣:18:14", "٢٠٢٤-02-21T07:18:14Z"])
def test_other_scripts_digits_are_not_a_timestamp(text: str) -> None:
    assert to_datetime(text) is None


@pytest.mark.parametrize("text", ["1١:00", "0٣:15:00", "10:1२", "10:15:0٣"])
def test_other_scripts_digits_are_not_a_time_of_day(text: str) -> None:
    assert to_time(text) is None
    assert to_utc_time(text) is None


@pytest.mark.parametrize("text", ["2024-02-1٣", "٢٠٢٤-02-13", "2024-0२-13T00:00:00Z"])
def test_other_scripts_digits_are_not_a_date(text: str) -> None:
    assert to_date(text) is None


@pytest.mark.parametrize("convert", [to_date, to_time, to_utc_time])
@settings(max_examples=200, deadline=None)
@given(values=st.lists(st.one_of(
    st.sampled_from(["2024-02-29", "2023-02-29", "0000-00-00", "10:15", "10:15:00", "25:61:00", "2024-02-21 07:18:14",
                     "", "10:15:00Z", "garbage"]),
    st.none(), st.integers(), st.text(max_size=12)), max_size=60))
def test_a_remembered_converter_answers_as_the_converter_does(convert, values: list) -> None:
    remembered = RememberedConverter(convert)
    for value in values * 2:  # every value again, answered from memory
        answer = remembered(value)
        assert answer == convert(value)
        if convert(value) is value:
            assert answer is value  # "unchanged" stays visible by identity, as TemporalColumns tells it


def test_a_remembered_converter_forgets_past_its_limit() -> None:
    remembered = RememberedConverter(to_date)
    for day in range(RememberedConverter.LIMIT * 3):
        assert remembered(f"{2000 + day // 365:04d}-01-01") is not None
        assert remembered(f"x{day}") is None
        assert len(remembered._seen) <= RememberedConverter.LIMIT


def test_temporal_columns_count_every_impossible_value_also_when_remembered() -> None:
    columns = TemporalColumns(SCHEMA)
    for _ in range(5):
        columns.apply({"due_date": "2024-02-30", "due_time": "25:61:00"})
    assert columns.rejected == {"due_date": (5, "2024-02-30"), "due_time": (5, "25:61:00")}


@pytest.mark.parametrize("raw", IMPOSSIBLE_DATES)
def test_impossible_dates_are_none(raw):
    assert to_date(raw) is None
    assert to_datetime(raw) is None


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("2024-02-21", "2024-02-21"), ("2024-02-21 00:00:00", "2024-02-21"), ("2024-02-21T07:18:14Z", "2024-02-21"),
     (dt.date(2024, 1, 2), "2024-01-02"), ("21.02.2024", None), (None, None)],
)
def test_to_date(raw, expected):
    assert to_date(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("10:00", "10:00:00"), ("10:00:00", "10:00:00"), ("23:59:59Z", "23:59:59"), ("08:30:00.250", "08:30:00"),
     ("25:61:00", None), ("24:00:00", None), ("12:60", None), ("7:00", None), ("", None),
     (dt.time(1, 2, 3), "01:02:03")],
)
def test_to_time(raw, expected):
    assert to_time(raw) == expected
    assert to_utc_time(raw) == (None if expected is None else f"{expected}Z")  # format: time (RFC 3339)


@pytest.mark.parametrize(
    ("raw", "number", "integer", "plain"),
    [
        (5, 5, 5, 5),
        (2.0, 2.0, 2, 2),
        (1.5, 1.5, None, 1.5),
        ("0.10", decimal.Decimal("0.10"), None, 0.1),
        (" 7 ", decimal.Decimal("7"), 7, 7),
        ("-3", decimal.Decimal("-3"), -3, -3),
        ("5.0", decimal.Decimal("5.0"), 5, 5),
        (decimal.Decimal("12.50"), decimal.Decimal("12.50"), None, 12.5),
        ({"value": 3}, None, 3, None),
        ("", None, None, None),
        ("x", None, None, None),
        ("NaN", None, None, None),
        (math.nan, None, None, None),
        (math.inf, None, None, None),
        (decimal.Decimal("Infinity"), None, None, None),
        (True, None, None, None),
        (None, None, None, None),
    ],
)
def test_numbers(raw, number, integer, plain):
    assert to_number(raw) == number
    assert type(to_number(raw)) is type(number)
    assert to_int(raw) == integer
    assert plain_number(raw) == plain
    assert type(plain_number(raw)) is type(plain)


SCHEMA = {
    "properties": {
        "id": {"type": "integer"},
        "update_time": {"type": ["string", "null"], "format": "date-time"},
        "won_time": {"type": ["string", "null"], "format": "date-time"},
        "due_date": {"type": ["string", "null"], "format": "date"},
        "due_time": {"type": ["string", "null"], "format": "time"},
        "title": {"type": ["string", "null"]},
        "flow": {"type": ["object", "null"], "properties": {"timestamp": {"type": "string", "format": "date-time"}}},
    }
}


def test_temporal_columns_follow_the_schema_and_count_impossible_values(caplog):
    columns = TemporalColumns(SCHEMA)
    records = [
        {"id": 1, "update_time": "2024-02-21 07:18:14", "won_time": None, "due_date": "2024-02-30",
         "due_time": "25:61:00", "title": "0000-00-00", "flow": {"timestamp": "2024-02-21 07:18:14"}},
        {"id": 2, "update_time": "2024-02-21T07:18:14.5Z", "won_time": "0000-00-00 00:00:00", "due_date": "0000-00-00",
         "due_time": "10:00", "flow": {"timestamp": "2024-02-31 00:00:00"}},
        {"id": 3, "due_date": "2024-02-29 00:00:00"},
    ]
    for record in records:
        columns.apply(record)
    assert records[0] == {"id": 1, "update_time": "2024-02-21T07:18:14Z", "won_time": None, "due_date": None,
                          "due_time": None, "title": "0000-00-00", "flow": {"timestamp": "2024-02-21T07:18:14Z"}}
    assert records[1] == {"id": 2, "update_time": "2024-02-21T07:18:14Z", "won_time": None, "due_date": None,
                          "due_time": "10:00:00Z", "flow": {"timestamp": None}}
    assert records[2] == {"id": 3, "due_date": "2024-02-29"}
    assert columns.rejected == {"due_date": (2, "2024-02-30"), "due_time": (1, "25:61:00"),
                                "won_time": (1, "0000-00-00 00:00:00"), "flow.timestamp": (1, "2024-02-31 00:00:00")}
    logger = logging.getLogger("test-values")
    with caplog.at_level(logging.WARNING, logger="test-values"):
        columns.report(logger, "deals")
        columns.report(logger, "deals")  # reported once, then forgotten
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 4
    assert "deals: 2 impossible values in due_date (first: '2024-02-30') emitted as null" in lines
    assert columns.rejected == {}


def test_temporal_columns_skip_and_empty():
    assert not TemporalColumns({"properties": {"a": {"type": "string"}}})
    columns = TemporalColumns(SCHEMA, skip=frozenset({"update_time"}))
    record = {"update_time": "2024-02-21 07:18:14"}
    columns.apply(record)
    assert record == {"update_time": "2024-02-21 07:18:14"}


# -- custom fields: the fused v2 pass ----------------------------------------------------------------------

TYPES = ["varchar", "text", "int", "double", "monetary", "enum", "set", "date", "daterange", "time", "timerange",
         "address", "user", "org", "people", "phone", "visible_to"]


def _fields() -> dict[str, FieldDef]:
    out = {}
    for i, ftype in enumerate(TYPES):
        key = f"{i + 1:040x}"
        options = (FieldOption(1, "One"), FieldOption(2, "Two")) if ftype in {"enum", "set"} else ()
        out[key] = FieldDef(id=100 + i, key=key, name=f"My {ftype}", field_type=ftype, options=options)
    return out


FIELDS = _fields()
_scalar = st.one_of(st.none(), st.integers(-5, 5), st.floats(allow_nan=False, allow_infinity=False),
                    st.text(max_size=5),
                    st.sampled_from(["1", "2.5", "2024-02-30", "10:00", "1,2"]))
_value = st.one_of(
    _scalar,
    st.lists(st.one_of(st.integers(0, 3), st.text(max_size=2)), max_size=3),
    st.dictionaries(st.sampled_from(["value", "until", "start", "end", "currency", "locality", "formatted_address",
                                     "id"]), _scalar, max_size=4),
)
_nested = st.dictionaries(st.sampled_from([*FIELDS, "f" * 40]), _value, max_size=len(FIELDS))


@pytest.mark.parametrize("labels", [False, True])
@settings(max_examples=150, deadline=None)
@given(nested=_nested)
def test_apply_v2_equals_flatten_then_fill(labels, nested):
    plan = CustomFieldPlan.build(FIELDS, mode="name", reserved=["id", "title"], resolve_labels=labels)
    got = plan.apply_v2({"id": 1, "custom_fields": copy.deepcopy(nested)})
    expected: dict = {"id": 1}
    plan._fill(expected, flatten_v2(copy.deepcopy(nested), FIELDS), pop=False)
    assert list(got.items()) == list(expected.items())  # the same columns, values and column order


def test_custom_time_columns_are_wall_clock_strings():
    """Custom times carry no zone in the API: no ``format: time`` (RFC 3339 wants an offset), but still written
    ``HH:MM:SS`` with impossible ones nulled, through the stream's temporal pass."""
    plan = CustomFieldPlan.build(FIELDS, mode="key", reserved=[])
    props = plan.schema_properties()
    times = plan.time_columns()
    keys = [k for k, f in FIELDS.items() if f.field_type in {"time", "timerange"}]
    assert set(times) == {keys[0], keys[1], f"{keys[1]}_until"}
    assert all("format" not in props[column] for column in times)
    columns = TemporalColumns({"properties": props}, extra=times)
    record = {keys[0]: "25:61:00", keys[1]: "09:30", f"{keys[1]}_until": "10:15:00"}
    columns.apply(record)
    assert record == {keys[0]: None, keys[1]: "09:30:00", f"{keys[1]}_until": "10:15:00"}
    assert columns.rejected == {keys[0]: (1, "25:61:00")}


def test_subfields_of_every_composite_type_are_planned():
    plan = CustomFieldPlan.build(FIELDS, mode="key", reserved=[])
    for item in plan._planned:
        assert [s for s, _, _ in item.v2_subfields] == list(SUBFIELDS.get(FIELDS[item.key].field_type, ()))


@pytest.mark.parametrize("text", ["²", "³", "¹²", "-²", " ⁵ "])
def test_digits_that_int_does_not_read_are_not_numbers(text: str) -> None:
    """``str.isdigit`` accepts superscripts, which ``int`` refuses: such a value is not a number (null, or a bad
    bookmark, a pagination error that names it), never a bare ``ValueError``."""
    from pipedrive_core.http.errors import PaginationError
    from pipedrive_core.pagination import next_start
    from pipedrive_core.values import to_int
    from tap_pipedrive.errors import BadBookmarkError
    from tap_pipedrive.incremental import bookmark_from_state

    assert to_int(text) is None
    with pytest.raises(PaginationError):  # a typed stop that names the problem, not a bare ValueError
        next_start({"additional_data": {"pagination": {"more_items_in_collection": True, "next_start": text}}})
    with pytest.raises(BadBookmarkError):
        bookmark_from_state(text)


@pytest.mark.parametrize(("text", "number"), [("0", 0), ("42", 42), ("007", 7), ("²", None), ("¹²", None),
                                              ("٣", None), ("１", None), ("-1", None), (" 1", None), ("1.0", None),
                                              ("", None)])
def test_ids_are_read_from_ascii_digits_only(text: str, number: int | None) -> None:
    """Ids in paths, queries, leases and the ledger: ASCII digits, nothing ``int`` would stretch to read."""
    from pipedrive_core.values import digits_int

    assert digits_int(text) == number
