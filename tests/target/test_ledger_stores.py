"""The ledger on SQLite and on the real PostgreSQL (127.0.0.1:5432, database ``test``, trust auth): the same
rows, batch reads, lease and migration of ledgers written by earlier versions."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from target_pipedrive.ledger import LEASE, Ledger, LedgerError, account_key

POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
#: the tables as versions before company keys and parent ids created them
OLD_DDL = (
    "CREATE TABLE tp_map (account VARCHAR(255) NOT NULL, resource VARCHAR(64) NOT NULL, "
    "source_key VARCHAR(512) NOT NULL, pipedrive_id VARCHAR(64) NOT NULL, payload_hash VARCHAR(64), "
    "updated_at TIMESTAMP NOT NULL, PRIMARY KEY (account, resource, source_key))",
    "CREATE TABLE tp_journal (account VARCHAR(255) NOT NULL, resource VARCHAR(64) NOT NULL, "
    "source_key VARCHAR(512) NOT NULL, marker VARCHAR(36) NOT NULL, payload TEXT NOT NULL, "
    "payload_hash VARCHAR(64) NOT NULL, created_at TIMESTAMP NOT NULL, PRIMARY KEY (account, resource, source_key))",
)


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:
    """An empty ledger database: a SQLite file, or a fresh PostgreSQL schema (dropped afterwards)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'ledger.sqlite'}"
        return
    name = f"tp_test_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(POSTGRES)
    with admin.begin() as conn:
        conn.execute(sa.text(f"CREATE SCHEMA {name}"))
    try:
        yield f"{POSTGRES}?options=-csearch_path%3D{name}"
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f"DROP SCHEMA {name} CASCADE"))
        admin.dispose()


def test_rows_batch_reads_and_parents(store_url):
    ledger = Ledger(store_url, account=account_key("https://api.pipedrive.com", 7))
    try:
        for i in range(1200):  # more than one lookup_many chunk
            ledger.record("deal_products", f'["dp-{i}"]', str(1000 + i), f"h{i}", parent_id="42")
        found = ledger.lookup_many("deal_products", [f'["dp-{i}"]' for i in range(0, 1200, 7)] + ['["none"]'])
        assert len(found) == len(range(0, 1200, 7))
        assert found['["dp-7"]'].pipedrive_id == "1007"
        assert found['["dp-7"]'].parent_id == "42"
        other = Ledger(store_url, account=account_key("https://api.pipedrive.com", 8))
        assert other.lookup_many("deal_products", ['["dp-7"]']) == {}  # another company sees nothing
        other.close()
        ledger.begin_create("persons", '["p"]', {"name": "P"}, "hash")
        assert ledger.pending_keys("persons") == {'["p"]'}
    finally:
        ledger.close()


def test_a_ledger_of_an_earlier_version_is_migrated(store_url):
    engine = sa.create_engine(store_url)
    with engine.begin() as conn:
        for ddl in OLD_DDL:
            conn.execute(sa.text(ddl))
        conn.execute(sa.text("INSERT INTO tp_map VALUES ('https://api.pipedrive.com', 'persons', '[\"a\"]', '5', "
                             "'h', '2026-01-01 00:00:00')"))
    engine.dispose()
    ledger = Ledger(store_url, account=account_key("https://api.pipedrive.com", 7))
    try:
        assert ledger.legacy_count("https://api.pipedrive.com") == 1
        assert ledger.legacy_sample("https://api.pipedrive.com") == [("persons", "5")]
        assert ledger.adopt_legacy("https://api.pipedrive.com") == 1
        mapping = ledger.lookup_many("persons", ['["a"]'])['["a"]']
        assert (mapping.pipedrive_id, mapping.parent_id) == ("5", None)
        ledger.record("persons", '["a"]', "5", "h2", parent_id=None)
    finally:
        ledger.close()


def test_lease_is_exclusive_per_account_and_released(store_url):
    account = account_key("https://api.pipedrive.com", 7)
    one, two = Ledger(store_url, account=account), Ledger(store_url, account=account)
    elsewhere = Ledger(store_url, account=account_key("https://api.pipedrive.com", 9))
    try:
        one.acquire(wait_seconds=0)
        elsewhere.acquire(wait_seconds=0)  # another company is not blocked
        with pytest.raises(LedgerError, match="another target-pipedrive run"):
            two.acquire(wait_seconds=0.2, poll=0.05)
        one.close()
        two.acquire(wait_seconds=0)
    finally:
        for ledger in (one, two, elsewhere):
            ledger.close()


@pytest.mark.parametrize("pid", ["²", "٣", "１"])
def test_a_lease_whose_pid_is_not_ascii_digits_is_held_by_another_run(store_url, pid):
    """A holder on this machine whose pid is not ASCII digits is not a process this machine can check: it is
    another run (the lease expires), never a crash while reading the holder."""
    account = account_key("https://api.pipedrive.com", 7)
    one, two = Ledger(store_url, account=account), Ledger(store_url, account=account)
    try:
        one.acquire(wait_seconds=0)
        with one.engine.begin() as conn:
            conn.execute(sa.update(LEASE).values(holder=f"{socket.gethostname()}:{pid}:nonce"))
        with pytest.raises(LedgerError, match="another target-pipedrive run"):
            two.acquire(wait_seconds=0.1, poll=0.05)
    finally:
        for ledger in (one, two):
            ledger.close()
