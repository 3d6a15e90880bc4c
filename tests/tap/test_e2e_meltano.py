"""End to end: ``meltano run tap-pipedrive target-postgres`` against the emulator and the real PostgreSQL.

Needs PostgreSQL on 127.0.0.1:5432 (database ``test``, trust auth) and PyPI access for the first install:
``scripts/meltano.sh`` creates Meltano's own venv and ``meltano install`` the plugins (Hub plugins come from
the committed lock files, no Hub access). Every run loads into a fresh schema that is dropped afterwards.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator

import pytest
import yaml

from pipedrive_core.catalogue import active
from pipedrive_emulator.server import Emulator
from tests.meltano_support import PG_URL, ROOT, installed_meltano_env, meltano

from .conftest import SUNSET_PATH, change_records

psycopg = pytest.importorskip("psycopg")

pytestmark = pytest.mark.e2e

DEFAULT_SELECT = yaml.safe_load((ROOT / "plugins" / "hub" / "tap-pipedrive.yml").read_text())["select"]
OPT_IN = ("deal_products.*", "deal_followers.*", "person_followers.*")
INCREMENTAL = ("deals", "persons", "organizations", "activities", "products", "notes", "files", "filters",
               "activity_types", "users")




@pytest.fixture(scope="module")
def meltano_env() -> dict[str, str]:
    return installed_meltano_env("TAP_PIPEDRIVE_", "TARGET_POSTGRES_")


@pytest.fixture
def schema() -> Iterator[str]:
    name = f"tap_e2e_{uuid.uuid4().hex[:10]}"
    yield name
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


def _query(sql: str, *params: object) -> list[tuple]:
    with psycopg.connect(PG_URL) as conn:
        return conn.execute(sql, params).fetchall()


def test_meltano_run_to_postgres_full_then_incremental(meltano_env, schema):
    with Emulator(seed=11, scale=0.05) as emu:
        # Meltano's default selection (the plugin definition's `select`) plus three opt-in children
        env = dict(meltano_env, TAP_PIPEDRIVE_API_URL=emu.url, TARGET_POSTGRES_DEFAULT_TARGET_SCHEMA=schema,
                   TAP_PIPEDRIVE__SELECT=json.dumps([*DEFAULT_SELECT, *OPT_IN]))
        suffix = schema
        meltano("run", "--no-install", "--state-id-suffix", suffix, "tap-pipedrive", "target-postgres", env=env)

        # row counts per stream equal what the emulator holds
        tables = {r[0] for r in _query("SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
                                       schema)}
        assert {"deals", "persons", "deal_products", "deal_fields", "notes", "users"} <= tables
        top_level = [r.name for r in active() if r.parent is None and r.selected_by_default
                     and r.name not in {"deals", "goals", "mail_threads"}]
        for name in top_level:
            stored = sum(1 for row in emu.store.tables[name].rows.values() if row.deleted_at is None)
            (count,) = _query(f'SELECT count(*) FROM "{schema}"."{name}"')[0]
            assert count == stored, name
        (products,) = _query(f'SELECT count(*) FROM "{schema}".deal_products')[0]
        assert products == sum(1 for row in emu.store.tables["deal_products"].rows.values()
                               if row.deleted_at is None)
        first_requests = len(emu.requests)
        (deals,) = _query(f'SELECT count(*) FROM "{schema}".deals')[0]
        assert deals == len(emu.store.tables["deals"].rows)

        # custom-field columns have readable names (the dev environment sets custom_field_names: name and
        # resolve_option_labels: true; deal_fields publishes each field's column) and typed PostgreSQL types
        types = dict(_query("SELECT column_name, data_type FROM information_schema.columns "
                            "WHERE table_schema = %s AND table_name = 'deals'", schema))
        assert not [c for c in types if re.fullmatch(r"[0-9a-f]{40}.*", c)]
        custom_keys = {d["key"] for d in emu.store.field_defs("deals", custom_only=True)}
        published = _query(f'SELECT key, "column", field_type FROM "{schema}".deal_fields')
        by_type = {ftype: column for key, column, ftype in published if key in custom_keys}
        assert types[by_type["enum"] + "_label"] == "text" and types[by_type["set"] + "_labels"] == "ARRAY"
        assert types[by_type["int"]] == "bigint"
        assert types[by_type["monetary"]] == "numeric"
        assert types[by_type["monetary"] + "_currency"] == "text"
        assert types[by_type["date"]] == "date"
        assert types[by_type["enum"]] == "bigint"
        assert types[by_type["set"]] == "ARRAY"
        assert types["update_time"].startswith("timestamp")
        note_types = dict(_query("SELECT column_name, data_type FROM information_schema.columns "
                                 "WHERE table_schema = %s AND table_name = 'notes'", schema))
        assert note_types["person"] == "jsonb"  # nested objects
        assert note_types["update_time"].startswith("timestamp")

        first_max = {name: _query(f'SELECT max(_sdc_extracted_at) FROM "{schema}"."{name}"')[0][0]
                     for name in INCREMENTAL}

        # change records, then the incremental run must touch exactly those rows
        note_id = change_records(emu)["notes"]
        emu.reset_log()
        meltano("run", "--no-install", "--state-id-suffix", suffix, "tap-pipedrive", "target-postgres", env=env)

        changed = {name: {r[0] for r in _query(f'SELECT id FROM "{schema}"."{name}" WHERE _sdc_extracted_at > %s',
                                               first_max[name])} for name in INCREMENTAL}
        assert changed["deals"] == {3}
        assert changed["persons"] == {2}
        assert changed["notes"] == {note_id}
        assert all(not ids for name, ids in changed.items() if name not in {"deals", "persons", "notes"})
        assert _query(f'SELECT title FROM "{schema}".deals WHERE id = 3')[0][0] == "changed deal"
        (count,) = _query(f'SELECT count(*) FROM "{schema}".persons')[0]
        assert count == sum(1 for row in emu.store.tables["persons"].rows.values() if row.deleted_at is None)

        log = emu.requests.snapshot()
        # an incremental run, not a second full read (most of what remains is fixed: *Fields, full-table streams)
        assert len(log) < first_requests
        deal_lists = [r for r in log if r.path in ("/api/v2/deals", "/api/v2/deals/archived")]
        incremental = [r for r in deal_lists if "updated_since" in r.query]
        assert len(incremental) == 2  # live + archived, one page each
        assert all(r.query["sort_by"] == "update_time" for r in incremental)
        # other deal list reads (the tap's pass for records never updated, newest added first down to the
        # bookmark) are single pages here
        assert all("cursor" not in r.query for r in deal_lists)
        # children are read for the changed deal and person only
        nested = {r.path for r in log if re.match(r"^(/v1|/api/v2)/(deals|persons|organizations)/\d+/", r.path)}
        assert nested
        assert all(re.match(r"^(/v1|/api/v2)/(deals/3|persons/2)/", p) for p in nested)
        assert any(r.path == "/v1/recents" and r.query.get("items") == "note" for r in log)
        # lists read through /recents are not read again, except one page of the never-updated pass each
        for path in ("/v1/notes", "/v1/users", "/v1/files"):
            assert len([r for r in log if r.path == path]) <= 1, path
        assert not [r for r in log if SUNSET_PATH.match(r.path)]
