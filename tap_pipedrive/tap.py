"""TapPipedrive: settings, the shared HTTP session, custom-field discovery and stream assembly."""

from __future__ import annotations

import copy
import datetime as dt
import logging
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import AbstractContextManager, nullcontext
from functools import cached_property
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.utils import resolve_proxies
from singer_sdk import Stream
from singer_sdk import typing as th
from singer_sdk.exceptions import ConfigValidationError
from singer_sdk.schema.source import SchemaDirectory
from singer_sdk.singerlib import Schema
from typing_extensions import override

from pipedrive_core.catalogue import CATALOGUE, Resource, active
from pipedrive_core.field_definitions import FieldDefinitions
from pipedrive_core.fields import FieldDef
from pipedrive_core.http import ClientConfig, ConfigError, PipedriveClient, PipedriveSession
from pipedrive_core.http.errors import PipedriveError
from pipedrive_core.memory import limit_malloc_arenas
from pipedrive_core.settings import CONNECTION_SETTINGS, unknown_settings
from tap_pipedrive import record_processes
from tap_pipedrive import schemas as committed_schemas
from tap_pipedrive.client import ApiStream, PipedriveStream
from tap_pipedrive.custom_fields import CustomFieldPlan
from tap_pipedrive.errors import RunStopped
from tap_pipedrive.fastpath import FastSingerWriter, fast_json_loads
from tap_pipedrive.file_content import FileContent, content_for
from tap_pipedrive.inflight import RequestBudget, limiter_rate
from tap_pipedrive.list_queries import top_level_partitions
from tap_pipedrive.metering import cost_overview
from tap_pipedrive.parallel import DEFAULT_PARALLEL_STREAMS, MAX_PARALLEL_STREAMS, RunCancelled, SyncGate
from tap_pipedrive.reconcile import DeletedRecordsStream, reconciled_streams
from tap_pipedrive.sdk_compat import CompatTap, write_stream_state
from tap_pipedrive.search import SEARCH_STREAMS, search_stream_classes
from tap_pipedrive.start_questions import StartQuestions, asks_start_question
from tap_pipedrive.streams import STREAM_CLASSES
from tap_pipedrive.user_search import FIND_STREAMS, find_stream_classes

logger = logging.getLogger("tap-pipedrive")


class _ChildStreamNotice(logging.Filter):
    """singer-sdk logs "Added 'x' as child stream to 'y'" every time the tap is built (discovery, then the
    sync); the sync logs the selected children once instead (:meth:`TapPipedrive.run_sync`)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Added '%s' as child stream")


logger.addFilter(_ChildStreamNotice())

TAP_SETTINGS = th.PropertiesList(
    th.Property(
        "start_date",
        th.DateTimeType,
        description="First run only: read records updated at or after this time (ISO 8601, UTC). Unset: the "
        "whole history. Later runs continue from each stream's bookmark.",
    ),
    th.Property(
        "lookback_seconds",
        th.IntegerType,
        default=0,
        description="Re-read this many seconds before each bookmark (for changes Pipedrive records late; 0 or "
        "more). Records of the bookmark second itself are always re-read and duplicates skipped.",
    ),
    th.Property(
        "page_size",
        th.IntegerType,
        default=500,
        description="Records per list request (at most 500; files 100 and call logs 50 are capped lower).",
    ),
    th.Property(
        "custom_field_names",
        th.StringType,
        default="name",
        allowed_values=["key", "name"],
        description="Column names of custom fields: 'name' (default) uses snake_case names derived from field "
        "names, de-duplicated (field id suffix) and kept stable across renames (the mapping is stored in state and "
        "published by the *_fields streams); 'key' keeps Pipedrive's 40-hex field keys, which never change.",
    ),
    th.Property(
        "resolve_option_labels",
        th.BooleanType,
        default=True,
        description="Also emit option labels next to enum ids (<column>_label) and set ids (<column>_labels); "
        "the labels come from the *Fields reads the tap makes anyway (no extra request).",
    ),
    th.Property(
        "include_deleted_deals",
        th.BooleanType,
        default=True,
        description="Read deals deleted in the last 30 days (is_deleted = true).",
    ),
    th.Property(
        "include_archived_deals",
        th.BooleanType,
        default=True,
        description="Also read archived deals (GET /api/v2/deals/archived; is_archived = true).",
    ),
    th.Property(
        "search_terms",
        th.ObjectType(additional_properties=th.ArrayType(th.StringType)),
        description="Adds search streams: an object mapping deals, persons, organizations, products, leads, "
        "users (GET /v1/users/find) or items (item search) to a list of terms, e.g. {\"persons\": [\"acme\"]}. "
        "Each term is one partition.",
    ),
    th.Property(
        "download_file_content",
        th.BooleanType,
        default=False,
        description="Download the bytes of every file the files stream emits (GET /v1/files/{id}/download, 20 "
        "tokens each; only new and changed files on incremental runs) into file_content_dir; records then carry "
        "content_path and content_sha256.",
    ),
    th.Property(
        "file_content_dir",
        th.StringType,
        default="file_content",
        description="Directory the file bytes are written to (download_file_content), one file per Pipedrive file "
        "named <id>-<file name>, plus a .manifest.json that lets later runs skip unchanged files.",
    ),
    th.Property(
        "search_exact_match",
        th.BooleanType,
        default=False,
        description="Search streams: only exact (case-insensitive) matches.",
    ),
    th.Property(
        "reconcile_deletes",
        th.ArrayType(th.StringType),
        description="Streams whose deletions are detected by an ids-only pass (persons, organizations, "
        "activities, products, notes, files, filters, activity_types, users; [\"all\"] for every one): the "
        "deleted_records stream emits {stream, id, _sdc_deleted_at} for ids gone since the previous run.",
    ),
    th.Property(
        "refresh_bulk_children",
        th.BooleanType,
        default=False,
        description="Incremental runs also re-read the children that have a bulk route (deal products, deal "
        "installments) for every parent, not only for parents changed since the bookmark: Pipedrive does not "
        "document that adding a product changes the deal, so only this finds products added to deals that did "
        "not change otherwise. Costs one request per 500 parents (their ids) plus one per 100 parents (more "
        "when they hold more than a page of children), every run after a complete one.",
    ),
    th.Property(
        "include_fields",
        th.ObjectType(additional_properties=th.ArrayType(th.StringType)),
        description="Extra columns Pipedrive sends only when asked (counts, next/last activity, mail times, ...): "
        "every value is asked for by default; an object of stream name to the values wanted narrows it "
        "(an empty list: none), e.g. {\"deals\": [\"products_count\"]}.",
    ),
    th.Property(
        "parallel_streams",
        th.IntegerType,
        default=DEFAULT_PARALLEL_STREAMS,
        description="How many top-level streams (each with its children) are read at once, 1 to "
        f"{MAX_PARALLEL_STREAMS}. More overlaps the waits for Pipedrive's answers (every request still goes "
        "through the one rate limiter, which paces them all); records of different streams interleave in the "
        "output, every STATE covers only records already written, and a stream that stops the run stops the "
        "others at their next page. 1 reads them one after another.",
    ),
    th.Property(
        "record_processes",
        th.IntegerType,
        description="Worker processes (0 to "
        f"{record_processes.MAX_RECORD_PROCESSES}, Linux) that type and encode the records of top-level list "
        "pages, so that a sync is not held to one core. Unset: "
        f"{record_processes.DEFAULT_RECORD_PROCESSES} where at least two CPUs are usable, else 0. 0 processes "
        "every record in the tap's own process. The output is the same either way; each worker is a forked copy "
        "of the tap.",
    ),
    th.Property(
        "max_requests_in_flight",
        th.IntegerType,
        description="The most list requests sent at once while one large list is read as update-time windows "
        "(deals, persons, organizations, activities) or an offset list is read ahead (notes, files, leads, ...). "
        "Unset: derived from the rate limit and the measured "
        "latency (enough requests in flight to use the limit, no more). 1: one request at a time plus the "
        "next page, as a plain read. Every request still goes through the one rate limiter.",
    ),
    th.Property(
        "emit_activate_version_messages",
        th.BooleanType,
        default=False,
        description="Full-table streams send ACTIVATE_VERSION so targets (target-postgres) can soft-delete "
        "rows missing from the latest full read.",
    ),
)


class _ProxyCachingSession(PipedriveSession):
    """Resolve environment proxies once per host instead of on every send.

    ``requests.Session.send`` re-reads ``*_proxy``/``no_proxy`` from the whole environment for each request
    unless ``proxies`` is given, a noticeable share of the tap's CPU on large reads. The environment does not
    change during a run, so the answer is cached per scheme and host.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._proxy_cache: dict[tuple[str, str], dict[str, str]] = {}

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        """Send with the cached proxies of the request's host."""
        if "proxies" not in kwargs:
            parts = urlsplit(request.url or "")
            key = (parts.scheme, parts.netloc)
            if key not in self._proxy_cache:
                self._proxy_cache[key] = resolve_proxies(request, dict(self.proxies), self.trust_env)
            kwargs["proxies"] = self._proxy_cache[key]
        return super().send(request, **kwargs)


def _check_start_date(value: Any) -> None:
    """``start_date`` must be a real ISO 8601 date or date-time: the JSON schema does not check formats, and a
    bad value would be read as "no start date" (the whole history) or reach Pipedrive (HTTP 400 mid-run)."""
    if value is None:
        return
    try:
        dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(
            f"start_date must be an ISO 8601 date or date-time such as 2024-01-01 or 2024-01-01T00:00:00Z, "
            f"got {value!r}"
        ) from None


def _check_lookback(value: Any) -> None:
    """A negative lookback would start reads *after* the bookmark and lose the changes in between."""
    if value is not None and not isinstance(value, bool) and isinstance(value, int | float) and value < 0:
        raise ConfigError(f"lookback_seconds must be 0 or more (seconds re-read before each bookmark), got {value}")


def _check_include_fields(value: Any) -> None:
    """``include_fields`` names streams that have extra columns, and values of their list endpoint's enum."""
    for stream, values in (value or {}).items():
        res = CATALOGUE.get(stream)
        if res is None or not res.include_fields:
            having = ", ".join(r.name for r in active() if r.include_fields)
            raise ConfigError(f"include_fields: {stream} has no include_fields; use {having}")
        unknown = sorted(str(v) for v in values or () if v not in res.include_fields)
        if unknown:
            raise ConfigError(f"include_fields.{stream}: {', '.join(unknown)} unknown; use "
                              f"{', '.join(res.include_fields)}")


def _check_parallel_streams(value: Any) -> None:
    """``parallel_streams`` is a whole number of workers within the connection pool's reach."""
    if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                              or not 1 <= value <= MAX_PARALLEL_STREAMS):
        raise ConfigError(f"parallel_streams must be a whole number from 1 to {MAX_PARALLEL_STREAMS}, got {value!r}")


def _check_search_terms(value: Any) -> None:
    """``search_terms`` keys name search streams; an unknown key would be ignored without a word."""
    known = sorted(spec.config_key for spec in (*SEARCH_STREAMS.values(), *FIND_STREAMS.values()))
    unknown = sorted(str(k) for k in (value or {}) if k not in known)
    if unknown:
        raise ConfigError(f"search_terms: {', '.join(unknown)} is not searchable; use {', '.join(known)}")


#: the committed schemas (scripts/generate_schemas.py), read through singer-sdk's own loader
BASE_SCHEMAS = SchemaDirectory(committed_schemas)


def _load_base_schema(name: str) -> dict[str, Any]:
    """A copy of the stream's committed schema: callers add this account's custom-field columns to it."""
    return copy.deepcopy(BASE_SCHEMAS.get_schema(name))


class TapPipedrive(CompatTap):
    """Singer tap for Pipedrive: every catalogue resource as a stream, full and incremental."""

    name = "tap-pipedrive"
    package_name = "pipedrive-singer"
    dynamic_catalog = True
    #: the SDK's messages, byte for byte, from the C JSON encoder; stdout flushed after non-RECORD messages
    message_writer_class = FastSingerWriter
    config_jsonschema = th.PropertiesList(*CONNECTION_SETTINGS, *TAP_SETTINGS).to_dict()
    #: the lock and stop flag of a parallel sync (``parallel_streams`` > 1) while it runs
    sync_gate: SyncGate | None = None
    #: the worker processes encoding records (``record_processes`` > 0) while a sync runs
    record_processes: record_processes.RecordProcesses | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        state = kwargs.get("state")
        #: state as given, read before discovery: the name-mode column mapping lives there
        self._initial_state: dict[str, Any] = state if isinstance(state, dict) else {}
        self._column_maps: dict[str, dict[str, str]] = {}
        self._plans: dict[str, CustomFieldPlan | None] = {}
        super().__init__(*args, **kwargs)

    @override
    def validate_settings(self) -> None:
        """After the SDK's JSON-schema check: the connection, date, lookback and reconciliation rules, so that
        every bad setting is one configuration error at start-up, in ``--discover`` too; unknown settings
        (a typo) are warned about."""
        config = self.config
        for warning in unknown_settings(config, self.config_jsonschema["properties"]):
            self.logger.warning("%s", warning)
        try:
            ClientConfig.from_config(config)
            _check_start_date(config.get("start_date"))
            _check_lookback(config.get("lookback_seconds"))
            _check_search_terms(config.get("search_terms"))
            _check_include_fields(config.get("include_fields"))
            _check_parallel_streams(config.get("parallel_streams"))
            problem = record_processes.check_setting(config.get("record_processes"))
            if problem:
                raise ConfigError(problem)
        except ConfigError as exc:
            raise ConfigValidationError(str(exc), errors=[str(exc)]) from None
        reconciled_streams(config)

    # -- HTTP -----------------------------------------------------------------------------------------
    @cached_property
    def client_config(self) -> ClientConfig:
        """Validated connection settings; a bad value is one clear configuration error."""
        try:
            return ClientConfig.from_config(self.config, user_agent=f"tap-pipedrive/{self.plugin_version}")
        except ConfigError as exc:
            raise ConfigValidationError(str(exc), errors=[str(exc)]) from None

    @cached_property
    def file_content(self) -> FileContent | None:
        """The downloader of file bytes (``download_file_content``), or ``None``."""
        return content_for(self.config, self.session, logger)

    @cached_property
    def request_budget(self) -> RequestBudget:
        """The slots for list requests in flight, shared by every read of the run (:mod:`tap_pipedrive.inflight`)."""
        limiter = self.session.limiter
        cap = self.config.get("max_requests_in_flight")

        def burst() -> int | None:
            return None if limiter.burst is None else max(1, limiter.burst - limiter.headroom)

        return RequestBudget(limiter_rate(burst, limiter.window), cap=int(cap) if cap else None)

    @cached_property
    def session(self) -> PipedriveSession:
        """The one session of the run: every stream shares its rate limiter and token."""
        return _ProxyCachingSession(self.client_config, json_loads=self._decode)

    def _decode(self, raw: bytes) -> Any:
        """Every answer's JSON; a page of a stream whose records workers encode also gets their encodings."""
        workers = self.record_processes
        return fast_json_loads(raw) if workers is None else workers.loads(raw)

    def pages_of(self, stream: ApiStream, context: Mapping[str, Any] | None) -> AbstractContextManager[object]:
        """The scope of one request of ``stream`` (read with ``context``): its rows are encoded by the workers
        when the stream qualifies and the read is a list (not ``/recents``)."""
        workers = self.record_processes
        if workers is None or stream.name not in workers.streams or not isinstance(stream, PipedriveStream):
            return nullcontext()
        plan = stream._plan
        if plan is not None and plan.mode == "recents":
            return nullcontext()
        return workers.page_of(stream, stream.partition_values(context))

    def server_now(self) -> dt.datetime:
        """Pipedrive's current time (the session's clock, fed by every answer's ``Date``).

        A read takes its start from it before its first request. When no answer has told the time yet (a run whose
        streams need no custom-field definitions), one cheap request (``GET /v1/users/me``, the cheapest
        authenticated call) sets it first (:meth:`pipedrive_core.clock.ServerClock.known_now`)."""
        return self.session.server_clock.known_now(self._ask_the_time)

    def _ask_the_time(self) -> None:
        try:
            PipedriveClient(self.client_config, session=self.session).current_user()
        except PipedriveError as exc:
            raise RunStopped.from_api(exc) from None

    # -- custom fields --------------------------------------------------------------------------------
    @cached_property
    def field_definitions(self) -> FieldDefinitions:
        """The account's custom-field definitions, fetched once per run and resource."""
        return FieldDefinitions(PipedriveClient(self.client_config, session=self.session))

    def prefetch_field_definitions(self) -> None:
        """Fetch the custom-field definitions the run's streams need side by side, before the catalog's streams
        are planned or the streams built one after another (one round trip instead of one per set;
        :meth:`FieldDefinitions.prefetch`)."""
        self.field_definitions.prefetch(
            cls.resource.fields_resource for cls in STREAM_CLASSES.values()
            if cls.resource.has_custom_fields and cls.resource.fields_resource and self.may_read(cls.resource))

    @cached_property
    def start_questions(self) -> StartQuestions:
        """The first run's start questions, asked at start-up (:mod:`tap_pipedrive.start_questions`)."""
        return StartQuestions()

    def prefetch_for_sync(self) -> None:
        """Before a sync: the custom-field definitions and the start questions of the lists read from ``start_date``
        for the first time, side by side (one round trip at start-up instead of two)."""
        client = PipedriveClient(self.client_config, session=self.session)
        self.start_questions.prefetch(client, self.config, self._start_questions_to_ask(),
                                      meanwhile=self.prefetch_field_definitions)

    def _start_questions_to_ask(self) -> list[tuple[str, Resource, dict[str, Any] | None]]:
        """Every partition of a selected top-level list that asks its start question on this run: a run from
        ``start_date`` and a stream without state (a stream with state decides for itself when it reads)."""
        if not self.config.get("start_date"):
            return []
        bookmarks = self._initial_state.get("bookmarks") or {}
        questions: list[tuple[str, Resource, dict[str, Any] | None]] = []
        for name, cls in STREAM_CLASSES.items():
            res = cls.resource
            if res.parent is not None or res.fields_of or not asks_start_question(res) or bookmarks.get(name):
                continue
            if self.syncs(res):
                partitions = top_level_partitions(res, self.config)
                if partitions is None:
                    questions.append((name, res, None))
                else:
                    questions.extend((name, res, context) for context in partitions)
        return questions

    def syncs(self, resource: Resource) -> bool:
        """Whether this sync reads ``resource``: the input catalog selects it or a stream below it."""
        catalog = self.input_catalog
        if catalog is None:
            return False
        for name, cls in STREAM_CLASSES.items():
            entry = catalog.get_stream(name) if _descends_from(cls.resource, resource.name) else None
            if entry is not None and entry.metadata.resolve_selection().get((), False):
                return True
        return False

    def may_read(self, resource: Resource) -> bool:
        """Whether this run may read ``resource``: always in discovery; in a sync, when the input catalog selects it
        or a stream below it (a parent is read to reach its children), or does not mention it (a stream of this
        version the catalog predates). The custom-field definitions of a stream the run does not read are not
        fetched: each set costs 10-20 API tokens."""
        catalog = self.input_catalog
        if catalog is None:
            return True
        names = [name for name, cls in STREAM_CLASSES.items() if _descends_from(cls.resource, resource.name)]
        for name in names:
            entry = catalog.get_stream(name)
            if entry is None or entry.metadata.resolve_selection().get((), True):
                return True
        return False

    def field_records(self, fields_resource: str) -> list[dict[str, Any]]:
        """Raw field definitions of a ``*_fields`` resource, fetched once per run."""
        try:
            return self.field_definitions.records(fields_resource)
        except PipedriveError as exc:
            raise RunStopped.from_api(exc) from None

    def field_defs(self, fields_resource: str) -> dict[str, FieldDef]:
        """Parsed definitions, keyed by field key."""
        self.field_records(fields_resource)
        return self.field_definitions.definitions(fields_resource)

    def field_subfields(self, fields_resource: str, key: str) -> tuple[str, ...]:
        """Companion subfield suffixes of one field (empty for built-in or unknown keys)."""
        fdef = self.field_defs(fields_resource).get(key)
        return fdef.subfields if fdef is not None and fdef.is_custom else ()

    @property
    def column_mode(self) -> str:
        """``key`` or ``name``."""
        return str(self.config.get("custom_field_names") or "name")

    def column_map(self, fields_resource: str) -> dict[str, str]:
        """Custom field key → base column, one mapping per ``*_fields`` resource (leads share deals')."""
        if fields_resource not in self._column_maps:
            from pipedrive_core.fields import assign_columns  # noqa: PLC0415

            users = [r for r in active() if r.fields_resource == fields_resource]
            reserved: set[str] = set()
            for res in users:
                reserved.update(BASE_SCHEMAS.get_schema(res.name)["properties"])  # read only: no copy needed
            previous = (
                self._initial_state.get("bookmarks", {}).get(fields_resource, {}).get("columns")
                if self.column_mode == "name"
                else None
            )
            self._column_maps[fields_resource] = mapping = assign_columns(
                self.field_defs(fields_resource).values(),
                mode="name" if self.column_mode == "name" else "key",
                reserved=reserved,
                previous=previous if isinstance(previous, dict) else None,
            )
            if self.column_mode == "name":
                self._remember_columns(fields_resource, mapping)
        return self._column_maps[fields_resource]

    def _remember_columns(self, fields_resource: str, mapping: dict[str, str]) -> None:
        # Kept in state under the *_fields stream's bookmark so a renamed field keeps its column next run.
        write_stream_state(self.state, fields_resource, "columns", dict(sorted(mapping.items())))

    def custom_field_plan(self, resource: Resource) -> CustomFieldPlan | None:
        """How ``resource``'s records get typed custom columns (``None``: it has none, or the run does not read it:
        its schema is then the catalog's and its definitions are not fetched)."""
        if resource.name not in self._plans:
            plan = None
            if resource.has_custom_fields and resource.fields_resource and self.may_read(resource):
                defs = self.field_defs(resource.fields_resource)
                columns = self.column_map(resource.fields_resource)
                plan = CustomFieldPlan(
                    {k: v for k, v in defs.items() if k in columns},
                    columns,
                    bool(self.config.get("resolve_option_labels")),
                    logger,
                    resource.name,
                )
            self._plans[resource.name] = plan
        return self._plans[resource.name]

    def stream_schema(self, resource: Resource) -> dict[str, Any]:
        """The committed base schema plus this account's custom-field columns."""
        schema = _load_base_schema(resource.name)
        plan = self.custom_field_plan(resource)
        if plan is not None:
            schema["properties"].update(plan.schema_properties())
        if resource.fields_of:
            schema["properties"]["column"] = {"type": ["string", "null"]}
            schema["properties"]["columns"] = {"type": ["array", "null"], "items": {"type": "string"}}
        return schema

    # -- the run --------------------------------------------------------------------------------------
    def run_sync(self) -> None:
        """Sync every selected stream; the one place a stopped run ends.

        A stream that cannot go on raises :class:`RunStopped`; here the reads still open keep their
        boundaries, the state (every stream read so far) is written, the reason is logged on one line and
        the process exits with the documented code. Every run ends with one summary line per stream.
        """
        self._log_children()
        self._start_record_processes()
        try:
            self.sync_streams()
        except RunStopped as stop:
            for stream in self.streams.values():
                if isinstance(stream, ApiStream):
                    stream.abandon()
            self.state_writer.write_state(self.state)
            self.logger.error("Stopping: %s", stop.message)
            raise SystemExit(stop.code) from None
        finally:
            workers, self.record_processes = self.record_processes, None
            if workers is not None:
                workers.close()
            flush = getattr(self.message_writer, "flush", None)
            if callable(flush):
                flush()  # a writer that batches RECORDs: nothing left queued when the run returns
            self._log_summary()

    def _start_record_processes(self) -> None:
        """Fork the record workers (``record_processes``) for the selected streams that qualify."""
        read = [s for s in self.streams.values()
                if s.selected and type(s) in STREAM_CLASSES.values() and isinstance(s, PipedriveStream)]
        self.record_processes = record_processes.start(self, read, self.config.get("record_processes"))

    def sync_streams(self) -> None:
        """singer-sdk's sequential sync (``sync_all``), or with ``parallel_streams`` > 1 the top-level streams
        read by that many workers (:mod:`tap_pipedrive.parallel`); streams of other kinds (searches, deleted
        records) follow one after another."""
        workers = int(self.config.get("parallel_streams") or DEFAULT_PARALLEL_STREAMS)
        streams = [s for s in self.streams.values()
                   if (s.selected or s.has_selected_descendents) and not s.parent_stream_type]
        parallel = [s for s in streams if type(s) in STREAM_CLASSES.values()]
        if workers <= 1 or len(parallel) <= 1:
            self.sync_all()
            return
        self.begin_sync()
        self.logger.info("Reading %d streams, up to %d at once (parallel_streams)", len(parallel),
                         min(workers, len(parallel)))
        self.sync_gate = gate = SyncGate()
        pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="stream")
        try:
            futures = [pool.submit(self._sync_in_worker, gate, stream) for stream in parallel]
            try:
                for future in as_completed(futures):
                    if future.exception() is not None:
                        gate.stop()
            except BaseException:  # SIGTERM/SIGINT (singer-sdk's handler exits): every worker stops at its next page
                gate.stop()
                pool.shutdown(wait=True)
                # again after the handler's: the workers may have written records since, and the output ends with a
                # STATE
                self.write_last_state()
                raise
            errors = [e for e in (f.exception() for f in futures) if e is not None]
            if errors:
                raise next((e for e in errors if not isinstance(e, RunCancelled)), errors[0])
        finally:
            pool.shutdown(wait=True)
            self.sync_gate = None
        for stream in streams:
            if stream not in parallel:
                stream.sync()
                stream.finalize_state_progress_markers()
        for stream in self.streams.values():
            stream.log_sync_costs()

    @override
    def termination_guard(self) -> AbstractContextManager[object]:
        """During a parallel sync the gate's lock: the STATE written on SIGTERM/SIGINT then finds every stream
        at a checkpoint, none half-way through a page."""
        gate = self.sync_gate
        return nullcontext() if gate is None else gate.exclusive()

    @staticmethod
    def _sync_in_worker(gate: SyncGate, stream: Stream) -> None:
        with gate.worker():
            stream.sync()
            stream.finalize_state_progress_markers()

    def _log_children(self) -> None:
        names = {type(s): s.name for s in self.streams.values()}
        for stream in self.streams.values():
            parent = stream.parent_stream_type
            if parent is not None and stream.selected:
                self.logger.info("Child stream %s is read for every %s record", stream.name, names.get(parent))

    def _log_summary(self) -> None:
        for stream in self.streams.values():
            if isinstance(stream, ApiStream) and (stream.stats.requests or stream.stats.records):
                self.logger.info("Summary %s", stream.summary())

    @override
    @classmethod
    def invoke(cls, *args: Any, **kwargs: Any) -> None:
        """The CLI's sync, through :meth:`run_sync`; a stop while the tap is built (field definitions) is one
        line and its exit code too."""
        limit_malloc_arenas()
        try:
            cls.run_cli_sync(*args, **kwargs)
        except RunStopped as stop:
            cls.logger.error("Stopping: %s", stop.message)
            raise SystemExit(stop.code) from None

    # -- streams and state ----------------------------------------------------------------------------
    def discover_streams(self) -> list[Stream]:
        """One stream per active catalogue resource, plus search streams when search_terms is set."""
        self.prefetch_field_definitions()
        streams: list[Stream] = [cls(self, self.stream_schema(cls.resource)) for cls in STREAM_CLASSES.values()]
        terms = self.config.get("search_terms") or {}
        for name, cls in search_stream_classes().items():
            if terms.get(SEARCH_STREAMS[name].config_key):
                streams.append(cls(self))
        for name, find_cls in find_stream_classes().items():
            if terms.get(FIND_STREAMS[name].config_key):
                streams.append(find_cls(self))
        if reconciled_streams(self.config):
            streams.append(DeletedRecordsStream(self))
        return streams

    def setup_mapper(self) -> None:
        """Align the custom-field plans with the input catalog before anything uses it.

        Fields missing from the catalog (added after it was discovered) are left out of the plans, so
        their values are logged once and skipped. In name mode the state's column names are put back into
        the catalog.

        Meltano discovers without state, so after a field rename its catalog names the new column; the
        sync (which has the state) renames it back, so columns stay stable. Custom columns are matched by
        the field key their ``description`` carries.
        """
        catalog = self.input_catalog
        if catalog is not None:
            self.prefetch_for_sync()
            for entry in catalog.streams:
                resource = CATALOGUE.get(entry.tap_stream_id)
                plan = self.custom_field_plan(resource) if resource is not None else None
                if resource is None or plan is None or not entry.schema.properties:
                    continue
                schema = entry.schema.to_dict()
                if self.column_mode == "name":
                    schema["properties"] = plan.rename_catalog_properties(schema["properties"])
                    entry.schema = Schema.from_dict(schema)
                # Fields added after this catalog was discovered are skipped (and logged), not emitted.
                self._plans[resource.name] = plan.restricted_to(schema["properties"])
        super().setup_mapper()

    def load_state(self, state: dict[str, Any]) -> None:
        """Load bookmarks, then record the name-mode column mapping so later runs keep it."""
        super().load_state(state)
        if self.column_mode == "name":
            for fields_resource, mapping in self._column_maps.items():
                self._remember_columns(fields_resource, mapping)


def _descends_from(resource: Resource, ancestor: str) -> bool:
    """Whether ``resource`` is ``ancestor`` or read below it (its parent, its parent's parent, ...)."""
    current: Resource | None = resource
    while current is not None:
        if current.name == ancestor:
            return True
        current = CATALOGUE.get(current.parent) if current.parent else None
    return False


TapPipedrive.__doc__ = f"{TapPipedrive.__doc__}\n\n{cost_overview()}"


if __name__ == "__main__":
    TapPipedrive.cli()
