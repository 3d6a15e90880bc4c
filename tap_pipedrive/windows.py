"""One v2 list read as several update-time windows in flight at once.

A cursor list is a chain: each page's cursor comes with the previous answer, so one chain moves one page per
round trip. Lists that take ``updated_since`` (>=) and ``updated_until`` (<) and sort by update time can be cut
into windows ``[lo, hi)`` that are chains of their own; read side by side, they keep as many requests in flight
as the :class:`~tap_pipedrive.inflight.RequestBudget` allows.

**Pages are handed out as they arrive**, each window's in its own ascending order, so no window waits for
another; the stream's records are therefore not ascending across windows. The bookmark stays exact through the
**watermark** (:meth:`WindowedRead.watermark`): the windows partition the update-time axis, so every record
below the newest one handed out by the lowest window not yet finished has been handed out. The bookmark keeper
(:class:`~tap_pipedrive.incremental.BookmarkKeeper`) puts that second, with the ids handed out at it, in every
STATE, and keeps singer-sdk's per-record bookmark at it too, so a STATE written at any moment (after a page, on
SIGTERM) covers only records already written. A resume re-reads what the windows above the watermark had
handed out: a stop costs duplicates, never a lost record. A window whose pages come back out of update-time order
freezes the bookmark at the read's start until the read ends, as a single chain does.

**Windows follow the data.** The read starts as one chain (the plan's own request). Whenever a request slot is
free, every window has its request out and no page waits for the reader (when pages wait, the reader, not the
round trips, bounds the read, and more windows would only cost requests), the window with the most records
still expected is cut in two: the records per second of update time it has shown (or the read has shown, before
it starts) estimate that, so dense recent periods are cut finer than quiet old ones. A window that has started
keeps its cursor and drops what its pages bring at or past the cut; one that has not started just asks for less.
The last window stays open-ended, so records changed during the read are read there as in a single chain, and
once every other window is done the end of the list is read once more from its newest second (answers of other
windows may have been served after its last one). Each window's last page is partly empty: a cut costs about
half a request, which is why windows are cut only while a slot would otherwise idle.

**When it is cut.** Only a read whose first page is full: a small incremental read stays one chain. Pipedrive
leaves ``update_time`` null until a record is first changed, and windows never return those records: a read with
a floor finds them in its never-updated pass (:meth:`tap_pipedrive.client.PipedriveStream.added_since_plan`), and
a read of the whole list keeps them in its first window, the plan's own request, only if they sort before every
timestamp. So a whole-list read asks one question (one request of one row) before it is cut: when its first page
begins with a timestamp, the newest row (``sort_direction=desc``) says whether never-updated records sort last
(then the read is not cut); when it begins with a never-updated record, the oldest dated row (``updated_since``
1970) says where the timestamps begin, and the first window ends there.

**Memory.** Pages wait only until the reader takes them, holding their parsed records only (the raw answer is
let go once parsed). Over every read of the run (streams read side by side too), the pages held, waiting or in
flight, stay below ``budget.size`` (a page waiting for a reader that fell behind takes the place of a request; the
size is no more than the readers take in a round trip at their pace, :mod:`tap_pipedrive.inflight`), and no request
is sent ahead while ``EXTRA_BUFFER`` pages wait. Never whole windows.

**Errors.** A failed request is raised when the reader takes that page, after the pages that arrived before it.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Hashable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from pipedrive_core.catalogue import Pagination
from pipedrive_core.http import body_of, release_raw_body
from pipedrive_core.pagination import next_token
from tap_pipedrive.incremental import epoch_seconds, from_epoch_seconds
from tap_pipedrive.inflight import DERIVED_MAX, EXTRA_BUFFER, elapsed_seconds
from tap_pipedrive.parallel import wait_for

if TYPE_CHECKING:
    import requests

    from tap_pipedrive.client import ApiStream, ReadPlan
    from tap_pipedrive.inflight import RequestBudget
    from tap_pipedrive.pages import ReadStats

#: once a read has as many windows as requests may be in flight, a window is cut only while at least this many
#: pages of records are expected in it
SPLIT_MIN_PAGES = 4.0
#: ... and while it has fewer, this many
FIRST_CUTS_MIN_PAGES = 2.0
#: the most windows one read is cut into (each cut costs about half a request, and the whole windows handed out
#: are listed in its state)
MAX_WINDOWS = 64
#: the most windows being read at once, per request slot. Finished windows do not count: near its end a read has
#: many of them and a few long chains left, which are cut while slots would otherwise idle
WINDOWS_PER_SLOT = 2
#: beyond that many windows, the pages (fetched and expected) each window carries on average: every window ends in
#: a partly filled page (about half a request), so the windows add at most about an eighth to a read's requests
PAGES_PER_WINDOW = 4.0

@dataclass(frozen=True)
class Watermark:
    """How far a windowed read has handed out every record: all records updated before ``second`` and those at
    ``second`` with an id in ``ids``. ``second`` is ``None`` when nothing dated is covered yet; ``frozen`` when a
    window's pages came out of order (nothing can be trusted before the read ends); ``complete`` when every window
    is handed out."""

    second: str | None = None
    ids: frozenset[Hashable] = frozenset()
    frozen: bool = False
    complete: bool = False
    #: windows above ``second`` handed out whole: ``(lo, hi)`` seconds, kept in state so that a resume skips them
    done: tuple[tuple[int, int], ...] = ()


@dataclass
class Page:
    """One answer of a window, or the error its request met."""

    window: Window | None
    prepared: requests.PreparedRequest | None
    response: requests.Response | None = None
    records: list[dict[str, Any]] = field(default_factory=list)
    error: BaseException | None = None


@dataclass
class Window:
    """One update-time window ``[lo, hi)`` read as a cursor chain (``None``: unbounded on that side)."""

    lo: int | None
    hi: int | None
    #: the ``updated_until`` its requests carry: ``hi``, unless the window was cut after it started
    query_hi: int | None
    #: whether the requests carry ``updated_since=lo`` (the first window keeps the plan's own parameters)
    own_since: bool = True
    cursor: str | None = None
    started: bool = False
    fetching: bool = False
    done: bool = False  #: no further page to fetch
    waiting: int = 0  #: pages fetched, not handed out yet
    dated: int = 0  #: records fetched that have an update time
    first: int | None = None  #: the oldest update time fetched
    last: int | None = None  #: the newest update time fetched
    misordered: bool = False  #: a page went back in update time
    fetched: int = 0  #: records fetched
    past_end: bool = False  #: a page brought records at or past its end: nothing further is its own
    failed: bool = False  #: a request of it failed: it is never finished
    again: bool = False  #: it reads the end of the list once more, after every other window
    #: the newest update time filed, as the server spelled it, and the ids filed at it (repeats are dropped)
    tail: tuple[Any, set[Hashable]] | None = None
    more: bool = False  #: its last page was full and has a next page
    #: what the reader has handed out: the newest update time and the ids at it
    out_second: int | None = None
    out_ids: set[Hashable] = field(default_factory=set)

    @property
    def finished(self) -> bool:
        """Fetched to its end and handed out (a window whose request failed, even after the reader stopped, is
        not: its records are not all out)."""
        return self.done and not self.failed and not self.fetching and not self.waiting

    def top(self, now: int) -> int:
        """Its end, or just past the read's start for the open-ended window."""
        return self.hi if self.hi is not None else now + 1

    def expected(self, now: int, density: float) -> float:
        """Records still to fetch: from its own density once it fetched dated records, else from ``density``; and
        at least as many as it has fetched while its pages keep coming full (a density learnt from old, sparse
        records says little about the recent ones, where most records usually are)."""
        if self.done:
            return 0.0
        base = self.lo if self.lo is not None else self.first
        if self.last is not None and base is not None and self.last > base:
            estimate = (self.top(now) - self.last) * self.dated / (self.last - base + 1)
        else:
            bottom = self.last if self.last is not None else self.lo
            estimate = 0.0 if bottom is None else (self.top(now) - bottom) * density
        return max(0.0, estimate, float(self.fetched) if self.more else 0.0)

    def cut_point(self, now: int) -> int | None:
        """Where to cut it: half-way between what it fetched (or its start) and its end, on a whole second after
        the newest record fetched; ``None`` when there is no such second."""
        bottom = self.last + 1 if self.last is not None else self.lo
        top = self.top(now)
        if bottom is None or top - bottom < 2:
            return None
        return bottom + (top - bottom) // 2

    def cut(self, at: int) -> Window:
        """Keep ``[lo, at)`` and return the window ``[at, hi)``."""
        upper = Window(at, self.hi, self.hi)
        if not self.started:
            self.query_hi = at
        self.hi = at
        return upper

    def file(self, records: list[dict[str, Any]], rk: str, key: str = "id") -> list[dict[str, Any]]:
        """Note a page's records (ascending by update time) and return those that are this window's: a record
        outside ``[lo, hi)`` (past a cut made after the window started, or sent by a confused server) belongs to
        another window, and one repeating the newest second already filed with the same id was filed already.
        Only a page whose ends fall outside the window is checked record by record."""
        dated = [r for r in records if r.get(rk) is not None]
        if dated:
            oldest, newest = epoch_seconds(dated[0].get(rk)), epoch_seconds(dated[-1].get(rk))
            lo, hi = self.lo, self.hi
            if (oldest is not None and lo is not None and oldest < lo) or (
                    newest is not None and hi is not None and newest >= hi):
                self.past_end = self.past_end or any(
                    (t := epoch_seconds(r.get(rk))) is not None and hi is not None and t >= hi for r in dated)
                records = [r for r in records if (t := epoch_seconds(r.get(rk))) is None
                           or ((lo is None or t >= lo) and (hi is None or t < hi))]
        if self.tail is not None:
            tail, ids = self.tail
            records = [r for r in records if r.get(rk) != tail or r.get(key) not in ids]
        dated = [r for r in records if r.get(rk) is not None]
        if dated:
            self.dated += len(dated)
            oldest, newest = epoch_seconds(dated[0].get(rk)), epoch_seconds(dated[-1].get(rk))
            if oldest is not None and newest is not None and (
                    newest < oldest or (self.last is not None and oldest < self.last)):
                self.misordered = True
            if oldest is not None:
                self.first = oldest if self.first is None else min(self.first, oldest)
            if newest is not None:
                self.last = newest if self.last is None else max(self.last, newest)
            raw = dated[-1].get(rk)
            at_tail = {r.get(key) for r in reversed(dated) if r.get(rk) == raw}
            if self.tail is not None and self.tail[0] == raw:
                at_tail |= self.tail[1]
            self.tail = (raw, at_tail)
        return records

    def handed_out(self, records: list[dict[str, Any]], rk: str, key: str) -> None:
        """The reader has written these records of this window (ascending): move the newest second handed out
        to the page's last dated one, with the ids at it."""
        second: int | None = None
        ids: set[Hashable] = set()
        for record in reversed(records):
            t = epoch_seconds(record.get(rk))
            if t is None:
                continue
            if second is None:
                second = t
            elif t != second:
                break
            ids.add(record.get(key))
        if second is None or (self.out_second is not None and second < self.out_second):
            return
        if second == self.out_second:
            self.out_ids |= ids
        else:
            self.out_second, self.out_ids = second, ids


def _joined(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """``[lo, hi)`` ranges in order, those that touch or overlap joined: windows cut from one another touch (one
    ends where the next begins), and each range after the first must start above the stretch before it."""
    joined: list[tuple[int, int]] = []
    for lo, hi in sorted(ranges):
        if joined and lo <= joined[-1][1]:
            joined[-1] = (joined[-1][0], max(hi, joined[-1][1]))
        else:
            joined.append((lo, hi))
    return joined


class WindowedRead:
    """The records of one ``updated_since`` plan, read as update-time windows (see the module docstring)."""

    def __init__(self, stream: ApiStream, context: Mapping[str, Any] | None, plan: ReadPlan, stats: ReadStats,
                 budget: RequestBudget, *, key: str = "id") -> None:
        self.stream, self.context, self.plan, self.stats, self.budget = stream, context, plan, stats, budget
        self.rk = stream.replication_key or "update_time"
        self.key = key
        self.floor = epoch_seconds(plan.floor) if plan.floor else None
        self.windows: list[Window] = [Window(self.floor, None, None, own_since=False)]
        self.now = int(stream.tap.server_now().timestamp())
        self._cond = threading.Condition()
        self._closed = False
        self._fetching = 0
        self._arrived_pages: deque[Page] = deque()
        #: ``None`` until the first page says whether the read is cut; then whether it may be
        self._cutting: bool | None = None
        self._pool = ThreadPoolExecutor(max_workers=DERIVED_MAX, thread_name_prefix=f"window-{stream.name}")
        self._extra_requests = 0  #: requests besides the pages (the one question before cutting)
        self._following = False
        #: the open last window ended while others were still read: read the end again once they are done
        self._recheck = False

    # -- the reader ------------------------------------------------------------------------------------
    def records(self) -> Iterator[dict[str, Any]]:
        """Every record of the plan, page by page as they arrive (each window's pages in order)."""
        stream, stats = self.stream, self.stats
        cost = stream.token_cost(self.plan)
        dispatcher = threading.Thread(target=self._dispatch, name=f"windows-{stream.name}", daemon=True)
        dispatcher.start()
        previous: Page | None = None
        gate = stream.tap.sync_gate
        try:
            with nullcontext() if gate is None else gate.reading(top_level=True), \
                    stream.get_http_request_counter() as counter:
                counter.with_context(self.context)
                started = 0.0
                while True:
                    if previous is not None:
                        # the reader asked past the previous page's last record: it is written; the checkpoint
                        # (batched children read, STATE) comes before the wait, which in a parallel sync lets other
                        # workers write STATEs holding this stream's bookmark
                        self._handed_out(previous)
                        stream.settle()
                        self._follow_once_cut()
                        stream.checkpoint(self.context)
                        self.budget.page_read(time.thread_time() - started)
                    page = self._wait(self._next_page)
                    started = time.thread_time()
                    if page is None:
                        return
                    previous = page
                    if page.error is not None:
                        raise page.error
                    assert page.response is not None
                    assert page.prepared is not None
                    counter.increment()
                    requests_made = 1 + self._take_extra()
                    stats.requests += requests_made
                    stats.tokens += requests_made * cost
                    stats.pages += 1
                    stream.update_sync_costs(page.prepared, page.response, self.context)
                    yield from page.records
        finally:
            with self._cond:
                self._closed = True
                self._cond.notify_all()
            # requests already sent are waited for (at most one round trip): a stopped read leaves nothing running
            # that could still spend tokens or feed the rate limiter answers after the run
            self._pool.shutdown(wait=True, cancel_futures=True)
            dispatcher.join()
            with self._cond:
                self.budget.page_filed(-len(self._arrived_pages))  # pages never taken: no longer held
                self._arrived_pages.clear()
            if len(self.windows) > 1:
                stream.logger.info(
                    "%s: read as %d update-time windows, up to %d requests in flight (latency %.0f ms)",
                    stream.name, len(self.windows), self.budget.peak, 1000 * self.budget.latency)

    def watermark(self) -> Watermark:
        """How far every record has been handed out (see the module docstring): the newest second handed out by
        the lowest unfinished window, or else by the windows below it, all finished (nothing yet: the state as the
        read found it); and the windows above that point handed out whole (only those that ended before the read
        began: no record can be updated into them later)."""
        with self._cond:
            if any(w.misordered for w in self.windows):
                return Watermark(frozen=True)
            lowest = next((i for i, w in enumerate(self.windows) if not w.finished), None)
            if lowest is None:
                return Watermark(complete=True)
            done = tuple((w.lo, w.hi) for w in self.windows[lowest + 1:]
                         if w.finished and w.lo is not None and w.hi is not None and w.hi <= self.now)
            for window in reversed(self.windows[: lowest + 1]):
                if window.out_second is not None:
                    return Watermark(from_epoch_seconds(window.out_second), frozenset(window.out_ids), done=done)
            return Watermark(done=done)

    def skip(self, done: list[tuple[int, int]]) -> None:
        """Windows a stopped earlier read handed out whole (from state): read only the stretches between them."""
        with self._cond:
            for lo, hi in _joined(done):
                top = self.windows[-1]
                bottom = top.lo if top.lo is not None else self.floor
                if hi > self.now or (bottom is not None and lo <= bottom):
                    continue  # not what this read would cut: read it again
                top.hi = top.query_hi = lo
                self.windows.append(Window(lo, hi, hi, started=True, done=True))
                self.windows.append(Window(hi, None, None))

    def _follow_once_cut(self) -> None:
        """Until the read is cut, its pages come from one window, in order, and the bookmark keeper keeps the
        bookmark record by record; from the first page after a cut, the stream follows the watermark."""
        if not self._following and len(self.windows) > 1:
            self._following = True
            self.stream.follow_watermark(self)

    def _handed_out(self, page: Page) -> None:
        with self._cond:
            window = page.window
            if window is not None:
                window.handed_out(page.records, self.rk, self.key)
                window.waiting -= 1

    def _take_extra(self) -> int:
        with self._cond:
            extra, self._extra_requests = self._extra_requests, 0
        return extra

    def _next_page(self) -> Page | None:
        """Block until a page has arrived (returned), or every window is fetched and handed out (``None``)."""
        with self._cond:
            while True:
                if self._arrived_pages:
                    page = self._arrived_pages.popleft()
                    self.budget.page_filed(-1)
                    self._cond.notify_all()
                    return page
                if all(w.done and not w.fetching for w in self.windows):
                    return None
                self._cond.wait()

    def _wait(self, answer: Any) -> Any:
        """``answer()``; in a parallel sync with the gate's lock let go (the checkpoint is already taken)."""
        return wait_for(self.stream, answer)

    # -- fetching --------------------------------------------------------------------------------------
    def _dispatch(self) -> None:
        """Send the next request whenever a window can use one, cutting windows when none can."""
        try:
            while True:
                with self._cond:
                    window, decide, holds_slot = self._next_step()
                    while window is None and not decide:
                        if self._closed:
                            return
                        self._cond.wait(0.05)
                        window, decide, holds_slot = self._next_step()
                    if self._closed:
                        if holds_slot:
                            self.budget.release(None)
                        return
                    if window is not None:
                        window.fetching = True
                        self._fetching += 1
                if window is None:
                    self._decide_cutting()
                elif holds_slot or self.budget.acquire(lambda: self._closed):
                    self._send(window)
                else:
                    return
        except BaseException as exc:  # handed to the reader, which raises it in its own thread
            with self._cond:
                for window in self.windows:
                    window.done = window.failed = True
                self._fetching = 0
                self._arrived_pages.append(Page(None, None, error=exc))
                self.budget.page_filed()
                self._cond.notify_all()

    def _next_step(self) -> tuple[Window | None, bool, bool]:
        """What to do now (under the lock): a window to send a request for and whether a slot is already taken for
        it, or whether to decide about cutting first (after the first page, before anything else)."""
        if self._cutting is None:
            first = self.windows[0]
            if first.started:
                return None, True, False
            return (None if first.fetching else first), False, False
        return self._choose(), False, True

    def _choose(self) -> Window | None:
        """While a slot is free now and pages waiting leave room: a window without a request out, in order, or a
        new one cut off. The slot is taken here, so reads side by side never cut more windows than there are free
        slots."""
        starving = not self._arrived_pages and not self._fetching  # this reader would wait with nothing coming
        if not starving and not self.budget.room(EXTRA_BUFFER):
            return None
        idle = [w for w in self.windows if not (w.done or w.fetching)]
        if not idle and (not self._cutting or self._arrived_pages):
            return None  # a cut only pays while the reader waits for pages, never while pages wait for it
        if not self.budget.try_acquire():
            return None
        chosen = idle[0] if idle else self._cut()
        if chosen is None:
            self.budget.release(None)
        return chosen

    def _cut(self) -> Window | None:
        """Cut the window with the most records still expected in two and return the upper part; ``None`` when
        none is worth it."""
        live = sum(1 for w in self.windows if not w.done)
        if len(self.windows) >= MAX_WINDOWS or live >= WINDOWS_PER_SLOT * self.budget.size:
            return None
        density = self._density()
        expectations = [(w, w.expected(self.now, density)) for w in self.windows]
        pages = sum(w.fetched + expected for w, expected in expectations) / self.plan.page_limit
        if len(self.windows) >= max(WINDOWS_PER_SLOT * self.budget.size, pages / PAGES_PER_WINDOW):
            return None  # each window ends in a partly filled page: their cost stays a bounded share of the read
        # while there are fewer windows than requests may be in flight, less is enough to cut for
        least = FIRST_CUTS_MIN_PAGES if len(self.windows) < self.budget.size else SPLIT_MIN_PAGES
        best, most = None, least * self.plan.page_limit
        for window, expected in expectations:
            if expected >= most and window.cut_point(self.now) is not None:
                best, most = window, expected
        if best is None:
            return None
        at = best.cut_point(self.now)
        assert at is not None
        upper = best.cut(at)
        self.windows.insert(self.windows.index(best) + 1, upper)
        return upper

    def _density(self) -> float:
        """Dated records per second of update time over everything fetched so far."""
        records = span = 0
        for window in self.windows:
            base = window.lo if window.lo is not None else window.first
            if window.last is not None and base is not None:
                records += window.dated
                span += window.last - base + 1
        return records / span if span > 0 else 0.0

    def _decide_cutting(self) -> None:
        """After the first page: cut the read only when it is larger than a page and the order of records never
        updated allows it (see the module docstring). When its first page held only never-updated records, the
        first window ends where the timestamps begin."""
        with self._cond:
            first = self.windows[0]
            if first.done or first.cursor is None:
                self._cutting = False
                return
            dated_from = first.first
            needs_question = self.floor is None
        allowed = True
        if needs_question and dated_from is None:
            dated_from = self._ask_edge(ascending=True)
            allowed = dated_from is not None
        elif needs_question:
            allowed = self._ask_edge(ascending=False) is not None
        with self._cond:
            self._cutting = allowed
            if allowed and first.last is None and dated_from is not None and not first.done:
                self.windows.insert(1, first.cut(dated_from))
            self._cond.notify_all()

    def _ask_edge(self, *, ascending: bool) -> int | None:
        """One request of one row: the oldest dated record (``ascending``: its update time, ``None`` when there is
        none) or the newest record (its update time, ``None`` when it has none: never-updated records sort
        last)."""
        params = {k: v for k, v in self.plan.params.items() if k != "include_fields"}
        params.update(sort_by="update_time", sort_direction="asc" if ascending else "desc")
        if ascending:
            params["updated_since"] = from_epoch_seconds(0)
        plan = replace(self.plan, params=params, page_limit=1)
        if not self.budget.acquire(lambda: self._closed):
            return None
        elapsed = None
        try:  # an error ends the read like any of its requests' (the dispatcher hands it to the reader)
            prepared = self.stream.page_request(self.context, plan, None)
            response = self.stream.send_prepared(prepared, self.context)
            elapsed = elapsed_seconds(response)
        finally:
            self.budget.release(elapsed)
            with self._cond:
                self._extra_requests += 1
        body = body_of(response)
        rows = self.stream.extract_records(body.get("data") if isinstance(body, dict) else None)
        return epoch_seconds(rows[0].get(self.rk)) if rows else None

    def _send(self, window: Window) -> None:
        """Send the window's next request in the background; its answer is filed by :meth:`_arrived`."""
        stream = self.stream
        prepared = stream.page_request(self.context, self._plan_for(window), window.cursor)
        future = self._pool.submit(stream.send_prepared, prepared, self.context)
        future.add_done_callback(lambda f: self._arrived(window, prepared, f))

    def _plan_for(self, window: Window) -> ReadPlan:
        """The plan of one window's requests: the read's own, bounded by the window's times."""
        if not window.own_since and window.query_hi is None:
            return self.plan
        params = dict(self.plan.params)
        if window.own_since and window.lo is not None:
            params["updated_since"] = from_epoch_seconds(window.lo)
        if window.query_hi is not None:
            params["updated_until"] = from_epoch_seconds(window.query_hi)
        return replace(self.plan, params=params)

    def _read_the_end_again(self) -> None:
        """The open last window reached the end of the list, but other windows' requests may have been served after
        its last one: records changed since then sit past what it read. One more window from its newest second
        (its records there are not repeated), sent once every other window is done, reads them, as a single
        chain, which ends last, would have. One request, more only when that many records changed."""
        self._recheck = False
        top = self.windows[-1]
        start = top.last if top.last is not None else top.lo
        if start is None:
            return  # nothing dated read in it: there is no time to read on from
        again = Window(start, None, None, again=True)
        again.tail = top.tail
        again.out_second, again.out_ids = top.out_second, set(top.out_ids)
        top.hi = again.lo
        self.windows.append(again)

    def _arrived(self, window: Window, prepared: requests.PreparedRequest, future: Any) -> None:
        """File an answer (or its error) with its window."""
        elapsed: float | None = None
        page = Page(window, prepared)
        records: list[dict[str, Any]] = []
        nxt: Any = None
        try:
            response = future.result()
            elapsed = elapsed_seconds(response)
            page.response = response
            body = body_of(response)
            release_raw_body(response)
            records = self.stream.extract_records(body.get("data") if isinstance(body, dict) else None)
            nxt = next_token(Pagination.CURSOR, body, window.cursor)
        except BaseException as exc:  # raised by the reader when it takes this page
            page.error = exc
        finally:
            self.budget.release(elapsed)
        with self._cond:
            window.fetching = False
            window.started = True
            self._fetching -= 1
            if self._closed:  # the reader stopped: this page is never handed out, so the window is never finished
                window.failed = window.done = True
                self._cond.notify_all()
                return
            page.records = window.file(records, self.rk, self.key)
            window.cursor = nxt if isinstance(nxt, str) else None
            window.fetched += len(page.records)
            window.more = window.cursor is not None and len(records) >= self.plan.page_limit
            window.failed = window.failed or page.error is not None
            window.done = window.failed or window.cursor is None or window.past_end
            if window.done and window.hi is None and not window.failed and not window.again:
                # answers of other windows may have been served after its last one (they run side by side)
                self._recheck = len(self.windows) > 1
            window.waiting += 1
            self._arrived_pages.append(page)
            self.budget.page_filed()
            if self._recheck and all(w.done and not w.fetching for w in self.windows):
                self._read_the_end_again()
            self._cond.notify_all()


def windowed_records(stream: ApiStream, context: Mapping[str, Any] | None, plan: ReadPlan, stats: ReadStats,
                     budget: RequestBudget) -> Iterator[dict[str, Any]]:
    """Every record of ``plan`` through a :class:`WindowedRead`; the stream follows its watermark."""
    read = WindowedRead(stream, context, plan, stats, budget, key=stream.record_key)
    read.skip(stream.windows_done())
    read._follow_once_cut()  # windows an earlier read finished: out of order from the start
    return read.records()
