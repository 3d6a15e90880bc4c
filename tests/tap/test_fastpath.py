"""The per-record fast path (``tap_pipedrive/fastpath.py``) emits exactly what singer-sdk's default path
emits, and the page prefetch (``PipedriveStream.request_records``) the same records, STATE that never
covers a record not yet written, and the same final state: real tap runs against the emulator, compared
message by message with the SDK's own path (``tests/tap/sdk_path.py``)."""

from __future__ import annotations

import copy
import datetime
import decimal
import json
import math
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from singer_sdk.helpers._typing import _conform_record_data_types
from singer_sdk.helpers.conform import TypeConformanceLevel
from singer_sdk.singerlib.json import serialize_json

from benchmarks.emulator import EmulatorProcess
from tap_pipedrive import fastpath
from tap_pipedrive.fastpath import (
    EncodedRecordMessage,
    SchemaPlan,
    TinyFloat,
    conform_in_place,
    conform_root_only,
    encode_record,
    extracted_tail,
    fast_json_loads,
    fast_serialize,
    uses_plain_maps,
)
from tap_pipedrive.tap import TapPipedrive
from tests.reliability.conftest import TOKEN, small_emulator
from tests.tap.conftest import base_config, requested_paths

ROOT = Path(__file__).resolve().parents[2]

SCHEMA = {
    "type": "object",
    "properties": {
        "id": {"type": ["integer"]},
        "name": {"type": ["string", "null"]},
        "flag": {"type": ["boolean", "null"]},
        "strict_flag": {"type": "boolean"},
        "either": {"type": ["boolean", "string", "null"]},
        "value": {"type": ["number", "null"]},
        "tags": {"type": ["array", "null"], "items": {"type": "string"}},
        "loose_list": {"type": ["array", "null"]},
        "obj": {"type": ["object", "null"], "properties": {"a": {"type": "integer"}}},
        "free": {"type": ["object", "null"]},
        "when": {"type": ["string", "null"], "format": "date-time"},
        "anything": {},
    },
}

RECORDS = [
    {"id": 1, "name": "a", "flag": 1, "strict_flag": 0, "either": 1, "value": 1.5, "tags": ["x"], "obj": {"a": 1}},
    {"id": 2, "name": None, "flag": None, "strict_flag": True, "value": None, "tags": None, "obj": None},
    {"id": 3, "flag": "yes", "value": math.nan, "free": {"b": 2}, "loose_list": [1, "2"], "unknown": 5},
    {"id": 4, "value": decimal.Decimal("1.10"), "when": datetime.datetime(2026, 1, 2, 3, 4, 5,
                                                                         tzinfo=datetime.timezone.utc)},
    {"id": 5, "value": math.inf, "flag": False, "anything": {"deep": [1, {"x": None}]}, "tags": ("t",)},
    {"id": 6, "when": datetime.date(2026, 1, 2), "flag": [], "obj": ["not", "an", "object"], "name": b"\x00"},
    {},
]


@pytest.mark.parametrize("record", RECORDS)
def test_conform_root_only_equals_the_sdk(record: dict) -> None:
    expected = _conform_record_data_types(dict(record), SCHEMA, TypeConformanceLevel.ROOT_ONLY, None)
    got = conform_root_only(dict(record), SchemaPlan(SCHEMA))
    assert repr(got) == repr(expected)  # repr: NaN != NaN


@pytest.mark.parametrize(
    "obj",
    [
        {"type": "RECORD", "stream": "s", "record": {"a": 1, "b": "é\n\"", "c": [1.5, None, True], "d": {"e": -0.0}}},
        {"t": datetime.datetime(2026, 1, 2, 3, 4, 5, 600, tzinfo=datetime.timezone.utc)},
        {"d": datetime.date(2026, 1, 2), "tm": datetime.time(1, 2)},
        {"n": decimal.Decimal("12.3400")},
        {"nan": math.nan, "inf": -math.inf},
        {"big": 2**70, "tiny": 1e-300, "uni": "😀 ü"},
    ],
)
def test_fast_serialize_equals_the_sdk(obj: dict) -> None:
    assert fast_serialize(obj) == serialize_json(obj)


@pytest.mark.parametrize("record", RECORDS)
def test_conform_in_place_then_encode_equals_the_sdk(record: dict) -> None:
    """The lean path: in-place conforming, then orjson bytes or (None) the exact path; never other output."""
    expected = _conform_record_data_types(dict(record), SCHEMA, TypeConformanceLevel.ROOT_ONLY, None)
    got, unmapped = conform_in_place(dict(record), SchemaPlan(SCHEMA))
    assert unmapped == expected[1]
    encoded = encode_record(got)
    if encoded is not None:
        assert encoded.decode() == serialize_json(expected[0])


_json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True), st.text(),
    st.decimals(allow_nan=False, allow_infinity=False), st.sampled_from(["é", "\x7f", "😀", "\u2028", "a\"b\\c/"]),
)
_json_values = st.recursive(_json_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=6), inner, max_size=4)), max_leaves=20)


def _as_decoded(value: Any) -> Any:
    """``value`` with its floats below 1e-4 tagged as :func:`fast_json_loads` returns them."""
    if isinstance(value, dict):
        return {key: _as_decoded(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_as_decoded(item) for item in value]
    if type(value) is float and value and -1e-4 < value < 1e-4:
        return TinyFloat(value)
    return value


@settings(max_examples=600, deadline=None)
@given(value=st.dictionaries(st.text(max_size=8), _json_values, max_size=8))
def test_encode_record_equals_serialize_json(value: dict) -> None:
    value = _as_decoded(value)
    encoded = encode_record(value)
    if encoded is not None:
        assert encoded.decode() == serialize_json(value)


@settings(max_examples=300, deadline=None)
@given(value=st.floats(allow_nan=False, allow_infinity=False))
def test_encode_record_floats(value: float) -> None:
    record = _as_decoded({"v": value, "w": [value]})
    encoded = encode_record(record)
    assert encoded is None or encoded.decode() == serialize_json(record)


@pytest.mark.parametrize("value", [1e-05, 2.5e-07, -3e-05, 5e-324])
def test_a_tiny_float_not_from_the_decoder_is_written_as_the_same_number(value: float) -> None:
    encoded = encode_record({"v": value})
    assert encoded is not None and json.loads(encoded)["v"] == value
    assert encode_record({"v": TinyFloat(value)}) is None


_decodable = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70), st.text(),
              st.floats(allow_nan=False, allow_infinity=False),
              st.floats(min_value=-1e-3, max_value=1e-3, allow_nan=False)),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=6), inner, max_size=4)),
    max_leaves=20,
)


@settings(max_examples=600, deadline=None)
@given(value=st.dictionaries(st.text(max_size=8), _decodable, max_size=8))
def test_decoded_records_encode_like_serialize_json(value: dict) -> None:
    """What the tap's decoder returns, the encoder writes as ``serialize_json`` does (tiny floats, which orjson
    spells unlike Python, are tagged as decoded and take the exact path)."""
    decoded = fast_json_loads(json.dumps(value).encode())
    assert decoded == value
    encoded = encode_record(decoded)
    assert encoded is None or encoded.decode() == serialize_json(decoded)
    assert encode_record({"tiny": fast_json_loads(b"[2.5e-7]")[0]}) is None
    assert encode_record({"tiny": fast_json_loads(b"[1e-05]")[0]}) is None


def test_fast_json_loads_equals_json_loads() -> None:
    text = '{"a":[1,2.5,-0.0,1e-7,null,true,"\\u00e9\\ud83d\\ude00"],"big":123456789012345678901234567890}'
    assert fast_json_loads(text.encode()) == json.loads(text)
    assert math.isnan(fast_json_loads(b"{\"n\":NaN}")["n"])  # the stdlib fallback
    assert [type(v) for v in fast_json_loads(b"[1e-5,-2.5E-7,0.00001,0.0001,0.0,1e5]")] == [TinyFloat] * 3 + [float] * 3
    assert [type(v) for v in fast_json_loads(b"[NaN,1e-5,0.5]")[1:]] == [TinyFloat, float]  # the fallback tags too
    assert fast_json_loads(b"[1e400]") == [math.inf]


STREAMS = ["deals", "persons", "organizations", "activities", "notes", "deal_products"]
SIZES = {"deals": 60, "persons": 40, "organizations": 20, "activities": 50, "notes": 30}
STREAM_MAPS = {
    "stream_maps": {"deals": {"title_upper": "title.upper()", "value": "__NULL__"},
                    "persons": {"__filter__": "id % 2 == 0"}},
    "flattening_enabled": True,
    "flattening_max_depth": 1,
}
#: run-dependent text: extraction time, the sync's start time in STATE
_VOLATILE = re.compile(r'"(time_extracted|replication_key_signpost)":"[^"]*"')


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Any:
    tmp = tmp_path_factory.mktemp("fastpath")
    with EmulatorProcess(seed=7, sizes=SIZES, custom_fields=12, latency_ms=0, burst=None,
                         log_path=tmp / "emulator.log") as emu:
        # small pages: many pages per stream, so the prefetch and the per-page STATE are exercised
        config = {"api_token": emu.token, "api_url": emu.url, "page_size": 7}
        tap = TapPipedrive(config=config, parse_env_config=False, validate_config=True)
        catalog = tap.catalog_dict
        for entry in catalog["streams"]:
            for meta in entry["metadata"]:
                if meta["breadcrumb"] == []:
                    meta["metadata"]["selected"] = entry["tap_stream_id"] in STREAMS
        yield tmp, config, catalog


def _run(tmp: Path, variant: str, config: dict, catalog: dict, tag: str) -> list[str]:
    config_path, catalog_path = tmp / f"config-{tag}.json", tmp / f"catalog-{tag}.json"
    config_path.write_text(json.dumps(config))
    catalog_path.write_text(json.dumps(catalog))
    proc = subprocess.run([sys.executable, "-m", "tests.tap.sdk_path", variant, "--config", str(config_path),
                           "--catalog", str(catalog_path)], cwd=ROOT, capture_output=True, text=True,
                          check=False, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return [_VOLATILE.sub(r'"\1":"-"', line) for line in proc.stdout.splitlines()]


def _one_by_one(config: dict[str, Any]) -> dict[str, Any]:
    """``config`` reading its streams one after another: output compared message by message needs one order of
    streams (streams read at once interleave by timing)."""
    return {**config, "parallel_streams": 1}


def _records(lines: list[str]) -> list[str]:
    return [line for line in lines if json.loads(line)["type"] != "STATE"]


def _by_stream(lines: list[str]) -> dict[str, list[str]]:
    """Each stream's SCHEMA messages in order, then its RECORD messages sorted (bulk child reads interleave streams
    differently when the parent's pages are prefetched, and a large list read as update-time windows hands its
    pages out as they arrive; the messages themselves must be the SDK's, byte for byte)."""
    schemas: dict[str, list[str]] = {}
    records: dict[str, list[str]] = {}
    for line in _records(lines):
        message = json.loads(line)
        target = records if message["type"] == "RECORD" else schemas
        target.setdefault(message.get("stream", ""), []).append(line)
    return {name: schemas.get(name, []) + sorted(records.get(name, [])) for name in {*schemas, *records}}


def _states(lines: list[str]) -> list[tuple[int, str]]:
    """(records written before it, state text) of every STATE message."""
    out, seen = [], 0
    for line in lines:
        if json.loads(line)["type"] == "STATE":
            out.append((seen, line))
        else:
            seen += 1
    return out


@pytest.mark.timeout(300)
def test_fast_path_and_prefetch_against_the_sdk(setup: Any) -> None:
    tmp, config, catalog = setup
    sdk = _run(tmp, "sdk", _one_by_one(config), catalog, "a")
    fast = _run(tmp, "noprefetch", _one_by_one(config), catalog, "a")
    product = _run(tmp, "product", config, catalog, "a")
    assert sum('"type":"RECORD"' in line for line in sdk) > 200
    assert fast == sdk  # byte for byte (volatile timestamps aside), message by message
    _assert_temporal_forms(sdk)
    # prefetch: the same records and SCHEMA in the same order per stream, the same final state ...
    assert _by_stream(product) == _by_stream(sdk)
    assert json.loads(_states(product)[-1][1]) == json.loads(_states(sdk)[-1][1])  # key order aside
    # ... and no STATE covers a record not yet written. (Prefetching moves a page's STATE one page later, and
    # guarded offset reads page one row early, so the STATEs are not the SDK's own, only as exact.)
    _assert_states_cover_only_written(product)
    _assert_states_cover_only_written(sdk)


_FORMS = {"date-time": re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"), "date": re.compile(r"\d{4}-\d\d-\d\d"),
          "time": re.compile(r"\d\d:\d\d:\d\dZ")}


def _assert_temporal_forms(lines: list[str]) -> None:
    """Both paths emit every date-time, date and time column the SCHEMA declares in its one form (the
    timestamp normalisation runs before either writes)."""
    formats: dict[str, dict[str, str]] = {}
    checked = 0
    for line in lines:
        msg = json.loads(line)
        if msg["type"] == "SCHEMA":
            formats[msg["stream"]] = {k: p["format"] for k, p in msg["schema"]["properties"].items()
                                      if isinstance(p, dict) and p.get("format") in _FORMS}
        elif msg["type"] == "RECORD":
            for column, fmt in formats[msg["stream"]].items():
                value = msg["record"].get(column)
                if value is not None:
                    assert _FORMS[fmt].fullmatch(value), (msg["stream"], column, value)
                    checked += 1
    assert checked > 500


def _assert_states_cover_only_written(lines: list[str]) -> None:
    """Every bookmark of every STATE is at most the latest replication-key value written for its stream so
    far, and each boundary id it lists was written at that second before the STATE."""
    written: dict[str, set[tuple[Any, Any]]] = {}
    latest: dict[str, str] = {}
    checked = 0
    for line in lines:
        msg = json.loads(line)
        if msg["type"] == "RECORD":
            written.setdefault(msg["stream"], set()).add((msg["record"].get("id"), msg["record"].get("update_time")))
            stamp = msg["record"].get("update_time")
            if isinstance(stamp, str) and stamp > latest.get(msg["stream"], ""):
                latest[msg["stream"]] = stamp
        elif msg["type"] == "STATE":
            for stream, entry in msg["value"].get("bookmarks", {}).items():
                for part in [entry, *entry.get("partitions", [])]:
                    value = part.get("replication_key_value")
                    if value is None or part.get("replication_key") != "update_time":
                        continue
                    assert value <= latest.get(stream, ""), (stream, value, latest.get(stream))
                    boundary = part.get("boundary") or {}
                    for key in boundary.get("ids", []):
                        assert (key, boundary["second"]) in written.get(stream, set()), (stream, key, boundary)
                    checked += 1
    assert checked > 10


@pytest.mark.timeout(300)
def test_fast_path_with_deselected_properties(setup: Any) -> None:
    tmp, config, catalog = setup
    catalog = copy.deepcopy(catalog)
    for entry in catalog["streams"]:
        for meta in entry["metadata"]:
            bc = meta["breadcrumb"]
            if entry["tap_stream_id"] in {"deals", "persons"} and len(bc) == 2 and bc[1] in {"title", "name",
                                                                                            "label_ids"}:
                meta["metadata"]["selected"] = False
    sdk = _run(tmp, "sdk", _one_by_one(config), catalog, "b")
    assert not any('"title":' in line for line in sdk if '"stream":"deals"' in line and '"RECORD"' in line)
    assert _run(tmp, "noprefetch", _one_by_one(config), catalog, "b") == sdk


@pytest.mark.timeout(300)
def test_stream_maps_and_flattening_take_the_sdk_path(setup: Any) -> None:
    tmp, config, catalog = setup
    mapped = {**config, **STREAM_MAPS}
    sdk = _run(tmp, "sdk", _one_by_one(mapped), catalog, "c")
    assert any('"title_upper":' in line for line in sdk)
    assert _run(tmp, "noprefetch", _one_by_one(mapped), catalog, "c") == sdk
    product = _run(tmp, "product", mapped, catalog, "c")
    assert _by_stream(product) == _by_stream(sdk)
    assert json.loads(_states(product)[-1][1]) == json.loads(_states(sdk)[-1][1])  # key order aside


def test_uses_plain_maps_only_without_maps(setup: Any) -> None:
    _, config, catalog = setup
    plain = TapPipedrive(config=config, catalog=catalog, parse_env_config=False)
    assert uses_plain_maps(plain.streams["deals"])
    for extra in (STREAM_MAPS, {"flattening_enabled": True, "flattening_max_depth": 1},
                  {"stream_maps": {"deals": {"title": "__NULL__"}}}):
        tap = TapPipedrive(config={**config, **extra}, catalog=catalog, parse_env_config=False)
        assert not uses_plain_maps(tap.streams["deals"]), extra


def test_prefetch_keeps_at_most_one_page_ahead(emulator: Any) -> None:
    """A plain read (``max_requests_in_flight`` 1, no update-time windows) of deals 3 at a time: while page k's
    records are handed out, pages ≤ k + 1 have been requested, never more, and every page is requested exactly
    once."""
    tap = TapPipedrive(config=base_config(emulator, page_size=3, max_requests_in_flight=1), parse_env_config=False)
    stream = tap.streams["deals"]
    before = len(requested_paths(emulator))
    seen = 0
    for _ in stream.get_records(None):
        seen += 1
        page = (seen - 1) // 3 + 1
        time.sleep(0.002)  # give the prefetch thread time to run ahead, if it would
        served = [p for p in requested_paths(emulator)[before:] if p.endswith("/deals")]
        assert len(served) <= page + 1, (seen, len(served))
    time.sleep(0.05)
    served = [p for p in requested_paths(emulator)[before:] if p.endswith("/deals")]
    assert seen > 9
    pages = -(-seen // 3)
    assert pages <= len(served) <= pages + 1  # every page once (and at most an empty last page)


@pytest.mark.timeout(300)
@pytest.mark.parametrize("record_processes", [0, 2])
def test_tiny_floats_are_written_as_the_sdk_writes_them(tmp_path: Path, record_processes: int) -> None:
    """Floats below 1e-4 in Pipedrive's answers (Python spells them ``1e-05``, orjson ``0.00001``) come out of the
    product byte for byte as out of singer-sdk's own path, records encoded in worker processes or in the tap."""
    tiny = [1e-05, 2.5e-07, -3e-05, 9.99e-05]
    with small_emulator(sizes={"deals": 30}) as emu:
        for n, key in enumerate(list(emu.store.tables["deals"].rows)[:12]):
            emu.store.update("deals", key, {"value": tiny[n % 4], "probability": tiny[(n + 1) % 4], "arr": 0.5})
        config = {"api_token": TOKEN, "api_url": emu.url, "page_size": 5, "record_processes": record_processes}
        catalog = TapPipedrive(config=config, parse_env_config=False).catalog_dict
        for entry in catalog["streams"]:
            for meta in entry["metadata"]:
                if meta["breadcrumb"] == []:
                    meta["metadata"]["selected"] = entry["tap_stream_id"] == "deals"
        sdk = _run(tmp_path, "sdk", config, catalog, "tiny")
        product = _run(tmp_path, "product", config, catalog, "tiny")
    assert sum('"value":1e-05' in line or '"value":2.5e-07' in line for line in sdk) >= 6
    assert _by_stream(product) == _by_stream(sdk)


@pytest.mark.parametrize("ns", [1_764_567_890_123_456_789, 1_764_567_890_000_000_000, 1_764_567_890_000_001_000])
def test_the_extraction_time_is_spelled_as_singer_sdk_spells_it(monkeypatch: pytest.MonkeyPatch, ns: int) -> None:
    """``utc_now().isoformat()``: microseconds unless zero, ``+00:00``; the cached second follows the clock."""
    monkeypatch.setattr(fastpath.time, "time_ns", lambda: ns)
    moment = datetime.datetime.fromtimestamp(ns // 1000 / 1e6, datetime.timezone.utc)
    moment = moment.replace(microsecond=ns // 1000 % 1_000_000)
    assert extracted_tail() == b',"time_extracted":"' + moment.isoformat().encode() + b'"}\n'
    message = EncodedRecordMessage(stream="s", record={}, encoded=b'{"a":1}', tail=extracted_tail())
    assert message.to_dict() == {"type": "RECORD", "stream": "s", "record": {"a": 1}, "time_extracted": moment}
