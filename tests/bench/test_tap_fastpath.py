"""The proposed fast path (benchmarks/tap_fastpath.py) must emit exactly what singer-sdk emits, and the
prefetch prototype (benchmarks/tap_prefetch.py) the same records and final state."""

from __future__ import annotations

import datetime
import decimal
import json
import logging
import math
import subprocess
import sys
from pathlib import Path

import pytest
from singer_sdk.helpers._typing import _conform_record_data_types
from singer_sdk.helpers.conform import TypeConformanceLevel
from singer_sdk.singerlib.json import serialize_json

from benchmarks.emulator import EmulatorProcess
from benchmarks.peer import select_streams
from benchmarks.tap_fastpath import _SchemaPlan, conform_root_only, fast_serialize

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
    got = conform_root_only(dict(record), _SchemaPlan(SCHEMA))
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


@pytest.mark.timeout(120)
def test_tap_output_is_identical_with_the_fast_path(tmp_path: Path) -> None:
    """Run the real tap against the emulator twice (as is, with the fast path); compare every message."""
    streams = ["deals", "persons", "organizations", "activities", "notes", "deal_products"]
    sizes = {"deals": 60, "persons": 40, "organizations": 20, "activities": 50, "notes": 30}
    outputs = {}
    with EmulatorProcess(seed=7, sizes=sizes, custom_fields=12, latency_ms=0, burst=None,
                         log_path=tmp_path / "emulator.log") as emu:
        config = tmp_path / "config.json"
        config.write_text(json.dumps({"api_token": emu.token, "api_url": emu.url}))
        discover = subprocess.run([sys.executable, "-m", "benchmarks.entry", "tap", "--config", str(config),
                                   "--discover"], cwd=ROOT, capture_output=True, text=True, check=True)
        catalog_data = select_streams(json.loads(discover.stdout), streams)
        catalog = tmp_path / "catalog.json"
        catalog.write_text(json.dumps(catalog_data))
        for variant in ("tap", "tap-fast", "tap+prefetch", "tap+fast+prefetch"):
            proc = subprocess.run([sys.executable, "-m", "benchmarks.entry", variant, "--config", str(config),
                                   "--catalog", str(catalog)], cwd=ROOT, capture_output=True, text=True,
                                  check=False)
            assert proc.returncode == 0, proc.stderr[-3000:]
            messages = [json.loads(line) for line in proc.stdout.splitlines()]
            for message in messages:
                message.pop("time_extracted", None)
                if message["type"] == "STATE":
                    message["value"] = _without_timestamps(message["value"])
            outputs[variant] = messages
    assert sum(m["type"] == "RECORD" for m in outputs["tap"]) > 200
    assert outputs["tap-fast"] == outputs["tap"]
    # prefetching moves each per-page STATE before the page it does not yet cover; records and the final
    # state are the same
    for variant in ("tap+prefetch", "tap+fast+prefetch"):
        assert _records(outputs[variant]) == _records(outputs["tap"])
        assert _final_state(outputs[variant]) == _final_state(outputs["tap"])


def _records(messages: list[dict]) -> list[dict]:
    return [m for m in messages if m["type"] in {"RECORD", "SCHEMA"}]


def _final_state(messages: list[dict]) -> object:
    return [m for m in messages if m["type"] == "STATE"][-1]["value"]


def _without_timestamps(value: object) -> object:
    if isinstance(value, dict):
        return {k: _without_timestamps(v) for k, v in value.items() if k not in {"replication_key_signpost"}}
    if isinstance(value, list):
        return [_without_timestamps(v) for v in value]
    return value


logging.getLogger("tap-pipedrive").setLevel(logging.WARNING)
