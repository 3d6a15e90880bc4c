"""The one server clock: the ``Date`` of Pipedrive's latest answer plus the time elapsed since."""

from __future__ import annotations

import datetime as dt
import random
import threading
import time

import responses

from pipedrive_core.clock import ServerClock, http_date
from pipedrive_core.http import ClientConfig, PipedriveClient, PipedriveSession, RateLimiter, RetryPolicy

UTC = dt.timezone.utc


def test_http_date_parses_rfc7231_and_refuses_garbage():
    assert http_date("Fri, 20 Nov 2026 12:00:00 GMT") == dt.datetime(2026, 11, 20, 12, tzinfo=UTC)
    for bad in (None, "", "garbage", "Fri, 99 Nov 2026 99:00:00 GMT"):
        assert http_date(bad) is None


def test_now_is_the_local_clock_until_an_answer_tells_the_time_then_advances_monotonically():
    ticks = [100.0]
    local = dt.datetime(2030, 1, 1, tzinfo=UTC)
    clock = ServerClock(monotonic=lambda: ticks[0], local_now=lambda: local)
    assert clock.now() == local and clock.last_date is None
    clock.observe_date("Fri, 20 Nov 2026 12:00:00 GMT")
    clock.observe_date("not a date")  # ignored, the last good one stays
    ticks[0] = 107.5
    assert clock.last_date == dt.datetime(2026, 11, 20, 12, tzinfo=UTC)
    assert clock.now() == dt.datetime(2026, 11, 20, 12, 0, 7, 500000, tzinfo=UTC)


@responses.activate
def test_every_session_answer_feeds_the_session_clock():
    responses.get("https://api.pipedrive.com/api/v2/deals", json={"success": True, "data": []},
                  headers={"Date": "Fri, 20 Nov 2026 12:00:00 GMT"})
    config = ClientConfig.from_config({"api_token": "t"})
    session = PipedriveSession(config, limiter=RateLimiter(sleep=lambda _s: None),
                               policy=RetryPolicy(sleep=lambda _s: None, rng=random.Random(1)))
    PipedriveClient(config, session=session).request("GET", "/api/v2/deals")
    assert session.server_clock.last_date == dt.datetime(2026, 11, 20, 12, tzinfo=UTC)


def test_known_now_asks_the_time_once_for_every_thread_and_never_once_told() -> None:
    """Threads wanting the time at once share one question; a clock already told asks nothing."""
    clock = ServerClock()
    asked: list[int] = []

    def ask() -> None:
        asked.append(1)
        time.sleep(0.05)  # the others arrive while the question is out
        clock.observe_date("Fri, 20 Nov 2026 12:00:00 GMT")

    times: list[dt.datetime] = []
    threads = [threading.Thread(target=lambda: times.append(clock.known_now(ask))) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(asked) == 1
    assert all(moment.date() == dt.date(2026, 11, 20) for moment in times)
    clock.known_now(lambda: asked.append(1))
    assert len(asked) == 1
