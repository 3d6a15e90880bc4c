"""Soak variants of the fault matrix (``pytest --soak tests/reliability``): larger data, every fault kind at
random (seeded) on every request, data changing between runs, and a day-by-day budget; a few minutes each.
The accounting is the same as in the fast matrix: exact record sets, nothing lost, nothing duplicated."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from pipedrive_emulator.server import Emulator
from tests.reliability.conftest import (
    MATRIX_STREAMS,
    TARGET_FAST,
    assert_exact,
    daily_runs,
    log_tail,
    sync,
    tap_config,
    target_files,
)
from tests.reliability.test_target_faults import assert_holds_exactly, messages, people
from tests.target.conftest import empty_sizes, run_target

pytestmark = pytest.mark.soak

READ_FAULTS = ("500", "502", "503", "524", "drop", "malformed", "nullbody")
WRITE_FAULTS = ("500", "502", "503", "524", "drop", "malformed", "commit_then_timeout", "nullbody")


def _random_faults(emu: Emulator, kinds: tuple[str, ...], p: float, method: str | None = None) -> None:
    for kind in kinds:
        options: dict[str, Any] = {"p": p}
        if kind in {"timeout", "commit_then_timeout"}:
            options["delay"] = 0.8
        emu.faults.add(kind, method=method, **options)
    emu.faults.add("timeout", method=method, p=p / 2, delay=0.8, then="drop")
    emu.faults.add("429", method=method, p=p / 4, headers=False)


@pytest.mark.parametrize("seed", [11, 12])
def test_soak_tap_many_incremental_runs_under_random_faults(seed):
    rng = random.Random(seed)
    with Emulator(seed=seed, scale=0.5, custom_fields_per_entity=10) as emu:
        _random_faults(emu, READ_FAULTS, 0.03, method="GET")
        config = tap_config(emu, request_timeout=0.5, max_retries=8, page_size=25)
        outputs: list[dict[str, Any]] = []
        state: dict[str, Any] = {}
        for _ in range(6):
            result = sync(config, streams=MATRIX_STREAMS, state=state)
            assert result.exit_code == 0, log_tail(result.log)
            outputs += result.messages
            state = result.state
            emu.clock.advance(rng.randint(60, 7200))
            for stream, field_name in (("deals", "title"), ("persons", "name"), ("notes", "content")):
                keys = sorted(k for k, r in emu.store.tables[stream].rows.items() if r.deleted_at is None)
                for key in rng.sample(keys, k=min(len(keys), rng.randint(0, 40))):
                    emu.store.update(stream, key, {field_name: f"soak {rng.random()}"})
        final = sync(config, streams=MATRIX_STREAMS, state=state)
        assert final.exit_code == 0, log_tail(final.log)
        assert_exact(outputs + final.messages, emu)
        assert emu.faults.fired() > 20


def test_soak_tap_full_sync_day_by_day_under_budget_and_faults():
    with Emulator(seed=21, scale=0.5, custom_fields_per_entity=10) as emu:
        _random_faults(emu, READ_FAULTS, 0.02, method="GET")
        config = tap_config(emu, request_timeout=0.5, max_retries=8, page_size=25)
        runs = daily_runs(emu, config, MATRIX_STREAMS, 300, max_days=40)
        assert len(runs) >= 3, "the budget never ran out"
        assert_exact([m for run in runs for m in run.messages], emu)


def test_soak_target_creates_and_updates_under_random_write_faults(tmp_path: Path):
    with Emulator(seed=31, sizes=empty_sizes()) as emu:
        config = {"api_token": emu.api_token, "api_url": emu.url, **target_files(tmp_path), **TARGET_FAST,
                  "max_workers": 8, "max_retries": 6}
        _random_faults(emu, WRITE_FAULTS, 0.05)
        for version in ("v1", "v2", "v3"):
            rows = people(300, version=version)
            for _ in range(5):  # a run may stop on an unresolvable outcome; the rerun settles it
                try:
                    run_target(config, *messages(rows))
                    break
                except Exception:
                    continue
            assert_holds_exactly(emu, rows)
        assert emu.faults.fired() > 50
