"""The ledger: what this target has already written, so reruns neither duplicate nor repeat work.

Pipedrive has no upsert and no idempotency keys, so "exactly once" has to be built on our side. These facts are
kept per destination account: ``account`` is the API host *and* the Pipedrive company behind the token
(``<host>#<company_id>``, from ``GET /v1/users/me``), never a credential. A sandbox and a production company share
``api.pipedrive.com``; keyed by host alone, one company's mappings would steer writes into the other's records.

* ``tp_map``: source key → Pipedrive id, plus the hash of the payload last written. A record whose payload
  hash is unchanged is skipped, which saves the calls a replayed stream would otherwise cost.
* ``tp_journal``: an intent row written (and committed) *before* each create's POST, holding a client-generated
  marker and the payload. It is removed in the same transaction that records the new id. An intent still
  present on the next run means the outcome of that POST is unknown (crash, timeout after commit): the
  planner then searches Pipedrive for the record before creating it again.
* ``tp_lease``: at most one writer per account and ledger. A run takes the lease before writing, renews it while
  it runs and releases it at the end; a second run waits a bounded time for it, then stops with a clear message.
  A crashed run's lease expires after :data:`LEASE_SECONDS`. The lease is a row, so it works wherever the ledger
  lives (SQLite file or PostgreSQL) and across machines sharing a PostgreSQL ledger.

Rows written before accounts carried the company (``account`` = the host alone) are *legacy*: they are adopted
by a company only after :meth:`Ledger.legacy_sample` mappings were found in that company (the target checks).

SQLAlchemy Core keeps the store portable: a local SQLite file by default, PostgreSQL (or anything SQLAlchemy
speaks) for shared, durable ledgers.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import socket
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError, NoSuchModuleError, OperationalError

from pipedrive_core.values import digits_int

logger = logging.getLogger("target_pipedrive")

#: a run's lease lasts this long without renewal (a killed run blocks the next one at most this long)
LEASE_SECONDS = 60.0


def default_ledger_path() -> Path:
    """A per-user data directory, so the ledger does not depend on the directory the target runs from (a
    relative default created a fresh ledger, and duplicates, wherever the target happened to start)."""
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return base / "target-pipedrive" / "ledger.sqlite"


def default_ledger_url() -> str:
    """``sqlite:///<per-user data dir>/target-pipedrive/ledger.sqlite`` (rows are keyed by host and company,
    so one file serves every account)."""
    return f"sqlite:///{default_ledger_path()}"


class LedgerError(RuntimeError):
    """The ledger cannot be used as configured (missing driver, another run holds it, a foreign company)."""

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
    #: the parent's Pipedrive id of a nested record (a deal product's deal), so a delete needs only the key
    sa.Column("parent_id", sa.String(64), nullable=True),
)

LEASE = sa.Table(
    "tp_lease",
    _metadata,
    sa.Column("account", sa.String(255), primary_key=True),
    sa.Column("holder", sa.String(255), nullable=False),
    sa.Column("acquired_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
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
    parent_id: str | None = None


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


def account_key(host: str, company_id: int | str) -> str:
    """The ledger's account: API host and Pipedrive company (``https://api.pipedrive.com#12345``)."""
    return f"{host}#{company_id}"


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
            path = url.split(":///", 1)[1] if ":///" in url else ""
            if path and path != ":memory:":
                Path(path).expanduser().parent.mkdir(parents=True, exist_ok=True)
        try:
            self.engine = sa.create_engine(url, **kwargs)
        except (ModuleNotFoundError, NoSuchModuleError) as exc:
            raise LedgerError(_driver_hint(url, exc)) from None
        self._sqlite = url.startswith("sqlite")
        self._lock = threading.RLock()
        if self._sqlite:
            sa.event.listen(self.engine, "connect", _sqlite_pragmas)
        self._create_tables()
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._lease_stop = threading.Event()
        self._lease_thread: threading.Thread | None = None

    def _create_tables(self, attempts: int = 5) -> None:
        """Create missing tables and columns; two runs starting at once race here (both see a table missing,
        one creates it, the other's CREATE fails): the loser looks again."""
        for attempt in range(attempts):
            try:
                _metadata.create_all(self.engine)
                self._migrate()
                return
            except (OperationalError, sa.exc.ProgrammingError, IntegrityError):
                if attempt == attempts - 1:
                    raise
                time.sleep(0.2 * (attempt + 1))

    def _migrate(self) -> None:
        """Add columns that older ledgers lack (``parent_id``)."""
        columns = {c["name"] for c in sa.inspect(self.engine).get_columns("tp_map")}
        if "parent_id" not in columns:
            with self._write() as conn:
                conn.execute(sa.text("ALTER TABLE tp_map ADD COLUMN parent_id VARCHAR(64)"))

    def close(self) -> None:
        """Release the lease and the connection pool."""
        self.release()
        self.engine.dispose()

    # --- one writer per account ----------------------------------------------------------------------

    def acquire(self, *, wait_seconds: float, poll: float = 0.5) -> None:
        """Take the account's lease, waiting up to ``wait_seconds`` for another run to finish."""
        deadline = time.monotonic() + max(0.0, wait_seconds)
        announced = False
        while True:
            holder = self._try_acquire()
            if holder is None:
                self._start_renewal()
                return
            if time.monotonic() >= deadline:
                raise LedgerError(
                    f"another target-pipedrive run ({holder}) is writing to this Pipedrive company with this "
                    f"ledger; waited {wait_seconds:g} s (ledger_lock_wait_seconds). Two runs at once would "
                    "create duplicates: let the other run finish, then run again"
                )
            if not announced:
                logger.warning("waiting up to %g s for another run (%s) to release the ledger", wait_seconds, holder)
                announced = True
            time.sleep(poll)

    def _try_acquire(self) -> str | None:
        """Insert the lease row (a stale one is removed first); the other holder when it is taken."""
        now = _now()
        try:
            with self._write() as conn:
                conn.execute(sa.delete(LEASE).where(LEASE.c.account == self.account, LEASE.c.expires_at < now))
                conn.execute(sa.insert(LEASE).values(
                    account=self.account, holder=self.holder, acquired_at=now,
                    expires_at=now + dt.timedelta(seconds=LEASE_SECONDS),
                ))
        except (IntegrityError, OperationalError):
            query = sa.select(LEASE.c.holder).where(LEASE.c.account == self.account)
            with self.engine.connect() as conn:
                row = conn.execute(query).first()
            if row is None:
                return "a run that just finished"
            holder = str(row[0])
            if _dead_local_process(holder):  # killed on this machine: no need to wait for its lease to expire
                with self._write() as conn:
                    conn.execute(sa.delete(LEASE).where(LEASE.c.account == self.account, LEASE.c.holder == holder))
                logger.warning("ledger lease of a run that no longer exists (%s) taken over", holder)
                return self._try_acquire()
            return holder
        return None

    def _start_renewal(self) -> None:
        self._lease_stop.clear()
        self._lease_thread = threading.Thread(target=self._renew, name="ledger-lease", daemon=True)
        self._lease_thread.start()

    def _renew(self) -> None:
        while not self._lease_stop.wait(LEASE_SECONDS / 4):
            try:
                with self._write() as conn:
                    conn.execute(sa.update(LEASE).where(
                        LEASE.c.account == self.account, LEASE.c.holder == self.holder
                    ).values(expires_at=_now() + dt.timedelta(seconds=LEASE_SECONDS)))
            except sa.exc.SQLAlchemyError as exc:  # the next renewal retries; the lease lasts a minute
                logger.warning("could not renew the ledger lease: %s", exc)

    def release(self) -> None:
        """Give the lease up (idempotent)."""
        if self._lease_thread is None:
            return
        self._lease_stop.set()
        self._lease_thread.join(timeout=5)
        self._lease_thread = None
        with self._write() as conn:
            conn.execute(sa.delete(LEASE).where(LEASE.c.account == self.account, LEASE.c.holder == self.holder))

    # --- rows written before accounts carried the company ---------------------------------------------

    def legacy_count(self, host: str) -> int:
        """Mappings and open intents keyed by the host alone (written by versions that did not know the
        company)."""
        with self.engine.connect() as conn:
            return sum(
                int(conn.execute(sa.select(sa.func.count()).select_from(t).where(t.c.account == host)).scalar_one())
                for t in (MAP, JOURNAL)
            )

    def legacy_sample(self, host: str, per_resource: int = 3) -> list[tuple[str, str]]:
        """A few (resource, Pipedrive id) of the legacy rows of each resource, to check their company."""
        out: list[tuple[str, str]] = []
        with self.engine.connect() as conn:
            resources = [r for (r,) in conn.execute(sa.select(MAP.c.resource).where(MAP.c.account == host)
                                                    .distinct())]
            for resource in resources:
                query = (sa.select(MAP.c.pipedrive_id).where(MAP.c.account == host, MAP.c.resource == resource)
                         .order_by(MAP.c.updated_at.desc()).limit(per_resource))
                out.extend((str(resource), str(pid)) for (pid,) in conn.execute(query))
        return out

    def adopt_legacy(self, host: str) -> int:
        """Move the host-keyed rows (map and journal) to this account; returns the number of mappings."""
        with self._write() as conn:
            moved = conn.execute(sa.update(MAP).where(MAP.c.account == host).values(account=self.account)).rowcount
            conn.execute(sa.update(JOURNAL).where(JOURNAL.c.account == host).values(account=self.account))
        return int(moved or 0)

    def _write(self) -> Any:
        """A transaction; serialised for SQLite, where concurrent writers would only wait on each other."""
        return _Serialised(self._lock if self._sqlite else None, self.engine)

    # --- map ---------------------------------------------------------------------------------------

    def lookup(self, resource: str, source_key: str) -> Mapping | None:
        """The Pipedrive id and last payload hash recorded for ``source_key``, if any."""
        query = sa.select(MAP.c.pipedrive_id, MAP.c.payload_hash, MAP.c.parent_id).where(
            MAP.c.account == self.account, MAP.c.resource == resource, MAP.c.source_key == source_key
        )
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        return Mapping(str(row[0]), row[1], row[2]) if row else None

    def lookup_many(self, resource: str, source_keys: list[str]) -> dict[str, Mapping]:
        """Bulk :meth:`lookup`, so planning a batch costs one query per few hundred keys."""
        found: dict[str, Mapping] = {}
        for start in range(0, len(source_keys), 500):
            chunk = source_keys[start : start + 500]
            query = sa.select(MAP.c.source_key, MAP.c.pipedrive_id, MAP.c.payload_hash, MAP.c.parent_id).where(
                MAP.c.account == self.account, MAP.c.resource == resource, MAP.c.source_key.in_(chunk)
            )
            with self.engine.connect() as conn:
                for key, pid, phash, parent in conn.execute(query):
                    found[str(key)] = Mapping(str(pid), phash, parent)
        return found

    def _upsert_map(
        self, conn: sa.Connection, resource: str, source_key: str, pid: str, phash: str | None, *, parent: str | None
    ) -> None:
        where = (MAP.c.account == self.account) & (MAP.c.resource == resource) & (MAP.c.source_key == source_key)
        values = {"pipedrive_id": pid, "payload_hash": phash, "updated_at": _now(), "parent_id": parent}
        if conn.execute(sa.update(MAP).where(where).values(**values)).rowcount == 0:
            conn.execute(
                sa.insert(MAP).values(account=self.account, resource=resource, source_key=source_key, **values)
            )

    def record(
        self, resource: str, source_key: str, pipedrive_id: str, payload_hash: str | None,
        parent_id: str | None = None,
    ) -> None:
        """Remember ``source_key`` → ``pipedrive_id`` (and its parent) and the payload just written; settles any
        intent."""
        with self._write() as conn:
            self._upsert_map(conn, resource, source_key, str(pipedrive_id), payload_hash, parent=parent_id)
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


def _dead_local_process(holder: str) -> bool:
    """Whether a lease holder (``host:pid:nonce``) is a process of this machine that has ended."""
    host, _, rest = holder.partition(":")
    pid_text = rest.partition(":")[0]
    pid = digits_int(pid_text)
    if host != socket.gethostname() or pid is None:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # exists, owned by someone else
        return False
    return False


def _driver_hint(url: str, exc: BaseException) -> str:
    scheme = url.split("://", 1)[0]
    if scheme.startswith("postgresql"):
        return (
            f"ledger_url {scheme}://… needs the PostgreSQL driver psycopg, which a plain install does not include: "
            "pip install 'pipedrive-singer[postgres]' (in Meltano: pip_url: pipedrive-singer[postgres])"
        )
    return f"ledger_url {scheme}://… needs a database driver that is not installed ({exc})"


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
