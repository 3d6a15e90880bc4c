"""``record_processes``: the records of list pages typed and encoded in worker processes
(``tap_pipedrive/record_processes.py``). The tap's output must be the same byte for byte as without them, for
every top-level stream of the catalogue, with the same final STATE; the setting is validated; and a stream the
workers cannot serve exactly (a stream map, flattening, a selected child, file downloads) stays in the tap's own
process. Stops and changing data with workers: ``tests/reliability/test_record_processes.py``."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from singer_sdk.exceptions import ConfigValidationError

from pipedrive_core.catalogue import active
from pipedrive_emulator.server import Emulator
from tap_pipedrive import record_processes
from tap_pipedrive.client import PipedriveStream
from tap_pipedrive.fastpath import BOOKMARK_VALUE, ENCODED
from tap_pipedrive.tap import TapPipedrive
from tests.reliability.conftest import REPO, cli_env, small_emulator, tap_config, write_json
from tests.tap.conftest import catalog_for

#: every top-level list of the catalogue
TOP_LEVEL = sorted(r.name for r in active() if r.parent is None)
#: run-dependent text: extraction time, the sync's start time in STATE
_VOLATILE = re.compile(r'"(time_extracted|replication_key_signpost)":"[^"]*"')
_ENCODED_LOG = re.compile(r"Record processes: (\d+) pages encoded by (\d+) workers, (\d+) of them processed here")


@pytest.fixture(scope="module")
def world() -> Iterator[tuple[Emulator, dict[str, Any], dict[str, Any]]]:
    with small_emulator(seed=5) as emu:
        config = tap_config(emu, page_size=7)  # many pages per stream
        tap = TapPipedrive(config=config, parse_env_config=False)
        streams = [name for name in TOP_LEVEL if name in tap.streams]
        yield emu, config, catalog_for(tap, streams)


def _cli(tmp: Path, config: dict[str, Any], catalog: dict[str, Any], tag: str) -> tuple[list[str], str]:
    """(stdout lines with volatile times blanked, stderr) of one CLI run."""
    proc = subprocess.run(
        [sys.executable, "-m", "tap_pipedrive", "--config", str(write_json(tmp / f"config-{tag}.json", config)),
         "--catalog", str(write_json(tmp / f"catalog-{tag}.json", catalog))],
        capture_output=True, text=True, cwd=REPO, env=cli_env(), timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return [_VOLATILE.sub(r'"\1":"-"', line) for line in proc.stdout.splitlines()], proc.stderr


def _per_stream(lines: list[str]) -> dict[str, list[str]]:
    """Each stream's SCHEMA lines, then its RECORD lines sorted (streams read at once interleave)."""
    out: dict[str, list[str]] = {}
    for line in lines:
        message = json.loads(line)
        if message["type"] in {"SCHEMA", "RECORD"}:
            out.setdefault(message["stream"], []).append(line)
    return {name: [x for x in got if '"type":"SCHEMA"' in x] + sorted(x for x in got if '"type":"RECORD"' in x)
            for name, got in out.items()}


def _final_state(lines: list[str]) -> dict[str, Any]:
    return next(json.loads(line)["value"] for line in reversed(lines) if '"type":"STATE"' in line)


@pytest.mark.timeout(600)
def test_every_top_level_stream_writes_the_same_bytes_with_record_processes(world, tmp_path: Path) -> None:
    _, config, catalog = world
    here, _ = _cli(tmp_path, {**config, "record_processes": 0}, catalog, "here")
    workers, log = _cli(tmp_path, {**config, "record_processes": 2}, catalog, "workers")
    assert sum('"type":"RECORD"' in line for line in here) > 500
    assert _per_stream(workers) == _per_stream(here)  # byte for byte, volatile times aside
    assert _final_state(workers) == _final_state(here)
    encoded = re.search(r"Encoding records of (.+) in 2 worker processes", log)
    assert encoded is not None, log[-3000:]
    names = set(encoded.group(1).split(", "))
    assert len(names) >= 15, names  # the catalogue's top-level lists, not a hand-picked few
    assert {"deals", "persons", "organizations", "activities", "notes", "products", "leads"} <= names
    pages = _ENCODED_LOG.search(log)
    assert pages is not None, log[-3000:]
    assert int(pages.group(1)) > 50
    assert int(pages.group(3)) == 0  # every page answered by a worker


@pytest.mark.timeout(300)
def test_streams_the_workers_cannot_serve_exactly_stay_in_the_tap(world) -> None:
    """Qualifying is decided per stream from facts, not names: a stream map, flattening or a selected child
    keeps a stream in the tap's own process; a catalogue resource with file downloads never qualifies."""
    _, config, _ = world
    plain = TapPipedrive(config=config, parse_env_config=False)
    mapped = TapPipedrive(config={**config, "stream_maps": {"persons": {"upper": "name.upper()"}}},
                          parse_env_config=False)
    flat = TapPipedrive(config={**config, "flattening_enabled": True, "flattening_max_depth": 1},
                        parse_env_config=False)
    streams = [s for s in plain.streams.values() if isinstance(s, PipedriveStream) and s.name in TOP_LEVEL]
    assert len(streams) >= 15
    for stream in streams:
        assert record_processes.qualifies(stream) == (not stream.resource.download_path), stream.name
        assert not record_processes.qualifies(flat.streams[stream.name]), stream.name  # type: ignore[arg-type]
    assert not record_processes.qualifies(mapped.streams["persons"])  # type: ignore[arg-type]
    assert record_processes.qualifies(mapped.streams["deals"])  # type: ignore[arg-type]
    deals = plain.streams["deals"]
    children = list(deals.child_streams)
    assert children
    children[0].selected = True
    assert not record_processes.qualifies(deals)  # type: ignore[arg-type]


@pytest.mark.parametrize("value", [-1, 9, 1.5, True, "2"])
def test_record_processes_outside_its_range_is_a_configuration_error(world, value: Any) -> None:
    _, config, _ = world
    with pytest.raises(ConfigValidationError) as caught:
        TapPipedrive(config={**config, "record_processes": value}, parse_env_config=False, validate_config=True)
    assert "record_processes" in f"{caught.value} {caught.value.errors}"


def test_the_encoded_marker_survives_the_pipe_as_itself() -> None:
    """A worker's rows cross the pipe pickled; their marker must come back as the one key the tap looks for."""
    import pickle

    row = pickle.loads(pickle.dumps({"id": 1, ENCODED: b"{}"}))
    assert row[ENCODED] == b"{}"
    assert next(k for k in row if k != "id") is ENCODED


def test_unset_means_two_workers_where_two_cpus_are_usable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(record_processes, "available", lambda: True)
    monkeypatch.setattr(record_processes, "usable_cpus", lambda: 2)
    assert record_processes.default_processes() == record_processes.DEFAULT_RECORD_PROCESSES == 2
    monkeypatch.setattr(record_processes, "usable_cpus", lambda: 1)
    assert record_processes.default_processes() == 0  # one CPU: the pipe would only add work
    monkeypatch.setattr(record_processes, "usable_cpus", lambda: 8)
    monkeypatch.setattr(record_processes, "available", lambda: False)
    assert record_processes.default_processes() == 0  # no fork (not Linux)


@pytest.mark.parametrize(("sent", "normalized"), [
    ("2024-01-02T03:04:05Z", "2024-01-02T03:04:05Z"),  # v2's spelling: nothing travels besides the row
    ("2024-01-02 03:04:05", "2024-01-02T03:04:05Z"),  # v1's
    ("2024-01-02T04:04:05+01:00", "2024-01-02T03:04:05Z"),
    ("2024-02-30T03:04:05Z", None),  # impossible: null, as the record the worker encoded
    (None, None),
])
def test_the_tap_bookmarks_the_value_its_worker_normalized(world, monkeypatch: pytest.MonkeyPatch, sent: Any,
                                                           normalized: Any) -> None:
    """A row a worker encoded keeps the replication-key value as received (reads page by it); the tap's process
    takes the normalized one, the one in the encoded record, without normalizing again."""
    _, config, _ = world
    tap = TapPipedrive(config=config, parse_env_config=False)
    monkeypatch.setattr(record_processes, "_TAP", tap)
    stream = tap.streams["deals"]
    raw = json.dumps({"success": True, "data": [{"id": 1, "update_time": sent, "title": "x"}]}).encode()
    row = record_processes.encode_page("deals", raw, {})["data"][0]
    assert row["update_time"] == sent
    assert (BOOKMARK_VALUE in row) == (sent != normalized)
    assert json.loads(row[ENCODED])["update_time"] == normalized
    processed = stream.post_process(row)
    assert processed is not None and processed["update_time"] == normalized
