"""How many list requests a tap keeps in flight at once, derived from the rate limit and the measured latency.

A read that waits for each answer moves one page per round trip. Pipedrive allows ``burst`` requests per
rolling window, so the sends that use the limit fully are ``burst / window`` per second, and by Little's law
the requests that must be in flight for that are that rate times the round-trip time. The budget keeps that
many (with a margin, because answers vary in time) and no more: requests beyond it would only wait in the rate
limiter, holding memory for their pages and inviting 429s, while fewer leave the limit unused.

The latency is the shortest ``response.elapsed`` (from the request sent to the answer's headers, so the time a
request waited in the rate limiter is not counted) among the last answers: what the network and the server take
when not busy. An average would grow with the server's queue, and a budget following it would send more requests
exactly when the server is slowest. The burst is what the limiter knows (the
``burst_limit`` setting or the ``x-ratelimit-limit`` the server announced), else Pipedrive's smallest.
``max_requests_in_flight`` caps the derived figure; 1 turns concurrent pages off.

The same law bounds it from the readers' side. The readers (one GIL between them) take one page per CPU time
they spend on it: writing its records, taking its checkpoint. To keep them busy, a round trip needs latency /
that time pages in flight, and more only wait as parsed pages in memory. Where the readers are the slower side
(a fast network, heavy records), the budget is that figure, with a margin, plus one. That keeps the memory of a
run flat however long its lists are, and the requests and CPU that the pages read ahead cost with it. Pages of
child reads (one parent's few records) count too: they are cheap, which only loosens the bound. The CPU per page
is the median of the last pages' thread CPU time, measured by the readers (:meth:`RequestBudget.page_read`).
"""

from __future__ import annotations

import math
import threading
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import requests

#: Pipedrive's smallest burst per 2-second window (API token, Lite plan): the assumption until the server says
SMALLEST_BURST = 20
#: the latency assumed before the first answer is timed, seconds
INITIAL_LATENCY = 0.25
#: the margin over Little's law for answers that take longer than the shortest
MARGIN = 1.25
#: the most requests in flight the derived figure may reach: 40 requests/s (Pipedrive's highest API-token burst
#: is 120 per 2 s, 60/s) at 150 ms needs 8, at 250 ms 13; more would only hold pages in memory
DERIVED_MAX = 16
#: the answers whose shortest time is the latency
LATENCY_SAMPLES = 32
#: no request is sent ahead while this many pages (over every read of the run) wait for their readers
EXTRA_BUFFER = 4
#: the margin over Little's law on the readers' side: pages in flight to cover the latency at the readers' pace
READER_MARGIN = 1.5
#: the pages whose readers' CPU time gives the readers' pace
READER_SAMPLES = 32


class RequestBudget:
    """Slots for list requests in flight, shared by every concurrent read of one tap run.

    ``rate`` returns the sends per second the rate limit allows now. Slots are taken with :meth:`acquire` and
    given back with :meth:`release`, which also times the request; the size is recomputed on every call.
    """

    def __init__(self, rate: Callable[[], float], *, cap: int | None = None) -> None:
        self._rate = rate
        self.cap = cap
        self._samples: deque[float] = deque(maxlen=LATENCY_SAMPLES)
        #: CPU seconds a reader spent on each of the last pages it took (writing its records, its checkpoint)
        self._reader_cpu: deque[float] = deque(maxlen=READER_SAMPLES)
        self.in_flight = 0
        self.peak = 0
        #: pages fetched by any read and not yet taken by its reader (memory, see :meth:`room`)
        self.pages_waiting = 0
        #: the most pages held at once, waiting or in flight
        self.peak_held = 0
        self._changed = threading.Condition()

    @property
    def latency(self) -> float:
        """Seconds a request takes when the server is not busy (the shortest of the last answers)."""
        return min(self._samples) if self._samples else INITIAL_LATENCY

    @property
    def size(self) -> int:
        """Requests allowed in flight now: rate x latency x margin, at least 1, at most the cap, and no more than
        the readers can take (:attr:`readers_take`)."""
        derived = max(1, min(DERIVED_MAX, math.ceil(self._rate() * self.latency * MARGIN)))
        readers = self.readers_take
        if readers is not None:
            derived = min(derived, readers)
        return derived if self.cap is None else max(1, min(derived, self.cap))

    @property
    def readers_take(self) -> int | None:
        """Pages in flight that keep the readers busy: the readers, one GIL between them, take one page per
        (median) CPU time per page, so latency / that time pages cover a round trip (Little's law on their side),
        with a margin, plus one. More would only wait as parsed pages. ``None`` before the first page is taken."""
        samples = self._reader_cpu
        if not samples:
            return None
        per_page = max(sorted(samples)[len(samples) // 2], 1e-4)
        return 1 + max(1, math.ceil(self.latency / per_page * READER_MARGIN))

    def page_read(self, cpu_seconds: float) -> None:
        """A reader finished a page (its records written, its checkpoint taken) in ``cpu_seconds`` of its thread's
        CPU time."""
        with self._changed:
            self._reader_cpu.append(cpu_seconds)

    def try_acquire(self) -> bool:
        """Take a slot if one is free now."""
        with self._changed:
            if self.in_flight >= self.size:
                return False
            self._take()
            return True

    def acquire(self, stop: Callable[[], bool] = lambda: False) -> bool:
        """Wait for a slot; ``False`` (no slot taken) once ``stop()`` says the caller no longer wants one."""
        with self._changed:
            while self.in_flight >= self.size:
                if stop():
                    return False
                self._changed.wait(0.05)
            self._take()
            return True

    def release(self, elapsed: float | None) -> None:
        """Give a slot back; ``elapsed`` (seconds, when the request got an answer) joins the answers the latency
        is taken from."""
        with self._changed:
            self.in_flight -= 1
            if elapsed is not None and elapsed > 0:
                self._samples.append(elapsed)
            self._changed.notify_all()

    def room(self, extra: int) -> bool:
        """Whether one more page may be fetched ahead, over every read of the run: fewer than ``extra`` pages wait
        for their readers, and the pages held, waiting or in flight, stay below :attr:`size`. Readers that keep up
        leave nothing waiting and the whole size is in flight; readers that fall behind bound the run, and a page
        waiting for them takes the place of a request, which would only be one more page to hold."""
        with self._changed:
            return self.pages_waiting < extra and self.pages_waiting + self.in_flight < self.size

    def page_filed(self, count: int = 1) -> None:
        """A read filed ``count`` pages for its reader (negative: its reader took them)."""
        with self._changed:
            self.pages_waiting += count
            self.peak_held = max(self.peak_held, self.pages_waiting + self.in_flight)

    def _take(self) -> None:
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        self.peak_held = max(self.peak_held, self.pages_waiting + self.in_flight)


def limiter_rate(burst: Callable[[], int | None], window: float) -> Callable[[], float]:
    """The sends per second a limiter with this burst and window allows (Pipedrive's smallest burst while unknown)."""
    return lambda: (burst() or SMALLEST_BURST) / window


def elapsed_seconds(response: requests.Response) -> float | None:
    """Seconds from sending a request to its answer's headers (the time :meth:`RequestBudget.release` samples)."""
    return response.elapsed.total_seconds() if response.elapsed else None
