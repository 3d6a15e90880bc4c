"""A client-side rate limiter shared by every request of a process, worker threads included.

Pipedrive limits bursts per rolling 2-second window and spends a daily token budget. Waiting for a 429
wastes a request and, repeated, gets the client blocked by Cloudflare, so the limiter throttles *before*
the limit: it counts its own sends in the window (against ``burst`` or the ``x-ratelimit-limit`` the server
announced) and honours ``x-ratelimit-remaining``/``x-ratelimit-reset``. A window the server counts full while
the client's own sends fill it is the client's clock running ahead of the server's: the client widens its margin
and waits for its own oldest send to leave the window rather than for the whole seconds of the announced reset
(a full window caused by someone else's requests still waits for the reset). ``x-daily-requests-left`` reaching
zero ends the run with :class:`DailyBudgetExhaustedError` instead of hammering a closed door.

Search endpoints (``…/search``, ``itemSearch``) have their own, lower burst limit: their answers' headers
throttle only the ``search`` bucket, so a spent search window never delays the list reads and writes of the
same process (and the reverse). The daily budget is the company's, shared by both.

A wait the headers ask for is capped: ``x-ratelimit-reset`` is documented as seconds, but an epoch time (a
value above :data:`EPOCH_THRESHOLD`) is read as one, and a wait longer than ``max_wait`` seconds (default
:data:`DEFAULT_MAX_WAIT_SECONDS`) ends the run with :class:`RateLimitWaitTooLongError` (state kept, like a spent
daily budget) instead of sleeping for hours. Every wait longer than :data:`LOG_WAIT_SECONDS` is logged at INFO.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import ClassVar
from urllib.parse import urlsplit

from pipedrive_core.http.errors import DailyBudgetExhaustedError, RateLimitWaitTooLongError

logger = logging.getLogger("pipedrive.http")

WINDOW_SECONDS = 2.0
#: A send occupies its slot a little longer than the server's window: the client stamps a request when it
#: takes the slot, Pipedrive when the request arrives, and thread scheduling in between shifts arrivals by
#: milliseconds, enough to put one request too many in the server's window now and then (measured by
#: ``python -m benchmarks.limiter_margin``). A 429 costs a whole ``x-ratelimit-reset``, the margin a little
#: throughput.
SEND_MARGIN_SECONDS = 0.05
#: When an answer says ``x-ratelimit-remaining: 0`` while this client's own sends fill the window, the server saw
#: one of them later than the client stamped it, by more than the margin: the margin widens by this much (up to
#: :data:`MAX_SEND_MARGIN_SECONDS`) and the client waits for its own oldest send in the window to leave it, instead
#: of the announced ``x-ratelimit-reset``, which Pipedrive rounds up to whole seconds.
SEND_MARGIN_STEP_SECONDS = 0.05
MAX_SEND_MARGIN_SECONDS = 0.25
#: the longest single wait a run accepts by default (setting ``max_rate_limit_wait``)
DEFAULT_MAX_WAIT_SECONDS = 300.0
#: waits longer than this are logged at INFO (shorter ones are the normal pacing of a burst window)
LOG_WAIT_SECONDS = 5.0
#: an ``x-ratelimit-reset`` above this is a Unix time (2001-09-09 onwards), not a number of seconds
EPOCH_THRESHOLD = 1_000_000_000.0

GENERAL = "general"
SEARCH = "search"
_SEARCH_PATH = re.compile(r"(?i)(^|/)(search|itemsearch)(/|$)")


def endpoint_class(url: str) -> str:
    """The limiter bucket of a request: :data:`SEARCH` for Pipedrive's search endpoints, else :data:`GENERAL`."""
    return SEARCH if _SEARCH_PATH.search(urlsplit(url).path) else GENERAL


@dataclass
class _Bucket:
    """The burst accounting of one endpoint class."""

    burst: int | None = None
    sent: deque[float] = field(default_factory=deque)
    blocked_until: float = 0.0
    block_reason: str = ""
    #: the block is the client's own pacing (its oldest send leaving the window), never refused by ``max_wait``
    block_is_pacing: bool = False


def _header_number(headers: Mapping[str, str], name: str) -> float | None:
    value = headers.get(name)
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        return None


class RateLimiter:
    """Throttle sends to stay under a rolling-window burst limit per endpoint class and stop at the daily budget.

    ``clock`` (monotonic), ``wall`` (Unix time, for epoch resets) and ``sleep`` are injectable so tests run
    without real waiting.
    """

    _registry: ClassVar[dict[str, RateLimiter]] = {}
    _registry_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(
        self,
        *,
        burst: int | None = None,
        window: float = WINDOW_SECONDS + SEND_MARGIN_SECONDS,
        headroom: int = 1,
        max_wait: float = DEFAULT_MAX_WAIT_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.window = window
        self.headroom = headroom
        self.max_wait = max_wait
        self._clock = clock
        self._wall = wall
        self._sleep = sleep
        self._lock = threading.Lock()
        self._buckets: dict[str, _Bucket] = {GENERAL: _Bucket(burst), SEARCH: _Bucket()}
        self.daily_left: float | None = None
        self.waited_seconds = 0.0
        self.throttle_count = 0

    @property
    def burst(self) -> int | None:
        """The burst limit of the general bucket (configured, or learned from ``x-ratelimit-limit``)."""
        return self._buckets[GENERAL].burst

    @burst.setter
    def burst(self, value: int | None) -> None:
        self._buckets[GENERAL].burst = value

    def bucket_burst(self, kind: str) -> int | None:
        """The burst limit of one endpoint class."""
        return self._buckets[kind].burst

    @classmethod
    def shared(cls, account: str, *, burst: int | None = None, max_wait: float | None = None) -> RateLimiter:
        """The one limiter of this process for ``account`` (API host + credential fingerprint).

        A new session (a new run) re-learns the daily budget from its first answer: a spent budget seen by an
        earlier run in the same process may have been reset since, and refusing before asking would stop
        every later run of a long-lived process for good. For the same reason it forgets a pause that stopped
        an earlier run (longer than ``max_wait``); ordinary short pauses still hold.
        """
        with cls._registry_lock:
            limiter = cls._registry.get(account)
            if limiter is None:
                limiter = cls._registry[account] = cls(burst=burst)
            elif burst is not None:
                limiter.burst = burst
            with limiter._lock:
                if max_wait is not None:
                    limiter.max_wait = max_wait
                limiter.daily_left = None
                horizon = limiter._clock() + limiter.max_wait
                for bucket in limiter._buckets.values():
                    if bucket.blocked_until > horizon:
                        bucket.blocked_until = 0.0
            return limiter

    def _capacity(self, bucket: _Bucket) -> int | None:
        if bucket.burst is None:
            return None
        return max(1, bucket.burst - self.headroom)

    def acquire(self, kind: str = GENERAL) -> None:
        """Block until one more request of endpoint class ``kind`` may be sent, then count it as sent."""
        bucket = self._buckets[kind]
        while True:
            with self._lock:
                if self.daily_left is not None and self.daily_left <= 0:
                    raise DailyBudgetExhaustedError(
                        "the daily API token budget of this Pipedrive company is spent; "
                        "the run stopped with its state saved, rerun after the budget resets (midnight in "
                        "the company's time zone) or raise the plan's limit"
                    )
                now = self._clock()
                while bucket.sent and bucket.sent[0] <= now - self.window:
                    bucket.sent.popleft()
                wait = max(0.0, bucket.blocked_until - now)
                reason = bucket.block_reason
                refusable = not bucket.block_is_pacing  # one window of the client's own pacing is never refused
                if refusable and wait > max(self.max_wait, self.window):
                    raise RateLimitWaitTooLongError(
                        f"Pipedrive's rate limit asks for a {wait:.0f} s pause ({reason}), longer than "
                        f"max_rate_limit_wait ({self.max_wait:.0f} s); the run stopped with its state saved, "
                        "rerun later",
                        retry_after=wait,
                    )
                capacity = self._capacity(bucket)
                if wait == 0.0 and capacity is not None and len(bucket.sent) >= capacity:
                    # pacing within the burst window: at most one window, never subject to the cap
                    wait = bucket.sent[0] + self.window - now
                    reason = f"{capacity} requests already sent in the {self.window:.2f} s window"
                if wait <= 0.0:
                    bucket.sent.append(now)
                    return
                self.waited_seconds += wait
                self.throttle_count += 1
            if wait > LOG_WAIT_SECONDS:
                logger.info("Rate limit (%s requests): waiting %.1f s because of %s", kind, wait, reason)
            self._sleep(wait)

    def _own_sends_fill(self, bucket: _Bucket) -> bool:
        """Whether this client's own sends in the window are as many as it allows itself, less one (under the
        lock): then a server that counts its window full is counting them, not another client's requests."""
        capacity = self._capacity(bucket)
        now = self._clock()
        while bucket.sent and bucket.sent[0] <= now - self.window:
            bucket.sent.popleft()
        return capacity is not None and bool(bucket.sent) and len(bucket.sent) >= capacity - 1

    def _pause(self, reset: float | None) -> tuple[float, str]:
        """Seconds to pause for an announced reset, and how it was read."""
        if reset is None or reset <= 0:
            return self.window, "no x-ratelimit-reset, one window"
        if reset >= EPOCH_THRESHOLD:
            return max(0.0, reset - self._wall()), f"x-ratelimit-reset {reset:.0f} read as a Unix time"
        return reset, f"x-ratelimit-reset {reset:g} s"

    def observe(self, headers: Mapping[str, str], status: int, kind: str = GENERAL) -> None:
        """Learn the limit, remaining requests and reset time of ``kind``'s bucket and the (shared) daily budget
        from an answer's headers."""
        limit = _header_number(headers, "x-ratelimit-limit")
        remaining = _header_number(headers, "x-ratelimit-remaining")
        reset = _header_number(headers, "x-ratelimit-reset")
        daily = _header_number(headers, "x-daily-requests-left")
        bucket = self._buckets[kind]
        with self._lock:
            if limit is not None and limit > 0:
                bucket.burst = int(limit) if bucket.burst is None else min(bucket.burst, int(limit))
            if daily is not None:
                self.daily_left = daily
            blocked = (remaining is not None and remaining <= self.headroom - 1) or status == 429
            if blocked and status != 429 and self._own_sends_fill(bucket):
                self.window = min(self.window + SEND_MARGIN_STEP_SECONDS, WINDOW_SECONDS + MAX_SEND_MARGIN_SECONDS)
                until = bucket.sent[0] + self.window
                if until > bucket.blocked_until:
                    bucket.blocked_until, bucket.block_is_pacing = until, True
                    bucket.block_reason = (f"x-ratelimit-remaining 0 with this client's sends filling the window: "
                                           f"until the oldest is {self.window:.2f} s old")
            elif blocked:
                pause, how = self._pause(reset)
                until = self._clock() + pause
                if until > bucket.blocked_until:
                    cause = "a 429 answer" if status == 429 else "x-ratelimit-remaining 0"
                    bucket.blocked_until, bucket.block_is_pacing = until, False
                    bucket.block_reason = f"{cause}, {how}"
