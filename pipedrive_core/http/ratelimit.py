"""A client-side rate limiter shared by every request of a process, worker threads included.

Pipedrive limits bursts per rolling 2-second window and spends a daily token budget. Waiting for a 429
wastes a request and, repeated, gets the client blocked by Cloudflare, so the limiter throttles *before*
the limit: it counts its own sends in the window (against ``burst`` or the ``x-ratelimit-limit`` the server
announced) and honours ``x-ratelimit-remaining``/``x-ratelimit-reset``. ``x-daily-requests-left`` reaching
zero ends the run with :class:`DailyBudgetExhaustedError` instead of hammering a closed door.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import ClassVar

from pipedrive_core.http.errors import DailyBudgetExhaustedError

WINDOW_SECONDS = 2.0
#: A send occupies its slot a little longer than the server's window: the client stamps a request when it
#: takes the slot, Pipedrive when the request arrives, and thread scheduling in between shifts arrivals by
#: milliseconds, enough to put one request too many in the server's window now and then (measured by
#: ``python -m benchmarks.limiter_margin``: 8 429s and 0.76 of the bound with no margin, none and 0.98 with
#: 50 ms). A 429 costs a whole ``x-ratelimit-reset``, the margin costs 2.5 %.
SEND_MARGIN_SECONDS = 0.05


def _header_number(headers: Mapping[str, str], name: str) -> float | None:
    value = headers.get(name)
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        return None


class RateLimiter:
    """Throttle sends to stay under a rolling-window burst limit and stop at the daily budget.

    ``clock`` and ``sleep`` are injectable so tests run without real waiting.
    """

    _registry: ClassVar[dict[str, RateLimiter]] = {}
    _registry_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(
        self,
        *,
        burst: int | None = None,
        window: float = WINDOW_SECONDS + SEND_MARGIN_SECONDS,
        headroom: int = 1,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.burst = burst
        self.window = window
        self.headroom = headroom
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._sent: deque[float] = deque()
        self._blocked_until = 0.0
        self.daily_left: float | None = None
        self.waited_seconds = 0.0
        self.throttle_count = 0

    @classmethod
    def shared(cls, account: str, *, burst: int | None = None) -> RateLimiter:
        """The one limiter of this process for ``account`` (API host + credential fingerprint).

        A new session (a new run) re-learns the daily budget from its first answer: a spent budget seen by an
        earlier run in the same process may have been reset since, and refusing before asking would stop
        every later run of a long-lived process for good.
        """
        with cls._registry_lock:
            limiter = cls._registry.get(account)
            if limiter is None:
                limiter = cls._registry[account] = cls(burst=burst)
            else:
                if burst is not None:
                    limiter.burst = burst
                with limiter._lock:
                    limiter.daily_left = None
            return limiter

    def _capacity(self) -> int | None:
        if self.burst is None:
            return None
        return max(1, self.burst - self.headroom)

    def acquire(self) -> None:
        """Block until one more request may be sent, then count it as sent."""
        while True:
            with self._lock:
                if self.daily_left is not None and self.daily_left <= 0:
                    raise DailyBudgetExhaustedError(
                        "the daily API token budget of this Pipedrive company is spent; "
                        "the run stopped with its state saved, rerun after the budget resets (midnight in "
                        "the company's time zone) or raise the plan's limit"
                    )
                now = self._clock()
                while self._sent and self._sent[0] <= now - self.window:
                    self._sent.popleft()
                wait = max(0.0, self._blocked_until - now)
                capacity = self._capacity()
                if wait == 0.0 and capacity is not None and len(self._sent) >= capacity:
                    wait = self._sent[0] + self.window - now
                if wait <= 0.0:
                    self._sent.append(now)
                    return
                self.waited_seconds += wait
                self.throttle_count += 1
            self._sleep(wait)

    def observe(self, headers: Mapping[str, str], status: int) -> None:
        """Learn the limit, remaining requests, reset time and daily budget from an answer's headers."""
        limit = _header_number(headers, "x-ratelimit-limit")
        remaining = _header_number(headers, "x-ratelimit-remaining")
        reset = _header_number(headers, "x-ratelimit-reset")
        daily = _header_number(headers, "x-daily-requests-left")
        with self._lock:
            if limit is not None and limit > 0:
                self.burst = int(limit) if self.burst is None else min(self.burst, int(limit))
            if daily is not None:
                self.daily_left = daily
            blocked = (remaining is not None and remaining <= self.headroom - 1) or status == 429
            if blocked:
                pause = reset if reset is not None and reset > 0 else self.window
                self._blocked_until = max(self._blocked_until, self._clock() + pause)

    def wait_after_429(self, headers: Mapping[str, str]) -> float:
        """Seconds to wait after a 429: the announced reset, else one full window."""
        reset = _header_number(headers, "x-ratelimit-reset")
        return reset if reset is not None and reset > 0 else self.window
