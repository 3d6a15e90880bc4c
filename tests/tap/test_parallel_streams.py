"""``parallel_streams``: several top-level streams read at once, against the emulator, with exact accounting.

Every run here reads deals (two partitions, archived and deleted deals), persons, organizations, activities
and notes plus the deal products child with five workers, and checks what a sequential run guarantees: every
record in its latest version exactly once, SCHEMA before a stream's records, whole JSON lines, and every STATE
covering only records already written (each bookmark at or below the newest update time emitted for that
stream and partition, each boundary id emitted at that second).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from itertools import pairwise
from typing import Any

import pytest
from singer_sdk.exceptions import ConfigValidationError

from pipedrive_emulator.server import Emulator
from tap_pipedrive.parallel import MAX_PARALLEL_STREAMS
from tap_pipedrive.tap import TapPipedrive
from tests.reliability.conftest import (
    assert_exact,
    assert_states_cover_only_written,
    held_now,
    hold_until_together,
    small_emulator,
    sync,
    tap_config,
)
from tests.tap.conftest import change_records

STREAMS = ("deals", "persons", "organizations", "activities", "notes", "deal_products")
TOP_LEVEL = ("deals", "persons", "organizations", "activities", "notes")


@pytest.fixture
def emu() -> Iterator[Emulator]:
    # a little latency, so that the workers' pages really interleave
    with small_emulator(latency_ms=5, jitter_ms=5) as emulator:
        yield emulator


def assert_schema_first(messages: Iterable[Mapping[str, Any]]) -> None:
    """Every stream's SCHEMA comes before its first RECORD."""
    schemas: set[str] = set()
    for msg in messages:
        if msg["type"] == "SCHEMA":
            schemas.add(msg["stream"])
        elif msg["type"] == "RECORD":
            assert msg["stream"] in schemas, f"RECORD of {msg['stream']} before its SCHEMA"


def test_parallel_full_then_incremental_is_exact(emu: Emulator) -> None:
    config = tap_config(emu, parallel_streams=5)
    full = sync(config, streams=STREAMS)  # run_tap parses every output line as JSON: a torn line fails here
    assert full.exit_code == 0, full.log[-2000:]
    assert_exact(full.messages, emu, STREAMS)
    assert_schema_first(full.messages)
    assert assert_states_cover_only_written(full.messages, held_now(emu, TOP_LEVEL)) > len(TOP_LEVEL)
    order = [m["stream"] for m in full.messages if m["type"] == "RECORD" and m["stream"] in TOP_LEVEL]
    switches = sum(1 for a, b in pairwise(order) if a != b)
    assert switches > len(TOP_LEVEL), "the streams were not read at the same time"
    assert {s for s in TOP_LEVEL if s in full.state["bookmarks"]} == set(TOP_LEVEL)

    changed = change_records(emu)
    again = sync(config, streams=STREAMS, state=full.state)
    assert again.exit_code == 0, again.log[-2000:]
    assert_schema_first(again.messages)
    assert_states_cover_only_written(again.messages, held_now(emu, TOP_LEVEL), full.messages)
    emitted = {(m["stream"], m["record"]["id"]) for m in again.messages
               if m["type"] == "RECORD" and m["stream"] in TOP_LEVEL}
    assert emitted == set(changed.items()), "an incremental rerun emits exactly the changed records"
    assert_exact(full.messages + again.messages, emu, STREAMS)


def test_parallel_output_per_stream_equals_the_sequential_output() -> None:
    runs = []
    for workers in (1, 5):
        with small_emulator(latency_ms=2) as emu:
            runs.append(sync(tap_config(emu, parallel_streams=workers), streams=STREAMS))
    sequential, parallel = runs
    assert sequential.exit_code == parallel.exit_code == 0
    def ordered(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        # a large list read as update-time windows hands its pages out as they arrive, in either run
        return sorted(records, key=lambda r: (str(r.get("id")), str(r.get("update_time"))))

    for stream in STREAMS:
        assert ordered(parallel.records[stream]) == ordered(sequential.records[stream]), stream
        assert parallel.schemas[stream] == sequential.schemas[stream], stream
    assert parallel.state == sequential.state


def test_the_start_date_questions_of_streams_read_at_once_go_out_together(emu: Emulator) -> None:
    """On a first run from ``start_date`` each list asks one one-row question before its read (is the start older
    than every record?). Read at once, the streams ask it side by side: the workers' lock is let go while it is
    out, as while a page is awaited, instead of one question after another."""
    paths = {"/api/v2/deals", "/api/v2/persons", "/api/v2/organizations", "/api/v2/activities", "/v1/notes"}

    def kind(path: str, query: dict[str, str]) -> str | None:
        oldest_first = query.get("sort_by") == "add_time" or query.get("sort") == "add_time ASC"
        return path if path in paths and oldest_first and query.get("limit") == "1" else None

    seen = hold_until_together(emu, kind, len(paths))
    run = sync(tap_config(emu, start_date="2000-01-01T00:00:00Z"), streams=STREAMS)
    assert run.exit_code == 0, run.log[-2000:]
    assert set(seen.seen) == paths
    assert seen.overlapped, "the streams asked their start-date question one after another"
    assert_exact(run.messages, emu, STREAMS)


@pytest.mark.parametrize(("path", "after"), [
    (r"^/api/v2/persons$", 2),  # a v2 cursor list, third page
    (r"^/api/v2/deals/products$", 0),  # the batched child, while deals has parents noted
    (r"^/v1/notes$", 1),  # a v1 offset list
    (r"^/api/v2/activities$", 1),
])
def test_a_stop_in_one_worker_stops_the_run_with_resumable_state(emu: Emulator, path: str, after: int) -> None:
    """A Cloudflare 403 on one stream's request stops the whole run (exit 1) while the other streams are
    mid-read (they stop at their next page); the state covers only what was written, and the rerun completes
    every stream without a gap."""
    emu.faults.add("html403", path=path, after=after, count=1)
    config = tap_config(emu, parallel_streams=5)
    stopped = sync(config, streams=STREAMS)
    assert stopped.exit_code == 1, stopped.log[-2000:]
    assert "Stopping:" in stopped.log and "Traceback" not in stopped.log
    assert_states_cover_only_written(stopped.messages, held_now(emu, TOP_LEVEL))
    resumed = sync(config, streams=STREAMS, state=stopped.state)
    assert resumed.exit_code == 0, resumed.log[-2000:]
    assert_states_cover_only_written(resumed.messages, held_now(emu, TOP_LEVEL), stopped.messages)
    assert_exact(stopped.messages + resumed.messages, emu, STREAMS)


@pytest.mark.parametrize("value", [0, MAX_PARALLEL_STREAMS + 1, "3", 2.5, True])
def test_parallel_streams_out_of_range_is_one_config_error(value: Any) -> None:
    with pytest.raises(ConfigValidationError) as caught:
        TapPipedrive(config={"api_token": "t", "parallel_streams": value}, parse_env_config=False,
                     validate_config=True)
    assert "parallel_streams" in f"{caught.value} {caught.value.errors}"


def test_a_parent_read_may_let_the_lock_go_again_after_a_childs_read() -> None:
    """A child's page loop opens inside its parent's; once it closes, the parent's waits release the lock again
    (before, the parent kept it for the rest of its read: with update-time windows, whose pages wait under a
    budget shared by every worker, that deadlocked a parallel sync)."""
    from tap_pipedrive.parallel import SyncGate

    gate = SyncGate()
    with gate.worker(), gate.reading(top_level=True):
        assert gate.releasable()
        with gate.reading(top_level=False):
            assert not gate.releasable()
        assert gate.releasable()
