"""Target fault matrix: creates and updates under every failure Pipedrive produces, including the ambiguous
ones (the write happened, the answer was lost). After the run, and after a rerun of the same input, the
emulator must hold exactly the input: each record once, in its latest version, nothing missing."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pipedrive_core.http.errors import OAuthError
from pipedrive_emulator.server import Emulator, OAuthSettings
from target_pipedrive.writer import RejectedRecordsError, RunStoppedError
from tests.reliability.conftest import (
    REPO,
    TARGET_FAST,
    cli_env,
    competing_client,
    run_module,
    target_files,
    write_json,
)
from tests.target.conftest import dead_letters, empty_sizes, record, run_target, schema, text

PROPS = {"ext": {"type": "string"}, "name": {"type": "string"}, "email": {"type": "string"}}
N = 24


def people(n: int = N, version: str = "v1") -> list[dict[str, Any]]:
    """Input persons keyed by ``ext``; the version changes every name (so a second run updates them all)."""
    return [{"ext": f"c{i}", "name": f"Person {i:03d} {version}", "email": f"p{i}@example.com"} for i in range(n)]


def messages(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [schema("persons", PROPS, ["ext"]), *(record("persons", r) for r in rows)]


def assert_holds_exactly(emu: Emulator, rows: list[dict[str, Any]]) -> None:
    """The emulator's persons are exactly ``rows``: no duplicate, nothing missing, latest names."""
    stored = emu.store.records("persons")
    emails = Counter(p["emails"][0]["value"] for p in stored)
    assert {e: c for e, c in emails.items() if c > 1} == {}, "duplicates"
    assert sorted((p["emails"][0]["value"], p["name"]) for p in stored) == sorted(
        (r["email"], r["name"]) for r in rows
    )


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator(seed=1, sizes=empty_sizes()) as emulator:
        yield emulator


@pytest.fixture
def config(emu: Emulator, tmp_path: Path) -> dict[str, Any]:
    return {"api_token": emu.api_token, "api_url": emu.url, **target_files(tmp_path), **TARGET_FAST}


#: (case id, kind, options): on POST the write may have happened; the target must find out, not guess
CASES: list[tuple[str, str, dict[str, Any]]] = [
    ("http500", "500", {}),
    ("http502", "502", {}),
    ("http503", "503", {}),
    ("http524", "524", {}),
    ("http429_with_headers", "429", {"headers": True, "count": 1}),
    ("http429_without_headers", "429", {"headers": False, "count": 1}),
    ("committed_then_timeout", "commit_then_timeout", {"delay": 0.8}),
    ("read_timeout_then_answer", "timeout", {"delay": 0.8, "then": "answer"}),
    ("committed_answer_cut_mid_body", "drop", {}),
    ("committed_answer_malformed", "malformed", {}),
    ("null_body", "nullbody", {}),
]


@pytest.mark.parametrize(("case", "kind", "options"), CASES, ids=[c[0] for c in CASES])
def test_creates_then_updates_under_faults_land_exactly_once(emu, config, case, kind, options):
    rule = {"after": 2, "count": 3, **options}
    emu.faults.add(kind, method="POST", path=r"^/api/v2/persons$", **rule)
    created = run_target(config, *messages(people()))
    assert created.summary["created"] == N, created.summary
    assert_holds_exactly(emu, people())

    emu.faults.add(kind, method="PATCH", path=r"^/api/v2/persons/\d+$", **rule)
    updated = run_target(config, *messages(people(version="v2")))
    assert updated.summary["updated"] == N, updated.summary
    assert_holds_exactly(emu, people(version="v2"))
    assert emu.faults.fired(kind) == 2 * rule["count"], "the faults did not all fire"

    # the same input again: nothing to do, nothing written
    emu.reset_log()
    again = run_target(config, *messages(people(version="v2")))
    assert again.summary["skipped_unchanged"] == N
    assert not [r for r in emu.requests if r.method in {"POST", "PATCH", "PUT", "DELETE"}]
    assert dead_letters(config) == []


def test_burst_limit_429_storm_on_writes(config, tmp_path):
    """Another integration spends the same burst window: the workers meet real 429s with x-ratelimit-*
    headers; every record lands once."""
    with Emulator(seed=1, sizes=empty_sizes(), burst=10) as emu, competing_client(emu):
        cfg = {**config, "api_url": emu.url, "max_workers": 8}
        run = run_target(cfg, *messages(people(14)))
        assert [r for r in emu.requests if r.status == 429 and r.path != "/api/v2/pipelines"], "no storm"
        assert run.summary["created"] == 14
        assert_holds_exactly(emu, people(14))


def test_html403_stops_the_run_and_the_rerun_finishes(emu, config):
    """Cloudflare's block is not retried (it would prolong it): the run stops, the rerun writes the rest."""
    emu.faults.add("html403", method="POST", path=r"^/api/v2/persons$", after=5, count=1)
    with pytest.raises(Exception, match="Cloudflare blocked the client"):
        run_target(config, *messages(people()))
    assert 0 < len(emu.store.records("persons")) < N
    rerun = run_target(config, *messages(people()))
    assert rerun.summary["created"] + rerun.summary.get("skipped_unchanged", 0) == N
    assert_holds_exactly(emu, people())


@pytest.mark.parametrize("kill_after", [6, 15])
def test_target_killed_mid_batch_with_creates_and_updates_then_rerun(emu, config, tmp_path, kill_after):
    """SIGKILL while a batch of creates and updates is in flight; the rerun leaves each record once, latest."""
    run_target(config, *messages(people(12)))  # c0..c11 exist: the next input updates them and creates 12 more
    final = people(N, version="v2")
    emu.faults.add("timeout", method="POST", path=r"^/api/v2/persons$", delay=0.3, then="answer")
    emu.faults.add("timeout", method="PATCH", path=r"^/api/v2/persons/\d+$", delay=0.3, then="answer")
    cfg_path = write_json(tmp_path / "config.json", {**config, "request_timeout": 5})
    proc = subprocess.Popen([sys.executable, "-m", "target_pipedrive", "--config", str(cfg_path)],
                            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True,
                            cwd=REPO, env=cli_env())
    assert proc.stdin is not None
    proc.stdin.write(text(*messages(final)))
    proc.stdin.close()
    deadline = time.monotonic() + 60
    while emu.faults.fired() < kill_after and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    emu.faults.clear()
    rerun = run_module("target_pipedrive", ["--config", str(cfg_path)], input_text=text(*messages(final)))
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert_holds_exactly(emu, final)


def test_records_deleted_in_pipedrive_between_read_and_write_are_reported(emu, config):
    """Updates by Pipedrive id (as a tap → transform → target round trip sends them) of records someone
    deleted meanwhile: each is reported with its id, the others are written, nothing crashes."""
    ids = [emu.store.insert("persons", {"name": f"P{i}", "emails": [{"value": f"x{i}@example.com",
                                                                      "primary": True, "label": "work"}]})["id"]
           for i in range(6)]
    gone = ids[1::2]
    for pid in gone:
        emu.store.delete("persons", pid, hard=True)
    props = {"id": {"type": "integer"}, "name": {"type": "string"}}
    msgs = [schema("persons", props, ["id"]), *(record("persons", {"id": pid, "name": f"Renamed {pid}"})
                                                 for pid in ids)]
    run = run_target({**config, "on_error": "skip"}, *msgs)
    assert run.summary["updated"] == 3
    assert run.summary["rejected"] == 3
    letters = dead_letters(config)
    assert sorted(d["record"]["id"] for d in letters) == gone
    assert all("deleted in Pipedrive" in d["reason"] for d in letters)
    assert sorted(p["name"] for p in emu.store.records("persons")) == sorted(f"Renamed {i}" for i in ids
                                                                              if i not in gone)
    # on_error: fail reports them too, after writing the others, with exit code 1 and no traceback
    with pytest.raises(RejectedRecordsError, match=r"3 record\(s\) rejected"):
        run_target(config, *msgs)
    cfg = write_json(Path(config["dead_letter_path"]).with_name("fail.json"), config)
    out = run_module("target_pipedrive", ["--config", str(cfg)], input_text=text(*msgs))
    assert out.returncode == 1
    assert "Traceback" not in out.stderr
    assert f"Pipedrive has no persons record with id {gone[0]} (deleted in Pipedrive?)" in out.stderr


def test_revoked_oauth_refresh_token_stops_the_run_instead_of_rejecting_every_record(tmp_path):
    """The token endpoint's HTTP 400 (invalid_grant) is about the credentials: with on_error: skip it used to
    send every record to the dead-letter file as "Pipedrive refused the write" and finish successfully."""
    with Emulator(seed=1, sizes=empty_sizes(), oauth=OAuthSettings()) as emu:
        cfg = {"api_url": emu.url, "oauth_client_id": "emulator-client", "oauth_client_secret": "emulator-secret",
               "oauth_refresh_token": "revoked", "oauth_token_url": f"{emu.url}/oauth/token",
               **target_files(tmp_path), "on_error": "skip", "max_retries": 1}
        # the first call (GET /v1/users/me, the company of the ledger) already needs the token
        with pytest.raises((RunStoppedError, OAuthError), match="OAuth refresh token was refused"):
            run_target(cfg, *messages(people(3)))
        assert dead_letters(cfg) == []
        assert emu.store.records("persons") == []


def test_oauth_with_rotating_refresh_tokens_and_an_expiry_mid_run(tmp_path):
    """Pipedrive may rotate the refresh token on every refresh and revoke the old one. The target's create
    session used to hold its own copy of the original token: its first refresh was refused (invalid_grant)."""
    rotating = OAuthSettings(client_id="cid", client_secret="csecret", refresh_token="r0", rotate_refresh_tokens=True)
    with Emulator(seed=1, sizes=empty_sizes(), oauth=rotating) as emu:
        cfg = {"api_url": emu.url, "oauth_client_id": "cid", "oauth_client_secret": "csecret",
               "oauth_refresh_token": "r0", "oauth_token_url": f"{emu.url}/oauth/token",
               **target_files(tmp_path), **TARGET_FAST}
        emu.faults.add("oauth_expire", method="POST", path=r"^/api/v2/persons$", after=4, count=1)
        run = run_target(cfg, *messages(people(12)))
        assert run.summary["created"] == 12
        assert emu.requests.count(path="/oauth/token") >= 2
        assert_holds_exactly(emu, people(12))


@pytest.mark.parametrize("kind", ["commit_then_timeout", "drop", "malformed"])
def test_ambiguous_create_of_a_record_without_a_searchable_name_is_not_duplicated(emu, config, kind):
    """Activities have no name to search by: reconciliation lists those Pipedrive changed since the attempt.
    "Since" used to be the local clock, compared with Pipedrive's timestamps; the emulator's clock (like a
    server whose clock differs from the client's by more than the 2-minute margin) made the lookup find
    nothing, and the POST was sent again: a duplicate activity."""
    emu.faults.add(kind, method="POST", path=r"^/api/v2/activities$", after=1, count=2, delay=0.8)
    props = {"ext": {"type": "string"}, "subject": {"type": "string"}, "due_date": {"type": "string"}}
    rows = [{"ext": f"a{i}", "subject": f"Call {i}", "due_date": f"2027-01-{i + 1:02d}"} for i in range(6)]
    run = run_target(config, schema("activities", props, ["ext"]), *(record("activities", r) for r in rows))
    assert emu.faults.fired(kind) == 2
    assert run.summary["created"] == 6
    assert sorted(a["subject"] for a in emu.store.records("activities")) == [r["subject"] for r in rows]


def test_daily_budget_running_out_mid_run_then_next_day_completes_exactly_once(tmp_path):
    """Writes cost 5 tokens (v2): the budget ends mid-batch, the run stops with the reason; the next day's run
    of the same input creates the rest, and nothing twice."""
    with Emulator(seed=1, sizes=empty_sizes(), daily_budget=120) as emu:
        cfg = {"api_token": emu.api_token, "api_url": emu.url, **target_files(tmp_path), **TARGET_FAST}
        rows = people(30)
        stops: list[str] = []
        for _ in range(10):  # one run a day
            emu.restore_budget()
            try:
                run_target(cfg, *messages(rows))
                break
            except RunStoppedError as exc:
                stops.append(str(exc))
        else:
            pytest.fail("never completed")
        assert stops, "the budget never ran out"
        assert all("daily API token budget" in s for s in stops)
        assert_holds_exactly(emu, rows)
