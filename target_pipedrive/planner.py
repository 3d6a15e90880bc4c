"""Decide, per record, what to do in Pipedrive: create, update, delete, skip or reject. No writes happen here.

The decision needs facts the record alone does not say:

* *which column is an identity*. A column holding a Pipedrive id (``id`` by default) means "update that
  record". A *source key* (the upstream stream's key properties, or the ``source_key`` setting) identifies
  the record in the source system and is mapped to a Pipedrive id through the ledger. Setting a stream's
  source key to ``["id"]`` says its ``id`` column comes from another system (another Pipedrive account in a
  round trip): it is then never sent as a Pipedrive id, and references to such records (``person_id`` in a
  deal, …) are translated through the ledger too. The ``references`` setting does the same for warehouse
  keys: a person's ``org_id`` holding an organization's ``ext_id``.
* *whether the payload changed* since the last write (ledger hash), to skip unchanged records.
* *whether a matching record already exists* (``match_on`` + search), to update it instead of creating.

Ledger facts are read once per batch (:meth:`BatchView.load`: ``lookup_many`` per resource, ``pending_keys``),
not once per record. Dry runs stop after planning, so they write nothing anywhere.
"""

from __future__ import annotations

import datetime as dt
import decimal
import enum
import hashlib
import json
import logging
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pipedrive_core.catalogue import CATALOGUE, Resource
from pipedrive_core.fields import is_custom_key
from pipedrive_core.values import digits_int
from target_pipedrive.ledger import Intent, Ledger
from target_pipedrive.ledger import Mapping as LedgerMapping
from target_pipedrive.lookup import Finder, match_terms
from target_pipedrive.translate import RecordError, Translator

logger = logging.getLogger("target_pipedrive")


def reference_columns() -> dict[str, str]:
    """Reference column → the resource its ids belong to, from the catalogue's ``referenced_as``."""
    return {column: r.name for r in CATALOGUE.values() for column in r.referenced_as}


#: foreign-key columns and the resource they point at (remapped when that resource is replicated)
REFERENCES: Mapping[str, str] = reference_columns()

#: columns of a ``files`` record holding the content: a local path, or the bytes in base64 (never sent as data)
FILE_PATH_COLUMNS = ("file_path", "path")
FILE_CONTENT_COLUMNS = ("content_base64", "file_content")

_TRUE_WORDS = frozenset({"true", "t", "yes", "y", "on", "1"})
_FALSE_WORDS = frozenset({"false", "f", "no", "n", "off"})


def delete_requested(value: Any, column: str) -> bool:  # noqa: PLR0911 - a value dispatch
    """The ``delete_flag_field`` rule: timestamps, dates and true-like values delete; false-like values, zero
    and empty values do not; anything else is an error of this record (a typo must not delete a customer)."""
    if value is None or value is False:
        return False
    if value is True or isinstance(value, (dt.datetime, dt.date)):
        return True
    if isinstance(value, (int, float, decimal.Decimal)):
        if value == 0:
            return False
        if value == 1:
            return True
    elif isinstance(value, str):
        text = value.strip()
        folded = text.casefold()
        if not text or folded in _FALSE_WORDS:
            return False
        if folded in _TRUE_WORDS:
            return True
        try:
            if decimal.Decimal(text) == 0:
                return False
        except decimal.InvalidOperation:
            pass
        try:
            dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            pass
        else:
            return True
    raise RecordError(
        f"delete flag {value!r} is neither a timestamp, a true-like value (true, yes, y, 1) nor a false-like "
        "one (false, no, n, 0, empty)",
        field=column,
    )


class OpKind(str, enum.Enum):
    """What the executor does with a record."""

    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    SKIP = "skip"
    REJECT = "reject"


def _plain(value: Any) -> Any:
    if isinstance(value, decimal.Decimal):
        return int(value) if value == int(value) else str(value)
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


def key_string(values: Sequence[Any]) -> str:
    """The ledger's text form of a source key: a JSON list (``[5]``, ``["acme", 12]``)."""
    return json.dumps([_plain(v) for v in values], separators=(",", ":"), ensure_ascii=False)


def payload_hash(body: Mapping[str, Any]) -> str:
    """Stable hash of a request body (key order and number spelling do not matter)."""
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str, ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class Identity:
    """How a record is known: its ledger key and/or a Pipedrive id, and a label for messages."""

    ledger_key: str | None
    pipedrive_id: str | None
    label: str


@dataclass
class Operation:
    """One planned write (or the reason there is none)."""

    kind: OpKind
    identity: Identity
    record: dict[str, Any]
    #: the summary outcome this operation counts as when done (created, updated, skipped_unchanged, …)
    outcome: str = ""
    body: dict[str, Any] = field(default_factory=dict)
    payload_hash: str | None = None
    pipedrive_id: str | None = None
    parent_id: str | None = None
    #: the ledger key the result is recorded under (source key, ``id:<n>`` or ``match:<terms>``)
    ledger_key: str | None = None
    #: match_on values, to recognise the record a create of unknown outcome made
    terms: dict[str, Any] | None = None
    reason: str = ""
    field: str | None = None
    #: an earlier run's create, found in Pipedrive while planning: (ledger key, id, hash) to record
    resolved_intent: tuple[str, str, str] | None = None


@dataclass(frozen=True)
class StreamPlan:
    """Per-stream decisions fixed by configuration and the upstream SCHEMA."""

    stream: str
    resource: Resource
    source_key: tuple[str, ...] = ()
    match_on: tuple[str, ...] = ()
    id_field: str | None = "id"
    delete_flag: str = "_sdc_deleted_at"
    replicated: frozenset[str] = frozenset()
    skip_unchanged: bool = True
    #: column → resource whose *source key* the column holds (the ``references`` setting)
    links: Mapping[str, str] = field(default_factory=dict)

    @property
    def ignored_columns(self) -> frozenset[str]:
        """Columns that steer the target and are never sent as data (unless they are Pipedrive fields)."""
        cols = {self.delete_flag, *self.source_key}
        if self.id_field:
            cols.add(self.id_field)
        if self.resource.parent_key and self.nested_in_path:
            cols.add(self.resource.parent_key)
        if self.resource.writes is not None and self.resource.writes.create_multipart:
            cols.update((*FILE_PATH_COLUMNS, *FILE_CONTENT_COLUMNS))
        return frozenset(cols)

    @property
    def nested_in_path(self) -> bool:
        """Whether the write paths carry the parent's id (deal products), not a body field."""
        writes = self.resource.writes
        paths = (writes.create_path, writes.update_path, writes.delete_path) if writes else ()
        return any(p and "{parent_id}" in p for p in paths)

    def translated_columns(self) -> dict[str, str]:
        """Columns whose values are source keys of another resource, translated through the ledger."""
        out = {c: r for c, r in REFERENCES.items() if r in self.replicated}
        out.update(self.links)
        return out

    def is_delete(self, record: Mapping[str, Any]) -> bool:
        """Whether the record asks for a delete (see :func:`delete_requested`)."""
        return delete_requested(record.get(self.delete_flag), self.delete_flag)

    def identity(self, record: Mapping[str, Any]) -> Identity:
        """Read the record's identity; the label names it in errors (``source key ["c-1"]``, ``id 12``)."""
        pid = record.get(self.id_field) if self.id_field else None
        pid_text = None if pid in (None, "") else str(_plain(pid))
        if self.source_key:
            values = [record.get(c) for c in self.source_key]
            if all(v is not None for v in values):
                key = key_string(values)
                return Identity(key, pid_text, f"{'/'.join(self.source_key)}={key}")
            if pid_text is None:
                missing = [c for c, v in zip(self.source_key, values, strict=True) if v is None]
                raise RecordError(f"source key column {missing[0]!r} is empty", field=missing[0])
        if pid_text is not None:
            return Identity(f"id:{pid_text}", pid_text, f"id={pid_text}")
        return Identity(None, None, "(no key)")


@dataclass
class BatchView:
    """What the ledger says about one batch, read in a few queries; updated as the batch is executed (or, in a
    dry run, as it is planned) so a second record of the same key sees the first one's result."""

    resource: str
    known: dict[str, LedgerMapping] = field(default_factory=dict)
    pending: set[str] = field(default_factory=set)
    #: (resource, source key) → Pipedrive id, for translated reference columns
    references: dict[tuple[str, str], str] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def load(
        cls, ledger: Ledger, plan: StreamPlan, records: Iterable[tuple[Mapping[str, Any], Identity]]
    ) -> BatchView:
        """One ``lookup_many`` per resource involved and one ``pending_keys``."""
        items = list(records)
        keys = sorted({i.ledger_key for _r, i in items if i.ledger_key})
        view = cls(plan.resource.name, ledger.lookup_many(plan.resource.name, keys))
        view.pending = ledger.pending_keys(plan.resource.name)
        wanted: dict[str, set[str]] = {}
        for column, resource in plan.translated_columns().items():
            for record, _identity in items:
                value = record.get(column)
                if value not in (None, ""):
                    wanted.setdefault(resource, set()).add(key_string([value]))
        for resource, values in wanted.items():
            for key, mapping in ledger.lookup_many(resource, sorted(values)).items():
                view.references[(resource, key)] = mapping.pipedrive_id
        return view

    def mapping(self, key: str | None) -> LedgerMapping | None:
        """The ledger's mapping of ``key`` as of now in this batch."""
        if key is None:
            return None
        with self._lock:
            return self.known.get(key)

    def settle(self, key: str | None, mapping: LedgerMapping | None) -> None:
        """Note the outcome of an operation for later records of the batch (``None``: deleted)."""
        if key is None:
            return
        with self._lock:
            if mapping is None:
                self.known.pop(key, None)
            else:
                self.known[key] = mapping
            self.pending.discard(key)


class Planner:
    """Turns records of one stream into operations; reads (ledger, field definitions, searches) but never
    writes."""

    def __init__(
        self,
        plan: StreamPlan,
        translator: Callable[[], Translator],
        finder: Finder,
        ledger: Ledger,
        warn_once: Callable[[str, str], None],
    ) -> None:
        self.plan = plan
        self.translator = translator
        self.finder = finder
        self.ledger = ledger
        self.warn_once = warn_once

    def reference(self, view: BatchView, column: str, value: Any) -> Any:
        """A reference column's value as this account's Pipedrive id (source keys translated)."""
        target = self.plan.translated_columns().get(column)
        if value is None or target is None:
            return value
        pid = view.references.get((target, key_string([value])))
        if pid is None:
            raise RecordError(
                f"refers to {target} {value!r} of the source, which this target has not written to Pipedrive "
                f"(load {target} first, or remove the reference with a stream map)",
                field=column,
            )
        number = digits_int(pid)
        return pid if number is None else number

    def parent_of(self, view: BatchView, record: Mapping[str, Any], mapping: LedgerMapping | None) -> str | None:
        """The parent's id of a nested record: its column, else the one the ledger recorded."""
        if not self.plan.nested_in_path:
            return None
        column = self.plan.resource.parent_key or ""
        value = record.get(column)
        if value is not None:
            return str(self.reference(view, column, value))
        if mapping is not None and mapping.parent_id:
            return mapping.parent_id
        raise RecordError(f"{self.plan.resource.name} records need {column!r} (the parent's id)", field=column)

    def decide(self, record: dict[str, Any], identity: Identity, view: BatchView) -> Operation:
        """The operation for one record; record-level problems become a REJECT."""
        try:
            if self.plan.is_delete(record):
                return self._delete(record, identity, view)
            return self._write(record, identity, view)
        except RecordError as exc:
            return Operation(OpKind.REJECT, identity, record, "rejected", reason=exc.reason, field=exc.field)

    def _known(self, identity: Identity, view: BatchView) -> tuple[LedgerMapping | None, Operation | None]:
        """The ledger's mapping, after resolving an earlier run's create of unknown outcome for the key."""
        key = identity.ledger_key
        mapping = view.mapping(key)
        if mapping is not None or key is None or key not in view.pending or identity.pipedrive_id is not None:
            return mapping, None
        intent = self.ledger.pending(self.plan.resource.name, key)
        if intent is None:
            return None, None
        found = self._reconcile(intent)
        if found is None:
            logger.info("%s %s: earlier create did not reach Pipedrive; creating it", self.plan.stream, key)
            return None, None
        logger.info("%s %s: earlier create had succeeded as id %s; not creating again", self.plan.stream, key, found)
        resolved = LedgerMapping(found, intent.payload_hash)
        view.settle(key, resolved)
        marker = Operation(OpKind.SKIP, identity, {}, resolved_intent=(key, found, intent.payload_hash))
        return resolved, marker

    def _reconcile(self, intent: Intent) -> str | None:
        translator = self.translator()
        terms = (
            match_terms(intent.payload, [translator.body_field(c) for c in self.plan.match_on])
            if self.plan.match_on else None
        )
        return self.finder.reconcile(intent.payload, intent.created_at, terms)

    def _delete(self, record: dict[str, Any], identity: Identity, view: BatchView) -> Operation:
        writes = self.plan.resource.writes
        if writes is None or writes.delete_path is None:
            raise RecordError(f"Pipedrive's API cannot delete {self.plan.resource.name} records")
        mapping, resolved = self._known(identity, view)
        pid = identity.pipedrive_id or (mapping.pipedrive_id if mapping else None)
        if pid is None:
            return Operation(OpKind.SKIP, identity, record, "skipped", reason="never written by this target",
                             ledger_key=identity.ledger_key)
        op = Operation(OpKind.DELETE, identity, record, "deleted", pipedrive_id=pid,
                       parent_id=self.parent_of(view, record, mapping), ledger_key=identity.ledger_key)
        op.resolved_intent = resolved.resolved_intent if resolved else None
        return op

    def _write(self, record: dict[str, Any], identity: Identity, view: BatchView) -> Operation:
        plan, res = self.plan, self.plan.resource
        if res.fields_of and not _is_custom_field_record(record):
            return Operation(OpKind.SKIP, identity, record, "skipped", reason="built-in field")
        translator = self.translator()
        # references hold source keys: the Pipedrive ids they stand for are what gets translated and typed
        linked = {c: self.reference(view, c, record[c]) for c in plan.translated_columns() if c in record}
        payload = translator.translate({**record, **linked} if linked else record)
        mapping, resolved = self._known(identity, view)
        parent = self.parent_of(view, record, mapping)
        update_body = translator.body(payload, create=False)
        digest = payload_hash({"parent": parent, **update_body})
        pid = identity.pipedrive_id or (mapping.pipedrive_id if mapping else None)
        lkey = identity.ledger_key or (f"id:{pid}" if pid else None)
        intent = resolved.resolved_intent if resolved else None

        def make(kind: OpKind, outcome: str, body: dict[str, Any] | None = None, target: str | None = None,
                 key: str | None = None, *, terms: dict[str, Any] | None = None) -> Operation:
            return Operation(kind, identity, record, outcome, body or {}, digest, target, parent, key, terms,
                             resolved_intent=intent)

        if pid is not None:
            if plan.skip_unchanged and mapping is not None and mapping.payload_hash == digest:
                return make(OpKind.SKIP, "skipped_unchanged", target=pid, key=lkey)
            return make(OpKind.UPDATE, "updated", update_body, pid, lkey)
        create_body = translator.body(payload, create=True)
        terms: dict[str, Any] | None = None
        if plan.match_on:
            terms = match_terms(create_body, [translator.body_field(c) for c in plan.match_on])
            lkey = lkey or "match:" + key_string(list(terms.values()))
            found = self.finder.find(terms, what=f"match_on {', '.join(plan.match_on)}")
            if found is not None:
                return make(OpKind.UPDATE, "updated", update_body, found, lkey)
        if lkey is None:
            self.warn_once(
                f"nokey:{plan.stream}",
                f"stream {plan.stream!r} has no source key and no match_on: reruns will create its records "
                "again; set source_key or match_on for this stream",
            )
        return make(OpKind.CREATE, "created", create_body, None, lkey, terms=terms)


def _is_custom_field_record(record: Mapping[str, Any]) -> bool:
    """Whether a ``*_fields`` record describes a custom field (built-in ones cannot be written)."""
    key = record.get("key") or record.get("field_code")
    if isinstance(key, str) and key:
        return is_custom_key(key)
    flag = record.get("is_custom_field", record.get("edit_flag"))
    return flag is not False
