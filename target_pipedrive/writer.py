"""Executing planned writes: a worker pool sharing one rate-limited session, per-key ordering, the create
journal, bulk deletes, and the on_error policy.

Throughput comes from concurrency, not batching (Pipedrive has no bulk create or update): ``max_workers``
threads share one :class:`~pipedrive_core.http.PipedriveSession`, whose process-wide rate limiter spaces the
calls to the account's burst budget, so at 100–300 ms latency the pool keeps the budget busy. There is no
global lock around HTTP calls.

Ordering: all records of one key go to one task that applies them in order, so two versions of a record never
race; different keys run in parallel. A batch is a barrier: every write of a batch has finished before the
next batch (and before the SDK emits state).

Creates are the dangerous verb: a POST whose answer is lost may or may not have created the record. Creates
therefore go through a session that never blindly retries ambiguous failures (timeouts, 5xx, broken
bodies); instead the writer looks the record up (:meth:`Finder.reconcile`) and only posts again when
Pipedrive does not have it. The ledger journals the intent before the POST so a crash is reconciled on the
next run the same way.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import logging
import threading
import time
from collections.abc import Mapping
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, Literal

import requests

from pipedrive_core.catalogue import Resource
from pipedrive_core.fields import FieldDef, is_custom_key
from pipedrive_core.http import PipedriveClient, PipedriveSession, RetryPolicy
from pipedrive_core.http.errors import (
    GoneError,
    InvalidResponseError,
    NotFoundError,
    OAuthError,
    PipedriveError,
    RateLimitedError,
    ServerError,
    TransportError,
)
from target_pipedrive.deadletter import DeadLetter
from target_pipedrive.ledger import Ledger
from target_pipedrive.lookup import FieldCache, Finder, match_terms
from target_pipedrive.planner import REFERENCES, Identity, StreamPlan, key_string, payload_hash
from target_pipedrive.summary import Summary
from target_pipedrive.translate import ColumnNames, RecordError, Translator, UnknownFields

logger = logging.getLogger("target_pipedrive")

#: key under which the sink stashes a schema-validation failure in a record
REJECT_MARK = "__tp_rejected__"
#: HTTP statuses that condemn one record, not the run
RECORD_STATUSES = frozenset({400, 404, 409, 422})
#: ambiguous outcomes of a POST: the record may exist although we got no answer
AMBIGUOUS = (TransportError, ServerError, InvalidResponseError)


class ServerClock:
    """Pipedrive's current time, from the ``Date`` header of its latest answer plus the time elapsed since.

    Reconciling a create of unknown outcome lists the records Pipedrive changed since the attempt, by
    Pipedrive's timestamps: the local clock may be off by more than the lookup's margin.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seen: tuple[dt.datetime, float] | None = None

    def observe(self, response: requests.Response, *args: Any, **kwargs: Any) -> requests.Response:
        """A ``requests`` response hook."""
        value = response.headers.get("Date")
        if value:
            try:
                moment = email.utils.parsedate_to_datetime(value)
            except (TypeError, ValueError):
                return response
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=dt.timezone.utc)
            with self._lock:
                self._seen = (moment, time.monotonic())
        return response

    def now(self) -> dt.datetime:
        """Pipedrive's time now (the local clock until an answer told it)."""
        with self._lock:
            seen = self._seen
        if seen is None:
            return dt.datetime.now(dt.timezone.utc)
        moment, at = seen
        return moment + dt.timedelta(seconds=time.monotonic() - at)


class CreatePolicy(RetryPolicy):
    """Retry a POST only when Pipedrive certainly did not act on it (429 rate limiting)."""

    def should_retry(self, exc: BaseException) -> bool:
        return isinstance(exc, RateLimitedError)


class RejectedRecordsError(RuntimeError):
    """``on_error: fail`` and at least one record was rejected; the message carries the summary."""


class RunStoppedError(RuntimeError):
    """A run-level failure (spent daily budget, bad credentials, retired endpoint) stopped the writes."""


@dataclass
class Rejection:
    """One record that could not be written, with everything a user needs to fix it."""

    stream: str
    key: str
    reason: str
    record: dict[str, Any]
    field: str | None = None
    status: int | None = None

    def message(self) -> str:
        """``stream persons key email=["a@b.c"] field 'label': reason``."""
        where = f" field {self.field!r}" if self.field else ""
        status = f" (HTTP {self.status})" if self.status else ""
        return f"stream {self.stream!r} key {self.key}{where}: {self.reason}{status}"


def _rejection_from(plan: StreamPlan, label: str, record: dict[str, Any], exc: Exception) -> Rejection:
    if isinstance(exc, RecordError):
        return Rejection(plan.stream, label, exc.reason, record, exc.field)
    assert isinstance(exc, PipedriveError)
    detail = "; ".join(p for p in (exc.error, exc.error_info) if p) or exc.message
    return Rejection(plan.stream, label, f"Pipedrive refused the write: {detail}", record, None, exc.status)


def _is_record_error(exc: BaseException) -> bool:
    # OAuthError: the token endpoint's 400 (invalid_grant) condemns the credentials, not the record.
    return isinstance(exc, RecordError) or (
        isinstance(exc, PipedriveError)
        and exc.status in RECORD_STATUSES
        and not isinstance(exc, GoneError | OAuthError)
    )


class StreamContext:
    """Everything the writer needs for one stream: its plan, translator, finder."""

    def __init__(
        self, runtime: Runtime, plan: StreamPlan, *, unknown_fields: UnknownFields, column_names: ColumnNames
    ) -> None:
        self.runtime = runtime
        self.plan = plan
        self.resource: Resource = plan.resource
        self.unknown_fields = unknown_fields
        self.column_names = column_names
        self._lock = threading.Lock()
        self._translator: Translator | None = None
        self._version = -1
        self.finder = Finder(
            runtime.client, self.resource, self.fields, lambda pid: runtime.ledger.is_mapped(self.resource.name, pid)
        )

    def fields(self) -> Mapping[str, FieldDef]:
        """The destination account's custom-field definitions for this resource."""
        return self.runtime.fields.get(self.resource)

    def translator(self) -> Translator:
        """The translator, rebuilt when field definitions were re-read."""
        with self._lock:
            if self._translator is None or self._version != self.runtime.fields.version:
                self._version = self.runtime.fields.version
                self._translator = Translator(
                    self.resource,
                    fields=self.fields(),
                    unknown_fields=self.unknown_fields,
                    column_names=self.column_names,
                    ignore=self.plan.ignored_columns,
                )
            return self._translator


class Runtime:
    """One per run: HTTP clients, ledger, field cache, worker pool, summary and dead letters."""

    def __init__(
        self,
        client: PipedriveClient,
        ledger: Ledger,
        *,
        max_workers: int = 8,
        on_error: Literal["fail", "skip"] = "fail",
        dead_letter: DeadLetter | None = None,
        dry_run: bool = False,
        bulk_delete_batch_size: int = 100,
        create_attempts: int = 4,
    ) -> None:
        self.client = client
        session = client.session
        create_session = PipedriveSession(
            client.config,
            limiter=session.limiter,
            policy=CreatePolicy(
                max_attempts=session.policy.max_attempts,
                base_delay=session.policy.base_delay,
                max_delay=session.policy.max_delay,
                sleep=session.policy.sleep,
            ),
        )
        # One credential holder for both sessions: with OAuth, Pipedrive may rotate the refresh token on each
        # refresh and revoke the old one, so a second holder of the original token would be refused.
        create_session.auth_handler = session.auth_handler
        self.create_client = PipedriveClient(client.config, session=create_session)
        #: Pipedrive's time, for "changed since" lookups against Pipedrive's own timestamps
        self.server_clock = ServerClock()
        for each in (session, create_session):
            each.hooks["response"].append(self.server_clock.observe)
        self.ledger = ledger
        self.fields = FieldCache(client)
        self.summary = Summary(dry_run=dry_run)
        self.dead_letter = dead_letter
        self.on_error = on_error
        self.dry_run = dry_run
        self.bulk_delete_batch_size = max(1, bulk_delete_batch_size)
        self.create_attempts = max(1, create_attempts)
        self.max_workers = max(1, max_workers)
        self.executor = ThreadPoolExecutor(max_workers=self.max_workers, thread_name_prefix="pipedrive-writer")
        self.stop = threading.Event()
        self._warned: set[str] = set()

    # --- bookkeeping ---------------------------------------------------------------------------------

    @property
    def requests(self) -> int:
        """Requests sent by this run (retries included)."""
        return self.client.session.stats.total + self.create_client.session.stats.total

    def close(self) -> None:
        """Stop the pool and release resources."""
        self.executor.shutdown(wait=True, cancel_futures=True)
        self.ledger.close()
        if self.dead_letter:
            self.dead_letter.close()

    def _warn_once(self, key: str, message: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            logger.warning(message)

    # --- batches -------------------------------------------------------------------------------------

    def run_batch(self, ctx: StreamContext, records: list[dict[str, Any]]) -> None:
        """Write one batch; raise when the run must stop (``on_error: fail`` or a run-level error)."""
        rejections: list[Rejection] = []
        for segment in self._segments(ctx.plan, records, rejections):
            self._run_segment(ctx, segment, rejections)
        self._settle(rejections)

    def _segments(
        self, plan: StreamPlan, records: list[dict[str, Any]], rejections: list[Rejection]
    ) -> list[list[tuple[dict[str, Any], Identity]]]:
        """Split so that a key deleted and then written again in one batch keeps that order."""
        segments: list[list[tuple[dict[str, Any], Identity]]] = [[]]
        deleted: set[str] = set()
        for record in records:
            label = "(no key)"
            try:
                identity = plan.identity(record)
                label = identity.label
                if REJECT_MARK in record:
                    mark = record.pop(REJECT_MARK)
                    raise RecordError(str(mark["reason"]), field=mark.get("field"))
            except RecordError as exc:
                rejections.append(_rejection_from(plan, label, record, exc))
                continue
            chain = identity.ledger_key or identity.pipedrive_id
            if chain and not plan.is_delete(record) and chain in deleted:
                segments.append([])
                deleted.clear()
            if chain and plan.is_delete(record):
                deleted.add(chain)
            segments[-1].append((record, identity))
        return [s for s in segments if s]

    def _run_segment(
        self, ctx: StreamContext, segment: list[tuple[dict[str, Any], Identity]], rejections: list[Rejection]
    ) -> None:
        chains: dict[str, list[tuple[dict[str, Any], Identity]]] = {}
        deletes: list[tuple[dict[str, Any], Identity]] = []
        for n, (record, identity) in enumerate(segment):
            if ctx.plan.is_delete(record):
                deletes.append((record, identity))
                continue
            chain = identity.ledger_key or identity.pipedrive_id
            if chain is None and ctx.plan.match_on:
                chain = "m:" + key_string([record.get(c) for c in ctx.plan.match_on])
            chains.setdefault(chain or f"#{n}", []).append((record, identity))
        self._gather([self.executor.submit(self._run_chain, ctx, chain) for chain in chains.values()], rejections)
        if deletes:
            self._gather(self._submit_deletes(ctx, deletes, rejections), rejections)

    def _gather(self, futures: list[Future[list[Rejection]]], rejections: list[Rejection]) -> None:
        done, _ = wait(futures, return_when=FIRST_EXCEPTION)
        failure = next((f.exception() for f in done if f.exception() is not None), None)
        if failure is not None:
            self.stop.set()
            wait(futures)  # let in-flight writes finish; queued chains see the stop flag and return
        for future in futures:
            if future.exception() is None:
                rejections.extend(future.result())
        if failure is not None:
            self._settle(rejections, fatal=failure)

    def _settle(self, rejections: list[Rejection], fatal: BaseException | None = None) -> None:
        for rejection in rejections:
            logger.error("rejected: %s", rejection.message())
            self.summary.add(rejection.stream, "rejected")
            if self.dead_letter is not None:
                self.dead_letter.write(
                    stream=rejection.stream, key=rejection.key, reason=rejection.reason, record=rejection.record,
                    field=rejection.field, status=rejection.status,
                )
        rejections.clear()
        self.summary.requests = self.requests
        if fatal is not None:
            self.summary.stopped_reason = str(fatal)
            raise RunStoppedError(f"{fatal}\n{self.summary.render()}") from fatal
        if self.on_error == "fail" and self.summary.total("rejected"):
            self.stop.set()
            raise RejectedRecordsError(
                f"{self.summary.total('rejected')} record(s) rejected and on_error is 'fail'; the run stopped "
                f"after finishing its current batch (set on_error: skip to send rejects to the dead-letter "
                f"file and carry on)\n{self.summary.render()}"
            )

    def _run_chain(self, ctx: StreamContext, chain: list[tuple[dict[str, Any], Identity]]) -> list[Rejection]:
        out: list[Rejection] = []
        for record, identity in chain:
            if self.stop.is_set():
                break
            try:
                outcome = self.write_one(ctx, record, identity)
            except Exception as exc:
                if not _is_record_error(exc):
                    raise
                out.append(_rejection_from(ctx.plan, identity.label, record, exc))
                continue
            self.summary.add(ctx.plan.stream, outcome)
        return out

    # --- one record ----------------------------------------------------------------------------------

    def remap(self, ctx: StreamContext, column: str, value: Any) -> Any:
        """Translate a reference to a replicated resource from its source id to this account's id."""
        target = REFERENCES.get(column)
        if value is None or target is None or target not in ctx.plan.replicated:
            return value
        mapping = self.ledger.lookup(target, key_string([value]))
        if mapping is None:
            raise RecordError(
                f"refers to {target} id {value} of the source, which this target has not written to Pipedrive "
                f"(load {target} first, or remove the reference with a stream map)",
                field=column,
            )
        return int(mapping.pipedrive_id) if mapping.pipedrive_id.isdigit() else mapping.pipedrive_id

    def write_one(self, ctx: StreamContext, record: dict[str, Any], identity: Identity) -> str:
        """Create, update or skip one record; returns the summary outcome."""
        res, plan = ctx.resource, ctx.plan
        if res.fields_of and not _is_custom_field_record(record):
            return "skipped"  # built-in fields cannot be created or changed
        translator = ctx.translator()
        payload = translator.translate(record)
        for column in list(payload.builtin):
            payload.builtin[column] = self.remap(ctx, column, payload.builtin[column])
        parent = plan.parent_id(record, lambda c, v: self.remap(ctx, c, v))
        pid, lkey = identity.pipedrive_id, identity.ledger_key
        found_pid, last_hash = self._known(ctx, identity)
        pid = pid or found_pid
        update_body = translator.body(payload, create=False)
        digest = payload_hash({"parent": parent, **update_body})
        if pid is not None:
            if plan.skip_unchanged and last_hash == digest:
                return "skipped_unchanged"
            self._update(ctx, pid, parent, update_body, record)
            if not self.dry_run:
                self.ledger.record(res.name, lkey or f"id:{pid}", pid, digest)
            return "updated"
        create_body = translator.body(payload, create=True)
        terms: dict[str, Any] | None = None
        if plan.match_on:
            terms = match_terms(create_body, [translator.body_field(c) for c in plan.match_on])
            lkey = lkey or "match:" + key_string(list(terms.values()))
            found = ctx.finder.find(terms, what=f"match_on {', '.join(plan.match_on)}")
            if found is not None:
                self._update(ctx, found, parent, update_body, record)
                if not self.dry_run:
                    self.ledger.record(res.name, lkey, found, digest)
                return "updated"
        return self._create_new(
            ctx, identity, lkey=lkey, parent=parent, body=create_body, digest=digest, terms=terms
        )

    def _create_new(
        self,
        ctx: StreamContext,
        identity: Identity,
        *,
        lkey: str | None,
        parent: str | None,
        body: dict[str, Any],
        digest: str,
        terms: Mapping[str, Any] | None,
    ) -> str:
        """Journal the intent, POST, record the new id; a definite refusal withdraws the intent."""
        res, plan = ctx.resource, ctx.plan
        if lkey is None:
            self._warn_once(
                f"nokey:{plan.stream}",
                f"stream {plan.stream!r} has no source key and no match_on: reruns will create its records "
                "again; set source_key or match_on for this stream",
            )
        if self.dry_run:
            self.summary.sample("create", {"stream": plan.stream, "key": identity.label, "body": body})
            return "created"
        since = self.server_clock.now()
        marker = self.ledger.begin_create(res.name, lkey, body, digest, created_at=since) if lkey else None
        try:
            new_id, data = self._create(ctx, parent, self._fields_body(ctx, body, None), since, terms)
        except Exception as exc:
            # Only a definite refusal proves nothing was created; an ambiguous failure keeps the intent so
            # the next run reconciles it.
            if marker is not None and lkey is not None and _is_record_error(exc):
                self.ledger.abandon_create(res.name, lkey, marker)
            raise
        if lkey is not None:
            self.ledger.record(res.name, lkey, new_id, digest)
        if data:
            ctx.finder.remember(data)
        self._after_write(ctx)
        return "created"

    def _known(self, ctx: StreamContext, identity: Identity) -> tuple[str | None, str | None]:
        """The Pipedrive id and last payload hash the ledger holds for a record (reconciling a lost create)."""
        if identity.ledger_key is None:
            return None, None
        mapping = self.ledger.lookup(ctx.resource.name, identity.ledger_key)
        if mapping is not None:
            return mapping.pipedrive_id, mapping.payload_hash
        if identity.pipedrive_id is None:
            return self._reconcile_intent(ctx, identity.ledger_key)
        return None, None

    def _reconcile_intent(self, ctx: StreamContext, lkey: str) -> tuple[str | None, str | None]:
        """A previous run journaled a create for this key but never learned its outcome: look it up."""
        intent = self.ledger.pending(ctx.resource.name, lkey)
        if intent is None:
            return None, None
        translator = ctx.translator()
        terms = (
            match_terms(intent.payload, [translator.body_field(c) for c in ctx.plan.match_on])
            if ctx.plan.match_on else None
        )
        found = ctx.finder.reconcile(intent.payload, intent.created_at, terms)
        if found is None:
            logger.info("%s %s: earlier create did not reach Pipedrive; creating it", ctx.plan.stream, lkey)
            return None, None
        logger.info("%s %s: earlier create had succeeded as id %s; not creating again", ctx.plan.stream, lkey, found)
        if not self.dry_run:
            self.ledger.record(ctx.resource.name, lkey, found, intent.payload_hash)
        return found, intent.payload_hash

    def _update(
        self, ctx: StreamContext, pid: str, parent: str | None, body: dict[str, Any], record: Mapping[str, Any]
    ) -> None:
        res = ctx.resource
        writes = res.writes
        if writes is None or writes.update_path is None:
            raise RecordError(f"Pipedrive's API cannot update {res.name} records")
        if self.dry_run:
            self.summary.sample("update", {"stream": ctx.plan.stream, "id": pid, "body": body})
            return
        path = writes.update_path.format(id=pid, parent_id=parent)
        try:
            self.client.request(
                writes.update_method.value, path, json_body=self._fields_body(ctx, body, pid), resource=res.name
            )
        except NotFoundError:
            self.ledger.forget_id(res.name, pid)
            raise RecordError(
                f"Pipedrive has no {res.name} record with id {pid} (deleted in Pipedrive?); "
                "its ledger mapping was dropped, so a rerun of a source-keyed record creates it again",
                field=ctx.plan.id_field if pid == str(record.get(ctx.plan.id_field or "")) else None,
            ) from None
        self._after_write(ctx)

    def _create(
        self,
        ctx: StreamContext,
        parent: str | None,
        body: dict[str, Any],
        since: dt.datetime,
        terms: Mapping[str, Any] | None,
    ) -> tuple[str, dict[str, Any] | None]:
        """POST, and on an ambiguous failure look the record up before posting again."""
        res = ctx.resource
        if res.writes is None or res.writes.create_path is None:
            raise RecordError(f"Pipedrive's API cannot create {res.name} records")
        path = res.writes.create_path.format(parent_id=parent)
        policy = self.client.session.policy
        for attempt in range(1, self.create_attempts + 1):
            try:
                envelope = self.create_client.request("POST", path, json_body=body, resource=res.name)
            except AMBIGUOUS as exc:
                logger.warning("%s: create outcome unknown (%s); checking Pipedrive before retrying", res.name, exc)
                found = ctx.finder.reconcile(body, since, terms)
                if found is not None:
                    logger.info("%s: the create had succeeded as id %s", res.name, found)
                    return found, None
                if attempt == self.create_attempts:
                    raise
                policy.sleep(policy.delay(attempt, exc))
                continue
            data = envelope.get("data") if isinstance(envelope, dict) else None
            if not isinstance(data, dict) or data.get("id") is None:
                raise PipedriveError("create answered without an id", method="POST", resource=res.name)
            return str(data["id"]), data
        raise AssertionError("unreachable")  # pragma: no cover

    def _fields_body(self, ctx: StreamContext, body: dict[str, Any], pid: str | None) -> dict[str, Any]:
        """Field definitions: option ids of another account mean nothing here; match options by label."""
        if not ctx.resource.fields_of or not isinstance(body.get("options"), list):
            return body
        labels = [str(o.get("label")) if isinstance(o, Mapping) else str(o) for o in body["options"]]
        existing: dict[str, int] = {}
        if pid is not None:
            current = ctx.finder.get(pid) or {}
            existing = {
                str(o.get("label")): int(o["id"]) for o in current.get("options") or [] if isinstance(o, Mapping)
            }
        options = [{"id": existing[lbl], "label": lbl} if lbl in existing else {"label": lbl} for lbl in labels]
        return {**body, "options": options}

    def _after_write(self, ctx: StreamContext) -> None:
        if ctx.resource.fields_of:
            self.fields.invalidate(ctx.resource.name)

    # --- deletes -------------------------------------------------------------------------------------

    def _submit_deletes(
        self, ctx: StreamContext, deletes: list[tuple[dict[str, Any], Identity]], rejections: list[Rejection]
    ) -> list[Future[list[Rejection]]]:
        res, plan = ctx.resource, ctx.plan
        writes = res.writes
        targets: list[tuple[dict[str, Any], Identity, str, str | None]] = []
        for record, identity in deletes:
            try:
                if writes is None or writes.delete_path is None:
                    raise RecordError(f"Pipedrive's API cannot delete {res.name} records")
                pid = identity.pipedrive_id
                if pid is None and identity.ledger_key is not None:
                    mapping = self.ledger.lookup(res.name, identity.ledger_key)
                    pid = mapping.pipedrive_id if mapping else None
                if pid is None:
                    self.summary.add(plan.stream, "skipped")
                    logger.info("%s %s: nothing to delete (never written by this target)", plan.stream, identity.label)
                    continue
                parent = plan.parent_id(record, lambda c, v: self.remap(ctx, c, v))
            except RecordError as exc:
                rejections.append(_rejection_from(plan, identity.label, record, exc))
                continue
            targets.append((record, identity, pid, parent))
        if self.dry_run:
            for _record, identity, pid, _parent in targets:
                self.summary.add(plan.stream, "deleted")
                self.summary.sample("delete", {"stream": plan.stream, "key": identity.label, "id": pid})
            return []
        futures: list[Future[list[Rejection]]] = []
        if writes is not None and writes.bulk_delete_path and writes.bulk_delete_max:
            size = min(self.bulk_delete_batch_size, writes.bulk_delete_max)
            by_parent: dict[str | None, list[tuple[dict[str, Any], Identity, str, str | None]]] = {}
            for item in targets:
                by_parent.setdefault(item[3], []).append(item)
            for group in by_parent.values():
                for start in range(0, len(group), size):
                    futures.append(self.executor.submit(self._bulk_delete, ctx, group[start : start + size]))
        else:
            futures = [self.executor.submit(self._delete_chunk, ctx, [item]) for item in targets]
        return futures

    def _bulk_delete(
        self, ctx: StreamContext, items: list[tuple[dict[str, Any], Identity, str, str | None]]
    ) -> list[Rejection]:
        """``DELETE <path>?ids=1,2,3``; if Pipedrive refuses the batch, fall back to one by one to find who."""
        if self.stop.is_set():
            return []
        res = ctx.resource
        assert res.writes is not None
        assert res.writes.bulk_delete_path is not None
        path = res.writes.bulk_delete_path.format(parent_id=items[0][3])
        ids = ",".join(pid for _r, _i, pid, _p in items)
        try:
            self.client.request("DELETE", path, params={"ids": ids}, resource=res.name)
        except PipedriveError as exc:
            if not _is_record_error(exc):
                raise
            logger.warning("%s: bulk delete refused (%s); deleting one by one", res.name, exc)
            return self._delete_chunk(ctx, items)
        for _record, identity, pid, _parent in items:
            self._forget(ctx, identity, pid)
        self.summary.add(ctx.plan.stream, "deleted", len(items))
        self._after_write(ctx)
        return []

    def _delete_chunk(
        self, ctx: StreamContext, items: list[tuple[dict[str, Any], Identity, str, str | None]]
    ) -> list[Rejection]:
        out: list[Rejection] = []
        res = ctx.resource
        assert res.writes is not None
        assert res.writes.delete_path is not None
        for record, identity, pid, parent in items:
            if self.stop.is_set():
                break
            try:
                self.client.request(
                    "DELETE", res.writes.delete_path.format(id=pid, parent_id=parent), resource=res.name
                )
            except NotFoundError:
                logger.info("%s %s: id %s was already gone", ctx.plan.stream, identity.label, pid)
            except PipedriveError as exc:
                if not _is_record_error(exc):
                    raise
                out.append(_rejection_from(ctx.plan, identity.label, record, exc))
                continue
            self._forget(ctx, identity, pid)
            self.summary.add(ctx.plan.stream, "deleted")
            self._after_write(ctx)
        return out

    def _forget(self, ctx: StreamContext, identity: Identity, pid: str) -> None:
        if identity.ledger_key is not None:
            self.ledger.forget(ctx.resource.name, identity.ledger_key)
        self.ledger.forget_id(ctx.resource.name, pid)


def _is_custom_field_record(record: Mapping[str, Any]) -> bool:
    """Whether a ``*_fields`` record describes a custom field (built-in ones cannot be written)."""
    key = record.get("key") or record.get("field_code")
    if isinstance(key, str) and key:
        return is_custom_key(key)
    flag = record.get("is_custom_field", record.get("edit_flag"))
    return flag is not False


def resource_rank(resource: Resource) -> int:
    """Drain order: field definitions, then what others refer to, then the referring records."""
    order = ["pipelines", "stages", "users", "roles", "teams", "organizations", "persons", "products",
             "deals", "leads", "projects", "tasks", "activities", "notes"]
    if resource.fields_of:
        return 0
    if resource.parent:
        return 100 + order.index(resource.parent) if resource.parent in order else 150
    return 10 + order.index(resource.name) if resource.name in order else 50
