"""Running batches: plan each record (:mod:`~target_pipedrive.planner`), execute the operations
(:mod:`~target_pipedrive.executor`) on a worker pool, and apply the on_error policy.

Throughput comes from concurrency, not batching (Pipedrive has no bulk create or update): ``max_workers``
threads share one :class:`~pipedrive_core.http.PipedriveSession`, whose process-wide rate limiter spaces the
calls to the account's burst budget, so at 100–300 ms latency the pool keeps the budget busy.

Ordering: all records of one key go to one task that plans and executes them in order, so two versions of a
record never race; different keys run in parallel. A batch is a barrier: every write of a batch has finished
before the next batch (and before the SDK emits state). A dry run plans every record the same way and
executes nothing: no request that writes, no ledger row, no dead letter.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Mapping
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, Literal

from pipedrive_core.catalogue import Resource
from pipedrive_core.fields import FieldDef
from pipedrive_core.http import PipedriveClient
from pipedrive_core.http.errors import PipedriveError
from target_pipedrive.deadletter import DeadLetter
from target_pipedrive.executor import Executor, create_client, is_record_error
from target_pipedrive.ledger import Ledger
from target_pipedrive.ledger import Mapping as LedgerMapping
from target_pipedrive.lookup import FieldCache, Finder
from target_pipedrive.planner import BatchView, Identity, Operation, OpKind, Planner, StreamPlan, key_string
from target_pipedrive.summary import Summary
from target_pipedrive.translate import ColumnNames, RecordError, Translator, UnknownFields

logger = logging.getLogger("target_pipedrive")

#: key under which the sink stashes a schema-validation failure in a record
REJECT_MARK = "__tp_rejected__"


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


class StreamContext:
    """Everything the writer needs for one stream: its plan, translator, finder, planner and executor."""

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
        self.planner = Planner(plan, self.translator, self.finder, runtime.ledger, runtime.warn_once)
        self.executor = Executor(
            self.resource, runtime.client, runtime.create_client, runtime.ledger, self.finder, runtime.fields,
            now=runtime.client.session.server_clock.now, create_attempts=runtime.create_attempts,
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


Item = tuple[dict[str, Any], Identity]


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
        self.create_client = create_client(client)
        self.ledger = ledger
        self.fields = FieldCache(client)
        self.summary = Summary(dry_run=dry_run)
        self.dead_letter = dead_letter
        self.on_error = on_error
        self.dry_run = dry_run
        self.bulk_delete_batch_size = max(1, bulk_delete_batch_size)
        self.create_attempts = max(1, create_attempts)
        self.max_workers = max(1, max_workers)
        self.pool = ThreadPoolExecutor(max_workers=self.max_workers, thread_name_prefix="pipedrive-writer")
        self.stop = threading.Event()
        self._warned: set[str] = set()
        self._warn_lock = threading.Lock()

    # --- bookkeeping ---------------------------------------------------------------------------------

    @property
    def requests(self) -> int:
        """Requests sent by this run (retries included)."""
        return self.client.session.stats.total + self.create_client.session.stats.total

    def close(self) -> None:
        """Stop the pool and release resources (the ledger's lease included); idempotent."""
        self.stop.set()
        self.pool.shutdown(wait=True, cancel_futures=True)
        self.ledger.close()
        if self.dead_letter:
            self.dead_letter.close()

    def warn_once(self, key: str, message: str) -> None:
        """Log ``message`` the first time ``key`` is seen."""
        with self._warn_lock:
            if key in self._warned:
                return
            self._warned.add(key)
        logger.warning(message)

    def progress(self, stream: str, before: Counter[str]) -> None:
        """One line after each batch: what it did, the run's totals, and rate-limit waits so far."""
        now = self.summary.totals_by_outcome()
        batch = {k: now[k] - before.get(k, 0) for k in now if now[k] - before.get(k, 0)}
        limiter = self.client.session.limiter
        statuses = self.client.session.stats.by_status + self.create_client.session.stats.by_status
        logger.info(
            "%s batch%s: %s | run so far: %s | rate-limit waits %d (%.1f s), 429 answers %d, requests %d",
            stream, " (dry run)" if self.dry_run else "",
            ", ".join(f"{k} {v}" for k, v in batch.items()) or "nothing",
            ", ".join(f"{k} {v}" for k, v in now.items() if v) or "nothing",
            limiter.throttle_count, limiter.waited_seconds, statuses.get(429, 0), self.requests,
        )

    # --- batches -------------------------------------------------------------------------------------

    def run_batch(self, ctx: StreamContext, records: list[dict[str, Any]]) -> None:
        """Plan and write one batch; raise when the run must stop (``on_error: fail`` or a run-level error)."""
        before = Counter(self.summary.totals_by_outcome())
        rejections: list[Rejection] = []
        items = self._identify(ctx.plan, records, rejections)
        view = BatchView.load(self.ledger, ctx.plan, items)
        for segment in _segments(ctx.plan, items):
            self._run_segment(ctx, segment, view, rejections)
        self._settle(rejections)
        self.progress(ctx.plan.stream, before)

    def _identify(self, plan: StreamPlan, records: list[dict[str, Any]], rejections: list[Rejection]) -> list[Item]:
        items: list[Item] = []
        for record in records:
            label = "(no key)"
            try:
                identity = plan.identity(record)
                label = identity.label
                if REJECT_MARK in record:
                    mark = record.pop(REJECT_MARK)
                    raise RecordError(str(mark["reason"]), field=mark.get("field"))
                plan.is_delete(record)  # an unreadable delete flag rejects the record here
            except RecordError as exc:
                rejections.append(_rejection_from(plan, label, record, exc))
                continue
            items.append((record, identity))
        return items

    def _run_segment(
        self, ctx: StreamContext, segment: list[Item], view: BatchView, rejections: list[Rejection]
    ) -> None:
        chains: dict[str, list[Item]] = {}
        deletes: list[Item] = []
        for n, (record, identity) in enumerate(segment):
            if ctx.plan.is_delete(record):
                deletes.append((record, identity))
                continue
            chain = identity.ledger_key or identity.pipedrive_id
            if chain is None and ctx.plan.match_on:
                chain = "m:" + key_string([record.get(c) for c in ctx.plan.match_on])
            chains.setdefault(chain or f"#{n}", []).append((record, identity))
        self._gather([self.pool.submit(self._run_chain, ctx, chain, view) for chain in chains.values()], rejections)
        if deletes:
            self._gather(self._submit_deletes(ctx, deletes, view, rejections), rejections)

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
            if self.dead_letter is not None and not self.dry_run:
                self.dead_letter.write(
                    stream=rejection.stream, key=rejection.key, reason=rejection.reason, record=rejection.record,
                    field=rejection.field, status=rejection.status,
                )
        rejections.clear()
        self.summary.requests = self.requests
        if fatal is not None:
            self.summary.stopped_reason = str(fatal)
            raise RunStoppedError(f"{fatal}\n{self.summary.render()}") from fatal
        if self.on_error == "fail" and self.summary.total("rejected") and not self.dry_run:
            self.stop.set()
            raise RejectedRecordsError(
                f"{self.summary.total('rejected')} record(s) rejected and on_error is 'fail'; the run stopped "
                f"after finishing its current batch (set on_error: skip to send rejects to the dead-letter "
                f"file and carry on)\n{self.summary.render()}"
            )

    # --- creates and updates -------------------------------------------------------------------------

    def _run_chain(self, ctx: StreamContext, chain: list[Item], view: BatchView) -> list[Rejection]:
        out: list[Rejection] = []
        for record, identity in chain:
            if self.stop.is_set():
                break
            try:
                op = ctx.planner.decide(record, identity, view)  # may search Pipedrive (match_on, open intents)
                self._execute(ctx, op, view)
            except Exception as exc:
                if not is_record_error(exc):
                    raise
                out.append(_rejection_from(ctx.plan, identity.label, record, exc))
                continue
            if op.kind is OpKind.REJECT:
                out.append(Rejection(ctx.plan.stream, identity.label, op.reason, record, op.field))
                continue
            self.summary.add(ctx.plan.stream, op.outcome)
        return out

    def _execute(self, ctx: StreamContext, op: Operation, view: BatchView) -> None:
        if op.kind is OpKind.REJECT:
            return
        if self.dry_run:
            if op.kind in {OpKind.CREATE, OpKind.UPDATE}:
                self.summary.sample(op.kind.value, {"stream": ctx.plan.stream, "key": op.identity.label,
                                                    "id": op.pipedrive_id, "body": op.body})
                view.settle(op.ledger_key, _planned(op))
            return
        if op.kind is OpKind.SKIP:
            ctx.executor.settle_intent(op)
            return
        ctx.executor.write(op, view, ctx.plan.id_field)

    # --- deletes -------------------------------------------------------------------------------------

    def _submit_deletes(
        self, ctx: StreamContext, deletes: list[Item], view: BatchView, rejections: list[Rejection]
    ) -> list[Future[list[Rejection]]]:
        plan = ctx.plan
        targets: list[Operation] = []
        for record, identity in deletes:
            try:
                op = ctx.planner.decide(record, identity, view)
            except PipedriveError as exc:  # reconciling an open intent searched Pipedrive and was refused
                if not is_record_error(exc):
                    raise
                rejections.append(_rejection_from(plan, identity.label, record, exc))
                continue
            if op.kind is OpKind.REJECT:
                rejections.append(Rejection(plan.stream, identity.label, op.reason, record, op.field))
            elif op.kind is OpKind.SKIP:
                self.summary.add(plan.stream, op.outcome)
                logger.info("%s %s: nothing to delete (%s)", plan.stream, identity.label, op.reason)
            else:
                targets.append(op)
        if self.dry_run:
            for op in targets:
                self.summary.add(plan.stream, "deleted")
                self.summary.sample("delete", {"stream": plan.stream, "key": op.identity.label, "id": op.pipedrive_id})
            return []
        writes = ctx.resource.writes
        if writes is not None and writes.bulk_delete_path and writes.bulk_delete_max:
            size = min(self.bulk_delete_batch_size, writes.bulk_delete_max)
            by_parent: dict[str | None, list[Operation]] = {}
            for op in targets:
                by_parent.setdefault(op.parent_id, []).append(op)
            return [
                self.pool.submit(self._bulk_delete, ctx, group[start : start + size], view)
                for group in by_parent.values()
                for start in range(0, len(group), size)
            ]
        return [self.pool.submit(self._delete_each, ctx, [op], view) for op in targets]

    def _bulk_delete(self, ctx: StreamContext, ops: list[Operation], view: BatchView) -> list[Rejection]:
        if self.stop.is_set():
            return []
        deleted, gone, refused = ctx.executor.bulk_delete(ops, view)
        self.summary.add(ctx.plan.stream, "deleted", deleted)
        self.summary.add(ctx.plan.stream, "already_gone", gone)
        return self._delete_each(ctx, refused, view) if refused else []

    def _delete_each(self, ctx: StreamContext, ops: list[Operation], view: BatchView) -> list[Rejection]:
        out: list[Rejection] = []
        for op in ops:
            if self.stop.is_set():
                break
            try:
                outcome = ctx.executor.delete_one(op, view)
            except PipedriveError as exc:
                if not is_record_error(exc):
                    raise
                out.append(_rejection_from(ctx.plan, op.identity.label, op.record, exc))
                continue
            self.summary.add(ctx.plan.stream, outcome)
        return out


def _planned(op: Operation) -> LedgerMapping:
    """The mapping a dry run pretends an operation left, so later records of the key plan as updates."""
    return LedgerMapping(op.pipedrive_id or "(planned)", op.payload_hash, op.parent_id)


def _segments(plan: StreamPlan, items: list[Item]) -> list[list[Item]]:
    """Split so that a key deleted and then written again in one batch keeps that order."""
    segments: list[list[Item]] = [[]]
    deleted: set[str] = set()
    for record, identity in items:
        chain = identity.ledger_key or identity.pipedrive_id
        is_delete = plan.is_delete(record)
        if chain and not is_delete and chain in deleted:
            segments.append([])
            deleted.clear()
        if chain and is_delete:
            deleted.add(chain)
        segments[-1].append((record, identity))
    return [s for s in segments if s]


def resource_rank(resource: Resource) -> int:
    """Drain order: the catalogue's ``write_rank`` (field definitions first, then what others refer to)."""
    return resource.write_rank if resource.write_rank is not None else 1000
