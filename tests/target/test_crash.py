"""Crash safety: a killed target, or a create whose answer is lost after Pipedrive committed it, must never
leave duplicates or gaps once the run is repeated."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections import Counter

import pytest

from pipedrive_emulator.faults import FaultRule
from target_pipedrive.ledger import Ledger, account_key
from target_pipedrive.planner import key_string
from tests.target.conftest import REPO, cli_env, record, run_cli, run_target, schema, text

PROPS = {"ext": {"type": "string"}, "name": {"type": "string"}, "email": {"type": "string"}}
N = 60


def _people(n: int = N) -> list[dict]:
    return [{"ext": f"c{i}", "name": f"Person {i:03d}", "email": f"p{i}@example.com"} for i in range(n)]


def _input(n: int = N) -> str:
    return text(schema("persons", PROPS, ["ext"]), [record("persons", p) for p in _people(n)])


def _assert_exactly_once(emulator, n: int = N) -> None:
    names = Counter(p["name"] for p in emulator.store.records("persons"))
    duplicates = {k: v for k, v in names.items() if v > 1}
    assert duplicates == {}
    assert set(names) == {p["name"] for p in _people(n)}


@pytest.mark.e2e
def test_sigkill_mid_batch_then_rerun_creates_each_record_once(emulator, config, tmp_path):
    # Every create commits, then its answer takes 0.4 s: a kill lands between commit and ledger write.
    emulator.faults.rules.append(
        FaultRule("timeout", method="POST", path=r"^/api/v2/persons$", delay=0.4, then="answer")
    )
    cfg = {**config, "max_workers": 6}
    cfg_path = tmp_path / "config.json"
    cfg_path.write_text(json.dumps(cfg))
    proc = subprocess.Popen(
        [sys.executable, "-m", "target_pipedrive", "--config", str(cfg_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env=cli_env(),
    )
    assert proc.stdin is not None
    proc.stdin.write(_input())
    proc.stdin.close()
    deadline = time.monotonic() + 60
    while len(emulator.store.records("persons")) < 15 and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    written = len(emulator.store.records("persons"))
    assert 15 <= written < N

    emulator.faults.clear()
    out = run_cli(cfg, tmp_path, _input())
    assert out.returncode == 0, out.stderr
    _assert_exactly_once(emulator)
    assert "not creating again" in out.stderr  # at least one journaled create was reconciled


def test_create_committed_then_timed_out_is_not_duplicated(emulator, config):
    emulator.faults.add("commit_then_timeout", method="POST", path=r"^/api/v2/persons$", count=3, delay=2.0)
    cfg = {**config, "request_timeout": 0.5, "max_workers": 2}
    msgs = (schema("persons", PROPS, ["ext"]), [record("persons", p) for p in _people(10)])
    run = run_target(cfg, *msgs)
    assert emulator.faults.fired("commit_then_timeout") == 3
    assert run.summary["created"] == 10
    _assert_exactly_once(emulator, 10)

    emulator.reset_log()
    rerun = run_target(cfg, *msgs)
    assert rerun.summary["skipped_unchanged"] == 10
    assert not [r for r in emulator.requests if r.method == "POST"]
    _assert_exactly_once(emulator, 10)


def test_journaled_intent_left_by_a_crash_is_reconciled_not_recreated(emulator, config):
    """A run that died after POSTing (intent journaled, answer never recorded) is settled by a search."""
    # What the dead run did: journal the intent, then the POST reached Pipedrive.
    ledger = Ledger(config["ledger_url"], account=account_key(emulator.url, 1))
    body = {"name": "Person 000", "emails": [{"value": "p0@example.com", "primary": True, "label": "work"}]}
    ledger.begin_create("persons", key_string(["c0"]), body, "stale-hash")
    emulator.store.insert("persons", {"name": "Person 000", "emails": body["emails"]})
    ledger.close()

    run = run_target(config, schema("persons", PROPS, ["ext"]), [record("persons", p) for p in _people(3)])
    assert run.summary["created"] == 2
    assert run.summary["updated"] == 1  # the payload hash differs from the journaled one: a PATCH, no POST
    _assert_exactly_once(emulator, 3)
    check = Ledger(config["ledger_url"], account=account_key(emulator.url, 1))
    assert check.count("persons") == 3
    assert check.pending_keys("persons") == set()
    check.close()
