"""``PipedriveStream``: the one RESTStream every generated stream class derives from.

HTTP goes through the tap's single :class:`~pipedrive_core.http.PipedriveSession` (auth, the shared rate
limiter, retries and typed errors live there), so the SDK's own authenticator and backoff are switched off
and bodies are taken from ``body_of(response)`` instead of being parsed twice. What a stream reads, and with
which parameters, is decided once per partition in :meth:`PipedriveStream.read_plan` from the stream's
catalogue :class:`~pipedrive_core.catalogue.Resource` and its bookmark.
"""

from __future__ import annotations

import logging
from collections.abc import Generator, Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, NoReturn

import requests
from singer_sdk import metrics
from singer_sdk import singerlib as singer
from singer_sdk.helpers.conform import TypeConformanceLevel
from singer_sdk.pagination import BaseAPIPaginator, SinglePagePaginator
from singer_sdk.streams import RESTStream
from singer_sdk.streams.rest import HTTPRequest, PageContext

from pipedrive_core.catalogue import Pagination, Replication, Resource
from pipedrive_core.http import body_of
from pipedrive_core.http.errors import DailyBudgetExhaustedError, GoneError, NotFoundError, PipedriveError
from tap_pipedrive.fastpath import fast_record_messages, uses_plain_maps
from tap_pipedrive.incremental import (
    BoundaryDedupe,
    normalize_timestamp,
    recents_covers,
    recents_since,
    to_rfc3339,
    to_v1,
    updated_since_start,
)
from tap_pipedrive.metering import RunCounter, SilentTimer
from tap_pipedrive.pagination import RecentsPaginator, V1OffsetPaginator, V2CursorPaginator

if TYPE_CHECKING:
    from tap_pipedrive.custom_fields import CustomFieldPlan
    from tap_pipedrive.tap import TapPipedrive

RECENTS_PATH = "/v1/recents"
#: state key holding the ids emitted at the bookmark second (see :class:`BoundaryDedupe`)
BOUNDARY_STATE_KEY = "boundary"
#: state key: server time when the last complete read of a /recents stream began (no change before it unseen)
CHECKED_STATE_KEY = "checked_until"


#: exit codes: any Pipedrive error that ends the run, and the daily budget (rerun after it resets)
EXIT_API_ERROR = 1
EXIT_DAILY_BUDGET = 3


def stop(log: logging.Logger, exc: PipedriveError, *, state: Any, writer: Any = None) -> NoReturn:
    """End the run on an API error with one clear line and no traceback.

    Bookmarks are written after every page, so the state emitted here (and before) resumes the sync; a
    spent daily budget gets its own exit code so schedulers can retry after the reset.
    """
    if state is not None and writer is not None:
        writer.write_state(state)
    if isinstance(exc, DailyBudgetExhaustedError):
        log.error("Stopping: %s. The state written so far resumes the sync.", exc)
        raise SystemExit(EXIT_DAILY_BUDGET)
    log.error("Stopping: %s", exc)
    raise SystemExit(EXIT_API_ERROR)


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


class PipedriveStream(RESTStream[Any]):
    """Base of every tap-pipedrive stream; subclasses are generated from the catalogue."""

    resource: ClassVar[Resource]
    #: Records are passed through as Pipedrive sends them apart from the columns we type; conforming only
    #: the top level keeps per-record cost low (nested objects are free-form anyway).
    TYPE_CONFORMANCE_LEVEL = TypeConformanceLevel.ROOT_ONLY
    #: 1 state message per page is written explicitly (see get_http_request); this is only a fallback.
    STATE_MSG_FREQUENCY = 10_000
    #: whether this stream is a table snapshot that ACTIVATE_VERSION may retire rows of (when enabled)
    activate_version_allowed: ClassVar[bool] = True

    def __init__(self, tap: TapPipedrive, schema: dict[str, Any]) -> None:
        super().__init__(tap=tap, schema=schema, name=self.name)
        self.tap: TapPipedrive = tap
        self.plan: CustomFieldPlan | None = tap.custom_field_plan(self.resource)
        #: top-level date-time columns other than the replication key: normalized too (v1 writes spaces)
        self._datetime_columns = tuple(
            name for name, prop in schema.get("properties", {}).items()
            if isinstance(prop, dict) and prop.get("format") == "date-time" and name != self.replication_key
        )
        self._read: ReadPlan | None = None
        self._dedupe = BoundaryDedupe()
        #: the record handed to the SDK last, remembered as emitted only once the SDK is done with it
        self._in_flight: tuple[Any, str | None] | None = None
        #: the partition being read (None between reads), so a stop elsewhere can save this read's boundary
        self._reading: tuple[Mapping[str, Any] | None] | None = None

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
        """The configured per-request timeout in seconds, fractions kept (``int()`` made 0.5 a zero
        timeout, which urllib3 refuses with a traceback)."""
        return self.tap.client_config.timeout

    @property
    def page_size(self) -> int:
        """``page_size`` setting, capped by the resource's own maximum."""
        return max(1, min(int(self.config.get("page_size") or 500), self.resource.page_limit))

    # -- what to read -------------------------------------------------------------------------------
    @property
    def is_sorted(self) -> bool:
        """Incremental reads are ascending by update time (server-side, or locally for one-page lists),
        so bookmarks are resumable after a crash."""
        return self.replication_key is not None

    def starting_bookmark(self, context: Mapping[str, Any] | None) -> str | None:
        """The normalized bookmark (or ``start_date`` on the first run), ``None`` for a full history."""
        if not self.replication_key:
            return None
        value = self.get_starting_replication_key_value(context)
        return normalize_timestamp(value) if value else None

    def base_path(self, context: Mapping[str, Any] | None) -> tuple[str, dict[str, Any]]:
        """The list path for this partition, split into path and fixed query parameters."""
        path = self.resource.read_path
        params: dict[str, Any] = dict(self.resource.read_params)
        if "?" in path:
            path, query = path.split("?", 1)
            for pair in query.split("&"):
                name, _, value = pair.partition("=")
                params[name] = value
        if context:
            for name, value in context.items():
                token = "{" + name + "}"
                path = path.replace(token, str(value))
                params = {k: (str(value) if v == token else v) for k, v in params.items()}
        return path, params

    def read_plan(self, context: Mapping[str, Any] | None) -> ReadPlan:
        """Decide full read, ``updated_since`` or ``/recents`` for this partition, and log why."""
        res = self.resource
        path, params = self.base_path(context)
        if context:
            params.update({k: v for k, v in context.items() if k in res.read_params or k == "folder"})
        start = self.starting_bookmark(context)
        lookback = float(self.config.get("lookback_seconds") or 0)
        floor = updated_since_start(start, lookback) if start else None
        if res.replication is Replication.UPDATED_SINCE and self.replication_key:
            params.update(sort_by="update_time", sort_direction="asc")
            if floor:
                params["updated_since"] = to_rfc3339(floor)
            return ReadPlan("updated_since", path, params, res.pagination, self.page_size, start, floor)
        if res.replication is Replication.RECENTS and self.replication_key:
            # A quiet stream keeps an old bookmark; the time its last complete read began says that nothing
            # changed before it, so /recents can start there (and its one-month window applies to it).
            checked = self.get_context_state(context).get(CHECKED_STATE_KEY) if start else None
            since = max(start, checked) if start and isinstance(checked, str) else start
            if since and recents_covers(since, self.tap.server_now()):
                recents = {"items": res.recents_item, "since_timestamp": to_v1(recents_since(since, lookback))}
                return ReadPlan("recents", RECENTS_PATH, recents, Pagination.OFFSET, 500, start, floor)
            if start:
                self.logger.warning(
                    "%s: bookmark %s is older than /recents' one-month window; doing a full read of the stream",
                    self.name, start,
                )
            if res.pagination is Pagination.NONE:
                return ReadPlan("full", path, params, res.pagination, self.page_size, start, floor, sort_in_memory=True)
            params["sort"] = f"{self.replication_key} ASC"
            return ReadPlan("full", path, params, res.pagination, self.page_size, start, floor)
        return ReadPlan("full", path, params, res.pagination, self.page_size, start)

    def get_new_paginator(self) -> BaseAPIPaginator[Any]:
        """The paginator of the current read plan."""
        plan = self._read
        pagination = plan.pagination if plan else self.resource.pagination
        if plan and plan.mode == "recents":
            return RecentsPaginator()
        if pagination is Pagination.OFFSET:
            return V1OffsetPaginator()
        if pagination is Pagination.CURSOR:
            return V2CursorPaginator()
        return SinglePagePaginator()

    def get_http_request(self, *, page: PageContext[Any]) -> HTTPRequest:
        """Build one page's request from the read plan; write the bookmark before each further page."""
        plan = self._read or self.read_plan(page.stream_context)
        if page.next_page_token is not None:
            self._settle()
            self._save_boundary(page.stream_context)
            self._write_state_message()  # the previous page is fully processed: bookmark after every page
        params = dict(plan.params)
        if plan.pagination is not Pagination.NONE:
            params["limit"] = plan.page_limit
            if page.next_page_token is not None:
                token_name = "cursor" if plan.pagination is Pagination.CURSOR and plan.mode != "recents" else "start"
                params[token_name] = page.next_page_token
        return HTTPRequest(
            url=self.url_base + plan.path, method="GET", params=params, headers={}, safe_query_chars=":,"
        )

    def request_records(self, context: Mapping[str, Any] | None) -> Iterator[dict[str, Any]]:
        """``RESTStream.request_records`` with the next page's request in flight while this page's records
        are processed.

        Pipedrive's next cursor/start is in ``additional_data``, so the next request can be sent as soon as
        a page arrives: per page the tap then pays max(latency, CPU) instead of their sum. At most one page
        is ahead (one background thread per read, started only when there is a second page). Requests are
        still prepared here, in order, so the per-page STATE (written while the next page's request is
        built, see :meth:`get_http_request`) covers only the pages whose records were all handed out and
        processed; an error of a prefetched request is raised here once the current page is done, where
        the SDK would have met it.
        """
        paginator = self.get_new_paginator() or SinglePagePaginator()
        decorated_request = self.request_decorator(self._request)
        pool: ThreadPoolExecutor | None = None
        pages = 0

        def send(*, ahead: bool) -> tuple[requests.PreparedRequest, Future[requests.Response]]:
            nonlocal pool
            prepared = self._prepare_request(context=context, page=paginator)
            future: Future[requests.Response] = Future()
            if not ahead:  # the first page: nothing to overlap with
                try:
                    future.set_result(decorated_request(prepared, context))
                except Exception as exc:  # re-raised by future.result() below, as the SDK would
                    future.set_exception(exc)
                return prepared, future
            if pool is None:
                pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"prefetch-{self.name}")
            return prepared, pool.submit(decorated_request, prepared, context)

        try:
            with self.get_http_request_counter() as request_counter:
                request_counter.with_context(context)
                pending = None if paginator.finished else send(ahead=False)
                while pending is not None:
                    prepared, future = pending
                    pending = None
                    self._settle()  # the SDK asked past the previous page's last record: it is written
                    resp = future.result()
                    request_counter.increment()
                    self.update_sync_costs(prepared, resp, context)
                    records = list(self.parse_response(resp))
                    if not records:
                        if paginator.continue_if_empty(resp):
                            paginator.advance(resp)
                            pending = None if paginator.finished else send(ahead=False)
                            continue
                        self.log("Pagination stopped after %d pages because no records were found in the "
                                 "last response", pages)
                        break
                    paginator.advance(resp)
                    if not paginator.finished:
                        pending = send(ahead=True)
                    yield from records
                    pages += 1
        finally:
            if pool is not None:
                pool.shutdown(wait=False, cancel_futures=True)

    def _generate_record_messages(self, record: dict[str, Any]) -> Generator[singer.RecordMessage, None, None]:
        """The SDK's RECORD messages through the fast path (:mod:`tap_pipedrive.fastpath`); the SDK's own
        method whenever a stream map or flattening is configured."""
        if self.TYPE_CONFORMANCE_LEVEL is TypeConformanceLevel.ROOT_ONLY and uses_plain_maps(self):
            return fast_record_messages(self, record)
        return super()._generate_record_messages(record)

    # -- children -----------------------------------------------------------------------------------
    def get_child_context(self, record: dict[str, Any], context: Mapping[str, Any] | None) -> dict[str, Any] | None:
        """Children are read with ``{"parent_id": id}``."""
        return child_context_of(record, self.resource.key)

    def generate_child_contexts(
        self, record: dict[str, Any], context: Mapping[str, Any] | None
    ) -> Iterator[dict[str, Any]]:
        """One context per record with children to read; none for deleted records, and no per-record
        work at all for streams without children."""
        if not self.child_streams:
            return
        child = self.get_child_context(record, context)
        if child is not None:
            yield child

    # -- records ------------------------------------------------------------------------------------
    def get_records(self, context: Mapping[str, Any] | None) -> Iterable[dict[str, Any]]:
        """Plan the read, then stream its pages; the boundary ids go to state at the end."""
        self._read = plan = self.read_plan(context)
        self._dedupe = BoundaryDedupe()
        self._in_flight = None
        self._reading = (context,)
        state = self.get_context_state(context)
        bookmark = state.get("replication_key_value")
        if self.replication_key and plan.start:
            self._dedupe = BoundaryDedupe.from_state(state.get(BOUNDARY_STATE_KEY), plan.start)
            if plan.floor and plan.floor < plan.start and bookmark:
                # The lookback re-reads seconds before the bookmark; move the bookmark there first so the
                # sorted-stream check accepts them (a crash then resumes from the earlier point: safe).
                state["replication_key_value"] = plan.floor
        read_started = normalize_timestamp(self.tap.server_now())
        try:
            yield from self.request_records(context)
            self._settle()
            if bookmark and str(state.get("replication_key_value") or "") < str(bookmark):
                state["replication_key_value"] = bookmark  # a complete lookback read never moves it back
            if self.replication_key and self.resource.replication is Replication.RECENTS:
                state[CHECKED_STATE_KEY] = read_started
        except PipedriveError as exc:
            if isinstance(exc, NotFoundError | GoneError) and self.parent_stream_type is not None:
                raise  # a vanished parent: ChildStream skips it
            self._save_boundary(context)
            for stream in self.tap.streams.values():  # a child stopping: its parents' reads are open too
                if isinstance(stream, PipedriveStream) and stream is not self and stream._reading is not None:
                    stream._save_boundary(stream._reading[0])
            stop(self.logger, exc.with_resource(self.name), state=self.tap.state, writer=self.tap.state_writer)
        finally:
            self._reading = None
            self._save_boundary(context)
            for child in self.child_streams:
                if isinstance(child, ChildStream):
                    child.flush_metrics()
            if self._dedupe.suppressed:
                self.logger.info("%s: skipped %d records already emitted (boundary second)",
                                 self.name, self._dedupe.suppressed)

    def _settle(self) -> None:
        """The SDK asked for the next record (or page), so the one before is written with its children."""
        if self._in_flight is not None:
            self._dedupe.remember(*self._in_flight)
            self._in_flight = None

    def _save_boundary(self, context: Mapping[str, Any] | None) -> None:
        if self.replication_key and self._dedupe.second:
            self.get_context_state(context)[BOUNDARY_STATE_KEY] = self._dedupe.to_state()

    def parse_response(self, response: requests.Response) -> Iterator[dict[str, Any]]:
        """Records of one page (already-parsed body); ``/recents`` items are unwrapped."""
        body = body_of(response)
        data = body.get("data") if isinstance(body, dict) else None
        plan = self._read
        if plan and plan.mode == "recents":
            yield from self._recents_records(data)
            return
        records = self.extract_records(data)
        if plan and plan.sort_in_memory and self.replication_key:
            rk = self.replication_key
            records = sorted(records, key=lambda r: normalize_timestamp(r.get(rk)) or "")
        yield from records

    def extract_records(self, data: Any) -> list[dict[str, Any]]:
        """The list of record dicts in a ``data`` member (override for odd shapes)."""
        if data is None:
            return []
        if isinstance(data, dict) and isinstance(data.get(self.resource.name), list):
            return list(data[self.resource.name])  # goals/find: {"data": {"goals": [...]}}
        if isinstance(data, list):
            return data
        return [data]

    def _recents_records(self, data: Any) -> Iterator[dict[str, Any]]:
        wanted = self.resource.recents_item
        for item in data or ():
            if item.get("item") != wanted:
                continue
            payload = item.get("data")
            if isinstance(payload, list):
                yield from payload
            elif isinstance(payload, dict):
                yield payload

    def post_process(
        self, row: dict[str, Any], context: Mapping[str, Any] | None = None
    ) -> dict[str, Any] | None:
        """Normalize the bookmark timestamp, type custom fields, drop boundary duplicates."""
        rk = self.replication_key
        if rk:
            row[rk] = second = normalize_timestamp(row.get(rk))
            plan = self._read
            if plan is not None and plan.mode == "full" and plan.floor and (second is None or second < plan.floor):
                return None  # a full read standing in for /recents: older records were delivered already
            # singer-sdk reads a parent's children *before* writing the parent: this record counts as emitted
            # only when the next one is asked for, so a child read that stops the run does not mark it sent.
            self._settle()
            if self._dedupe.is_repeat(row.get(self.resource.key), second):
                return None
            self._in_flight = (row.get(self.resource.key), second)
        for column in self._datetime_columns:
            value = row.get(column)
            if value is not None:
                row[column] = normalize_timestamp(value)
        if self.plan is not None:
            if self.resource.read_version == 2:
                self.plan.apply_v2(row)
            else:
                self.plan.apply_v1(row)
        return row


class ChildStream(PipedriveStream):
    """A nested read per parent record (``{parent_id}`` in the path).

    One state entry for the whole stream (``state_partitioning_keys = ()``) keeps state small however many
    parents there are; the parent id is therefore added to records here, not by the SDK. Activate-version
    messages are never sent: a child read covers only the parents emitted in this run.
    """

    state_partitioning_keys: ClassVar[tuple[str, ...]] = ()
    activate_version_allowed = False  # a per-parent read is not a full table
    #: no http_request_duration line per parent: the run-wide counters below carry the numbers
    _LOG_REQUEST_METRICS = False
    #: records keyed globally that several parents list (an organization relationship is listed under both
    #: organizations): emitted once per run; the set holds only those keys
    unique_across_parents: ClassVar[bool] = False
    _schema_sent = False

    def __init__(self, tap: TapPipedrive, schema: dict[str, Any]) -> None:
        super().__init__(tap, schema)
        # The SDK syncs a child once per parent and would log "Beginning sync" plus three METRIC lines each
        # time (four lines per deal per child stream). Counters are aggregated per stream instead and logged
        # every minute and when the parent's read ends (flush_metrics); the sync timer is not logged.
        self._seen_keys: set[Any] = set()
        self._records_meter = RunCounter(metrics.Metric.RECORD_COUNT, {metrics.Tag.STREAM: self.name})
        self._requests_meter = RunCounter(metrics.Metric.HTTP_REQUEST_COUNT,
                                          {metrics.Tag.STREAM: self.name, metrics.Tag.ENDPOINT: self.path})
        if self.logger.getEffectiveLevel() == logging.INFO:
            self.logger.setLevel(logging.WARNING)

    def get_record_counter(self, **_: Any) -> metrics.Counter:
        """One record counter for the whole run (not one per parent)."""
        return self._records_meter

    def get_http_request_counter(self) -> metrics.Counter:
        """One request counter for the whole run (not one per parent)."""
        return self._requests_meter

    def get_sync_timer(self) -> metrics.Timer:
        """Per-parent sync timings are not logged."""
        return SilentTimer(metrics.Metric.SYNC_DURATION, {metrics.Tag.STREAM: self.name})

    def flush_metrics(self) -> None:
        """Log what the run-wide counters hold (called when the parent's read ends)."""
        for meter in (self._records_meter, self._requests_meter):
            if meter.value:
                meter.flush()

    def _write_schema_message(self) -> None:
        # The SDK calls this for every parent record; one SCHEMA per run is enough.
        if not self._schema_sent:
            self._schema_sent = True
            super()._write_schema_message()

    def _write_state_message(self) -> None:
        # Children carry no bookmark; the parent writes state.
        return

    def get_records(self, context: Mapping[str, Any] | None) -> Iterable[dict[str, Any]]:
        """Skip a parent that disappeared between its listing and this read."""
        try:
            yield from super().get_records(context)
        except (NotFoundError, GoneError) as exc:
            self.logger.warning("%s: parent %s is gone (%s); skipped", self.name,
                                (context or {}).get("parent_id"), exc.status)

    def extract_records(self, data: Any) -> list[dict[str, Any]]:
        """Plain id lists (permitted users) become ``{<key>: id}`` records."""
        records = super().extract_records(data)
        if records and not isinstance(records[0], dict):
            return [{self.resource.key: value} for value in records]
        return records

    def post_process(
        self, row: dict[str, Any], context: Mapping[str, Any] | None = None
    ) -> dict[str, Any] | None:
        """Add the parent id column; flow and mail items are keyed ``<object>:<id>``."""
        inner = row.get("data")
        if "object" in row and isinstance(inner, dict):  # flow and mail items wrap the object
            row["id"] = f"{row['object']}:{inner.get('id')}" if self.resource.key_type == "string" else inner.get("id")
        if context is not None and self.resource.parent_key:
            row[parent_column(self.resource)] = context.get("parent_id")
        if self.unique_across_parents:
            key = row.get(self.resource.key)
            if key in self._seen_keys:
                return None  # already emitted under another parent in this run
            self._seen_keys.add(key)
        return super().post_process(row, context)


def parent_column(resource: Resource) -> str:
    """The column holding the parent's id; ``followed_user_id`` where the catalogue's parent key would
    clash with the record's own key (followers of a user are keyed ``user_id`` too)."""
    key = resource.parent_key or "parent_id"
    return f"followed_{key}" if key == resource.key else key


def child_context_of(record: Mapping[str, Any], key: str) -> dict[str, Any] | None:
    """The context children of a record are read with (none for deleted records)."""
    if record.get("is_deleted") or record.get(key) is None:
        return None
    return {"parent_id": record[key]}


logging.getLogger("tap-pipedrive").addHandler(logging.NullHandler())
