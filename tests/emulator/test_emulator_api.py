"""The Python API and CLI: determinism, request log, clock, store helpers, generation size."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import requests

from pipedrive_emulator import Emulator
from pipedrive_emulator.clock import Clock
from pipedrive_emulator.seed import seed_store, sizes_for
from pipedrive_emulator.store import Store

from .conftest import Client

ROOT = Path(__file__).resolve().parents[2]


def _bytes(seed: int) -> list[bytes]:
    with Emulator(seed=seed, scale=0.2) as emu:
        client = Client(emu)
        return [client.get(p).content for p in ("/api/v2/deals?limit=50", "/api/v2/persons?limit=50",
                                                 "/v1/notes?limit=50", "/v1/dealFields?limit=500",
                                                 "/v1/leads?limit=20")]


def test_same_seed_same_data_other_seed_other_data():
    assert _bytes(3) == _bytes(3)
    assert _bytes(3) != _bytes(4)


def test_request_log_and_reset(emu: Emulator, client: Client):
    emu.reset_log()
    client.get("/api/v2/deals", params={"limit": 2})
    client.get("/api/v2/deals/999999")
    log = emu.requests.snapshot()
    assert [(r.method, r.path, r.status) for r in log] == [("GET", "/api/v2/deals", 200),
                                                          ("GET", "/api/v2/deals/999999", 404)]
    assert log[0].query == {"limit": "2"}
    assert emu.requests.count(method="GET") == 2
    assert len(emu.requests) == 2
    emu.reset_log()
    assert len(emu.requests) == 0


def test_clock_controls_timestamps(emu: Emulator):
    assert emu.clock.now().isoformat() == "2026-11-20T12:00:00+00:00"
    emu.clock.advance(61)
    emu.store.update("deals", 1, {"title": "t"})
    assert emu.store.get("deals", 1)["update_time"] == "2026-11-20T12:01:01Z"
    emu.clock.set(datetime(2027, 1, 1, tzinfo=timezone.utc))
    emu.store.update("notes", 1, {"content": "c"})
    assert emu.store.get("notes", 1)["update_time"] == "2027-01-01 00:00:00"
    try:
        emu.clock.advance(-1)
    except ValueError:
        pass
    else:
        raise AssertionError("the clock must not go backwards")


def test_benchmark_scale_generation_completes():
    store = Store(Clock())
    started = time.perf_counter()
    seed_store(store, 1, sizes_for(1, {"deals": 100_000}), 18)
    elapsed = time.perf_counter() - started
    assert len(store.tables["deals"]) == 100_000
    assert elapsed < 120  # sanity only: it takes a few seconds on a laptop


def test_cli_serves_until_sigterm():
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, "-m", "pipedrive_emulator.cli", "--port", "0", "--seed", "2",
                             "--scale", "0.05", "--token", "tok", "--no-v1-sunset", "--faults", "500:count=1"],
                            stdout=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    try:
        assert proc.stdout is not None
        info = json.loads(proc.stdout.readline())
        assert info["api_token"] == "tok"
        url = info["url"]
        assert requests.get(f"{url}/v1/deals", headers={"x-api-token": "tok"}, timeout=10).status_code == 500
        assert requests.get(f"{url}/v1/deals", headers={"x-api-token": "tok"}, timeout=10).status_code == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
