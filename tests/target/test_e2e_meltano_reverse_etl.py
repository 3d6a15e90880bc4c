"""End to end reverse ETL: ``meltano run tap-postgres target-pipedrive`` from the real PostgreSQL into the emulator.

Needs PostgreSQL on 127.0.0.1:5432 (database ``test``, trust auth) and PyPI access for the first install:
``scripts/meltano.sh`` creates Meltano's own venv and ``meltano install`` installs tap-postgres from the committed
lock file ``plugins/extractors/tap-postgres--meltanolabs.lock`` (no Hub access). Every run reads a fresh schema
that is dropped afterwards, writes into an in-process emulator that starts empty, and keeps its ledger in
``tmp_path``. The run's target settings come from ``TARGET_PIPEDRIVE_*`` variables (they override meltano.yml),
the same ones docs/target.md shows.
"""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from pipedrive_emulator.server import Emulator
from target_pipedrive.target import TargetPipedrive
from tests.meltano_support import PG_URL, ROOT, installed_meltano_env, meltano

from .conftest import TOKEN, empty_sizes

psycopg = pytest.importorskip("psycopg")

WRITES = {"POST", "PUT", "PATCH", "DELETE"}

ORGANIZATIONS = [
    ("o-1", "Acme GmbH", "ACME-01"),
    ("o-2", "Globex Ltd", "GLOBEX-07"),
]
PERSONS = [
    ("p-1", "Ann Lee", "ann@example.com", "A-100", 12),
    ("p-2", "Bob Stone", "bob@example.com", "B-200", 3),
    ("p-3", "Cleo Park", "cleo@example.com", None, None),
]




def _execute(sql: str, *params: object) -> None:
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(sql, params)


@pytest.fixture(scope="module")
def meltano_env() -> dict[str, str]:
    return installed_meltano_env("TAP_POSTGRES_", "TARGET_PIPEDRIVE_")


@pytest.fixture
def source() -> Iterator[str]:
    """A fresh schema holding ``organizations`` and ``persons``; dropped afterwards."""
    name = f"retl_e2e_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{name}"')
        conn.execute(f'CREATE TABLE "{name}".organizations '
                     "(ext_id text PRIMARY KEY, name text NOT NULL, account_code text)")
        conn.execute(f'CREATE TABLE "{name}".persons '
                     "(ext_id text PRIMARY KEY, name text NOT NULL, email text, account_code text, seats integer, "
                     "deleted_at timestamptz)")
        with conn.cursor() as cur:
            cur.executemany(f'INSERT INTO "{name}".organizations VALUES (%s, %s, %s)', ORGANIZATIONS)
            cur.executemany(f'INSERT INTO "{name}".persons VALUES (%s, %s, %s, %s, %s, NULL)', PERSONS)
    try:
        yield name
    finally:
        _execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


def _key(emu: Emulator, entity: str, name: str) -> str:
    return next(f["key"] for f in emu.store.field_defs(entity, custom_only=True) if f["name"] == name)


def _persons(emu: Emulator) -> dict[str, dict[str, Any]]:
    """name → (id, email, account code, seats) of every live person in the emulator."""
    code, seats = _key(emu, "persons", "Account code"), _key(emu, "persons", "Seats")
    out = {}
    for p in emu.store.records("persons"):
        custom = p.get("custom_fields") or {}
        out[p["name"]] = {"id": p["id"], "emails": [e["value"] for e in p.get("emails") or []],
                          "account_code": custom.get(code), "seats": custom.get(seats)}
    return out


def _organizations(emu: Emulator) -> dict[str, dict[str, Any]]:
    code = _key(emu, "organizations", "Account code")
    return {o["name"]: {"id": o["id"], "account_code": (o.get("custom_fields") or {}).get(code)}
            for o in emu.store.records("organizations")}


def _writes(emu: Emulator) -> list[tuple[str, str]]:
    return sorted((r.method, r.path) for r in emu.requests if r.method in WRITES)


def _summary(result: subprocess.CompletedProcess[str]) -> str:
    """The target's summary line from Meltano's log (printed, so ``pytest -s`` shows the target's report)."""
    output = (result.stdout + result.stderr).splitlines()
    print("\n".join(line for line in output if "target-pipedrive" in line))
    lines = [line for line in output if "target-pipedrive done:" in line]
    assert len(lines) == 1, result.stderr[-4000:]
    return lines[0]


@pytest.mark.e2e
def test_meltano_reverse_etl_postgres_to_pipedrive(meltano_env, source, tmp_path):
    with Emulator(seed=1, sizes=empty_sizes(), api_token=TOKEN) as emu:
        env = dict(
            meltano_env,
            TAP_POSTGRES_FILTER_SCHEMAS=json.dumps([source]),
            TARGET_PIPEDRIVE_API_URL=emu.url,
            TARGET_PIPEDRIVE_API_TOKEN=TOKEN,
            TARGET_PIPEDRIVE_LEDGER_URL=f"sqlite:///{tmp_path / 'ledger.sqlite'}",
            TARGET_PIPEDRIVE_DEAD_LETTER_PATH=str(tmp_path / "rejects.jsonl"),
            TARGET_PIPEDRIVE_STREAM_MAP=json.dumps({f"{source}-persons": "persons",
                                                    f"{source}-organizations": "organizations"}),
            TARGET_PIPEDRIVE_MATCH_ON=json.dumps({f"{source}-persons": ["email"],
                                                  f"{source}-organizations": ["name"]}),
            TARGET_PIPEDRIVE_DELETE_FLAG_FIELD="deleted_at",
        )
        run = ("run", "--state-id-suffix", source, "tap-postgres", "target-pipedrive")

        # first run: every row is created, with its custom-field values
        first = meltano(*run, env=env)
        assert "created 5, updated 0, deleted 0, skipped unchanged 0, skipped 0, rejected 0" in _summary(first)
        persons = _persons(emu)
        assert {name: {k: v for k, v in p.items() if k != "id"} for name, p in persons.items()} == {
            "Ann Lee": {"emails": ["ann@example.com"], "account_code": "A-100", "seats": 12},
            "Bob Stone": {"emails": ["bob@example.com"], "account_code": "B-200", "seats": 3},
            "Cleo Park": {"emails": ["cleo@example.com"], "account_code": None, "seats": None},
        }
        orgs = _organizations(emu)
        assert {name: o["account_code"] for name, o in orgs.items()} == {"Acme GmbH": "ACME-01",
                                                                          "Globex Ltd": "GLOBEX-07"}
        assert _writes(emu) == sorted([("POST", "/api/v2/persons")] * 3 + [("POST", "/api/v2/organizations")] * 2)
        assert not (tmp_path / "rejects.jsonl").exists() or not (tmp_path / "rejects.jsonl").read_text().strip()

        # change one row: exactly that person is updated, the other four are skipped unchanged
        _execute(f'UPDATE "{source}".persons SET name = %s, account_code = %s, seats = %s WHERE ext_id = %s',
                 "Bob Stone-Ray", "B-201", 4, "p-2")
        emu.reset_log()
        second = meltano(*run, env=env)
        summary = _summary(second)
        assert "created 0, updated 1, deleted 0, skipped unchanged 4, skipped 0, rejected 0" in summary
        bob = persons["Bob Stone"]["id"]
        assert _writes(emu) == [("PATCH", f"/api/v2/persons/{bob}")]
        after = _persons(emu)
        assert len(emu.store.records("persons")) == 3
        assert after["Bob Stone-Ray"] == {"id": bob, "emails": ["bob@example.com"], "account_code": "B-201",
                                          "seats": 4}
        assert {n: p for n, p in after.items() if n != "Bob Stone-Ray"} == {
            n: p for n, p in persons.items() if n != "Bob Stone"}
        assert _organizations(emu) == orgs

        # flag one row as deleted: exactly that person is deleted, the other four are skipped unchanged
        _execute(f'UPDATE "{source}".persons SET deleted_at = now() WHERE ext_id = %s', "p-3")
        emu.reset_log()
        third = meltano(*run, env=env)
        summary = _summary(third)
        assert "created 0, updated 0, deleted 1, skipped unchanged 4, skipped 0, rejected 0" in summary
        assert _writes(emu) == [("DELETE", f"/api/v2/persons/{persons['Cleo Park']['id']}")]
        assert sorted(_persons(emu)) == ["Ann Lee", "Bob Stone-Ray"]
        assert _organizations(emu) == orgs


def test_meltano_yml_declares_every_target_setting_and_pins_tap_postgres():
    """meltano.yml lists every target-pipedrive setting (secrets sensitive); tap-postgres installs from its lock."""
    project = yaml.safe_load((ROOT / "meltano.yml").read_text())
    target = next(p for p in project["plugins"]["loaders"] if p["name"] == "target-pipedrive")
    # the definition lives in the generated lock file (scripts/plugin_definitions.py) unless meltano.yml has it
    settings = target.get("settings") or json.loads(
        (ROOT / "plugins" / "loaders" / f"target-pipedrive--{target['variant']}.lock").read_text())["settings"]
    declared = {s["name"]: s for s in settings}
    # singer-sdk adds these to every target's schema; target-pipedrive ignores them, so the definition omits them
    ignored = {"add_record_metadata", "load_method"}
    for name, prop in TargetPipedrive.config_jsonschema["properties"].items():
        if name in ignored:
            assert name not in declared, name
            continue
        assert name in declared, name
        assert declared[name].get("description"), name
        assert bool(declared[name].get("sensitive")) == bool(prop.get("secret")), name
    tap = next(p for p in project["plugins"]["extractors"] if p["name"] == "tap-postgres")
    lock = json.loads((ROOT / "plugins" / "extractors" / f"tap-postgres--{tap['variant']}.lock").read_text())
    assert (lock["name"], lock["variant"], lock["pip_url"]) == ("tap-postgres", tap["variant"], tap["pip_url"])
    assert {"host", "port", "user", "password", "database", "sqlalchemy_url", "filter_schemas"} <= {
        s["name"] for s in lock["settings"]}
    assert all(s.get("sensitive") for s in lock["settings"] if s["name"] in {"password", "sqlalchemy_url"})
