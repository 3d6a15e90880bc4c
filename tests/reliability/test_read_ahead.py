"""Offset lists read ahead (``tap_pipedrive.pages``, "Reading ahead"), generated over every top-level list paged by
``start``, with the constants the tap ships with (one more page in flight per eight pages read).

* A quiet read is exact, every STATE covers only written records, and its requests are those of a sequential
  read plus at most one per :data:`~tap_pipedrive.pages.READ_AHEAD_EVERY` pages and the end asked again; the
  tap's own count of its requests is the emulator's.
* The daily budget running out in the middle of a read, day after day: nothing lost.
* A real tap process stopped (SIGTERM, SIGKILL) half-way through the list: a rerun from its last STATE delivers
  every record.

Lists changing under a read that reads ahead are in ``test_offset_under_change.py``.
"""

from __future__ import annotations

import re
import signal
from pathlib import Path
from typing import Any

import pytest

from pipedrive_core.catalogue import Pagination, Replication, Resource, active
from tap_pipedrive.pages import READ_AHEAD_EVERY
from tests.reliability.conftest import (
    assert_states_cover_only_written,
    daily_runs,
    latest,
    log_tail,
    read_ahead,
    read_ahead_logged,
    signalled_messages,
    signalled_tap,
    small_emulator,
    sync,
    tap_config,
    truth,
)
from tests.reliability.test_windows import _held_main, _main_list
from tests.tap.conftest import SyncResult

#: top-level lists paged by ``start`` (the field-definition lists are one page)
OFFSET_LISTS = [pytest.param(r, id=r.name) for r in active()
                if r.parent is None and not r.fields_of and r.pagination is Pagination.OFFSET]
#: those a stopped run resumes (the others are read whole again)
RESUMED = [p for p in OFFSET_LISTS if p.values[0].replication in {Replication.RECENTS, Replication.UPDATED_SINCE}]
#: mail threads are read per folder (four): enough of them for twenty pages in each
SIZES = {**dict.fromkeys(("notes", "files", "call_logs", "leads"), 240), "mail_threads": 800}
#: ten rows a page, so twenty pages or more per list; a generous burst, so the budget allows several in flight
SETTINGS: dict[str, Any] = {"page_size": 10, "burst_limit": 400, "reconcile_deletes": []}
LATENCY_MS = 30


def _rows(emu: Any, res: Resource) -> int:
    return sum(1 for r in emu.store.tables[res.name].rows.values() if r.deleted_at is None)


def _served(emu: Any, res: Resource) -> int:
    path = res.read_path.split("?", 1)[0]
    return sum(1 for r in emu.requests.snapshot() if r.path == path)


def _reported_requests(run: SyncResult, stream: str) -> int:
    found = re.search(rf"Summary {re.escape(stream)}: \d+ records, (\d+) requests", run.log)
    assert found, log_tail(run.log)
    return int(found.group(1))


def _needs_pages(emu: Any, res: Resource) -> None:
    if _rows(emu, res) < 2 * READ_AHEAD_EVERY * SETTINGS["page_size"] * max(1, len(res.partitions)):
        pytest.skip(f"{res.name}: the account holds a fixed few rows, too few pages to read ahead")


@pytest.mark.parametrize("res", OFFSET_LISTS)
def test_a_list_read_ahead_is_exact_and_costs_at_most_one_request_in_eight_more(res: Resource) -> None:
    runs: dict[str, tuple[SyncResult, int]] = {}
    for mode, extra in (("sequential", {"max_requests_in_flight": 1}), ("ahead", {})):
        with small_emulator(sizes=SIZES, latency_ms=LATENCY_MS) as emu, read_ahead_logged():
            _needs_pages(emu, res)
            want = truth(emu, res.name)
            before = _served(emu, res)
            run = sync(tap_config(emu, **SETTINGS, **extra), streams=[res.name])
            assert run.exit_code == 0, log_tail(run.log)
            assert latest(run.messages, res.name) == want, mode
            ids = [m["record"][res.key] for m in run.messages if m.get("type") == "RECORD" and m["stream"] == res.name]
            assert len(ids) == len(set(ids)), f"{mode}: a record was written twice"
            assert_states_cover_only_written(run.messages, _held_main(emu, res))
            runs[mode] = run, _served(emu, res) - before
    (sequential, served_sequential), (ahead, served_ahead) = runs["sequential"], runs["ahead"]
    assert read_ahead(sequential.log, res.name) == 0
    assert read_ahead(ahead.log, res.name) > 0, "no page was read ahead"
    # what reading ahead costs: the pages asked past the end, and the end asked again
    assert served_ahead <= served_sequential + served_sequential // READ_AHEAD_EVERY + 1, (
        served_sequential, served_ahead)
    # every request is counted in the tap's summary, those whose answers were not used included
    assert _reported_requests(ahead, res.name) - _reported_requests(sequential, res.name) == (
        served_ahead - served_sequential)


@pytest.mark.parametrize("res", RESUMED)
def test_a_list_read_ahead_stopped_midway_by_the_daily_budget_resumes_without_a_gap(res: Resource) -> None:
    with small_emulator(sizes=SIZES, latency_ms=LATENCY_MS) as probe:
        _needs_pages(probe, res)
        spent = probe.limiter.spent
        assert sync(tap_config(probe, **SETTINGS), streams=[res.name]).exit_code == 0
        full = probe.limiter.spent - spent
    with small_emulator(sizes=SIZES, latency_ms=LATENCY_MS) as emu, read_ahead_logged():
        want, held = truth(emu, res.name), _held_main(emu, res)
        runs = daily_runs(emu, tap_config(emu, **SETTINGS), [res.name], full * 3 // 5,
                          each_day=lambda messages: assert_states_cover_only_written(messages, held))
        assert len(runs) >= 2, "the budget never ran out"
        assert sum(read_ahead(r.log, res.name) for r in runs) > 0, "no page was read ahead"
        messages = [m for r in runs for m in r.messages]
        assert latest(messages, res.name) == want


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
@pytest.mark.parametrize("res", RESUMED)
def test_a_list_read_ahead_signalled_midway_resumes_without_a_gap(res: Resource, sig: signal.Signals,
                                                                 tmp_path: Path) -> None:
    """A real tap process is stopped (SIGTERM: singer-sdk's handler writes a last STATE; SIGKILL: whatever was
    written last) once three quarters of the list are written, well after it began to read ahead."""
    with small_emulator(sizes=SIZES, latency_ms=LATENCY_MS) as emu:
        _needs_pages(emu, res)
        want = truth(emu, res.name)
        config = tap_config(emu, **SETTINGS)
        sequential_pages = -(-len(want) // (SETTINGS["page_size"] - 1))
        returncode, lines = signalled_tap(config, [res.name], tmp_path, sig, after=len(want) * 3 // 4)
        messages = signalled_messages(sig, returncode, lines)
        written = sum(m["type"] == "RECORD" and m["stream"] == res.name for m in messages)
        assert written < len(want), "the signal came after the end"
        main = {key for key, _ in _main_list(emu, res)}  # an archived list is read first, and not ahead
        written_main = sum(m["type"] == "RECORD" and m["stream"] == res.name and m["record"][res.key] in main
                           for m in messages)
        assert _served(emu, res) > written_main // SETTINGS["page_size"] + 1, "no page was read ahead before the signal"
        assert _served(emu, res) < sequential_pages * 2
        assert_states_cover_only_written(messages, _held_main(emu, res))
        states = [m["value"] for m in messages if m["type"] == "STATE"]
        rerun = sync(config, streams=[res.name], state=states[-1] if states else None)
        assert rerun.exit_code == 0, log_tail(rerun.log)
        assert latest([*messages, *rerun.messages], res.name) == want
