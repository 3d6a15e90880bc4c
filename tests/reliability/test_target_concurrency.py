"""Two target runs at once on one ledger and company (a scheduler overlap, a manual rerun), as two real
processes. They used to interleave: 40 input persons became 57 in Pipedrive, and the next run said "skipped
unchanged". Now one run writes while the other waits for the ledger lease (or stops when told not to wait)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from pipedrive_emulator.server import Emulator
from target_pipedrive.ledger import Ledger, LedgerError
from tests.target.conftest import REPO, cli_env, empty_sizes, record, schema, text

POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
N = 40
PROPS = {"ext": {"type": "string"}, "name": {"type": "string"}, "email": {"type": "string"}}


def _input() -> str:
    people = [{"ext": f"c{i}", "name": f"Person {i:03d}", "email": f"p{i}@example.com"} for i in range(N)]
    return text(schema("persons", PROPS, ["ext"]), [record("persons", p) for p in people])


def _start(cfg: dict[str, Any], path: Path) -> subprocess.Popen[str]:
    path.write_text(json.dumps(cfg))
    proc = subprocess.Popen(
        [sys.executable, "-m", "target_pipedrive", "--config", str(path)], stdin=subprocess.PIPE,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO, env=cli_env(),
    )
    assert proc.stdin is not None
    proc.stdin.write(_input())
    proc.stdin.close()
    return proc


def _finish(proc: subprocess.Popen[str]) -> tuple[int, str]:
    assert proc.stderr is not None
    stderr = proc.stderr.read()
    return proc.wait(timeout=180), stderr


def _assert_exactly_once(emu: Emulator) -> None:
    names = Counter(p["name"] for p in emu.store.records("persons"))
    assert {k: v for k, v in names.items() if v > 1} == {}
    assert len(names) == N


def _wait_for_lease(url: str) -> None:
    """Until the first run holds the lease (it has started writing)."""
    engine = sa.create_engine(url)
    try:
        for _ in range(600):
            try:
                with engine.connect() as conn:
                    if conn.execute(sa.text("SELECT COUNT(*) FROM tp_lease")).scalar_one():
                        return
            except sa.exc.OperationalError:
                pass  # the table does not exist yet
            time.sleep(0.05)
    finally:
        engine.dispose()
    pytest.fail("the first run never took the ledger lease")


def _config(emu: Emulator, tmp_path: Path, ledger_url: str, **extra: Any) -> dict[str, Any]:
    return {"api_token": emu.api_token, "api_url": emu.url, "ledger_url": ledger_url, "max_workers": 4,
            "dead_letter_path": str(tmp_path / "dead.jsonl"), **extra}


@pytest.mark.parametrize("store", ["sqlite", "postgresql"])
def test_two_runs_at_once_write_each_record_once(tmp_path, store):
    url = f"sqlite:///{tmp_path / 'ledger.sqlite'}" if store == "sqlite" else POSTGRES
    with Emulator(seed=1, sizes=empty_sizes(), latency_ms=20) as emu:
        cfg = _config(emu, tmp_path, url)
        first = _start(cfg, tmp_path / "a.json")
        second = _start(cfg, tmp_path / "b.json")
        (code_a, err_a), (code_b, err_b) = _finish(first), _finish(second)
        assert code_a == 0, err_a
        assert code_b == 0, err_b
        _assert_exactly_once(emu)
        assert "waiting up to" in err_a + err_b  # one of them waited for the other
        summaries = [e for e in (err_a, err_b) if "skipped unchanged 40" in e]
        assert len(summaries) == 1  # the one that waited found everything written


def test_a_run_told_not_to_wait_stops_with_a_clear_message(tmp_path):
    url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    with Emulator(seed=1, sizes=empty_sizes(), latency_ms=150) as emu:  # the first run lasts a few seconds
        first = _start(_config(emu, tmp_path, url, max_workers=1), tmp_path / "a.json")
        _wait_for_lease(url)
        second = _start(_config(emu, tmp_path, url, ledger_lock_wait_seconds=0), tmp_path / "b.json")
        code_b, err_b = _finish(second)
        code_a, err_a = _finish(first)
        assert code_a == 0, err_a
        assert code_b == 1
        assert "another target-pipedrive run" in err_b
        assert "Traceback" not in err_b
        _assert_exactly_once(emu)


def test_the_lease_works_on_postgresql_between_two_ledgers():
    """The lease is a row in the ledger database: two ledgers (engines) on the same PostgreSQL database and
    account exclude each other, and the second gets it once the first releases it."""
    account = f"test-lease#{uuid.uuid4().hex}"
    one, two = Ledger(POSTGRES, account=account), Ledger(POSTGRES, account=account)
    try:
        one.acquire(wait_seconds=0)
        with pytest.raises(LedgerError, match="another target-pipedrive run"):
            two.acquire(wait_seconds=0.3, poll=0.1)
        one.release()
        two.acquire(wait_seconds=0)
    finally:
        one.close()
        two.close()
