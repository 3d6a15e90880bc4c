"""One sync per Pipedrive company, in parallel, with existing tools (docs/many-accounts.md).

Three emulators play three companies (three seeds, three tokens, three company ids). ``meltano.yml`` has one
extractor per company inheriting ``tap-pipedrive`` (``tap-pipedrive--acme``, ``--globex``, ``--initech``) and
one loader per company inheriting ``target-postgres``; each company loads into its own schema of one
PostgreSQL database and keeps its own state in Meltano's system database, which is in that PostgreSQL too.
The three ``meltano run`` processes run at the same time, twice (a full and an incremental round), and each
company's schema must hold exactly its own company's records. Then three target-pipedrive processes write
into the three companies at once through one ledger in PostgreSQL.
"""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipedrive_emulator.server import Emulator
from tests.meltano_support import MELTANO, PG_URL, ROOT, installed_meltano_env, meltano
from tests.tap.conftest import change_records

psycopg = pytest.importorskip("psycopg")

pytestmark = pytest.mark.e2e

COMPANIES = {"acme": 31, "globex": 32, "initech": 33}  # company -> emulator seed (and company id)
STREAMS = ("deals", "persons", "organizations")


@pytest.fixture(scope="module")
def meltano_env() -> dict[str, str]:
    return installed_meltano_env("TAP_PIPEDRIVE", "TARGET_POSTGRES_", "TARGET_PIPEDRIVE", "MELTANO_DATABASE")


@pytest.fixture
def run_id() -> Iterator[str]:
    rid = uuid.uuid4().hex[:8]
    yield rid
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        for name in [f"meltano_{rid}", f"ledger_{rid}", *(f"pd_{rid}_{c}" for c in COMPANIES)]:
            conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


def _query(sql: str, *params: object) -> list[tuple]:
    with psycopg.connect(PG_URL) as conn:
        return conn.execute(sql, params or None).fetchall()


def _live(emu: Emulator, table: str) -> set[int]:
    return {row_id for row_id, row in emu.store.tables[table].rows.items() if row.deleted_at is None}


def _in_parallel(commands: dict[str, list[str]], envs: dict[str, dict[str, str]], logs: Path) -> None:
    """Start every command at once (output to files, so no pipe stalls a process) and wait for all."""
    logs.mkdir(parents=True, exist_ok=True)
    procs = {}
    for name, cmd in commands.items():
        with (logs / f"{name}.log").open("w") as log:
            procs[name] = subprocess.Popen(cmd, cwd=ROOT, env=envs[name], stdout=subprocess.DEVNULL, stderr=log)
    failed = {}
    for name, proc in procs.items():
        if proc.wait(timeout=900) != 0:
            err = (logs / f"{name}.log").read_text(errors="replace")
            failed[name] = [line[-800:] for line in err.splitlines()
                            if "error" in line.lower() and "Traceback" not in line][-6:] or err[-3000:]
    assert not failed, failed


def test_one_sync_per_company_in_parallel(meltano_env, run_id, tmp_path):
    system_db = f"meltano_{run_id}"
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{system_db}"')
    base = dict(meltano_env, MELTANO_DATABASE_URI=f"{PG_URL.replace('postgresql:', 'postgresql+psycopg:')}"
                                                  f"?options=-csearch_path%3D{system_db}")
    meltano("state", "list", env=base)  # creates Meltano's tables once, before the parallel runs

    emulators = {name: Emulator(seed=seed, scale=0.03, api_token=f"{name}-token") for name, seed in COMPANIES.items()}
    for name, emu in emulators.items():
        emu.store.company_id = COMPANIES[name]  # type: ignore[attr-defined] - the emulator's company behind the token
        emu.start()
    try:
        envs = {}
        for name, emu in emulators.items():
            prefix = f"TAP_PIPEDRIVE__{name.upper()}"
            envs[name] = dict(base, **{f"{prefix}_API_URL": emu.url, f"{prefix}_API_TOKEN": emu.api_token,
                                       f"{prefix}__SELECT": json.dumps([f"{s}.*" for s in STREAMS]),
                                       f"{prefix}__LOAD_SCHEMA": f"pd_{run_id}_{name}"})
        commands = {name: ["bash", str(MELTANO), "run", "--no-install", f"tap-pipedrive--{name}",
                           f"target-postgres--{name}"] for name in COMPANIES}
        _in_parallel(commands, envs, tmp_path / "round1")

        names = {}
        for name, emu in emulators.items():
            schema = f"pd_{run_id}_{name}"
            for stream in ("persons", "organizations"):
                ids = {r[0] for r in _query(f'SELECT id FROM "{schema}"."{stream}"')}
                assert ids == _live(emu, stream), (name, stream)
            deals = {r[0] for r in _query(f'SELECT id FROM "{schema}".deals')}
            assert _live(emu, "deals") <= deals <= set(emu.store.tables["deals"].rows), name  # + recently deleted
            names[name] = {r[0] for r in _query(f'SELECT name FROM "{schema}".persons')}
            assert names[name] == {emu.store.get("persons", i)["name"] for i in _live(emu, "persons")}
        assert not (names["acme"] & names["globex"] & names["initech"])  # three different data sets

        # each pipeline has its own state, in PostgreSQL
        states = {r[0] for r in _query(f'SELECT state_id FROM "{system_db}".state')}
        assert {f"dev:tap-pipedrive--{name}-to-target-postgres--{name}" for name in COMPANIES} <= states

        # second round, in parallel again: each company continues from its own bookmark
        first = {name: _query(f'SELECT max(_sdc_extracted_at) FROM "pd_{run_id}_{name}".persons')[0][0]
                 for name in COMPANIES}
        for emu in emulators.values():
            emu.reset_log()
        change_records(emulators["acme"])  # person 2 (and deal 3) of Acme only
        _in_parallel(commands, envs, tmp_path / "round2")
        for name, emu in emulators.items():
            lists = [r for r in emu.requests.snapshot() if r.path == "/api/v2/persons"]
            assert any("updated_since" in r.query for r in lists), name  # incremental, from its own state
            reloaded = {r[0] for r in _query(f'SELECT id FROM "pd_{run_id}_{name}".persons '
                                             "WHERE _sdc_extracted_at > %s", first[name])}
            assert reloaded == ({2} if name == "acme" else set()), name
        assert _query(f'SELECT name FROM "pd_{run_id}_acme".persons WHERE id = 2')[0][0] == "changed person"
        for name in ("globex", "initech"):
            assert "changed person" not in {r[0] for r in _query(f'SELECT name FROM "pd_{run_id}_{name}".persons')}

        # reverse ETL into the three companies at once, one ledger in PostgreSQL for all of them
        ledger_url = (f"{PG_URL.replace('postgresql:', 'postgresql+psycopg:')}"
                      f"?options=-csearch_path%3Dledger_{run_id}")
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "ledger_{run_id}"')
        target_envs, target_cmds = {}, {}
        for name, emu in emulators.items():
            config = tmp_path / f"target-{name}.json"
            config.write_text(json.dumps({"api_url": emu.url, "api_token": emu.api_token, "ledger_url": ledger_url,
                                          "dead_letter_path": str(tmp_path / f"dead-{name}.jsonl")}))
            lines = tmp_path / f"in-{name}.jsonl"
            lines.write_text("\n".join(json.dumps(m) for m in (
                {"type": "SCHEMA", "stream": "persons", "key_properties": ["ext_id"],
                 "schema": {"type": "object", "properties": {"ext_id": {"type": "string"},
                                                             "name": {"type": "string"}}}},
                {"type": "RECORD", "stream": "persons", "record": {"ext_id": "shared-1", "name": f"New at {name}"}},
            )) + "\n")
            target_envs[name] = {k: v for k, v in os.environ.items() if not k.startswith("TARGET_PIPEDRIVE")}
            target_cmds[name] = ["bash", "-c", '"$0" --config "$1" < "$2"',
                                 str(ROOT / ".venv" / "bin" / "target-pipedrive"), str(config), str(lines)]
        before = {name: len(emu.store.tables["persons"].rows) for name, emu in emulators.items()}
        _in_parallel(target_cmds, target_envs, tmp_path / "targets")
        for name, emu in emulators.items():
            created = [row for row in emu.store.tables["persons"].rows.values() if row.data["name"] == f"New at {name}"]
            assert len(emu.store.tables["persons"].rows) == before[name] + 1 and len(created) == 1, name
        accounts = {r[0] for r in _query(f'SELECT DISTINCT account FROM "ledger_{run_id}".tp_map')}
        assert accounts == {f"{emu.url}#{COMPANIES[name]}" for name, emu in emulators.items()}
    finally:
        for emu in emulators.values():
            emu.stop()
