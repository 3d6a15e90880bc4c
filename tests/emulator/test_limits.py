"""Rate-limit headers, burst 429s in a rolling 2 s window, daily token budget, latency."""

from __future__ import annotations

import time

from pipedrive_emulator import Emulator

from .conftest import Client

HEADERS = ("x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset", "x-daily-requests-left")


def test_headers_on_every_answer(shared: Client):
    for path in ("/api/v2/deals", "/v1/notes", "/api/v2/deals/999999"):
        response = shared.get(path)
        assert all(h in response.headers for h in HEADERS), path
    assert all(h in shared.get("/api/v2/deals", params={"limit": 9999}).headers for h in HEADERS)


def test_burst_limit_429_and_window_reset():
    with Emulator(seed=1, scale=0.05, burst=5) as emu:
        client = Client(emu)
        statuses = [client.get("/api/v2/pipelines").status_code for _ in range(7)]
        assert statuses[:5] == [200] * 5
        assert statuses[5:] == [429, 429]
        limited = client.get("/api/v2/pipelines")
        body = limited.json()
        assert body["success"] is False
        assert body["data"] is None
        assert limited.headers["x-ratelimit-limit"] == "5"
        assert limited.headers["x-ratelimit-remaining"] == "0"
        assert 0 < int(limited.headers["x-ratelimit-reset"]) <= 2
        ok = client.get("/api/v2/pipelines")
        assert ok.status_code == 429
        time.sleep(2.05)
        ok = client.get("/api/v2/pipelines")
        assert ok.status_code == 200
        assert ok.headers["x-ratelimit-remaining"] == "4"


def test_daily_budget_costs_and_restore():
    with Emulator(seed=1, scale=0.05, daily_budget=30) as emu:
        client = Client(emu)
        first = client.get("/api/v2/deals")  # v2 list: 10 tokens
        assert first.headers["x-daily-requests-left"] == "20"
        assert client.get("/api/v2/deals/1").headers["x-daily-requests-left"] == "19"  # get one: 1
        assert client.get("/api/v2/pipelines").headers["x-daily-requests-left"] == "14"  # pipelines: 5
        assert client.get("/v1/notes").status_code == 429  # v1 list: 20 > 14 left
        blocked = client.get("/v1/notes")
        assert blocked.headers["x-daily-requests-left"] == "0"
        assert "Daily" in blocked.json()["error"]
        emu.restore_budget()
        assert client.get("/v1/notes").headers["x-daily-requests-left"] == "10"


def test_search_has_its_own_lower_burst():
    with Emulator(seed=1, scale=0.05, burst=50, search_burst=2) as emu:
        client = Client(emu)
        codes = [client.get("/api/v2/deals/search", params={"term": "deal"}).status_code for _ in range(3)]
        assert codes == [200, 200, 429]
        assert client.get("/api/v2/deals").status_code == 200


def test_latency():
    with Emulator(seed=1, scale=0.05, latency_ms=120) as emu:
        client = Client(emu)
        client.get("/api/v2/pipelines")
        started = time.perf_counter()
        client.get("/api/v2/pipelines")
        assert time.perf_counter() - started >= 0.12
