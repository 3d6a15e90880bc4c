"""The tap's key reliability cases again with ``parallel_streams`` > 1: the daily budget running out mid-run,
transient faults on every stream's requests, and a Cloudflare stop, each with exact record accounting and every
STATE covering only records already written (tests/tap/test_parallel_streams.py has the checker)."""

from __future__ import annotations

import signal
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest

from pipedrive_emulator.server import Emulator
from tests.reliability import test_tap_interruptions as sequential
from tests.reliability.conftest import (
    MATRIX_STREAMS,
    TOP_LEVEL_MATRIX,
    assert_exact,
    assert_resumed_from_state,
    assert_states_cover_only_written,
    daily_runs,
    duplicates,
    held_now,
    log_tail,
    signalled_messages,
    signalled_tap,
    small_emulator,
    sync,
    tap_config,
    truth,
)
from tests.reliability.test_tap_faults import FULL_PATHS, INCREMENTAL_PATHS, TRANSIENT, _config, _inject, change_data
from tests.reliability.test_tap_interruptions import OAUTH, _spend_of_a_quiet_rerun
from tests.tap.conftest import SyncResult
from tests.tap.test_parallel_streams import STREAMS, TOP_LEVEL, assert_schema_first

#: workers: more than the matrix's three top-level streams (deals, persons, notes), so all run at once
PARALLEL = {"parallel_streams": 5}


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with small_emulator(latency_ms=2, jitter_ms=3) as emulator:
        yield emulator


def test_daily_budget_runs_out_mid_parallel_full_sync_then_next_day_completes_without_gap() -> None:
    full, floor = _spend_of_a_quiet_rerun()
    budget = floor + (full - floor) * 2 // 5
    with small_emulator(latency_ms=2, jitter_ms=3) as emu:
        runs = daily_runs(emu, tap_config(emu, **PARALLEL), MATRIX_STREAMS, budget, max_days=8)
        assert len(runs) >= 2, "the budget never ran out"
        before: list[dict[str, Any]] = []
        for run in runs:
            assert_states_cover_only_written(run.messages, held_now(emu, MATRIX_STREAMS), before)
            before += run.messages
        assert_exact(before, emu)
        assert_resumed_from_state(runs, TOP_LEVEL_MATRIX)


@pytest.mark.parametrize(("case", "kind", "options"), TRANSIENT, ids=[c[0] for c in TRANSIENT])
def test_parallel_full_sync_rides_out_transient_faults(emu: Emulator, case: str, kind: str,
                                                       options: dict[str, Any]) -> None:
    expected = _inject(emu, kind, options, FULL_PATHS, after=1)
    result = sync({**_config(emu, kind), **PARALLEL}, streams=MATRIX_STREAMS)
    assert result.exit_code == 0, log_tail(result.log)
    assert emu.faults.fired(kind) == expected, f"{case}: the faults did not all fire"
    assert_exact(result.messages, emu)
    for stream in MATRIX_STREAMS:
        assert duplicates(result.messages, stream) == {}, stream
    assert_states_cover_only_written(result.messages, held_now(emu, MATRIX_STREAMS))
    assert "Traceback" not in result.log


@pytest.mark.parametrize(("case", "kind", "options"), TRANSIENT, ids=[c[0] for c in TRANSIENT])
def test_parallel_incremental_sync_rides_out_transient_faults(emu: Emulator, case: str, kind: str,
                                                              options: dict[str, Any]) -> None:
    first = sync(tap_config(emu, **PARALLEL), streams=MATRIX_STREAMS)
    assert first.exit_code == 0, log_tail(first.log)
    changed = change_data(emu)
    expected = _inject(emu, kind, options, INCREMENTAL_PATHS, after=0)
    second = sync({**_config(emu, kind), **PARALLEL}, streams=MATRIX_STREAMS, state=first.state)
    assert second.exit_code == 0, log_tail(second.log)
    assert emu.faults.fired(kind) == expected, f"{case}: the faults did not all fire"
    assert_exact(first.messages + second.messages, emu)
    assert_states_cover_only_written(second.messages, held_now(emu, MATRIX_STREAMS), first.messages)
    for stream in ("deals", "persons", "notes"):
        assert sorted(r["id"] for r in second.records[stream]) == sorted(changed[stream]), stream


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_parallel_run_signalled_mid_stream_then_rerun_delivers_every_stream(tmp_path: Path,
                                                                            sig: signal.Signals) -> None:
    """SIGTERM: singer-sdk's handler writes a last STATE and exits 0 once the workers stopped at their next page;
    every line is whole JSON and the last one is that STATE. SIGKILL: whatever was written last. Either way every
    STATE covers only records already written, and a rerun from the last one completes without a gap."""
    with small_emulator(latency_ms=5, jitter_ms=5) as emu:
        config = tap_config(emu, **PARALLEL)
        returncode, lines = signalled_tap(config, STREAMS, tmp_path, sig, after=120)
        messages = signalled_messages(sig, returncode, lines)
        complete = sum(len(truth(emu, stream)) for stream in STREAMS)
        assert sum(m["type"] == "RECORD" for m in messages) < complete, "the signal came after the end"
        assert_rerun_completes(config, messages, emu, STREAMS)


def assert_rerun_completes(config: dict[str, Any], messages: list[dict[str, Any]], emu: Emulator,
                           streams: Iterable[str]) -> SyncResult:
    """A stopped run wrote SCHEMA first and STATEs covering only written records; the rerun from its last STATE
    does too, and the two runs together deliver ``streams`` exactly. The rerun, for more checks."""
    streams = list(streams)
    assert_schema_first(messages)
    assert_states_cover_only_written(messages, held_now(emu, streams))
    states = [m["value"] for m in messages if m["type"] == "STATE"]
    rerun = sync(config, streams=streams, state=states[-1] if states else None)
    assert rerun.exit_code == 0, log_tail(rerun.log)
    assert_states_cover_only_written(rerun.messages, held_now(emu, streams), messages)
    assert_exact(messages + rerun.messages, emu, streams)
    assert_resumed_from_state([SyncResult(messages), rerun], [s for s in streams if s in TOP_LEVEL])
    return rerun


# -- the sequential cases, run again with every tap config of their module asking for five workers ------------

@pytest.fixture
def parallel_configs(monkeypatch: pytest.MonkeyPatch) -> None:
    """``tap_config`` of tests/reliability/test_tap_interruptions.py adds ``parallel_streams: 5``."""
    monkeypatch.setattr(sequential, "tap_config", lambda emu, **extra: tap_config(emu, **PARALLEL, **extra))


@pytest.mark.usefixtures("parallel_configs")
def test_parallel_daily_budget_runs_out_mid_incremental_sync_then_next_day_completes_without_gap(
        emu: Emulator) -> None:
    sequential.test_daily_budget_runs_out_mid_incremental_sync_then_next_day_completes_without_gap(emu)


@pytest.mark.usefixtures("parallel_configs")
def test_parallel_batched_child_read_stopping_the_run_loses_no_child(emu: Emulator) -> None:
    sequential.test_a_batched_child_read_stopping_the_run_loses_no_child(emu)


@pytest.mark.usefixtures("parallel_configs")
@pytest.mark.parametrize("mode", ["full", "incremental"])
def test_parallel_records_changing_during_a_sync_are_all_picked_up_by_the_next_run(emu: Emulator,
                                                                                    mode: str) -> None:
    sequential.test_records_changing_during_a_sync_are_all_picked_up_by_the_next_run(emu, mode)


@pytest.mark.usefixtures("parallel_configs")
def test_parallel_sigkill_of_a_run_of_every_stream_then_rerun_delivers_every_stream(emu: Emulator,
                                                                                   tmp_path: Path) -> None:
    sequential.test_sigkill_mid_stream_then_rerun_from_last_state_delivers_every_stream(emu, tmp_path, (150,))


@pytest.mark.usefixtures("parallel_configs")
def test_parallel_oauth_refresh_token_revoked_mid_run_stops_clearly_and_resumes() -> None:
    with small_emulator(oauth=OAUTH) as emu:
        sequential.test_oauth_refresh_token_revoked_mid_run_stops_clearly_and_resumes_after_reauthorisation(emu)


@pytest.mark.usefixtures("parallel_configs")
def test_parallel_oauth_access_token_expiring_mid_run_is_refreshed_once_for_all_workers() -> None:
    """Several workers meet the expired token at once: the run still completes, exactly."""
    with small_emulator(oauth=OAUTH, latency_ms=2) as emu:
        emu.faults.add("oauth_expire", path=r"^/v1/notes$", after=1, count=1)
        result = sync(sequential._oauth_config(emu), streams=MATRIX_STREAMS)
        assert result.exit_code == 0, log_tail(result.log)
        assert emu.requests.count(path="/oauth/token") >= 2
        assert_exact(result.messages, emu)
        assert_states_cover_only_written(result.messages, held_now(emu, MATRIX_STREAMS))
