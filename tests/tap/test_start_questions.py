"""The first run's start questions, asked while the tap is built (side by side with the field definitions).

For every top-level list that asks one (a first run from ``start_date``), over the catalogue: the question of each
partition goes out once, before any stream reads, and the stream's read plan is what it is when the stream asks
for itself, with the same questions. A stream with state, or a run without ``start_date``, asks
nothing at start-up; a failed question stops the run where the stream takes it, as when it asked itself.
"""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Iterator
from typing import Any

import pytest

from pipedrive_core.catalogue import Resource
from pipedrive_emulator.server import Emulator
from tap_pipedrive.list_queries import list_query, top_level_partitions
from tap_pipedrive.start_questions import asks_start_question
from tap_pipedrive.streams import STREAM_CLASSES
from tap_pipedrive.tap import TapPipedrive
from tests.reliability.conftest import small_emulator, sync, tap_config
from tests.tap.conftest import catalog_for

START = "2000-01-01T00:00:00Z"
ASKING = [cls.resource for cls in STREAM_CLASSES.values()
          if cls.resource.parent is None and not cls.resource.fields_of and asks_start_question(cls.resource)]


@pytest.fixture(scope="module")
def emu() -> Iterator[Emulator]:
    with small_emulator(latency_ms=1) as emulator:
        yield emulator


@pytest.fixture(scope="module")
def catalog(emu: Emulator) -> dict[str, Any]:
    return catalog_for(TapPipedrive(config=tap_config(emu), parse_env_config=False), None)


def _selecting(catalog: dict[str, Any], names: set[str]) -> dict[str, Any]:
    copy: dict[str, Any] = {"streams": []}
    for entry in catalog["streams"]:
        metadata = [dict(m, metadata=dict(m["metadata"])) for m in entry["metadata"]]
        for meta in metadata:
            if meta["breadcrumb"] == []:
                meta["metadata"]["selected"] = entry["tap_stream_id"] in names
        copy["streams"].append(dict(entry, metadata=metadata))
    return copy


def _is_question(resource: Resource, query: dict[str, str]) -> bool:
    oldest_first = (query.get("sort_by") == resource.added_key and query.get("sort_direction") == "asc") or (
        query.get("sort") == f"{resource.added_key} ASC")
    return oldest_first and query.get("limit") == "1"


def _questions(emu: Emulator, resource: Resource) -> int:
    paths = {list_query(resource, {}, context)[0] for context in top_level_partitions(resource, {}) or [None]}
    return sum(1 for r in emu.requests.snapshot() if r.path in paths and _is_question(resource, r.query))


def _run(tap: TapPipedrive) -> tuple[int, dict[str, list[dict[str, Any]]]]:
    """Sync a built tap: its exit code and the records it wrote per stream (in a fixed order)."""
    out = io.StringIO()
    code = 0
    with contextlib.redirect_stdout(out):
        try:
            tap.run_sync()
        except SystemExit as exc:
            code = int(exc.code or 0)
    records: dict[str, list[Any]] = {}
    for line in out.getvalue().splitlines():
        message = json.loads(line)
        if message["type"] == "RECORD":
            records.setdefault(message["stream"], []).append(message["record"])
    for rows in records.values():  # a list read as update-time windows hands pages out as they arrive
        rows.sort(key=lambda r: json.dumps(r, sort_keys=True, default=str))
    return code, records


@pytest.mark.parametrize("resource", ASKING, ids=lambda r: r.name)
def test_a_first_run_asks_each_lists_start_question_once_while_the_tap_is_built(
        emu: Emulator, catalog: dict[str, Any], resource: Resource, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tap_config(emu, start_date=START)
    selected = _selecting(catalog, {resource.name})
    partitions = len(top_level_partitions(resource, config) or [None])

    emu.requests.clear()
    tap = TapPipedrive(config=config, state={}, catalog=selected, parse_env_config=False)
    assert _questions(emu, resource) == partitions, "asked while the tap is built, one per partition"
    prefetched = _run(tap)
    assert _questions(emu, resource) == partitions, "the stream took the answer instead of asking again"

    monkeypatch.setattr(TapPipedrive, "_start_questions_to_ask", lambda self: [])
    emu.requests.clear()
    asking = TapPipedrive(config=config, state={}, catalog=selected, parse_env_config=False)
    assert _questions(emu, resource) == 0
    assert _run(asking) == prefetched, "the same records (and exit code) as when the stream asks for itself"
    assert _questions(emu, resource) == partitions, "the same questions, asked by the stream"


def test_no_question_at_start_up_for_a_stream_with_state_or_a_run_without_start_date(
        emu: Emulator, catalog: dict[str, Any]) -> None:
    deals, persons = STREAM_CLASSES["deals"].resource, STREAM_CLASSES["persons"].resource
    selected = _selecting(catalog, {"deals", "persons"})
    state = {"bookmarks": {"persons": {"replication_key": "update_time", "replication_key_value": START}}}
    emu.requests.clear()
    TapPipedrive(config=tap_config(emu, start_date=START), state=state, catalog=selected, parse_env_config=False)
    assert (_questions(emu, deals), _questions(emu, persons)) == (2, 0)
    emu.requests.clear()
    TapPipedrive(config=tap_config(emu), state={}, catalog=selected, parse_env_config=False)
    assert (_questions(emu, deals), _questions(emu, persons)) == (0, 0)


def test_a_failed_start_question_stops_the_run_where_the_stream_takes_it(emu: Emulator) -> None:
    """A Cloudflare block answers the question asked at start-up: the run stops with one line and its exit code,
    as when the stream asked for itself, and a rerun reads the stream."""
    emu.faults.add("html403", path=r"^/api/v2/persons$", count=1)
    config = tap_config(emu, start_date=START)
    stopped = sync(config, streams=["persons"])
    assert stopped.exit_code == 1, stopped.log[-2000:]
    assert "Stopping:" in stopped.log and "Traceback" not in stopped.log
    assert not stopped.records["persons"]
    again = sync(config, streams=["persons"])
    assert again.exit_code == 0, again.log[-2000:]
    assert len(again.records["persons"]) == len(emu.store.tables["persons"].rows)
