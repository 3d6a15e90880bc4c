"""target-pipedrive: write Singer records into Pipedrive (reverse ETL).

Stream names resolve to catalogue resources (``deals``, ``persons``, ``call_logs``, ``deal_fields``, …, or
Pipedrive's own titles such as ``callLogs``), or through the ``stream_map`` setting for any other stream name
(``public-customers`` → ``persons``). Each record is created, updated or deleted; see ``docs/target.md``.
"""

from __future__ import annotations

import json
import logging
import sys
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

import sqlalchemy as sa
from singer_sdk import Sink
from singer_sdk import typing as th
from singer_sdk.exceptions import ConfigValidationError, RecordsWithoutSchemaException
from singer_sdk.io_base import SingerReader
from singer_sdk.singerlib.exceptions import InvalidInputLine, SingerReadError
from singer_sdk.singerlib.json import deserialize_json
from typing_extensions import override

from pipedrive_core.catalogue import CATALOGUE, Resource
from pipedrive_core.http import ClientConfig, ConfigError, PipedriveClient
from pipedrive_core.http.errors import PipedriveError
from pipedrive_core.settings import CONNECTION_SETTINGS, mask_secrets, unknown_settings
from target_pipedrive.deadletter import DeadLetter
from target_pipedrive.ledger import Ledger, LedgerError, account_key, default_ledger_url
from target_pipedrive.planner import StreamPlan
from target_pipedrive.sdk_compat import CompatTarget
from target_pipedrive.sinks import BatchFileRefusedError, PipedriveSink
from target_pipedrive.translate import ColumnNames, UnknownFields
from target_pipedrive.writer import (
    RejectedRecordsError,
    RunStoppedError,
    Runtime,
    StreamContext,
    resource_rank,
)

logger = logging.getLogger("target_pipedrive")

STRING_LISTS = th.ObjectType(additional_properties=th.ArrayType(th.StringType))

TARGET_SETTINGS = th.PropertiesList(
    th.Property(
        "stream_map",
        th.ObjectType(additional_properties=th.StringType),
        description="Stream name → Pipedrive resource for streams not named after one, e.g. "
        '{"public-customers": "persons"}. Catalogue names (deals, persons, …) need no entry.',
    ),
    th.Property(
        "source_key",
        STRING_LISTS,
        description="Stream (or \"*\") → columns identifying a record in the source; mapped to Pipedrive ids in "
        "the ledger. Default: the stream's key properties unless they are [\"id\"]. [\"id\"] means the id column "
        "comes from another system (e.g. another Pipedrive account): it is never sent as a Pipedrive id and "
        "references to that stream's records are translated through the ledger.",
    ),
    th.Property(
        "match_on",
        STRING_LISTS,
        description="Stream (or \"*\") → columns used to find an existing Pipedrive record before creating "
        '(upsert), e.g. {"persons": ["email"], "organizations": ["name"], "deals": ["external_id"]}.',
    ),
    th.Property(
        "id_field",
        th.StringType,
        default="id",
        description="Column holding the Pipedrive id of a record to update (ignored for streams whose source "
        "key is this column).",
    ),
    th.Property(
        "delete_flag_field",
        th.StringType,
        default="_sdc_deleted_at",
        description="Column that requests a delete: a timestamp, a date or a true-like value (true, yes, y, 1) "
        "deletes; false-like values (false, no, n, 0), zero and empty values do not; anything else rejects the "
        "record.",
    ),
    th.Property(
        "bulk_delete_batch_size",
        th.IntegerType,
        default=100,
        description="Ids per DELETE ?ids= call where Pipedrive has bulk delete (capped by Pipedrive's maximum: "
        "1000 for filters and *Fields, 100 for deal products).",
    ),
    th.Property(
        "unknown_fields",
        th.StringType,
        default="error",
        allowed_values=["error", "drop"],
        description="A column that is neither a writable Pipedrive field nor a custom field: reject the record "
        "(error) or ignore the column (drop). Read-only fields (id, add_time, …) are always ignored.",
    ),
    th.Property(
        "on_error",
        th.StringType,
        default="fail",
        allowed_values=["fail", "skip"],
        description="A rejected record: stop the run after the current batch with exit code 1 (fail), or write "
        "it to the dead-letter file and carry on (skip).",
    ),
    th.Property(
        "dead_letter_path",
        th.StringType,
        default="target-pipedrive-dead-letter.jsonl",
        description="JSONL file receiving rejected records with stream, key, field and reason.",
    ),
    th.Property(
        "dry_run",
        th.BooleanType,
        default=False,
        description="Plan only: report the creates/updates/deletes (counts and a sample) and write nothing.",
    ),
    th.Property(
        "max_workers",
        th.IntegerType,
        default=8,
        description="Concurrent requests (all under the shared rate limiter).",
    ),
    th.Property(
        "ledger_url",
        th.StringType,
        description="SQLAlchemy URL of the ledger (source key → Pipedrive id, payload hashes, create journal), "
        "e.g. postgresql+psycopg://user@host/db (needs the postgres extra). Default: ledger.sqlite in the "
        "per-user data directory (~/.local/share/target-pipedrive on Linux). Rows are keyed by API host and "
        "Pipedrive company. Holds no secrets.",
    ),
    th.Property(
        "ledger_lock_wait_seconds",
        th.NumberType,
        default=300,
        description="How long a run waits for another run writing to the same company with the same ledger "
        "before it stops (two runs at once would duplicate records).",
    ),
    th.Property(
        "references",
        th.ObjectType(additional_properties=th.ObjectType(additional_properties=th.StringType)),
        description="Stream → {reference column → stream whose source key the column holds}, e.g. "
        '{"crm-persons": {"org_id": "crm-organizations"}}: a person\'s org_id carries the organization\'s '
        "ext_id, translated to its Pipedrive id through the ledger (the referenced stream is written first).",
    ),
    th.Property(
        "custom_field_names",
        th.StringType,
        default="auto",
        allowed_values=["auto", "key", "name"],
        description="How incoming custom-field columns are named: 40-hex keys (key), tap-pipedrive's readable "
        "names (name), or both (auto).",
    ),
    th.Property(
        "skip_unchanged",
        th.BooleanType,
        default=True,
        description="Skip records whose payload equals the one last written (ledger hash).",
    ),
)


class _Reader(SingerReader):
    """singer-sdk's reader, without the traceback it logs for a line that is not JSON (the error says it), and
    with a hook for a run that fails (the target stops its workers and releases the ledger lease at once)."""

    on_failure: Callable[[], None] | None = None

    @override
    def process_lines(
        self, file_input: IO[str] | None, callbacks: dict[str, Callable[[dict[str, Any]], None]]
    ) -> Counter[str]:
        try:
            return super().process_lines(file_input, callbacks)
        except BaseException:
            if self.on_failure is not None:
                self.on_failure()
            raise

    @override
    def deserialize_json(self, line: str) -> dict[str, Any]:
        try:
            parsed: dict[str, Any] = deserialize_json(line)
        except ValueError:
            shown = line if len(line) <= 200 else f"{line[:200]}… ({len(line)} characters)"
            raise InvalidInputLine(f"an input line is not JSON: {shown.rstrip()}") from None
        return parsed


class StreamMappingError(ValueError):
    """A stream names no writable Pipedrive resource (unknown, retired or read-only), or its settings name
    columns it does not have."""


class TargetPipedrive(CompatTarget):
    """Singer target for Pipedrive."""

    name = "target-pipedrive"
    package_name = "pipedrive-singer"
    config_jsonschema = th.PropertiesList(
        *CONNECTION_SETTINGS.wrapped.values(), *TARGET_SETTINGS.wrapped.values()
    ).to_dict()
    default_sink_class = PipedriveSink
    message_reader_class = _Reader

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The writer parallelises inside a batch; sinks drain one at a time so that referenced records
        # (organizations before persons before deals) exist first.
        self.max_parallelism = 1
        self._runtime: Runtime | None = None
        self._contexts: dict[str, StreamContext] = {}
        if isinstance(self.message_reader, _Reader):
            self.message_reader.on_failure = self._abort

    def _abort(self) -> None:
        """The run failed: stop the workers and give the ledger lease up now, not when the process exits."""
        if self._runtime is not None:
            self._runtime.close()

    # --- configuration -------------------------------------------------------------------------------

    @override
    def check_config(self) -> None:
        """The connection rules (URL, TLS, credentials): a bad setting is one configuration error at start-up
        instead of a traceback at the first write. Unknown settings (a typo) are warned about."""
        try:
            ClientConfig.from_config(self.raw_config())
        except ConfigError as exc:
            raise ConfigValidationError(str(exc), errors=[str(exc)]) from None
        for line in unknown_settings(self.raw_config(), self.config_jsonschema["properties"]):
            self.logger.warning(line)

    @override
    def clean_errors(self, errors: list[str]) -> list[str]:
        """singer-sdk's errors quote the offending value, which may be a credential."""
        return mask_secrets(errors, self.raw_config())

    @override
    @classmethod
    def invoke(cls, *args: Any, **kwargs: Any) -> None:
        """Run the target; a run-level failure ends with exit code 1 and its reason on one line (the summary
        is on stderr already), not with a traceback."""
        try:
            super().invoke(*args, **kwargs)
        except (RejectedRecordsError, RunStoppedError, StreamMappingError, SingerReadError,
                RecordsWithoutSchemaException, LedgerError, BatchFileRefusedError, PipedriveError) as exc:
            cls.logger.error("Stopping: %s", str(exc).splitlines()[0])
            raise SystemExit(1) from None

    def _per_stream(self, setting: str, stream: str) -> list[str] | None:
        table: Mapping[str, Sequence[str]] = self.config.get(setting) or {}
        value = table.get(stream, table.get("*"))
        return list(value) if value is not None else None

    def resolve_resource(self, stream_name: str) -> Resource:
        """The catalogue resource a stream writes to; a clear error for unknown, retired or read-only ones."""
        mapped = (self.config.get("stream_map") or {}).get(stream_name, stream_name)
        resource = CATALOGUE.get(mapped) or next((r for r in CATALOGUE.values() if r.title == mapped), None)
        if resource is None:
            writable = ", ".join(sorted(n for n, r in CATALOGUE.items() if r.writes and not r.retired))
            msg = (
                f"stream {stream_name!r} maps to no Pipedrive resource ({mapped!r}); name the stream after one "
                f"or add it to stream_map. Writable resources: {writable}"
            )
            raise StreamMappingError(msg)
        if resource.retired:
            msg = f"stream {stream_name!r}: Pipedrive retired {resource.name!r}: {resource.retired}"
            raise StreamMappingError(msg)
        if resource.writes is None:
            msg = f"stream {stream_name!r}: Pipedrive's API offers no writes for {resource.name!r} (read-only)"
            raise StreamMappingError(msg)
        return resource

    def _replicated(self) -> frozenset[str]:
        """Resources whose ``id`` is a source id (source_key ["id"]): references to them are remapped."""
        table: Mapping[str, Sequence[str]] = self.config.get("source_key") or {}
        out: set[str] = set()
        for stream, cols in table.items():
            if list(cols) != [self.config.get("id_field") or "id"]:
                continue
            if stream == "*":
                out.update(r.name for r in CATALOGUE.values() if r.writes)
            else:
                try:
                    out.add(self.resolve_resource(stream).name)
                except ValueError:
                    continue
        return frozenset(out)

    @override
    def get_sink_class(self, stream_name: str) -> type[Sink]:
        """Refuse unknown, retired and read-only streams up front, with the reason."""
        self.resolve_resource(stream_name)
        return PipedriveSink

    @property
    def runtime(self) -> Runtime:
        """Clients, ledger and worker pool, created on first use (``--about`` needs none of it)."""
        if self._runtime is None:
            cfg = self.config
            client = PipedriveClient(ClientConfig.from_config(cfg, user_agent="target-pipedrive"))
            ledger = self._open_ledger(client)
            path = cfg.get("dead_letter_path") or "target-pipedrive-dead-letter.jsonl"
            self._runtime = Runtime(
                client,
                ledger,
                max_workers=int(cfg.get("max_workers") or 8),
                on_error="skip" if cfg.get("on_error") == "skip" else "fail",
                dead_letter=DeadLetter(Path(path)),
                dry_run=bool(cfg.get("dry_run")),
                bulk_delete_batch_size=int(cfg.get("bulk_delete_batch_size") or 100),
            )
        return self._runtime

    def _open_ledger(self, client: PipedriveClient) -> Ledger:
        """The ledger of the token's company: adopt rows written before ledgers knew the company only when they
        belong to it, take the one-writer lease, and say which ledger is in use."""
        url = str(self.config.get("ledger_url") or default_ledger_url())
        host = client.config.api_url
        company = company_of(client)
        ledger = Ledger(url, account=account_key(host, company))
        try:
            self._adopt_legacy(ledger, client, host, company)
            ledger.acquire(wait_seconds=float(self.config.get("ledger_lock_wait_seconds", 300)))
        except BaseException:
            ledger.engine.dispose()
            raise
        self.logger.info("ledger in use: %s (account %s, %d mappings)", _shown(url), ledger.account, ledger.count())
        return ledger

    def _adopt_legacy(self, ledger: Ledger, client: PipedriveClient, host: str, company: str) -> None:
        """Rows keyed by the host alone may belong to another company behind the same host (sandbox and
        production share api.pipedrive.com): adopt them only when the records they name exist here."""
        legacy = ledger.legacy_count(host)
        if not legacy:
            return
        for resource, pid in ledger.legacy_sample(host):
            res = CATALOGUE.get(resource)
            if res is None or res.is_child:
                continue
            try:
                client.request("GET", res.item_path.format(id=pid), resource=res.name)
            except PipedriveError as exc:
                if exc.status not in {400, 404, 410}:
                    raise
                msg = (
                    f"the ledger holds {legacy} mappings written for {host} before ledgers were keyed by company, "
                    f"and they name records this token's company ({company}) does not have ({resource} id {pid}): "
                    "they belong to another company, and using them would overwrite unrelated records. Run with "
                    "that company's token once (to adopt them), or give this company its own ledger_url"
                )
                raise LedgerError(msg) from None
        moved = ledger.adopt_legacy(host)
        self.logger.warning("ledger: %d mappings written before ledgers were keyed by company adopted by company "
                            "%s (their records exist there)", moved, company)

    def _check_columns(self, stream_name: str, schema: Mapping[str, Any], plan: StreamPlan) -> None:
        """``source_key``, ``match_on`` and ``references`` must name columns of the stream: a typo would
        silently create duplicates (no key, no match). Checked when the SCHEMA arrives, before any write."""
        props = set((schema or {}).get("properties") or {})
        if not props:
            return
        named = {"source_key": plan.source_key, "match_on": plan.match_on, "references": tuple(plan.links)}
        for setting, columns in named.items():
            missing = [c for c in columns if c not in props]
            if missing:
                msg = (
                    f"stream {stream_name!r}: {setting} names column{'s' if len(missing) > 1 else ''} "
                    f"{', '.join(repr(c) for c in missing)} that the stream does not have (its columns: "
                    f"{', '.join(sorted(props))}); nothing was written"
                )
                raise StreamMappingError(msg)

    def _links(self, stream_name: str) -> dict[str, str]:
        """The ``references`` of a stream: column → the resource of the stream whose source key it holds."""
        table: Mapping[str, Mapping[str, str]] = self.config.get("references") or {}
        return {column: self.resolve_resource(other).name for column, other in (table.get(stream_name) or {}).items()}

    def linked_streams(self, stream_name: str) -> set[str]:
        """Streams whose source keys this stream's reference columns hold (written before it)."""
        table: Mapping[str, Mapping[str, str]] = self.config.get("references") or {}
        return set((table.get(stream_name) or {}).values())

    def stream_context(
        self, stream_name: str, key_properties: list[str], schema: Mapping[str, Any] | None = None
    ) -> StreamContext:
        """The writer's view of a stream: resource, identity columns, match_on, delete flag."""
        resource = self.resolve_resource(stream_name)
        source_key = self._per_stream("source_key", stream_name)
        if source_key is None:
            source_key = [] if key_properties in ([], ["id"]) else key_properties
        id_field = self.config.get("id_field") or "id"
        plan = StreamPlan(
            stream=stream_name,
            resource=resource,
            source_key=tuple(source_key),
            match_on=tuple(self._per_stream("match_on", stream_name) or ()),
            id_field=None if id_field in source_key else id_field,
            delete_flag=self.config.get("delete_flag_field") or "_sdc_deleted_at",
            replicated=self._replicated(),
            skip_unchanged=self.config.get("skip_unchanged", True) is not False,
            links=self._links(stream_name),
        )
        self._check_columns(stream_name, schema or {}, plan)
        unknown: UnknownFields = "drop" if self.config.get("unknown_fields") == "drop" else "error"
        names: ColumnNames = "auto"
        if self.config.get("custom_field_names") in {"key", "name"}:
            names = self.config["custom_field_names"]
        context = StreamContext(self.runtime, plan, unknown_fields=unknown, column_names=names)
        self._contexts[stream_name] = context
        self._warn_if_new_ledger(resource)
        return context

    def _warn_if_new_ledger(self, resource: Resource) -> None:
        """A new, empty ledger meeting an account that already holds records of the stream's resource usually
        means the ledger moved (another directory, another ledger_url): every record would be created again."""
        runtime = self.runtime
        if resource.is_child or resource.fields_of or runtime.ledger.count() or resource.writes is None:
            return
        try:
            page = next(iter(runtime.client.iter_pages(
                resource.read_path, pagination=resource.pagination, params=dict(resource.read_params),
                page_limit=1, resource=resource.name,
            )), [])
        except PipedriveError:
            return
        if page:
            self.logger.warning(
                "LEDGER IS EMPTY but Pipedrive already holds %s records: if earlier runs wrote them, this run "
                "creates them again (duplicates). Point ledger_url at the ledger those runs used (now: %s), or "
                "set match_on for this stream",
                resource.name, _shown(str(self.config.get("ledger_url") or default_ledger_url())),
            )

    # --- draining ------------------------------------------------------------------------------------

    @staticmethod
    def rank_of(resource: Resource) -> int:
        """Drain order of a resource."""
        return resource_rank(resource)

    def _ordered(self, sinks: Iterable[Sink]) -> list[Sink]:
        return sorted(sinks, key=lambda s: s.rank if isinstance(s, PipedriveSink) else 1000)

    @override
    def drain_in_order(self, sinks: list[Sink]) -> None:
        """Drain in dependency order, one sink at a time (each batch is parallel inside the writer)."""
        for sink in self._ordered(sinks):
            self.drain_one(sink)

    def drain_dependencies(self, sink: PipedriveSink) -> None:
        """Before a sink writes, flush pending records of the resources it may reference (lower rank) and of
        the streams its ``references`` name."""
        linked = self.linked_streams(sink.stream_name)
        for other in self._ordered(self.active_sinks()):
            if other is sink or not isinstance(other, PipedriveSink):
                continue
            if (other.rank < sink.rank or other.stream_name in linked) and other.current_size:
                self.drain_one(other)

    # --- end of run ----------------------------------------------------------------------------------

    @override
    def process_endofpipe(self) -> None:
        """Drain everything, then report what was done (also when draining failed)."""
        try:
            super().process_endofpipe()
        finally:
            if self._runtime is not None:
                self.report()
                self._runtime.close()

    def report(self) -> None:
        """Write the summary to stderr (stdout carries Singer state) and log it as JSON."""
        runtime = self.runtime
        runtime.summary.requests = runtime.requests
        sys.stderr.write(runtime.summary.render() + "\n")
        sys.stderr.flush()
        self.logger.info("target-pipedrive summary: %s", json.dumps(runtime.summary.as_dict(), sort_keys=True))


def company_of(client: PipedriveClient) -> str:
    """The Pipedrive company behind the credentials (``GET /v1/users/me`` → ``company_id``)."""
    body = client.current_user()
    data = body.get("data") if isinstance(body, dict) else None
    company = data.get("company_id") if isinstance(data, dict) else None
    if company in (None, ""):
        msg = "GET /v1/users/me answered without a company_id: cannot tell which Pipedrive company the token is for"
        raise LedgerError(msg)
    return str(company)


def _shown(url: str) -> str:
    """A ledger URL for logs: any password replaced."""
    try:
        return sa.make_url(url).render_as_string(hide_password=True)
    except (sa.exc.ArgumentError, ValueError):  # an unparsable URL is shown by its scheme only
        return url.split("://", 1)[0] + "://…"


if __name__ == "__main__":  # pragma: no cover
    TargetPipedrive.cli()
