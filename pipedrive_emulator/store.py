"""The in-memory account: one :class:`Table` per catalogue resource, plus custom-field definitions.

Records are stored in the shape the resource's *read* version answers (v2 entities in v2 shape with ISO
timestamps and a ``custom_fields`` object; v1 resources in v1 shape), with bookkeeping kept outside the
public dict in :class:`Row`. v1 renderings of v2 entities are derived on the fly (see ``shapes.py``), so v1
and v2 reads of one record always agree. Serialized bytes are cached per row and dropped on every write.

Tests mutate data through :class:`Store` (``update`` bumps ``update_time`` from the clock, so the change shows
up in ``updated_since`` reads and in ``/v1/recents``).
"""

from __future__ import annotations

import copy
import json
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, Literal, TypeVar

from pipedrive_core.catalogue import CATALOGUE, Resource

from .clock import Clock, parse_any

T = TypeVar("T")

TimeStyle = Literal["v1", "iso", "iso_ms"]
Key = int | str

#: Where each resource keeps its "last changed" timestamp (``None``: the resource has none). Written from the
#: OpenAPI documents by hand, not derived from the catalogue or the tap's schemas: the emulator cross-checks them.
UPDATE_FIELD: dict[str, str | None] = {
    "users": "modified",
    "currencies": None,
    "lead_sources": None,
    "deal_participants": None,
    "deal_followers": None,
    "person_followers": None,
    "organization_followers": None,
    "product_followers": None,
    "user_followers": None,
    "deal_permitted_users": None,
    "deal_flow": None,
    "person_flow": None,
    "organization_flow": None,
    "roles": None,
    "webhooks": None,
    "goals": None,
    "teams": None,
    "call_logs": None,
    "mail_threads": "update_time",
    "permission_sets": None,
    "permission_set_assignments": None,
    "product_variations": None,
    "deal_installments": None,
    "goal_results": None,
    "deal_changelog": None,
    "person_changelog": None,
    "organization_changelog": None,
}

#: entities whose field changes are logged for ``/v1/{entity}/{id}/changelog``, and where
CHANGELOG: dict[str, str] = {"deals": "deal_changelog", "persons": "person_changelog",
                             "organizations": "organization_changelog"}
#: fields that change on every write and are not part of a record's field history
UNLOGGED = frozenset({"update_time", "is_deleted", "status", "custom_fields"})

#: Timestamp style per resource, where it differs from the catalogue's ``timestamp_style``.
STYLE_OVERRIDE: dict[str, TimeStyle] = {"projects": "iso_ms", "tasks": "iso_ms"}

#: v2 entities are soft-deleted: hidden from lists, kept (``is_deleted``) for 30 days.
SOFT_DELETE = frozenset({"deals", "persons", "organizations", "activities", "products", "pipelines", "stages"})
DELETED_RETENTION_S = 30 * 86400


_FORMATS = {"v1": "%Y-%m-%d %H:%M:%S", "iso": "%Y-%m-%dT%H:%M:%SZ", "iso_ms": "%Y-%m-%dT%H:%M:%S.000Z"}


def fmt(style: TimeStyle, epoch: float | None) -> str | None:
    """Format ``epoch`` the way a resource of ``style`` writes timestamps."""
    if epoch is None:
        return None
    return time.strftime(_FORMATS[style], time.gmtime(epoch))


class Row:
    """One record plus what the emulator needs to serve it quickly and correctly.

    ``ut`` is the update time (epoch) used for sorting, filters and recents; ``cache`` holds serialized
    renderings until the next write.
    """

    __slots__ = ("cache", "data", "deleted_at", "key", "parent", "seq", "ut")

    def __init__(self, key: Key, data: dict[str, Any], seq: int, ut: int | None = None,
                 parent: Key | None = None) -> None:
        self.key = key
        self.data = data
        self.seq = seq
        self.ut = ut
        self.parent = parent
        self.deleted_at: int | None = None
        self.cache: dict[Any, bytes] = {}


class Table:
    """The rows of one resource, ordered by insertion, with cached sort indexes."""

    def __init__(self, resource: Resource) -> None:
        self.resource = resource
        self.name = resource.name
        self.rows: dict[Key, Row] = {}
        self.by_parent: dict[Key, dict[Key, None]] = {}
        self.update_field = UPDATE_FIELD.get(resource.name, "update_time")
        self.style: TimeStyle = STYLE_OVERRIDE.get(resource.name, resource.timestamp_style)
        self.version = 0
        self._seq = 0
        self._next_id = 1
        self._index: dict[str, tuple[int, list[tuple[Any, int, Key]]]] = {}
        self._values: dict[str, tuple[int, dict[Key, Any]]] = {}
        self._lock = threading.RLock()

    # -- ids ------------------------------------------------------------------------------------
    def next_id(self) -> int:
        """The next integer id (ids are never reused, as in Pipedrive)."""
        with self._lock:
            value = self._next_id
            self._next_id += 1
            return value

    # -- writes ---------------------------------------------------------------------------------
    def load(self, key: Key, data: dict[str, Any], ut: int | None, parent: Key | None = None) -> None:
        """Seeding fast path: append a new row without locking (the server is not running yet)."""
        self._seq += 1
        self.rows[key] = Row(key, data, self._seq, ut, parent)
        if parent is not None:
            children = self.by_parent.get(parent)
            if children is None:
                children = self.by_parent[parent] = {}
            children[key] = None
        if isinstance(key, int) and key >= self._next_id:
            self._next_id = key + 1
        self.version += 1

    def put(self, key: Key, data: dict[str, Any], *, ut: int | None, parent: Key | None = None) -> Row:
        """Insert or replace a row (no timestamp logic: callers decide)."""
        with self._lock:
            if isinstance(key, int) and key >= self._next_id:
                self._next_id = key + 1
            old = self.rows.get(key)
            if old is None:
                self._seq += 1
                row = Row(key, data, self._seq, ut, parent)
                self.rows[key] = row
                if parent is not None:
                    self.by_parent.setdefault(parent, {})[key] = None
            else:
                row = old
                row.data, row.ut, row.parent = data, ut, parent
                row.cache = {}
            self.version += 1
            return row

    def changed(self, row: Row) -> None:
        """Drop caches after an in-place change of ``row``."""
        with self._lock:
            row.cache = {}
            self.version += 1

    def remove(self, key: Key) -> Row | None:
        """Hard-delete a row."""
        with self._lock:
            row = self.rows.pop(key, None)
            if row is not None:
                self.version += 1
                if row.parent is not None:
                    self.by_parent.get(row.parent, {}).pop(key, None)
            return row

    # -- reads ----------------------------------------------------------------------------------
    def get(self, key: Any) -> Row | None:
        """A row by key, deleted or not (``None`` and unknown keys give ``None``)."""
        return self.rows.get(key)

    def ordered(self, sort_by: str = "id") -> list[tuple[Any, int, Key]]:
        """``(sort value, seq, key)`` ascending, cached until the next write.

        ``id`` sorts integer keys numerically and other keys by insertion; ``update_time`` and ``add_time``
        sort nulls first. Cursors remember a position in this order, not an offset, so they stay stable
        while records change.
        """
        return self._per_version(self._index, sort_by, lambda rows: sorted(
            (self._sort_value(r, sort_by), r.seq, r.key) for r in rows))

    def sort_values(self, sort_by: str) -> dict[Key, Any]:
        """Each row's sort value (as :meth:`ordered` compares them) by key, cached until the next write: a v1
        ``sort`` on a time column parses every row's timestamp once per version of the table, not per request."""
        return self._per_version(self._values, sort_by, lambda rows: {r.key: self._sort_value(r, sort_by)
                                                                       for r in rows})

    def _per_version(self, cache: dict[str, tuple[int, T]], sort_by: str, build: Callable[[list[Row]], T]) -> T:
        """``build(rows)`` for this version of the table, kept in ``cache`` until the next write."""
        cached = cache.get(sort_by)
        if cached is not None and cached[0] == self.version:
            return cached[1]
        with self._lock:
            version = self.version
            rows = list(self.rows.values())
        value = build(rows)
        cache[sort_by] = (version, value)
        return value

    def _sort_value(self, row: Row, sort_by: str) -> Any:
        if sort_by == "id":
            return row.key if isinstance(row.key, int) else row.seq
        if sort_by == "update_time":
            return -1 if row.ut is None else row.ut
        value = row.data.get(sort_by)
        if value is None:
            return -1
        if isinstance(value, str) and sort_by.endswith("time"):
            return parse_any(value)
        return value

    def children(self, parent: Key) -> list[Row]:
        """Rows of one parent, in insertion order."""
        keys = list(self.by_parent.get(parent, {}))
        return [self.rows[k] for k in keys if k in self.rows]

    def __iter__(self) -> Iterator[Row]:
        return iter([self.rows[k] for _, _, k in self.ordered("id") if k in self.rows])

    def __len__(self) -> int:
        return len(self.rows)


class Store:
    """Every table of the account and the clock that stamps writes; the tests' handle on the data."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.tables: dict[str, Table] = {r.name: Table(r) for r in CATALOGUE.values() if r.retired is None}
        self.lock = threading.RLock()
        #: (entity, field key) → field definition row key, filled by the seeder
        self.on_change: list[Callable[[str, Row], None]] = []
        #: file id → the bytes ``GET /v1/files/{id}/download`` serves (seeded; uploads add theirs here)
        self.contents: dict[Key, bytes] = {}

    def table(self, name: str) -> Table:
        """The table of resource ``name`` (KeyError for unknown or retired resources)."""
        return self.tables[name]

    # -- read helpers for tests -------------------------------------------------------------------
    def records(self, name: str, *, include_deleted: bool = False) -> list[dict[str, Any]]:
        """Deep copies of the stored records of ``name`` (stored shape), id order."""
        return [
            copy.deepcopy(r.data)
            for r in self.tables[name]
            if include_deleted or r.deleted_at is None
        ]

    def get(self, name: str, key: Key) -> dict[str, Any] | None:
        """A deep copy of one stored record, or ``None``."""
        row = self.tables[name].get(key)
        return None if row is None else copy.deepcopy(row.data)

    # -- writes -----------------------------------------------------------------------------------
    def now_text(self, table: Table) -> str | None:
        """The clock's now in the table's timestamp style."""
        return fmt(table.style, self.clock.epoch())

    def touch(self, table: Table, row: Row) -> None:
        """Stamp ``row`` as changed now (update_time from the clock) and drop its caches."""
        now = self.clock.epoch()
        if table.update_field is not None:
            row.data[table.update_field] = fmt(table.style, now)
            row.ut = now
        table.changed(row)

    def insert(self, name: str, data: dict[str, Any], *, parent: Key | None = None) -> dict[str, Any]:
        """Create a record now: assigns an id when missing and stamps add/update times."""
        table = self.tables[name]
        key_field = table.resource.key
        with self.lock:
            if data.get(key_field) is None:
                data[key_field] = table.next_id()
            now = self.clock.epoch()
            stamp = fmt(table.style, now)
            for name_ in ("add_time",):
                if name_ in _time_fields(table) and data.get(name_) is None:
                    data[name_] = stamp
            ut = None
            if table.update_field is not None:
                data[table.update_field] = stamp
                ut = now
            row = table.put(data[key_field], data, ut=ut, parent=parent)
        self._notify(name, row)
        return data

    def update(self, name: str, key: Key, changes: dict[str, Any]) -> dict[str, Any]:
        """Merge ``changes`` into a record and bump its update time from the clock."""
        table = self.tables[name]
        with self.lock:
            row = table.get(key)
            if row is None:
                raise KeyError(f"{name} {key!r} does not exist")
            self._log_changes(name, row, changes)
            for field_name, value in changes.items():
                if field_name == "custom_fields" and isinstance(value, dict):
                    merged = dict(row.data.get("custom_fields") or {})
                    merged.update(value)
                    row.data["custom_fields"] = merged
                else:
                    row.data[field_name] = value
            self.touch(table, row)
        self._notify(name, row)
        return row.data

    def delete(self, name: str, key: Key, *, hard: bool = False) -> bool:
        """Delete a record: v2 entities are soft-deleted (``is_deleted``) unless ``hard``; True if found."""
        table = self.tables[name]
        with self.lock:
            row = table.get(key)
            if row is None or (row.deleted_at is not None and not hard):
                return False
            if name in SOFT_DELETE and not hard:
                row.deleted_at = self.clock.epoch()
                row.data["is_deleted"] = True
                if name == "deals":
                    row.data["status"] = "deleted"
                self.touch(table, row)
            else:
                table.remove(key)
        self._notify(name, row)
        return True

    def set_null_update_time(self, name: str, key: Key) -> None:
        """Make a record's update time null (such records never appear in ``/v1/recents``)."""
        table = self.tables[name]
        row = table.rows[key]
        if table.update_field is not None:
            row.data[table.update_field] = None
        row.ut = None
        table.changed(row)

    def maybe_purge(self) -> None:
        """Purge expired soft deletes when the clock moved on by an hour or more since the last purge."""
        now = self.clock.epoch()
        if now - getattr(self, "_last_purge", 0) >= 3600:
            self._last_purge = now
            self.purge_expired()

    def purge_expired(self) -> None:
        """Forget soft-deleted rows older than 30 days (Pipedrive deletes them permanently)."""
        limit = self.clock.epoch() - DELETED_RETENTION_S
        for name in SOFT_DELETE:
            table = self.tables[name]
            for row in list(table.rows.values()):
                if row.deleted_at is not None and row.deleted_at < limit:
                    table.remove(row.key)

    # -- field history and file contents ----------------------------------------------------------
    def log_change(self, table_name: str, row: Row, field_key: str, *, old: Any, new: Any, when: int,
                   actor: int | None = None, seeding: bool = False) -> None:
        """Append one field-history entry of ``row`` (v1 changelog shape: values as text)."""
        table = self.tables[table_name]
        entry = {"field_key": field_key, "old_value": _as_text(old), "new_value": _as_text(new),
                 "actor_user_id": actor or int(row.data.get("owner_id") or 1), "time": fmt("v1", when),
                 "change_source": "app" if seeding else "api", "change_source_user_agent": None,
                 "is_bulk_update_flag": False}
        if seeding:
            table.load(table.next_id(), entry, None, row.key)
        else:
            table.put(table.next_id(), entry, ut=None, parent=row.key)

    def _log_changes(self, name: str, row: Row, changes: dict[str, Any]) -> None:
        table_name = CHANGELOG.get(name)
        if table_name is None:
            return
        now = self.clock.epoch()
        for field_name, value in changes.items():
            if field_name not in UNLOGGED and row.data.get(field_name) != value:
                self.log_change(table_name, row, field_name, old=row.data.get(field_name), new=value, when=now)

    def set_content(self, file_id: Key, body: bytes) -> None:
        """Store the bytes of file ``file_id`` (seeding and uploads)."""
        self.contents[file_id] = body

    def content(self, file_id: Key) -> bytes | None:
        """The bytes of file ``file_id``, or ``None``."""
        return self.contents.get(file_id)

    def _notify(self, name: str, row: Row) -> None:
        for callback in self.on_change:
            callback(name, row)

    # -- custom-field definitions -----------------------------------------------------------------
    def field_table(self, entity: str) -> Table:
        """The ``*_fields`` table describing ``entity`` (``deals`` → ``deal_fields``)."""
        res = CATALOGUE[entity]
        fields_name = res.fields_resource or f"{entity.rstrip('s')}_fields"
        return self.tables[fields_name]

    def field_defs(self, entity: str, *, custom_only: bool = False) -> list[dict[str, Any]]:
        """The field definitions (v1 shape) of ``entity``, in order."""
        return [
            r.data for r in self.field_table(entity)
            if r.deleted_at is None and (not custom_only or r.data.get("edit_flag"))
        ]

    def field_by_key(self, entity: str, key: str) -> dict[str, Any] | None:
        """One field definition of ``entity`` by its key (40-hex for custom fields)."""
        for data in self.field_defs(entity):
            if data["key"] == key:
                return data
        return None

    def rename_field(self, entity: str, key: str, name: str) -> dict[str, Any]:
        """Rename a (custom) field, as a user does in Pipedrive's settings; keys never change."""
        table = self.field_table(entity)
        for row in table:
            if row.data["key"] == key:
                row.data["name"] = name
                self.touch(table, row)
                return row.data
        raise KeyError(f"{entity} has no field {key!r}")

    def add_option(self, entity: str, key: str, label: str) -> int:
        """Add an option to an enum/set field and return its new (account-unique) id."""
        table = self.field_table(entity)
        with self.lock:
            for row in table:
                if row.data["key"] == key:
                    options = row.data.get("options")
                    if options is None:
                        raise ValueError(f"field {key!r} of {entity} has no options")
                    new_id = self.next_option_id()
                    options.append({"id": new_id, "label": label})
                    self.touch(table, row)
                    return new_id
        raise KeyError(f"{entity} has no field {key!r}")

    def next_option_id(self) -> int:
        """Option ids are unique across the account."""
        with self.lock:
            self._option_seq = getattr(self, "_option_seq", 1000) + 1
            return self._option_seq


def _as_text(value: Any) -> str | None:
    """Changelog values are text (numbers too); objects are JSON."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value, separators=(",", ":"))


def _time_fields(table: Table) -> frozenset[str]:
    # every resource with an update time also has an add time, except users (``created``)
    return frozenset({"add_time"}) if table.update_field == "update_time" else frozenset()
