"""The tap's reliability cases again with ``record_processes`` (records typed and encoded in worker processes):
stops by SIGTERM and SIGKILL leave no worker behind and lose nothing, records changing during a read, the daily
budget running out, and impossible values counted across processes, each with exact record accounting."""

from __future__ import annotations

import logging
import os
import re
import signal
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pipedrive_emulator.server import Emulator
from tap_pipedrive import record_processes
from tests.reliability import test_impossible_dates as dates
from tests.reliability import test_tap_interruptions as sequential
from tests.reliability.conftest import (
    assert_exact,
    assert_states_cover_only_written,
    held_now,
    log_tail,
    signalled_messages,
    signalled_tap,
    small_emulator,
    sync,
    tap_config,
    truth,
)
from tests.reliability.test_parallel_interruptions import assert_rerun_completes

#: two workers, and streams read at once as by default
WORKERS = {"record_processes": 2, "parallel_streams": 5}
#: top-level lists only, so that every stream's pages go to the workers
STREAMS = ["persons", "organizations", "activities", "notes", "deals"]


def _children(pid: int) -> set[int]:
    """The live child processes of ``pid`` (Linux ``/proc``)."""
    out: set[int] = set()
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            out |= {int(p) for p in (task / "children").read_text().split()}
        except OSError:
            continue
    return out


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    except (OSError, IndexError):
        return False


@pytest.mark.timeout(300)
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_a_stopped_run_leaves_no_worker_and_its_rerun_delivers_every_record(
        tmp_path: Path, sig: signal.Signals, caplog: pytest.LogCaptureFixture) -> None:
    """SIGTERM: a last STATE, exit 0, every line whole and none twice (a worker never writes the tap's stdout).
    SIGKILL: the workers notice their parent is gone and exit. Either way the rerun from the last STATE
    completes the streams exactly."""
    caplog.set_level(logging.INFO, logger="tap-pipedrive")  # the workers' summary line
    with small_emulator(latency_ms=5, jitter_ms=5) as emu:
        config = tap_config(emu, **WORKERS)
        workers: set[int] = set()
        returncode, lines = signalled_tap(config, STREAMS, tmp_path, sig, after=150,
                                          before_signal=lambda pid: workers.update(_children(pid)))
        assert len(workers) == 2, workers
        deadline = time.monotonic() + 10
        while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(_alive(pid) for pid in workers), "a worker outlived the tap"
        messages = signalled_messages(sig, returncode, lines)
        if sig == signal.SIGTERM:
            repeated = [line for line, n in Counter(lines).items() if n > 1 and '"type":"RECORD"' in line]
            assert not repeated, repeated[:2]
        else:
            assert len(messages) >= len(lines) - 1  # every line whole JSON but the last, which the kill may cut
        complete = sum(len(truth(emu, stream)) for stream in STREAMS)
        assert sum(m["type"] == "RECORD" for m in messages) < complete, "the signal came after the end"
        rerun = assert_rerun_completes(config, messages, emu, STREAMS)
        assert "Record processes: " in rerun.log and " 0 of them processed here" in rerun.log


def test_a_full_sync_with_workers_is_exact(emu: Emulator, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="tap-pipedrive")
    result = sync(tap_config(emu, **WORKERS), streams=STREAMS)
    assert result.exit_code == 0, log_tail(result.log)
    assert "Encoding records of activities, deals, notes, organizations, persons in 2 worker processes" in result.log
    assert_exact(result.messages, emu, STREAMS)
    assert_states_cover_only_written(result.messages, held_now(emu, STREAMS))


# -- the sequential cases, run again with every tap config of their module asking for workers ----------------

@pytest.fixture
def worker_configs(monkeypatch: pytest.MonkeyPatch) -> None:
    """``tap_config`` of tests/reliability/test_tap_interruptions.py adds :data:`WORKERS`."""
    monkeypatch.setattr(sequential, "tap_config", lambda emu, **extra: tap_config(emu, **{**WORKERS, **extra}))


@pytest.mark.usefixtures("worker_configs")
@pytest.mark.parametrize("mode", ["full", "incremental"])
def test_records_changing_during_a_sync_with_workers_are_all_picked_up(emu: Emulator, mode: str) -> None:
    sequential.test_records_changing_during_a_sync_are_all_picked_up_by_the_next_run(emu, mode)


@pytest.mark.usefixtures("worker_configs")
def test_daily_budget_runs_out_mid_incremental_sync_with_workers_then_completes(emu: Emulator) -> None:
    sequential.test_daily_budget_runs_out_mid_incremental_sync_then_next_day_completes_without_gap(emu)


@pytest.fixture(scope="module")
def world() -> Iterator[Any]:
    yield from dates.world.__wrapped__()  # type: ignore[attr-defined]


def test_impossible_values_nulled_by_workers_are_counted_once_per_column(world: Any) -> None:
    """The workers null the values; the tap's process logs each column once with the count of every process."""
    emu, config, kinds, spoiled = world
    dates.test_impossible_values_become_null_logged_once_per_column((emu, {**config, **WORKERS}, kinds, spoiled))


# -- workers that fail -----------------------------------------------------------------------------------------

def _failing_on_every_third_page(how: str) -> Any:
    """``encode_page`` that fails on each worker's third page: ``raise`` (an error sent back) or ``exit`` (the
    worker dies with the page, whose answer never comes). Patched before the fork, so the workers inherit it."""
    original = record_processes.encode_page
    calls = [0]

    def encode_page(*args: Any) -> Any:
        calls[0] += 1
        if calls[0] == 3:
            if how == "exit":
                os._exit(1)
            raise RuntimeError("a worker's bug")
        return original(*args)

    return encode_page


@pytest.mark.timeout(300)
@pytest.mark.parametrize("how", ["raise", "exit"])
def test_pages_a_worker_fails_are_processed_in_the_tap(emu: Emulator, how: str, monkeypatch: pytest.MonkeyPatch,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    """A worker's error, or a worker dying with a page, costs that page its speed only: it is decoded and
    processed in the tap's process (after the answer timeout for a dead worker), the run is exact, and one
    warning says so."""
    caplog.set_level(logging.INFO, logger="tap-pipedrive")
    monkeypatch.setattr(record_processes, "encode_page", _failing_on_every_third_page(how))
    monkeypatch.setattr(record_processes, "ANSWER_TIMEOUT_S", 1.0)
    result = sync(tap_config(emu, **WORKERS), streams=STREAMS)
    assert result.exit_code == 0, log_tail(result.log)
    assert_exact(result.messages, emu, STREAMS)
    assert_states_cover_only_written(result.messages, held_now(emu, STREAMS))
    summary = re.search(r"Record processes: (\d+) pages encoded by 2 workers, (\d+) of them processed here",
                        result.log)
    assert summary is not None, log_tail(result.log)
    assert int(summary.group(2)) >= 1
    assert result.log.count("a record process did not encode a page") == 1
