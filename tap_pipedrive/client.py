"""The stream bases: :class:`ApiStream` (HTTP and pages) and :class:`PipedriveStream` (a catalogue resource).

HTTP goes through the tap's single :class:`~pipedrive_core.http.PipedriveSession` (auth, the shared rate
limiter, retries and typed errors live there), so the SDK's own authenticator and backoff are switched off
and bodies are taken from ``body_of(response)`` instead of being parsed twice. Pages are requested by
:mod:`tap_pipedrive.pages`; what a resource stream reads, and with which parameters, is decided once per
partition in :meth:`PipedriveStream.read_plan` from its catalogue :class:`~pipedrive_core.catalogue.Resource`
and its bookmark, which a :class:`~tap_pipedrive.incremental.BookmarkKeeper` keeps safe to resume from.

A Pipedrive error ends a read by raising :class:`~tap_pipedrive.errors.RunStopped`; the tap catches it once
(:meth:`TapPipedrive.run_sync`), writes the state and exits.
"""

from __future__ import annotations

import logging
from collections.abc import Generator, Hashable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar, cast

import requests
from singer_sdk import metrics
from singer_sdk import singerlib as singer
from singer_sdk.helpers.conform import TypeConformanceLevel
from singer_sdk.pagination import BaseAPIPaginator, SinglePagePaginator
from singer_sdk.streams.rest import HTTPRequest, PageContext
from typing_extensions import override

from pipedrive_core.catalogue import RECENTS_PATH, Pagination, Replication, Resource, read_token_cost
from pipedrive_core.http import PipedriveClient, body_of
from pipedrive_core.http.errors import GoneError, NotFoundError, PipedriveError
from pipedrive_core.pagination import token_param
from tap_pipedrive import parent_params
from tap_pipedrive.errors import BadBookmarkError, RunStopped
from tap_pipedrive.fastpath import (
    BOOKMARK_VALUE,
    ENCODED,
    NULLED,
    add_rejected,
    encode_fast,
    fast_record_messages,
    normalize_temporal,
    report_temporal,
    uses_plain_maps,
)
from tap_pipedrive.incremental import (
    CHECKED_STATE_KEY,
    BookmarkKeeper,
    bookmark_from_state,
    normalize_timestamp,
    recents_covers,
    recents_since,
    to_rfc3339,
    to_v1,
    updated_since_start,
)
from tap_pipedrive.list_queries import list_query
from tap_pipedrive.metering import RunCounter, SilentTimer
from tap_pipedrive.pages import ReadStats, page_records
from tap_pipedrive.pagination import RecentsPaginator, V1OffsetPaginator, V2CursorPaginator
from tap_pipedrive.parallel import before_read
from tap_pipedrive.sdk_compat import CompatStream
from tap_pipedrive.start_questions import asks_start_question, oldest_added_query, start_predates
from tap_pipedrive.windows import WindowedRead, windowed_records

if TYPE_CHECKING:
    from tap_pipedrive.custom_fields import CustomFieldPlan
    from tap_pipedrive.tap import TapPipedrive

#: the most items one ``/v1/recents`` page holds
RECENTS_PAGE_LIMIT = 500


class _NoAuth(requests.auth.AuthBase):
    """The session authenticates every attempt itself (API token or refreshed OAuth token)."""

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        return request


@dataclass
class ReadPlan:
    """What one partition of a stream reads this run."""

    mode: str  #: ``full``, ``updated_since`` or ``recents``
    path: str
    params: dict[str, Any] = field(default_factory=dict)
    pagination: Pagination = Pagination.OFFSET
    page_limit: int = 500
    start: str | None = None  #: normalized starting bookmark, if any
    floor: str | None = None  #: the earliest update time read: ``start`` minus the lookback
    sort_in_memory: bool = False  #: one-page lists sorted locally by the replication key
    #: offset pages are checked for rows that moved under the reader (:mod:`tap_pipedrive.pages`)
    guard_offsets: bool = True
    #: the list takes ``updated_until`` too: it may be read as update-time windows (:mod:`tap_pipedrive.windows`)
    windowed: bool = False


class ApiStream(CompatStream):
    """A stream read from Pipedrive list pages: HTTP plumbing, the page loop, and the typed stop.

    Subclasses say what to read (:meth:`read_plan`) and may shape records (:meth:`extract_records`,
    ``post_process``). Search results and deleted-record reports derive from it directly.
    """

    #: Records are passed through as Pipedrive sends them apart from the columns we type; conforming only
    #: the top level keeps per-record cost low (nested objects are free-form anyway).
    TYPE_CONFORMANCE_LEVEL = TypeConformanceLevel.ROOT_ONLY
    #: STATE is written after every page (:meth:`checkpoint`); this is only a fallback.
    STATE_MSG_FREQUENCY = 10_000
    #: whether this stream is a table snapshot that ACTIVATE_VERSION may retire rows of (when enabled)
    activate_version_allowed: ClassVar[bool] = False

    def __init__(self, tap: TapPipedrive, schema: dict[str, Any]) -> None:
        super().__init__(tap=tap, schema=schema, name=self.name)
        self.tap: TapPipedrive = tap
        self.stats = ReadStats()
        self._plan: ReadPlan | None = None

    @property
    def emit_activate_version_messages(self) -> bool:
        """Only for full table snapshots, and only when ``emit_activate_version_messages`` is set."""
        return self.activate_version_allowed and bool(self.config.get("emit_activate_version_messages"))

    # -- HTTP plumbing ----------------------------------------------------------------------------
    @property
    def url_base(self) -> str:
        """The API host (OAuth: the company's ``api_domain``)."""
        return self.tap.session.base_url

    @property
    def requests_session(self) -> requests.Session:
        """The one session shared by all streams of the tap (one rate limiter, one token)."""
        return self.tap.session

    @property
    def authenticator(self) -> requests.auth.AuthBase:
        """No-op: the shared session authenticates."""
        return _NoAuth()

    def request_decorator(self, func: Any) -> Any:
        """No SDK backoff: retries happen only in the shared HTTP layer, under the shared limiter."""
        return func

    @property
    def timeout(self) -> float:  # type: ignore[override] # the SDK says int; requests takes any number
        """The configured per-request timeout in seconds, fractions kept (0.5 s is a valid timeout)."""
        return self.tap.client_config.timeout

    # -- what to read -------------------------------------------------------------------------------
    def read_plan(self, context: Mapping[str, Any] | None) -> ReadPlan:
        """What this partition reads (every subclass says)."""
        raise NotImplementedError

    def http_request(self, plan: ReadPlan, token: int | str | None) -> HTTPRequest:
        """One page's request of ``plan`` (``token``: the page's ``start`` or ``cursor``)."""
        params = dict(plan.params)
        if plan.pagination is not Pagination.NONE:
            params["limit"] = plan.page_limit
            if token is not None:
                name = token_param(Pagination.OFFSET if plan.mode == "recents" else plan.pagination)
                if name:
                    params[name] = token
        return HTTPRequest(url=self.url_base + plan.path, method="GET", params=params, headers={},
                           safe_query_chars=":,")

    def page_request(self, context: Mapping[str, Any] | None, plan: ReadPlan,
                     token: int | str | None) -> requests.PreparedRequest:
        """The prepared request of one page."""
        request = self.http_request(plan, token)
        return self.build_prepared_request(method=request.method, url=request.url,
                                           params=request.encode_params(), headers=request.headers)

    @override
    def get_http_request(self, *, page: PageContext[Any]) -> HTTPRequest:
        """singer-sdk's own request loop (used only as the reference in the equality tests) gets the same
        requests, with the STATE written before each page after the first."""
        plan = self._plan or self.read_plan(page.stream_context)
        if page.next_page_token is not None:
            self.checkpoint(page.stream_context)
        return self.http_request(plan, page.next_page_token)

    @override
    def get_new_paginator(self) -> BaseAPIPaginator[Any]:
        """singer-sdk's paginator of the current plan (for the SDK's own request loop only)."""
        plan = self._plan
        if plan is None or plan.pagination is Pagination.NONE:
            return SinglePagePaginator()
        if plan.mode == "recents":
            return RecentsPaginator()
        return V1OffsetPaginator() if plan.pagination is Pagination.OFFSET else V2CursorPaginator()

    @override
    def request_records(self, context: Mapping[str, Any] | None) -> Iterator[dict[str, Any]]:
        """Every record of the current plan's pages: a top-level list that takes ``updated_until`` as update-time
        windows read side by side (:mod:`tap_pipedrive.windows`), any other one page after the other
        (:func:`tap_pipedrive.pages.page_records`)."""
        plan = self._plan or self.read_plan(context)
        budget = self.tap.request_budget
        if plan.windowed and budget.cap != 1 and self.parent_stream_type is None:
            yield from windowed_records(self, context, plan, self.stats, budget)
        else:
            yield from page_records(self, context, plan, self.stats)

    @override
    def send_prepared(self, prepared: requests.PreparedRequest,
                      context: Mapping[str, Any] | None) -> requests.Response:
        """Send one page's request; the time the shared limiter held it is this stream's waiting time."""
        limiter = self.tap.session.limiter
        before = limiter.waited_seconds
        try:
            with self.tap.pages_of(self, context):
                return super().send_prepared(prepared, context)
        finally:
            self.stats.waited += limiter.waited_seconds - before

    def token_cost(self, plan: ReadPlan) -> int:
        """Pipedrive's tokens for one request of ``plan`` (catalogue ``x-token-cost``)."""
        return read_token_cost(plan.path)

    @property
    def record_key(self) -> str:
        """The field holding a record's id."""
        return "id"

    def follow_watermark(self, read: WindowedRead) -> None:
        """A windowed read hands this read's records out of update-time order (nothing to keep here)."""

    def windows_done(self) -> list[tuple[int, int]]:
        """Update-time windows a stopped earlier read handed out whole (none here)."""
        return []

    # -- hooks of the page loop ----------------------------------------------------------------------
    def checkpoint(self, context: Mapping[str, Any] | None) -> None:
        """Write STATE: everything handed out so far is emitted (called before each further page)."""
        self.write_state_now()

    def settle(self) -> None:
        """The consumer asked past the last record handed out (nothing to track here)."""

    def abandon(self) -> None:
        """The run is stopping while this stream may be in the middle of a read: keep what resumes it."""

    def record_identity(self, record: Mapping[str, Any]) -> Hashable:
        """What tells a row of an offset page apart from every other row and from its own older versions."""
        return (record.get("id"), record.get("update_time"))

    # -- records ------------------------------------------------------------------------------------
    @override
    def record_messages(self, record: dict[str, Any]) -> Generator[singer.RecordMessage, None, None]:
        """Count the record for the run summary, then build its messages."""
        self.stats.records += 1
        return self.build_record_messages(record)

    def build_record_messages(self, record: dict[str, Any]) -> Generator[singer.RecordMessage, None, None]:
        """singer-sdk's RECORD messages of one record."""
        return super().record_messages(record)

    def parse_response(self, response: requests.Response) -> Iterator[dict[str, Any]]:
        """Records of one page (already-parsed body)."""
        body = body_of(response)
        yield from self.extract_records(body.get("data") if isinstance(body, dict) else None)

    def extract_records(self, data: Any) -> list[dict[str, Any]]:
        """The list of record dicts in a ``data`` member."""
        if data is None:
            return []
        if isinstance(data, list):
            return data
        return [data]

    @override
    def get_records(self, context: Mapping[str, Any] | None) -> Iterable[dict[str, Any]]:
        """Plan the read, then stream its pages; an API error stops the run (:class:`RunStopped`)."""
        try:
            self._plan = self.read_plan(context)
            yield from self.read_records(context)
        except PipedriveError as exc:
            if not self.skips(exc, context):
                raise RunStopped.from_api(exc.with_resource(self.name)) from None
        finally:
            self._plan = None

    def read_records(self, context: Mapping[str, Any] | None) -> Iterable[dict[str, Any]]:
        """The records of the planned read (subclasses add bookkeeping around it)."""
        return self.request_records(context)

    def skips(self, exc: PipedriveError, context: Mapping[str, Any] | None) -> bool:
        """Whether an API error ends only this read (logged) rather than the run."""
        return False

    def summary(self) -> str:
        """One line: what this stream read and what it cost."""
        from tap_pipedrive.metering import summary_line  # noqa: PLC0415

        return summary_line(self)


class PipedriveStream(ApiStream):
    """Base of every catalogue stream; subclasses are generated from the catalogue (:mod:`.streams`)."""

    resource: ClassVar[Resource]
    activate_version_allowed: ClassVar[bool] = True
    #: order is checked by the bookmark keeper, which recovers from a page out of order instead of failing
    check_sorted = False

    def __init__(self, tap: TapPipedrive, schema: dict[str, Any]) -> None:
        super().__init__(tap, schema)
        self.plan: CustomFieldPlan | None = tap.custom_field_plan(self.resource)
        self._keeper: BookmarkKeeper | None = None
        self._reading: Mapping[str, Any] | None = None

    @property
    def page_size(self) -> int:
        """``page_size`` setting, capped by the resource's own maximum."""
        return max(1, min(int(self.config.get("page_size") or 500), self.resource.page_limit))

    # -- what to read -------------------------------------------------------------------------------
    @property
    def is_sorted(self) -> bool:
        """Incremental reads are ascending by update time (server-side, or locally for one-page lists),
        so bookmarks are resumable after a stop."""
        return self.replication_key is not None

    def starting_bookmark(self, context: Mapping[str, Any] | None) -> str | None:
        """The normalized bookmark (or ``start_date`` on the first run), ``None`` for a full history.

        A bookmark that is no time at all stops the run with what to do about it; other spellings, time
        zones and epoch numbers are read as the time they say.
        """
        if not self.replication_key:
            return None
        value = self.get_starting_replication_key_value(context)
        if value is None or value == "":
            return None
        try:
            return bookmark_from_state(value)
        except BadBookmarkError:
            msg = (f"{self.name}: the state's bookmark {value!r} is not a time. Set bookmarks.{self.name} "
                   f"replication_key_value to an ISO 8601 time such as 2024-01-01T00:00:00Z, or remove it to "
                   f"read the stream from start_date")
            raise RunStopped(msg) from None

    def base_path(self, context: Mapping[str, Any] | None) -> tuple[str, dict[str, Any]]:
        """The list path for this partition, split into path and fixed query parameters."""
        return list_query(self.resource, self.config, context)

    @override
    def read_plan(self, context: Mapping[str, Any] | None) -> ReadPlan:
        """Decide full read, ``updated_since`` or ``/recents`` for this partition, and log why."""
        res = self.resource
        path, params = self.base_path(context)
        start = self.starting_bookmark(context)
        if start and self.start_predates_every_record(context, start):
            start = None  # a first run from a start_date older than the account: the whole list, one pass
        lookback = float(self.config.get("lookback_seconds") or 0)
        floor = updated_since_start(start, lookback) if start else None
        if res.replication is Replication.UPDATED_SINCE and self.replication_key:
            if res.read_version == 1:  # v1 lists (leads) sort with ``sort=<field> ASC``
                params["sort"] = f"{self.replication_key} ASC"
            else:
                params.update(sort_by="update_time", sort_direction="asc")
            if context and context.get("is_archived") and not res.archived_updated_since:
                # the archived list has no updated_since: read it whole, rows older than the floor are dropped
                return ReadPlan("full", path, params, res.pagination, self.page_size, start, floor)
            if floor:
                params["updated_since"] = to_rfc3339(floor)
            windowed = res.updated_until and res.pagination is Pagination.CURSOR
            return ReadPlan("updated_since", path, params, res.pagination, self.page_size, start, floor,
                            windowed=windowed)
        if res.replication is Replication.RECENTS and self.replication_key:
            # A quiet stream keeps an old bookmark; the time its last complete read began says that nothing
            # changed before it, so /recents can start there (and its one-month window applies to it).
            checked = self.get_context_state(context).get(CHECKED_STATE_KEY) if start else None
            since = max(start, checked) if start and isinstance(checked, str) else start
            if since and recents_covers(since, self.tap.server_now()):
                recents = {"items": res.recents_item, "since_timestamp": to_v1(recents_since(since, lookback))}
                limit = max(1, min(int(self.config.get("page_size") or RECENTS_PAGE_LIMIT), RECENTS_PAGE_LIMIT))
                return ReadPlan("recents", RECENTS_PATH, recents, Pagination.OFFSET, limit, start, floor)
            if start:
                self.logger.info(
                    "%s: bookmark %s is older than /recents' window (the shortest month); reading the whole "
                    "stream", self.name, start,
                )
            if res.pagination is Pagination.NONE:
                return ReadPlan("full", path, params, res.pagination, self.page_size, start, floor, sort_in_memory=True)
            params["sort"] = f"{self.replication_key} ASC"
            return ReadPlan("full", path, params, res.pagination, self.page_size, start, floor)
        return ReadPlan("full", path, params, res.pagination, self.page_size, start)

    @property
    def fast_path_writes(self) -> bool:
        """Whether RECORD messages take the fast path: no stream map, no flattening."""
        return self.TYPE_CONFORMANCE_LEVEL is TypeConformanceLevel.ROOT_ONLY and uses_plain_maps(self)

    @override
    def build_record_messages(self, record: dict[str, Any]) -> Generator[singer.RecordMessage, None, None]:
        """RECORD messages through the fast path (:mod:`tap_pipedrive.fastpath`); singer-sdk's own whenever
        a stream map or flattening is configured."""
        if self.fast_path_writes:
            return fast_record_messages(self, record)
        return super().build_record_messages(record)

    @override
    def token_cost(self, plan: ReadPlan) -> int:
        if plan.mode == "recents":
            return read_token_cost(RECENTS_PATH)
        if self.resource.archived_path and plan.path == self.resource.archived_path:
            return read_token_cost(self.resource.archived_path)
        return self.resource.read_token_cost

    @override
    def record_identity(self, record: Mapping[str, Any]) -> Hashable:
        """Key and update time; rows without a key of their own (flow items) by their object and id."""
        rk = self.replication_key or "update_time"
        key = record.get(self.resource.key)
        if key is None and isinstance(record.get("data"), Mapping):
            inner = record["data"]
            return (record.get("object"), inner.get("id"), inner.get("update_time") or record.get("timestamp"))
        return (key, record.get(rk))

    # -- children -----------------------------------------------------------------------------------
    @override
    def get_child_context(self, record: dict[str, Any], context: Mapping[str, Any] | None) -> dict[str, Any] | None:
        """Children are read with ``{"parent_id": id}``."""
        return child_context_of(record, self.resource)

    @override
    def generate_child_contexts(
        self, record: dict[str, Any], context: Mapping[str, Any] | None
    ) -> Iterator[dict[str, Any]]:
        """One context per record with children to read; none for deleted records, and no per-record
        work at all for streams without selected children (decided once: the catalog is applied by then)."""
        wanted: bool | None = getattr(self, "_children_selected", None)
        if wanted is None:
            wanted = any(child.selected or child.has_selected_descendents for child in self.child_streams)
            self._children_selected = wanted
        if not wanted:
            return
        child = self.get_child_context(record, context)
        if child is not None:
            yield child

    # -- bookmark bookkeeping -----------------------------------------------------------------------
    @override
    def read_records(self, context: Mapping[str, Any] | None) -> Iterable[dict[str, Any]]:
        """The planned read with its bookmark kept resumable; the boundary ids go to state at the end."""
        plan = self._plan or self.read_plan(context)
        keeper = None
        if self.replication_key:
            keeper = BookmarkKeeper(self.get_context_state(context), start=plan.start, floor=plan.floor,
                                    key=self.resource.key)
        self._keeper, self._reading = keeper, context
        read_started = normalize_timestamp(self.tap.server_now())
        #: the previous read of this partition ran to its end (not a read resumed after a stop)
        after_complete_read = CHECKED_STATE_KEY in self.get_context_state(context)
        complete = False
        try:
            yield from self.request_records(context)
            added = self.added_since_plan(context, plan)
            if added is not None:
                yield from self.never_updated(context, added)
            if plan.floor is not None and after_complete_read:
                self.refresh_children(context)
            self.flush_children()
            complete = True
            if keeper is not None:
                keeper.finish(checked_until=read_started)
        finally:
            if not complete:
                self.abandon()
            if keeper is not None and keeper.dedupe.suppressed:
                self.logger.info("%s: skipped %d records already emitted (boundary second)",
                                 self.name, keeper.dedupe.suppressed)
            self._keeper, self._reading = None, None
            for child in self.child_streams:
                if isinstance(child, ChildStream):
                    child.flush_metrics()
            partitions = self.partitions
            if self.parent_stream_type is None and (not complete or not partitions or context == partitions[-1]):
                _report_temporal_tree(self)  # the stream's impossible dates/times: once per column, with a count

    def refresh_children(self, context: Mapping[str, Any] | None) -> None:
        """After an incremental read, the children that batch parents are read for every parent of the list.

        Pipedrive's documents do not say that adding a product to a deal changes the deal (its ``update_time``;
        only ``products_count`` tells), so an incremental read of deals misses products added to deals that did
        not change otherwise. With ``refresh_bulk_children`` the parent list's ids are read (one
        request per 500 parents) and the children of the parents not read yet are read in batches (one request
        per 100 parents, for deal products). Only after a complete previous read: a read resumed after a stop
        is still reading every parent's children.
        """
        children = [c for c in self.child_streams if isinstance(c, ChildStream) and c.refreshes_all_parents
                    and c.selected]
        if not children or not self.config.get("refresh_bulk_children"):
            return
        res = self.resource
        path, params = self.base_path(context)
        client = PipedriveClient(self.tap.client_config, session=self.tap.session)
        for page in client.iter_pages(path, pagination=res.pagination, params=params, page_limit=res.page_limit,
                                      resource=res.name):
            self.stats.requests += 1
            self.stats.tokens += self.token_cost(ReadPlan("full", path))
            ids = [context_["parent_id"] for r in page if isinstance(r, dict)
                   if (context_ := child_context_of(r, res)) is not None]
            for child in children:
                child.note_parents(ids)

    def start_predates_every_record(self, context: Mapping[str, Any] | None, start: str) -> bool:
        """On a first run from ``start_date``: whether every record was added at or after it (one request for the
        oldest one). Then a read without a start delivers the same records in one pass, where a read from
        ``start_date`` needs the never-updated pass too, which would read the whole list a second time."""
        res = self.resource
        if self.get_context_state(context).get("replication_key_value") or not asks_start_question(res):
            return False
        answer = self.tap.start_questions.take(self.name, context)
        if answer is None:
            path, params = oldest_added_query(res, self.config, context)
            client = PipedriveClient(self.tap.client_config, session=self.tap.session)
            answer = lambda: client.request("GET", path, params=params, resource=res.name)  # noqa: E731
        body = before_read(self, answer)
        self.stats.requests += 1
        self.stats.tokens += res.read_token_cost
        return start_predates(body, res, start)

    def added_since_plan(self, context: Mapping[str, Any] | None, plan: ReadPlan) -> ReadPlan | None:
        """The pass for records never updated since they were added, which an incremental read cannot see.

        Pipedrive leaves ``update_time`` null until a record is first changed; ``updated_since`` and
        ``/v1/recents`` then never return it. When a read starts from a time (a bookmark or ``start_date``), the
        list is also read newest-added first down to that time, and records with a null update time are
        delivered. One request per run, more only when more than a page of records was added since.
        """
        res = self.resource
        if plan.floor is None or not self.replication_key or res.replication not in {
                Replication.UPDATED_SINCE, Replication.RECENTS}:
            return None
        path, params = self.base_path(context)
        if res.read_version == 2:
            params.update(sort_by=res.added_key, sort_direction="desc")
        elif res.pagination is not Pagination.NONE:
            params["sort"] = f"{res.added_key} DESC"
        # the previous complete read's pass saw everything added before that read began (its second inclusive:
        # a record added in that very second is read once more, never missed)
        floor = plan.floor
        checked = normalize_timestamp(self.get_context_state(context).get(CHECKED_STATE_KEY))
        if checked:
            floor = max(floor, checked)
        return ReadPlan("added_since", path, params, res.pagination, self.page_size, plan.start, floor)

    def never_updated(self, context: Mapping[str, Any] | None, plan: ReadPlan) -> Iterator[dict[str, Any]]:
        """Records of ``plan`` (newest added first) added at or after its floor whose update time is null."""
        rk = self.replication_key or "update_time"
        self._plan = plan
        ordered = plan.pagination is not Pagination.NONE
        added_key = self.resource.added_key
        for record in self.request_records(context):
            added = normalize_timestamp(record.get(added_key))
            if added is None or (plan.floor and added < plan.floor):
                if ordered:
                    break  # newest first: everything further was added before the floor
                continue
            if record.get(rk) is None:
                yield record

    @property
    @override
    def record_key(self) -> str:
        return self.resource.key

    @override
    def follow_watermark(self, read: WindowedRead) -> None:
        """The bookmark keeper takes the read's watermark as the bookmark from now on."""
        if self._keeper is not None:
            self._keeper.follow(read.watermark)

    @override
    def windows_done(self) -> list[tuple[int, int]]:
        return self._keeper.windows_done if self._keeper is not None else []

    @override
    def bookmark_advanced(self, context: Mapping[str, Any] | None) -> None:
        if self._keeper is not None:
            self._keeper.hold()

    @override
    def checkpoint(self, context: Mapping[str, Any] | None) -> None:
        self.flush_children()
        if self._keeper is not None:
            self._keeper.checkpoint()
        super().checkpoint(context)

    def flush_children(self) -> None:
        """Read what batched children (bulk reads) still hold, before a STATE covers their parents."""
        for child in self.child_streams:
            if isinstance(child, ChildStream):
                child.flush_pending()

    @override
    def settle(self) -> None:
        if self._keeper is not None:
            self._keeper.settle()

    @override
    def abandon(self) -> None:
        """A stop elsewhere (a child's read) while this read is open: keep its boundary, but the record in
        flight (whose children were being read) stays unsent."""
        keeper = self._keeper
        if keeper is None:
            return
        if any(isinstance(c, ChildStream) and c.batches_parents and c.selected for c in self.child_streams):
            keeper.rollback()  # children read in batches: parents since the last STATE may lack theirs
        else:
            keeper.checkpoint(settle=False)

    @override
    def parse_response(self, response: requests.Response) -> Iterator[dict[str, Any]]:
        """Records of one page; ``/recents`` items are unwrapped."""
        body = body_of(response)
        data = body.get("data") if isinstance(body, dict) else None
        plan = self._plan
        if plan and plan.mode == "recents":
            yield from self._recents_records(data)
            return
        records = self.extract_records(data)
        if plan and plan.sort_in_memory and self.replication_key:
            rk = self.replication_key
            records = sorted(records, key=lambda r: normalize_timestamp(r.get(rk)) or "")
        yield from records

    @override
    def extract_records(self, data: Any) -> list[dict[str, Any]]:
        """The list of record dicts in ``data`` (inside ``data[records_path]`` where the catalogue says)."""
        path = self.resource.records_path
        if path and isinstance(data, dict):
            inner = data.get(path)
            return list(inner) if isinstance(inner, list) else []
        return super().extract_records(data)

    def _recents_records(self, data: Any) -> Iterator[dict[str, Any]]:
        """The payloads of ``/recents`` items of this stream's type; anything that is not an item object is
        logged once per page and skipped."""
        wanted = self.resource.recents_item
        odd = 0
        for item in data if isinstance(data, list) else ():
            if not isinstance(item, Mapping):
                odd += 1
                continue
            if item.get("item") != wanted:
                continue
            payload = item.get("data")
            if isinstance(payload, list):
                yield from (p for p in payload if isinstance(p, dict))
            elif isinstance(payload, dict):
                yield payload
        if odd:
            self.logger.warning("%s: skipped %d /recents entries that are not objects", self.name, odd)

    @override
    def post_process(
        self, row: dict[str, Any], context: Mapping[str, Any] | None = None
    ) -> dict[str, Any] | None:
        """Normalize the bookmark timestamp, type custom fields, drop boundary duplicates."""
        rk = self.replication_key
        keeper = self._keeper
        if rk:
            if ENCODED in row:  # normalized by the worker, which sends the result only where it differs
                second = cast("dict[Any, Any]", row).pop(BOOKMARK_VALUE, row.get(rk))
            else:
                second = normalize_timestamp(row.get(rk))
            row[rk] = second
            plan = self._plan
            # a full read standing in for /recents: older records were delivered already
            drop_before = plan.floor if plan is not None and plan.mode == "full" else None
            if keeper is not None and not keeper.admit(row.get(self.resource.key), second, drop_before=drop_before):
                return None
        if ENCODED not in row:
            self.shape(row)
        else:  # a worker process gave the row its shape (:mod:`.record_processes`)
            nulled = cast("dict[Any, Any]", row).pop(NULLED, None)
            if nulled:
                add_rejected(self, nulled)
        return row

    def shape(self, row: dict[str, Any]) -> None:
        """Custom fields typed, file content attached, every date-time/date/time column in its one form."""
        if self.plan is not None:
            if self.resource.read_version == 2:
                self.plan.apply_v2(row)
            else:
                self.plan.apply_v1(row)
        if self.resource.download_path and self.tap.file_content is not None:
            self.tap.file_content.attach(self.resource, row)
        normalize_temporal(self, row)  # every date-time/date/time column, built-in and custom (schema-driven)
        for name in self._flattened_objects:
            if row.get(name) is None:
                row[name] = {}  # flattened to no columns, not to one column the flattened schema lacks

    @cached_property
    def kept_fields(self) -> tuple[str, ...]:
        """The fields this process reads of a row whose record a worker encoded: its key, replication key and
        add time (windows, offset guards, the bookmark keeper, the never-updated pass, record identity)."""
        res = self.resource
        names = ("id", res.key, self.replication_key, res.added_key, "update_time")
        return tuple(dict.fromkeys(n for n in names if n))

    def encode_row(self, row: dict[str, Any], partition: Mapping[str, Any]) -> bytes | None:
        """In a worker process: the row as :meth:`post_process`, singer-sdk (``partition``: its read's state
        partition values, added where missing) and the fast path would write it, encoded (``None`` where only
        the exact path can)."""
        rk = self.replication_key
        if rk:
            row[rk] = normalize_timestamp(row.get(rk))
        self.shape(row)
        for key, value in partition.items():
            if key not in row:
                row[key] = value
        return encode_fast(self, row)

    @cached_property
    def _flattened_objects(self) -> tuple[str, ...]:
        """Top-level object properties with declared properties, when flattening is on: singer-sdk flattens a
        ``null`` among them into the object's own column, which the flattened schema does not have (target-csv
        refuses the record); an empty object flattens to nothing."""
        if not self.config.get("flattening_enabled"):
            return ()
        names = []
        for name, prop in self.schema.get("properties", {}).items():
            kinds = prop.get("type") if isinstance(prop, dict) else None
            kinds = kinds if isinstance(kinds, list) else [kinds]
            if isinstance(prop, dict) and prop.get("properties") and "object" in kinds:
                names.append(name)
        return tuple(names)


class ChildStream(PipedriveStream):
    """A nested read per parent record (``{parent_id}`` in the path).

    One state entry for the whole stream (``state_partitioning_keys = ()``) keeps state small however many
    parents there are; the parent id is therefore added to records here, not by the SDK. Activate-version
    messages are never sent: a child read covers only the parents emitted in this run.
    """

    state_partitioning_keys: ClassVar[tuple[str, ...]] = ()
    activate_version_allowed = False  # a per-parent read is not a full table
    schema_once = True  # the SDK writes SCHEMA for every parent record
    writes_state = False  # children carry no bookmark; the parent writes state
    log_request_metrics = False  # the run-wide counters below carry the numbers

    def __init__(self, tap: TapPipedrive, schema: dict[str, Any]) -> None:
        super().__init__(tap, schema)
        # The SDK syncs a child once per parent and would log "Beginning sync" plus three METRIC lines each
        # time. Counters are aggregated per stream instead and logged every minute and when the parent's
        # read ends (flush_metrics); the sync timer is not logged.
        self._seen_keys: set[Any] = set()
        self._records_meter = RunCounter(metrics.Metric.RECORD_COUNT, {metrics.Tag.STREAM: self.name})
        self._requests_meter = RunCounter(metrics.Metric.HTTP_REQUEST_COUNT,
                                          {metrics.Tag.STREAM: self.name, metrics.Tag.ENDPOINT: self.path})
        self.parents = 0
        if self.logger.getEffectiveLevel() == logging.INFO:
            self.logger.setLevel(logging.WARNING)

    @override
    def get_record_counter(self, **_: Any) -> metrics.Counter:
        """One record counter for the whole run (not one per parent)."""
        return self._records_meter

    @override
    def get_http_request_counter(self) -> metrics.Counter:
        """One request counter for the whole run (not one per parent)."""
        return self._requests_meter

    @override
    def get_sync_timer(self) -> metrics.Timer:
        """Per-parent sync timings are not logged."""
        return SilentTimer(metrics.Metric.SYNC_DURATION, {metrics.Tag.STREAM: self.name})

    def flush_metrics(self) -> None:
        """Log what the run-wide counters hold (called when the parent's read ends)."""
        for meter in (self._records_meter, self._requests_meter):
            if meter.value:
                meter.flush()

    def flush_pending(self) -> None:
        """Read the children of parents noted but not read yet (a per-parent read has none)."""

    #: whether incremental runs re-read this child for every parent, not only for the changed ones
    refreshes_all_parents: ClassVar[bool] = False
    #: whether the children of several parents are read together, later than the parents are emitted
    batches_parents: ClassVar[bool] = False

    def note_parents(self, parent_ids: Iterable[Any]) -> None:
        """Read the children of these parents as well (only children that batch parents do)."""

    @override
    def read_records(self, context: Mapping[str, Any] | None) -> Iterable[dict[str, Any]]:
        self.parents += 1
        return super().read_records(context)

    @override
    def skips(self, exc: PipedriveError, context: Mapping[str, Any] | None) -> bool:
        """A parent that disappeared between its listing and this read is skipped."""
        if isinstance(exc, NotFoundError | GoneError):
            self.logger.warning("%s: parent %s is gone (%s); skipped", self.name,
                                (context or {}).get("parent_id"), exc.status)
            return True
        return False

    @override
    def extract_records(self, data: Any) -> list[dict[str, Any]]:
        """Plain id lists (permitted users) become ``{<key>: id}`` records."""
        records = super().extract_records(data)
        if records and not isinstance(records[0], dict):
            return [{self.resource.key: value} for value in records]
        return records

    @override
    def post_process(
        self, row: dict[str, Any], context: Mapping[str, Any] | None = None
    ) -> dict[str, Any] | None:
        """Add the parent id column; flow and mail items are keyed ``<object>:<id>``."""
        inner = row.get("data")
        if "object" in row and isinstance(inner, dict):  # flow and mail items wrap the object
            row["id"] = f"{row['object']}:{inner.get('id')}" if self.resource.key_type == "string" else inner.get("id")
        if context is not None and self.resource.parent_key:
            row[parent_column(self.resource)] = context.get("parent_id")
            row.update(parent_params.record_columns(self.resource, context))
        if self.resource.key_is_global:
            key = row.get(self.resource.key)
            if key in self._seen_keys:
                return None  # already emitted under another parent in this run
            self._seen_keys.add(key)
        return super().post_process(row, context)


def _report_temporal_tree(stream: Any) -> None:
    report_temporal(stream)
    for child in stream.child_streams:
        _report_temporal_tree(child)


def parent_column(resource: Resource) -> str:
    """The column holding the parent's id; ``followed_user_id`` where the catalogue's parent key would
    clash with the record's own key (followers of a user are keyed ``user_id`` too)."""
    key = resource.parent_key or "parent_id"
    return f"followed_{key}" if key == resource.key else key


def child_context_of(record: Mapping[str, Any], resource: Resource) -> dict[str, Any] | None:
    """The context children of a record are read with (none for records the list marks deleted)."""
    if (resource.delete_marker and record.get(resource.delete_marker)) or record.get(resource.key) is None:
        return None
    return {"parent_id": record[resource.key], **parent_params.context_values(resource, record)}
