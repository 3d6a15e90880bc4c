"""The ledger: what this target has already written, so reruns neither duplicate nor repeat work.

Pipedrive has no upsert and no idempotency keys, so "exactly once" has to be built on our side. Three facts are
kept per destination account (``account`` = the API host, never a credential):

* ``tp_map``: source key → Pipedrive id, plus the hash of the payload last written. A record whose payload
  hash is unchanged is skipped, which saves the calls a replayed stream would otherwise cost.
* ``tp_journal``: an intent row written (and committed) *before* each create's POST, holding a client-generated
  marker and the payload. It is removed in the same transaction that records the new id. An intent still
  present on the next run means the outcome of that POST is unknown (crash, timeout after commit): the
  planner then searches Pipedrive for the record before creating it again.

SQLAlchemy Core keeps the store portable: a local SQLite file by default, PostgreSQL (or anything SQLAlchemy
speaks) for shared, durable ledgers.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import uuid
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

DEFAULT_LEDGER_URL = "sqlite:///.target-pipedrive-ledger.sqlite"

_metadata = sa.MetaData()

MAP = sa.Table(
    "tp_map",
    _metadata,
    sa.Column("account", sa.String(255), primary_key=True),
    sa.Column("resource", sa.String(64), primary_key=True),
    sa.Column("source_key", sa.String(512), primary_key=True),
    sa.Column("pipedrive_id", sa.String(64), nullable=False),
    sa.Column("payload_hash", sa.String(64), nullable=True),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)

JOURNAL = sa.Table(
    "tp_journal",
    _metadata,
    sa.Column("account", sa.String(255), primary_key=True),
    sa.Column("resource", sa.String(64), primary_key=True),
    sa.Column("source_key", sa.String(512), primary_key=True),
    sa.Column("marker", sa.String(36), nullable=False),
    sa.Column("payload", sa.Text, nullable=False),
    sa.Column("payload_hash", sa.String(64), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)


@dataclass(frozen=True)
class Mapping:
    """What the ledger knows about one source key."""

    pipedrive_id: str
    payload_hash: str | None


@dataclass(frozen=True)
class Intent:
    """A create whose outcome is not known yet."""

    resource: str
    source_key: str
    marker: str
    payload: dict[str, Any]
    payload_hash: str
    created_at: dt.datetime


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _aware(value: dt.datetime) -> dt.datetime:
    """SQLite returns naive datetimes; everything stored is UTC."""
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)


class Ledger:
    """Thread-safe access to the map and the create journal of one destination account."""

    def __init__(self, url: str, *, account: str) -> None:
        self.url = url
        self.account = account
        kwargs: dict[str, Any] = {"future": True}
        if url.startswith("sqlite"):
            # Worker threads share the engine; SQLite serialises writers itself, the lock below avoids
            # "database is locked" churn, and a generous timeout covers a concurrent second process.
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
        self.engine = sa.create_engine(url, **kwargs)
        self._sqlite = url.startswith("sqlite")
        self._lock = threading.RLock()
        if self._sqlite:
            sa.event.listen(self.engine, "connect", _sqlite_pragmas)
        _metadata.create_all(self.engine)

    def close(self) -> None:
        """Release the connection pool."""
        self.engine.dispose()

    def _write(self) -> Any:
        """A transaction; serialised for SQLite, where concurrent writers would only wait on each other."""
        return _Serialised(self._lock if self._sqlite else None, self.engine)

    # --- map ---------------------------------------------------------------------------------------

    def lookup(self, resource: str, source_key: str) -> Mapping | None:
        """The Pipedrive id and last payload hash recorded for ``source_key``, if any."""
        query = sa.select(MAP.c.pipedrive_id, MAP.c.payload_hash).where(
            MAP.c.account == self.account, MAP.c.resource == resource, MAP.c.source_key == source_key
        )
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        return Mapping(str(row[0]), row[1]) if row else None

    def lookup_many(self, resource: str, source_keys: list[str]) -> dict[str, Mapping]:
        """Bulk :meth:`lookup`, so planning a batch costs one query per few hundred keys."""
        found: dict[str, Mapping] = {}
        for start in range(0, len(source_keys), 500):
            chunk = source_keys[start : start + 500]
            query = sa.select(MAP.c.source_key, MAP.c.pipedrive_id, MAP.c.payload_hash).where(
                MAP.c.account == self.account, MAP.c.resource == resource, MAP.c.source_key.in_(chunk)
            )
            with self.engine.connect() as conn:
                for key, pid, phash in conn.execute(query):
                    found[str(key)] = Mapping(str(pid), phash)
        return found

    def _upsert_map(self, conn: sa.Connection, resource: str, source_key: str, pid: str, phash: str | None) -> None:
        where = (MAP.c.account == self.account) & (MAP.c.resource == resource) & (MAP.c.source_key == source_key)
        values = {"pipedrive_id": pid, "payload_hash": phash, "updated_at": _now()}
        if conn.execute(sa.update(MAP).where(where).values(**values)).rowcount == 0:
            conn.execute(
                sa.insert(MAP).values(account=self.account, resource=resource, source_key=source_key, **values)
            )

    def record(self, resource: str, source_key: str, pipedrive_id: str, payload_hash: str | None) -> None:
        """Remember ``source_key`` → ``pipedrive_id`` and the payload just written; settles any intent."""
        with self._write() as conn:
            self._upsert_map(conn, resource, source_key, str(pipedrive_id), payload_hash)
            conn.execute(
                sa.delete(JOURNAL).where(
                    JOURNAL.c.account == self.account,
                    JOURNAL.c.resource == resource,
                    JOURNAL.c.source_key == source_key,
                )
            )

    def forget(self, resource: str, source_key: str) -> None:
        """Drop the mapping of a deleted record (a later record with the same key creates a new one)."""
        with self._write() as conn:
            conn.execute(
                sa.delete(MAP).where(
                    MAP.c.account == self.account, MAP.c.resource == resource, MAP.c.source_key == source_key
                )
            )

    def forget_id(self, resource: str, pipedrive_id: str) -> None:
        """Drop every mapping to ``pipedrive_id`` (the record was deleted or no longer exists)."""
        with self._write() as conn:
            conn.execute(
                sa.delete(MAP).where(
                    MAP.c.account == self.account,
                    MAP.c.resource == resource,
                    MAP.c.pipedrive_id == str(pipedrive_id),
                )
            )

    def is_mapped(self, resource: str, pipedrive_id: str) -> bool:
        """Whether some source key already maps to ``pipedrive_id`` (so it is not a stray create of ours)."""
        query = sa.select(MAP.c.source_key).where(
            MAP.c.account == self.account, MAP.c.resource == resource, MAP.c.pipedrive_id == str(pipedrive_id)
        )
        with self.engine.connect() as conn:
            return conn.execute(query.limit(1)).first() is not None

    def count(self, resource: str | None = None) -> int:
        """Number of mappings (tests and summaries)."""
        query = sa.select(sa.func.count()).select_from(MAP).where(MAP.c.account == self.account)
        if resource:
            query = query.where(MAP.c.resource == resource)
        with self.engine.connect() as conn:
            return int(conn.execute(query).scalar_one())

    # --- journal -----------------------------------------------------------------------------------

    def begin_create(
        self, resource: str, source_key: str, payload: dict[str, Any], payload_hash: str,
        created_at: dt.datetime | None = None,
    ) -> str:
        """Journal a create before its POST; returns the marker. An older intent for the key is replaced.
        ``created_at`` is the attempt's time by Pipedrive's clock (default: the local clock)."""
        marker = str(uuid.uuid4())
        where = (
            (JOURNAL.c.account == self.account)
            & (JOURNAL.c.resource == resource)
            & (JOURNAL.c.source_key == source_key)
        )
        with self._write() as conn:
            conn.execute(sa.delete(JOURNAL).where(where))
            conn.execute(
                sa.insert(JOURNAL).values(
                    account=self.account,
                    resource=resource,
                    source_key=source_key,
                    marker=marker,
                    payload=json.dumps(payload, sort_keys=True, default=str),
                    payload_hash=payload_hash,
                    created_at=created_at or _now(),
                )
            )
        return marker

    def abandon_create(self, resource: str, source_key: str, marker: str) -> None:
        """Remove an intent whose POST was definitely refused (a 4xx: nothing was created)."""
        with self._write() as conn:
            conn.execute(
                sa.delete(JOURNAL).where(
                    JOURNAL.c.account == self.account,
                    JOURNAL.c.resource == resource,
                    JOURNAL.c.source_key == source_key,
                    JOURNAL.c.marker == marker,
                )
            )

    def pending(self, resource: str, source_key: str) -> Intent | None:
        """The unresolved create intent for ``source_key``, if a previous run left one."""
        query = sa.select(JOURNAL).where(
            JOURNAL.c.account == self.account, JOURNAL.c.resource == resource, JOURNAL.c.source_key == source_key
        )
        with self.engine.connect() as conn:
            row = conn.execute(query).mappings().first()
        if row is None:
            return None
        return Intent(
            resource=row["resource"],
            source_key=row["source_key"],
            marker=row["marker"],
            payload=json.loads(row["payload"]),
            payload_hash=row["payload_hash"],
            created_at=_aware(row["created_at"]),
        )

    def pending_keys(self, resource: str) -> set[str]:
        """Source keys with an unresolved intent (one query per batch instead of one per record)."""
        query = sa.select(JOURNAL.c.source_key).where(
            JOURNAL.c.account == self.account, JOURNAL.c.resource == resource
        )
        with self.engine.connect() as conn:
            return {str(k) for (k,) in conn.execute(query)}


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    """WAL + synchronous=NORMAL: commits survive a killed process (what the crash tests check) at a
    fraction of the fsync cost of the default rollback journal."""
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


class _Serialised:
    """``with`` helper: optional process lock + ``engine.begin()``."""

    def __init__(self, lock: threading.RLock | None, engine: sa.Engine) -> None:
        self._lock = lock
        self._engine = engine
        self._ctx: Any = None

    def __enter__(self) -> sa.Connection:
        if self._lock is not None:
            self._lock.acquire()
        try:
            self._ctx = self._engine.begin()
            conn: sa.Connection = self._ctx.__enter__()
            return conn
        except BaseException:
            if self._lock is not None:
                self._lock.release()
            raise

    def __exit__(self, *exc: Any) -> None:
        try:
            self._ctx.__exit__(*exc)
        finally:
            if self._lock is not None:
                self._lock.release()
