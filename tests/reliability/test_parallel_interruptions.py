"""The tap's key reliability cases again with ``parallel_streams`` > 1: the daily budget running out mid-run,
transient faults on every stream's requests, and a Cloudflare stop, each with exact record accounting and every
STATE covering only records already written (tests/tap/test_parallel_streams.py has the checker)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from pipedrive_emulator.server import Emulator
from tests.reliability.conftest import (
    MATRIX_STREAMS,
    assert_exact,
    duplicates,
    log_tail,
    small_emulator,
    sync,
    tap_config,
)
from tests.reliability.test_tap_faults import FULL_PATHS, INCREMENTAL_PATHS, TRANSIENT, _config, _inject, change_data
from tests.reliability.test_tap_interruptions import _day_by_day, _spend_of_a_quiet_rerun
from tests.tap.test_parallel_streams import assert_states_cover_only_written

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
        runs = _day_by_day(emu, tap_config(emu, **PARALLEL), {}, budget)
        assert len(runs) >= 2, "the budget never ran out"
        before: list[dict[str, Any]] = []
        for run in runs:
            assert_states_cover_only_written(run.messages, before)
            before += run.messages
        assert_exact(before, emu)
        # resumed, not restarted: no day re-read what an earlier day delivered
        assert sum(r.counts["deals"] for r in runs) == len(emu.store.tables["deals"].rows)


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
    assert_states_cover_only_written(result.messages)
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
    assert_states_cover_only_written(second.messages, first.messages)
    for stream in ("deals", "persons", "notes"):
        assert sorted(r["id"] for r in second.records[stream]) == sorted(changed[stream]), stream
