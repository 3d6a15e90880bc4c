"""The tap's reliability cases again with ``record_processes`` (records typed and encoded in worker processes):
stops by SIGTERM and SIGKILL leave no worker behind and lose nothing, records changing during a read, the daily
budget running out, and impossible values counted across processes, each with exact record accounting."""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pipedrive_emulator.server import Emulator
from tap_pipedrive import record_processes
from tap_pipedrive.tap import TapPipedrive
from tests.reliability import test_impossible_dates as dates
from tests.reliability import test_tap_interruptions as sequential
from tests.reliability.conftest import (
    REPO,
    assert_exact,
    cli_env,
    log_tail,
    small_emulator,
    sync,
    tap_config,
    truth,
    write_json,
)
from tests.tap.conftest import catalog_for
from tests.tap.test_parallel_streams import assert_schema_first, assert_states_cover_only_written

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


def _signalled(config: dict[str, Any], tmp_path: Path, sig: signal.Signals,
               after: int) -> tuple[int | None, list[str], set[int]]:
    """The tap with workers, sent ``sig`` once ``after`` RECORD lines arrived: exit code, its lines, and the
    worker processes it had when signalled."""
    catalog = catalog_for(TapPipedrive(config=config, parse_env_config=False), STREAMS)
    lines: list[str] = []
    with subprocess.Popen([sys.executable, "-m", "tap_pipedrive", "--config",
                           str(write_json(tmp_path / "config.json", config)), "--catalog",
                           str(write_json(tmp_path / "catalog.json", catalog))],
                          stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=REPO,
                          env=cli_env()) as proc:
        assert proc.stdout is not None
        seen = 0
        for line in proc.stdout:
            lines.append(line)
            seen += line.startswith('{"type":"RECORD"')
            if seen == after:
                break
        workers = _children(proc.pid)
        proc.send_signal(sig)
        if sig != signal.SIGKILL:
            lines += proc.stdout.readlines()
        return proc.wait(timeout=60), lines, workers


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
        returncode, lines, workers = _signalled(config, tmp_path, sig, after=150)
        assert len(workers) == 2, workers
        deadline = time.monotonic() + 10
        while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(_alive(pid) for pid in workers), "a worker outlived the tap"
        if sig == signal.SIGTERM:
            assert returncode == 0
            messages = [json.loads(line) for line in lines]
            assert messages[-1]["type"] == "STATE"
            repeated = [line for line, n in Counter(lines).items() if n > 1 and '"type":"RECORD"' in line]
            assert not repeated, repeated[:2]
        else:
            assert returncode == -signal.SIGKILL
            messages = [json.loads(line) for line in lines[:-1]]  # the last line may be cut
        complete = sum(len(truth(emu, stream)) for stream in STREAMS)
        assert sum(m["type"] == "RECORD" for m in messages) < complete, "the signal came after the end"
        assert_schema_first(messages)
        assert_states_cover_only_written(messages)
        states = [m["value"] for m in messages if m["type"] == "STATE"]
        rerun = sync(config, streams=STREAMS, state=states[-1] if states else None)
        assert rerun.exit_code == 0, log_tail(rerun.log)
        assert "Record processes: " in rerun.log and " 0 of them processed here" in rerun.log
        assert_states_cover_only_written(rerun.messages, messages)
        assert_exact(messages + rerun.messages, emu, STREAMS)


def test_a_full_sync_with_workers_is_exact(emu: Emulator, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="tap-pipedrive")
    result = sync(tap_config(emu, **WORKERS), streams=STREAMS)
    assert result.exit_code == 0, log_tail(result.log)
    assert "Encoding records of activities, deals, notes, organizations, persons in 2 worker processes" in result.log
    assert_exact(result.messages, emu, STREAMS)
    assert_states_cover_only_written(result.messages)


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
    assert_states_cover_only_written(result.messages)
    summary = re.search(r"Record processes: (\d+) pages encoded by 2 workers, (\d+) of them processed here",
                        result.log)
    assert summary is not None, log_tail(result.log)
    assert int(summary.group(2)) >= 1
    assert result.log.count("a record process did not encode a page") == 1
