"""Impossible dates and times from Pipedrive (issue 10 §2, issue 12 "Timestamps"): in every built-in and custom
date-time, date and time column of every top-level stream they become null, each column's raw text is logged
once with its count, every other value is in its one form, and the real target-postgres loads the stream into
timestamp/date/time columns.

Real accounts hold such values (``0000-00-00``, ``2024-02-30``, ``25:61:00``); the emulator does not produce
them, so its answers are rewritten on the way out (``rewrite_answers``): every temporal value of every record
of every top-level list is replaced by an impossible one of its kind, chosen from the stream's discovered schema.
"""

from __future__ import annotations

import dataclasses
import json
import re
import subprocess
import sys
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pipedrive_core.catalogue import active
from pipedrive_core.fields import RANGE_TYPES, TIME_TYPES
from tap_pipedrive.tap import TapPipedrive
from tests.tap.conftest import catalog_for

from .conftest import REPO, small_emulator, sync, tap_config

#: per declared format: the impossible values the rewritten answers cycle through
#: (digits of other scripts are no date: ``\d`` matches them, the standard library does not read them)
IMPOSSIBLE: dict[str, tuple[str, ...]] = {
    "date-time": ("0000-00-00 00:00:00", "2024-02-30T10:00:00Z", "2023-02-29 12:00:00", "2024-01-01 25:61:00",
                  "2024-02-21T1١:18:14Z", "2024-02-21 0٣:18:14"),
    "date": ("0000-00-00", "2024-02-30", "2024-04-31", "2024-02-1٣"),
    "time": ("25:61:00", "24:00:00", "12:60", "1١:00", "10:15:0٣"),
}
#: the one form of each kind, in ASCII digits
FORMS = {
    "date-time": re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", re.ASCII),
    "date": re.compile(r"\d{4}-\d\d-\d\d", re.ASCII),
    "time": re.compile(r"\d\d:\d\d:\d\dZ", re.ASCII),
    "wall-time": re.compile(r"\d\d:\d\d:\d\d", re.ASCII),
}
TOP_LEVEL = {r.name: r for r in active() if r.parent is None}


def _kinds(schema: dict[str, Any], rk: str | None) -> dict[str, str]:
    """Top-level column → ``date-time``/``date``/``time``/``wall-time`` (custom times) by the schema."""
    out = {}
    for name, prop in schema.get("properties", {}).items():
        if name == rk or not isinstance(prop, dict):
            continue
        if prop.get("format") in IMPOSSIBLE:
            out[name] = prop["format"]
    return out


@pytest.fixture(scope="module")
def world() -> Iterator[tuple[Any, dict[str, Any], dict[str, dict[str, str]], set[tuple[str, Any, str]]]]:
    """A small emulator whose top-level lists answer impossible dates/times in every temporal column; the set
    holds each (stream, record key, column) whose value was replaced."""
    with small_emulator(seed=11) as emu:
        config = tap_config(emu)
        tap = TapPipedrive(config=config, parse_env_config=False)
        customs = {name: _custom_temporal(emu, name) for name in TOP_LEVEL}
        kinds = {}
        for name, stream in tap.streams.items():
            if name in TOP_LEVEL:
                kinds[name] = _kinds(stream.schema, stream.replication_key)
                for column, kind in customs[name].items():
                    if column in stream.schema["properties"]:
                        kinds[name][column] = kind
        kinds = {name: cols for name, cols in kinds.items() if cols}
        tally: Counter[tuple[str, str]] = Counter()
        spoiled: set[tuple[str, Any, str]] = set()
        paths = {}
        for name in kinds:
            res = TOP_LEVEL[name]
            for path in (res.read_path, getattr(res, "archived_path", None)):
                if path:
                    paths[path.split("?")[0]] = name
        field_types = {name: {d["key"]: d["field_type"] for d in emu.store.field_defs(name, custom_only=True)}
                       for name in kinds if _has_fields(emu, name)}

        original = emu.handle

        def handle(method: str, target: str, headers: dict[str, str], raw: bytes) -> Any:
            answer, rule, req = original(method, target, headers, raw)
            name = paths.get(req.path)
            if name is not None and answer.status == 200 and answer.content_type == "application/json":
                body = json.loads(answer.body)
                for record in body.get("data") or ():
                    if isinstance(record, dict):
                        _spoil(record, name, kinds[name], field_types.get(name, {}), tally, spoiled)
                answer = dataclasses.replace(answer, body=json.dumps(body).encode())
            return answer, rule, req

        emu.handle = handle
        yield emu, config, kinds, spoiled


def _has_fields(emu: Any, name: str) -> bool:
    try:
        return bool(emu.store.field_defs(name, custom_only=True))
    except (KeyError, ValueError):
        return False


def _custom_temporal(emu: Any, name: str) -> dict[str, str]:
    """Custom columns (``custom_field_names: key``: the 40-hex key and its suffixes) that hold dates or times."""
    if not _has_fields(emu, name):
        return {}
    out = {}
    for field in emu.store.field_defs(name, custom_only=True):
        ftype, key = field["field_type"], field["key"]
        if ftype in {"date", "daterange"}:
            out[key] = "date"
        elif ftype in TIME_TYPES:
            out[key] = "wall-time"
        if ftype in RANGE_TYPES:
            out[f"{key}_until"] = out[key]
    return out


def _impossible(kind: str, n: int) -> str:
    values = IMPOSSIBLE["time" if kind == "wall-time" else kind]
    return values[n % len(values)]


def _spoil(record: dict[str, Any], stream: str, kinds: dict[str, str], field_types: dict[str, str],
           tally: Counter[tuple[str, str]], spoiled: set[tuple[str, Any, str]]) -> None:
    """Replace every temporal value of ``record`` (built-in keys, v2 ``custom_fields``, v1 custom keys)."""
    nested = record.get("custom_fields") if isinstance(record.get("custom_fields"), dict) else None
    for column, kind in kinds.items():
        key = column[:40]
        bad = _impossible(kind, sum(tally.values()))
        if key in field_types and nested is not None:  # v2 custom field (ranges are {value, until} objects)
            if field_types[key] in RANGE_TYPES:
                part = "until" if column.endswith("_until") else "value"
                nested[key] = {**(nested.get(key) or {}), part: bad}
            else:
                nested[key] = bad
        elif column in record:
            record[column] = bad
        else:
            continue
        tally[(stream, column)] += 1
        spoiled.add((stream, record.get(TOP_LEVEL[stream].key), column))


def test_impossible_values_become_null_logged_once_per_column(world) -> None:
    _, config, kinds, spoiled = world
    result = sync(config, streams=sorted(kinds))
    assert result.exit_code == 0, result.log[-3000:]
    assert len(kinds) >= 8, kinds  # every top-level stream with dates or times, not a hand-picked few
    assert {name for name, _, _ in spoiled} >= {"deals", "persons", "organizations", "activities", "notes"}
    expected: Counter[tuple[str, str]] = Counter()
    for name, columns in kinds.items():
        key = TOP_LEVEL[name].key
        for record in result.records.get(name, []):
            for column, kind in columns.items():
                value = record.get(column)
                if (name, record.get(key), column) in spoiled:
                    assert value is None, (name, column, value)
                    expected[(name, column)] += 1
                else:
                    assert value is None or FORMS[kind].fullmatch(value), (name, column, value)
    assert len(expected) > 40
    reported = [line for line in result.log.splitlines() if " impossible value" in line]
    for (name, column), count in expected.items():
        lines = [line for line in reported if f"{name}: " in line and f" in {column} (first: " in line]
        assert len(lines) == 1, (name, column, lines)  # once per stream and column, with the count
        assert f"{name}: {count} impossible value{'' if count == 1 else 's'} in {column} (first: '" in lines[0]
    assert len(reported) == len(expected)


def test_valid_values_keep_their_instant_in_one_form() -> None:
    """Without rewriting: v1 spaces, v2 RFC 3339 and due_time all come out in the one form per kind."""
    with small_emulator(seed=12) as emu:
        tap = TapPipedrive(config=tap_config(emu), parse_env_config=False)
        kinds = {name: _kinds(tap.streams[name].schema, None) for name in ("activities", "notes", "deals")}
        result = sync(tap_config(emu), streams=["activities", "notes", "deals"])
        assert result.exit_code == 0
        checked = 0
        for name, columns in kinds.items():
            for record in result.records[name]:
                for column, kind in columns.items():
                    if record.get(column) is not None:
                        assert FORMS[kind].fullmatch(record[column]), (name, column, record[column])
                        checked += 1
        assert checked > 100
        assert "impossible value" not in result.log


# -- the real loader --------------------------------------------------------------------------------------

PG_STREAMS = ["deals", "persons", "activities", "notes"]


@pytest.mark.e2e
@pytest.mark.timeout(600)
def test_target_postgres_loads_impossible_dates_into_typed_columns(world, tmp_path: Path) -> None:
    from tests.meltano_support import PG_URL, installed_meltano_env

    installed_meltano_env("TAP_PIPEDRIVE_", "TARGET_POSTGRES_")
    psycopg = pytest.importorskip("psycopg")
    loader = REPO / ".meltano" / "loaders" / "target-postgres" / "venv" / "bin" / "target-postgres"
    if not loader.exists():
        pytest.skip("meltano install did not create target-postgres")
    _, config, kinds, _ = world
    catalog = catalog_for(TapPipedrive(config=config, parse_env_config=False), PG_STREAMS)
    (tmp_path / "config.json").write_text(json.dumps(config))
    (tmp_path / "catalog.json").write_text(json.dumps(catalog))
    schema = f"perf_dates_{uuid.uuid4().hex[:10]}"
    (tmp_path / "target.json").write_text(json.dumps({
        "sqlalchemy_url": PG_URL.replace("postgresql://", "postgresql+psycopg://"), "default_target_schema": schema,
    }))
    try:
        tap = subprocess.run([sys.executable, "-m", "tap_pipedrive", "--config", str(tmp_path / "config.json"),
                              "--catalog", str(tmp_path / "catalog.json")], cwd=REPO, capture_output=True,
                             timeout=300, check=False)
        assert tap.returncode == 0, tap.stderr[-3000:]
        assert b"impossible value" in tap.stderr
        load = subprocess.run([str(loader), "--config", str(tmp_path / "target.json")], input=tap.stdout,
                              capture_output=True, timeout=300, check=False)
        assert load.returncode == 0, load.stderr[-4000:]
        with psycopg.connect(PG_URL) as conn:
            for name in PG_STREAMS:
                sent = sum(1 for line in tap.stdout.splitlines() if line.startswith(
                    b'{"type":"RECORD","stream":"%s"' % name.encode()))
                (count,) = conn.execute(f'SELECT count(*) FROM "{schema}"."{name}"').fetchone()
                assert count == len({json.loads(line)["record"]["id"] for line in tap.stdout.splitlines()
                                     if line.startswith(b'{"type":"RECORD","stream":"%s"' % name.encode())})
                assert sent >= count > 0
                types = dict(conn.execute("SELECT column_name, data_type FROM information_schema.columns "
                                          "WHERE table_schema = %s AND table_name = %s", (schema, name)).fetchall())
                for column, kind in kinds[name].items():
                    if column not in types:
                        continue
                    expected = {"date-time": "timestamp", "date": "date", "time": "time",
                                "wall-time": "text"}[kind]
                    assert types[column].startswith(expected), (name, column, types[column])
                    (nonnull,) = conn.execute(f'SELECT count("{column}") FROM "{schema}"."{name}"').fetchone()
                    assert nonnull == 0, (name, column)  # every value was impossible: all null, none broke the load
    finally:
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
