"""The page-request loop of one read: pages in order, the next one in flight, offset pages checked for shifts.

**Prefetch.** Pipedrive's next ``start``/``cursor`` is in ``additional_data``, so the next request is sent as
soon as a page arrives: per page the tap pays max(latency, CPU) instead of their sum. At most one page is
ahead. Requests are still prepared here, in order, and a checkpoint (the stream's STATE) is taken before each
request after the first, so a STATE covers only pages whose records were all handed out; the error of a
prefetched request is raised once the current page is done, where a sequential loop would have met it.

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

from collections.abc import Callable, Hashable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pipedrive_core.catalogue import Pagination
from pipedrive_core.http import body_of, release_raw_body
from pipedrive_core.http.errors import PaginationError
from pipedrive_core.pagination import next_token
from tap_pipedrive.parallel import wait_for

if TYPE_CHECKING:
    import requests

    from tap_pipedrive.client import ApiStream, ReadPlan

#: retries in a row, with no new row found, after which a read gives up on a list that moves faster than it
#: can be read
MAX_RETRIES_WITHOUT_PROGRESS = 30

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


class PageLoop:
    """One read's page loop (see the module docstring); :meth:`records` runs it."""

    def __init__(self, stream: ApiStream, context: Mapping[str, Any] | None, plan: ReadPlan,
                 stats: ReadStats) -> None:
        self.stream, self.context, self.plan, self.stats = stream, context, plan, stats
        self.guard = (OffsetGuard(stream.record_identity, plan.page_limit)
                      if plan.pagination is Pagination.OFFSET and plan.guard_offsets else None)
        self._pool: ThreadPoolExecutor | None = None

    def send(self, token: Token, *, ahead: bool) -> tuple[requests.PreparedRequest, Future[requests.Response]]:
        """Prepare the page at ``token`` (a checkpoint first, after the first page) and send it, in the
        background when ``ahead``."""
        stream, context = self.stream, self.context
        if token is not None:
            stream.checkpoint(context)
        prepared = stream.page_request(context, self.plan, token)
        future: Future[requests.Response] = Future()
        if not ahead:
            try:
                future.set_result(self.wait(lambda: stream.send_prepared(prepared, context)))
            except Exception as exc:  # re-raised by future.result() in records()
                future.set_exception(exc)
            return prepared, future
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"prefetch-{stream.name}")
        return prepared, self._pool.submit(stream.send_prepared, prepared, context)

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
        stream, stats, guard = self.stream, self.stats, self.guard
        token: Token = None
        try:
            with self.reading(), stream.get_http_request_counter() as counter:
                counter.with_context(self.context)
                pending: tuple[requests.PreparedRequest, Future[requests.Response]] | None
                pending = self.send(None, ahead=False)
                while pending is not None:
                    prepared, future = pending
                    pending = None
                    stream.settle()  # the consumer asked past the previous page's last record: it is written
                    response = future.result() if future.done() else self.wait(future.result)
                    counter.increment()
                    stats.requests += 1
                    stats.tokens += stream.token_cost(self.plan)
                    stream.update_sync_costs(prepared, response, self.context)
                    records = list(stream.parse_response(response))
                    if guard is not None and isinstance(token, int) and not guard.overlaps(token, records):
                        token = self.step_back(token)
                        pending = self.send(token, ahead=False)
                        continue
                    nxt = self.following(token, body_of(response))
                    release_raw_body(response)  # its records are parsed: they alone are held while written
                    if nxt is not None:
                        pending = self.send(nxt, ahead=True)
                    token = nxt
                    stats.pages += 1
                    yield from guard.fresh(records) if guard is not None else records
        finally:
            if self._pool is not None:
                self._pool.shutdown(wait=False, cancel_futures=True)


def page_records(stream: ApiStream, context: Mapping[str, Any] | None, plan: ReadPlan,
                 stats: ReadStats) -> Iterator[dict[str, Any]]:
    """Every record of ``plan``'s read, page after page, with the next page prefetched."""
    return PageLoop(stream, context, plan, stats).records()
