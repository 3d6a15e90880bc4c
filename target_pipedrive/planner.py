"""Decide, per record, what to do in Pipedrive: create, update, delete or skip.

The decision needs three things the record alone does not say:

* *which column is an identity*. A column holding a Pipedrive id (``id`` by default) means "update that
  record". A *source key* (the upstream stream's key properties, or the ``source_key`` setting) identifies
  the record in the source system and is mapped to a Pipedrive id through the ledger. Setting a stream's
  source key to ``["id"]`` says its ``id`` column comes from another system (another Pipedrive account in a
  round trip): it is then never sent as a Pipedrive id, and references to such records (``person_id`` in a
  deal, …) are translated through the ledger too.
* *whether the payload changed* since the last write (ledger hash), to skip unchanged records.
* *whether a matching record already exists* (``match_on`` + search), to update it instead of creating.
"""

from __future__ import annotations

import decimal
import enum
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pipedrive_core.catalogue import Resource
from target_pipedrive.translate import RecordError

#: foreign-key columns and the resource they point at (remapped when that resource is replicated)
REFERENCES: Mapping[str, str] = {
    "person_id": "persons",
    "org_id": "organizations",
    "organization_id": "organizations",
    "rel_owner_org_id": "organizations",
    "rel_linked_org_id": "organizations",
    "deal_id": "deals",
    "stage_id": "stages",
    "pipeline_id": "pipelines",
    "product_id": "products",
    "lead_id": "leads",
    "activity_id": "activities",
    "project_id": "projects",
    "task_id": "tasks",
    "parent_task_id": "tasks",
    "parent_role_id": "roles",
}

_FALSY = (None, False, 0, "", "0", "false", "False", "FALSE")


class OpKind(str, enum.Enum):
    """What the writer does with a record."""

    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    SKIP = "skip"


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
    """One planned write."""

    kind: OpKind
    identity: Identity
    body: dict[str, Any] = field(default_factory=dict)
    payload_hash: str | None = None
    pipedrive_id: str | None = None
    reason: str = ""
    matched: bool = False


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

    @property
    def ignored_columns(self) -> frozenset[str]:
        """Columns that steer the target and are never sent as data (unless they are Pipedrive fields)."""
        cols = {self.delete_flag, *self.source_key}
        if self.id_field:
            cols.add(self.id_field)
        if self.resource.parent_key:
            cols.add(self.resource.parent_key)
        return frozenset(cols)

    def is_delete(self, record: Mapping[str, Any]) -> bool:
        """Whether the record asks for a delete (``_sdc_deleted_at`` set, or the configured flag truthy)."""
        return record.get(self.delete_flag) not in _FALSY

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

    def parent_id(self, record: Mapping[str, Any], remap: Any) -> str | None:
        """The parent's Pipedrive id for nested resources (deal products live under a deal)."""
        if not self.resource.parent_key:
            return None
        value = record.get(self.resource.parent_key)
        if value is None:
            raise RecordError(
                f"{self.resource.name} records need {self.resource.parent_key!r} (the parent's id)",
                field=self.resource.parent_key,
            )
        return str(remap(self.resource.parent_key, value))
