"""The page-request loop of one read: pages in order, the next ones in flight, offset pages checked for shifts.

**Prefetch.** Pipedrive's next ``start``/``cursor`` is in ``additional_data``, so the next request is sent as soon
as a page arrives: per page the tap pays max(latency, CPU) instead of their sum. Requests are still prepared here,
in order, and a checkpoint (the stream's STATE) is taken before each request after the first, so a STATE covers
only pages whose records were all handed out; the error of a prefetched request is raised once the current page is
done, where a sequential loop would have met it.

**Reading ahead.** An offset page's ``start`` is known before the answer before it: a full page at ``start`` is
followed by one at ``start + limit`` (less the guard's overlap). A top-level offset read therefore keeps more
pages in flight than the next one as it grows: one more per :data:`READ_AHEAD_EVERY` pages read (since the list
last moved under the reader: a step back below drops the pages read ahead and starts over). Each takes a slot of
the run's :class:`~tap_pipedrive.inflight.RequestBudget` (shared with windowed reads) and keeps it until the
reader takes the page, so pages read ahead, in flight or waiting, stay within the budget; none is sent while the
budget has no room. A page read ahead is used only when the answer before it names its ``start`` (the list moved,
or a page came short: the ones after are dropped). It may have been answered before the page before it; the offset
guard below checks what a page holds, not when it was served, so it holds for such pages too. Pipedrive's offset
lists give no total, so the pages asked past the end are spent: at most one per :data:`READ_AHEAD_EVERY` pages of
the list, besides the one page that is always fetched ahead. A row changed while the list is read moves to its end
(in a list sorted by update time), where a sequential read meets it again because its last page is served last. A
last page read ahead may have been served before the pages before it, and pages asked past the end may be served
after it, so it is asked once more once they are all answered, and what follows (the list may have grown
meanwhile) is read one page ahead: one more request per read that read ahead. A read that ends, or stops, waits
for the answers of its pages read ahead (at most a round trip): nothing of it is left in flight.
``max_requests_in_flight: 1`` turns reading ahead off. Checkpoints stay one per page, taken when the reader moves
to it.

**Offset pages under change.** A v1 list paged by ``start`` moves under the reader when a row before the
offset is deleted, or updated in a list sorted by update time (it moves to the end): every row after it
shifts left and the first rows of the next page would never be read. Each page after the first is therefore
asked ``overlap`` rows early (one at first): its first row must be one this read has already delivered (same
id *and* same update time). When it is not, rows moved: the page is asked again from further back, the
overlap doubling each time (up to half a page, then a page at a time), until it begins on a delivered row or
at the start of the list, and only rows not delivered in this version are handed out. The overlap stays at
what the list needed, so a list that keeps changing is read with pages that overlap enough. Rows inserted
before the offset shift the list right, which the overlap absorbs as re-read rows. Cost: ``overlap`` rows
fewer of news per page, plus one request per retry. v2 cursor lists are keyset-paged by Pipedrive and need
none of this.

**Parallel syncs** (``parallel_streams``): a top-level read lets its worker's lock go while it waits for a page,
after a checkpoint (:meth:`PageLoop.wait`, :class:`tap_pipedrive.parallel.SyncGate`); a child read never does.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Hashable, Iterator, Mapping
from concurrent import futures
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from pipedrive_core.catalogue import Pagination
from pipedrive_core.http import body_of, release_raw_body
from pipedrive_core.http.errors import PaginationError
from pipedrive_core.pagination import next_token
from tap_pipedrive.inflight import DERIVED_MAX, EXTRA_BUFFER, elapsed_seconds
from tap_pipedrive.parallel import wait_for

if TYPE_CHECKING:
    import requests

    from tap_pipedrive.client import ApiStream, ReadPlan
    from tap_pipedrive.inflight import RequestBudget

#: retries in a row, with no new row found, after which a read gives up on a list that moves faster than it
#: can be read
MAX_RETRIES_WITHOUT_PROGRESS = 30
#: a top-level offset read keeps one more page in flight, past the next one, per this many pages it has read:
#: the list gives no total, so the pages asked past its end cost at most about this share of its requests
READ_AHEAD_EVERY = 8

Token = int | str | None


@dataclass
class ReadStats:
    """What one read cost, for the stream's summary line."""

    records: int = 0
    requests: int = 0
    tokens: int = 0
    waited: float = 0.0
    step_backs: int = 0
    pages: int = 0
    #: offset pages requested past the next one (:meth:`PageLoop.read_ahead`), and those the read did not use
    read_ahead: int = 0
    read_ahead_unused: int = 0
    #: ends of a list asked again because they were read ahead (:meth:`PageLoop.records`)
    end_rereads: int = 0


@dataclass
class OffsetGuard:
    """The rows an offset read has delivered, by identity, the overlap its pages are asked with, and the check
    of each page's first row."""

    identity: Callable[[Mapping[str, Any]], Hashable]
    page_limit: int
    seen: set[Hashable] = field(default_factory=set)
    overlap: int = 1
    #: retries since a page last brought a row not delivered before
    stalled: int = 0

    @property
    def max_overlap(self) -> int:
        """Half a page: every page still brings at least as many positions of news."""
        return max(1, self.page_limit // 2)

    def overlaps(self, start: int, records: list[dict[str, Any]]) -> bool:
        """Whether the page at ``start`` (asked ``overlap`` rows early) begins on a row already delivered."""
        return start == 0 or bool(records and self.identity(records[0]) in self.seen)

    def fresh(self, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The rows of a page not delivered yet in this version; remembers them."""
        out = []
        for record in records:
            ident = self.identity(record)
            if ident not in self.seen:
                self.seen.add(ident)
                out.append(record)
        if out:
            self.stalled = 0
        return out

    def after(self, next_start: int) -> int:
        """Where to ask the page that follows one ending at ``next_start``."""
        if self.page_limit < 2 or next_start <= self.overlap:
            return next_start  # a one-row page cannot overlap and still move on
        return next_start - self.overlap

    def retry(self, start: int) -> int:
        """Where to ask again after the page at ``start`` did not begin on a delivered row: from further back
        (the overlap doubled, then a page at a time)."""
        self.stalled += 1
        end = start + self.overlap
        if self.overlap < self.max_overlap:
            self.overlap = min(2 * self.overlap, self.max_overlap)
            return max(0, end - self.overlap)
        return max(0, start - max(1, self.page_limit - self.overlap))


@dataclass
class Sent:
    """A page request sent (or answered) before the reader needs it."""

    token: Token
    prepared: requests.PreparedRequest
    future: Future[requests.Response]
    #: it holds a slot of the run's request budget until the reader takes it (pages read ahead of the next)
    slot: bool = False
    #: it was sent before the answer of the page before it (read ahead): it may have been served before it
    early: bool = False


def _elapsed(future: Future[requests.Response]) -> float | None:
    """Seconds the answer of a finished request took (``None`` for an error)."""
    if future.cancelled() or future.exception() is not None:
        return None
    return elapsed_seconds(future.result())


class PageLoop:
    """One read's page loop (see the module docstring); :meth:`records` runs it."""

    def __init__(self, stream: ApiStream, context: Mapping[str, Any] | None, plan: ReadPlan,
                 stats: ReadStats) -> None:
        self.stream, self.context, self.plan, self.stats = stream, context, plan, stats
        self.guard = (OffsetGuard(stream.record_identity, plan.page_limit)
                      if plan.pagination is Pagination.OFFSET and plan.guard_offsets else None)
        #: pages sent past the next one, in list order (:meth:`read_ahead`)
        self.beyond: deque[Sent] = deque()
        #: requests read ahead and dropped, whose answers may still be coming
        self.unused: list[Future[requests.Response]] = []
        #: the end was reached once (and asked again): no more pages are read ahead
        self.at_end = False
        #: pages read since the list last moved under the reader (the read ahead grows with them)
        self.steady_pages = 0
        self._pool: ThreadPoolExecutor | None = None
        self._counter: Any = None

    @cached_property
    def budget(self) -> RequestBudget | None:
        """The run's request budget when this read may send offset pages past the next one: guarded top-level
        reads only (a child's lists are short, and its read holds a parallel sync's lock)."""
        if self.guard is None or self.stream.parent_stream_type is not None:
            return None
        budget = self.stream.tap.request_budget
        return None if budget.cap == 1 else budget

    def send(self, token: Token, *, ahead: bool) -> Sent:
        """Prepare the page at ``token`` (a checkpoint first, after the first page) and send it, in the
        background when ``ahead``."""
        stream, context = self.stream, self.context
        if token is not None:
            stream.checkpoint(context)
        prepared = stream.page_request(context, self.plan, token)
        if not ahead:
            future: Future[requests.Response] = Future()
            try:
                future.set_result(self.wait(lambda: stream.send_prepared(prepared, context)))
            except Exception as exc:  # re-raised by future.result() in records()
                future.set_exception(exc)
            return Sent(token, prepared, future)
        return Sent(token, prepared, self._submit(prepared))

    def _submit(self, prepared: requests.PreparedRequest) -> Future[requests.Response]:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=1 + DERIVED_MAX,
                                            thread_name_prefix=f"prefetch-{self.stream.name}")
        return self._pool.submit(self.stream.send_prepared, prepared, self.context)

    def successor(self, token: int) -> int:
        """The token that follows a full page at ``token``: what :meth:`following` gives when the answer's
        ``next_start`` is ``start + limit``, as Pipedrive's is."""
        nxt = token + self.plan.page_limit
        return self.guard.after(nxt) if self.guard is not None else nxt

    def read_ahead(self, nxt: int) -> None:
        """After a full page whose next page (at ``nxt``) is sent: send the pages after it too, one more per
        :data:`READ_AHEAD_EVERY` pages read since the list last moved under the reader, while the run's request
        budget has a free slot and room (see the module docstring). Each holds its slot until the reader takes
        it, so pages read ahead are bounded by the budget, in flight or waiting."""
        budget = self.budget
        if budget is None or self.at_end:
            return
        wanted = self.steady_pages // READ_AHEAD_EVERY
        last = self.beyond[-1].token if self.beyond else nxt
        while len(self.beyond) < wanted and budget.room(EXTRA_BUFFER) and budget.try_acquire():
            assert isinstance(last, int)
            last = self.successor(last)
            prepared = self.stream.page_request(self.context, self.plan, last)
            self.beyond.append(Sent(last, prepared, self._submit(prepared), slot=True, early=True))
            self.stats.read_ahead += 1

    def take_ahead(self, nxt: Token) -> Sent | None:
        """The page at ``nxt`` if it was read ahead (a checkpoint first, as :meth:`send` takes one); pages read
        ahead before it are no longer wanted."""
        while self.beyond:
            sent = self.beyond.popleft()
            if sent.token == nxt:
                self.stream.checkpoint(self.context)
                return sent
            self.discard(sent)
        return None

    def discard(self, sent: Sent) -> bool:
        """A page read ahead that the read will not use: a request spent (``True``) unless it was still queued;
        its slot comes back once its answer is in."""
        spent = not sent.future.cancel()
        if spent:
            self.unused.append(sent.future)
            self.count_request()
            self.stats.read_ahead_unused += 1
        self.give_back_slot(sent)
        return spent

    def count_request(self) -> None:
        """One request of this read spent: in the stream's summary and singer-sdk's request counter."""
        self.stats.requests += 1
        self.stats.tokens += self.stream.token_cost(self.plan)
        self._counter.increment()

    def give_back_slot(self, sent: Sent) -> None:
        """The budget slot of a page read ahead, once its answer is in (now, when it is)."""
        if sent.slot and self.budget is not None:
            sent.slot = False
            budget = self.budget
            sent.future.add_done_callback(lambda f: budget.release(_elapsed(f)))

    def discard_all(self) -> int:
        """Every page read ahead is no longer wanted (the list ended, or moved under the reader); how many of
        them were sent."""
        spent = 0
        while self.beyond:
            spent += self.discard(self.beyond.popleft())
        return spent

    def settle_unused(self) -> None:
        """Wait for the answers of the pages read ahead and not used (at most a round trip): a read that ends
        leaves no request of its own in flight, which could be served after its last page."""
        futures.wait(self.unused)
        self.unused.clear()

    def answer(self, sent: Sent) -> requests.Response:
        """The answer of ``sent`` (waited for through :meth:`wait`); its budget slot, if any, given back."""
        try:
            return sent.future.result() if sent.future.done() else self.wait(sent.future.result)
        finally:
            self.give_back_slot(sent)

    def reading(self) -> AbstractContextManager[None]:
        """This read as open in its thread, for a parallel sync's gate (nothing in a sequential one)."""
        gate = self.stream.tap.sync_gate
        return nullcontext() if gate is None else gate.reading(self.stream.parent_stream_type is None)

    def wait(self, answer: Callable[[], requests.Response]) -> requests.Response:
        """``answer()``; in a parallel sync without the gate's lock when this is a top-level read, after a
        checkpoint of the stream (its STATE then covers every record handed out, its batched children read)."""
        stream, context = self.stream, self.context
        return wait_for(stream, answer, lambda: stream.checkpoint(context))

    def following(self, token: Token, body: Any) -> Token:
        """The token of the next page (for guarded offset reads: one row early), ``None`` after the last."""
        if self.plan.pagination is Pagination.NONE:
            return None
        nxt = next_token(self.plan.pagination, body, token)
        if self.guard is not None and isinstance(nxt, int):
            return self.guard.after(nxt)
        return nxt

    def step_back(self, token: int) -> int:
        """Where to read after a page that did not overlap the rows delivered (rows moved under the reader)."""
        assert self.guard is not None
        self.stats.step_backs += 1
        if self.guard.stalled >= MAX_RETRIES_WITHOUT_PROGRESS:
            msg = (f"the list kept moving under the reader ({MAX_RETRIES_WITHOUT_PROGRESS} re-reads without a new "
                   "row); rerun the sync when the account is quieter, or raise page_size")
            raise PaginationError(msg).with_resource(self.stream.name)
        return self.guard.retry(token)

    def records(self) -> Iterator[dict[str, Any]]:
        """Every record of the read, page after page."""
        try:
            with self.reading(), self.stream.get_http_request_counter() as counter:
                counter.with_context(self.context)
                self._counter = counter
                yield from self._pages()
        finally:
            if self._pool is not None:
                self._pool.shutdown(wait=False, cancel_futures=True)

    def _pages(self) -> Iterator[dict[str, Any]]:
        stream, stats, guard = self.stream, self.stats, self.guard
        token: Token = None
        pending: Sent | None = self.send(None, ahead=False)
        budget = stream.tap.request_budget
        started: float | None = None
        try:
            while pending is not None:
                sent, pending = pending, None
                stream.settle()  # the consumer asked past the previous page's last record: it is written
                if started is not None:
                    budget.page_read(time.thread_time() - started)
                response = self.answer(sent)
                started = time.thread_time()
                self.count_request()
                stream.update_sync_costs(sent.prepared, response, self.context)
                records = list(stream.parse_response(response))
                if guard is not None and isinstance(token, int) and not guard.overlaps(token, records):
                    self.discard_all()  # their starts were counted from where the list no longer is
                    self.steady_pages = 0  # a list that moves would waste the pages read ahead again
                    token = self.step_back(token)
                    pending = self.send(token, ahead=False)
                    continue
                nxt = self.following(token, body_of(response))
                release_raw_body(response)  # its records are parsed: they alone are held while written
                self.steady_pages += 1
                if nxt is None:
                    past_end = self.discard_all()
                    if (sent.early or past_end) and isinstance(token, int):
                        # the end may have been served before pages of this read (those before it, read ahead,
                        # or those asked past it): rows changed meanwhile sit past what it holds, so it is asked
                        # again once they are all answered, as a sequential read's last page is served last
                        self.settle_unused()
                        nxt = token  # the same page, checked by the guard like any other
                        self.at_end = True  # what the list grew by meanwhile is read one page ahead, as before
                        pending = self.send(nxt, ahead=True)
                        stats.end_rereads += 1
                else:
                    pending = self.take_ahead(nxt) or self.send(nxt, ahead=True)
                    if isinstance(nxt, int) and len(records) >= self.plan.page_limit:
                        self.read_ahead(nxt)
                token = nxt
                stats.pages += 1
                yield from guard.fresh(records) if guard is not None else records
        finally:  # a read stopped half-way: what it read ahead is not used
            if pending is not None and pending.slot:
                self.discard(pending)
            self.discard_all()
            self.settle_unused()


def page_records(stream: ApiStream, context: Mapping[str, Any] | None, plan: ReadPlan,
                 stats: ReadStats) -> Iterator[dict[str, Any]]:
    """Every record of ``plan``'s read, page after page, with the next page prefetched."""
    return PageLoop(stream, context, plan, stats).records()
