"""Pipedrive's rate limits: a burst limit per rolling 2-second window and a daily token budget.

Windows use real monotonic time (not the fake clock), so a client really has to slow down. Every answer
carries ``x-ratelimit-limit``, ``x-ratelimit-remaining``, ``x-ratelimit-reset`` (seconds until the window
frees a slot, relative) and ``x-daily-requests-left`` (tokens left today). Each call costs its
``x-token-cost``; search endpoints have their own lower burst limit.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque

from .envelope import ApiError

WINDOW_S = 2.0
#: what the headers announce when no burst limit is configured (nothing is enforced then)
UNLIMITED = 10_000
SEARCH_BURST = 10


class RateLimiter:
    """Thread-safe burst window(s) and daily budget."""

    def __init__(self, burst: int | None = None, daily_budget: int | None = None,
                 search_burst: int | None = None) -> None:
        self.burst = burst
        self.search_burst = search_burst if search_burst is not None else (SEARCH_BURST if burst else None)
        self.daily_budget = daily_budget
        self._lock = threading.Lock()
        self._hits: deque[float] = deque()
        self._search_hits: deque[float] = deque()
        self.spent = 0
        self.rejected = 0

    def restore_budget(self) -> None:
        """A new day: the daily budget is full again."""
        with self._lock:
            self.spent = 0

    def _trim(self, hits: deque[float], now: float) -> None:
        while hits and hits[0] <= now - WINDOW_S:
            hits.popleft()

    def admit(self, cost: int, *, search: bool = False) -> dict[str, str]:
        """Count one call; return the headers; raise 429 (with the headers attached) when over a limit."""
        with self._lock:
            now = time.monotonic()
            self._trim(self._hits, now)
            self._trim(self._search_hits, now)
            limit = self.burst or UNLIMITED
            hits = self._hits
            if search and self.search_burst:
                limit, hits = self.search_burst, self._search_hits
            if self.daily_budget is not None and self.spent + cost > self.daily_budget:
                self.rejected += 1
                headers = self._headers(limit, hits, now)
                headers["x-daily-requests-left"] = "0"
                raise RateLimitedError(ApiError(429, "Daily rate limit reached: your company has used all of its API "
                                           "tokens for today.", "Wait until the daily budget resets."), headers)
            enforced = self.burst is not None and (not search or self.search_burst)
            if enforced and len(hits) >= limit:
                self.rejected += 1
                raise RateLimitedError(ApiError(429, "Request over limit: too many requests in a 2-second window.",
                                           "Slow down and retry after x-ratelimit-reset seconds."),
                                  self._headers(limit, hits, now))
            hits.append(now)
            if search and self.search_burst and hits is not self._hits:
                self._hits.append(now)
            self.spent += cost
            return self._headers(limit, hits, now)

    def _headers(self, limit: int, hits: deque[float], now: float) -> dict[str, str]:
        remaining = max(0, limit - len(hits))
        reset = math.ceil(hits[0] + WINDOW_S - now) if hits else 0
        daily = "1000000" if self.daily_budget is None else str(max(0, self.daily_budget - self.spent))
        return {"x-ratelimit-limit": str(limit), "x-ratelimit-remaining": str(remaining),
                "x-ratelimit-reset": str(max(0, reset)), "x-daily-requests-left": daily}

    def peek_headers(self) -> dict[str, str]:
        """Headers describing the current state without counting a call (for early errors)."""
        with self._lock:
            now = time.monotonic()
            self._trim(self._hits, now)
            return self._headers(self.burst or UNLIMITED, self._hits, now)


class RateLimitedError(Exception):
    """A 429 plus the rate-limit headers to send with it."""

    def __init__(self, error: ApiError, headers: dict[str, str]) -> None:
        super().__init__(error.error)
        self.error = error
        self.headers = headers
