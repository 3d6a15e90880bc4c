"""What a real ``target-postgres`` load of the tap's output looks like in PostgreSQL.

The tap reads the emulator in-process; its messages go to Meltano's ``target-postgres`` (installed by
``meltano install``, as the other end-to-end tests do) loading a fresh schema. There every timestamp, date and
time-of-day column is typed (not text), and every statement of every ``sql`` block of docs/tap.md runs.
Needs PostgreSQL on 127.0.0.1:5432 (database ``test``); skips otherwise.
"""

from __future__ import annotations

import json
import re
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipedrive_core.catalogue import active
from pipedrive_emulator.server import Emulator
from tests.meltano_support import PG_URL, ROOT, installed_meltano_env, pg_available
from tests.tap.conftest import base_config, run_tap

psycopg = pytest.importorskip("psycopg")

pytestmark = pytest.mark.e2e

PAGE = ROOT / "docs" / "tap.md"
TARGET = ROOT / ".meltano" / "loaders" / "target-postgres" / "venv" / "bin" / "target-postgres"
#: the PostgreSQL type target-postgres gives each JSON-schema format
PG_TYPES = {"date-time": "timestamp", "date": "date", "time": "time"}
SQL_BLOCK = re.compile(r"^```sql\n(.*?)^```", re.DOTALL | re.MULTILINE)


def statements(markdown: str) -> list[str]:
    """Every statement of every ``sql`` block, comments dropped."""
    found = []
    for block in SQL_BLOCK.findall(markdown):
        code = "\n".join(line.split("--", 1)[0] for line in block.splitlines())
        found += [s.strip() for s in code.split(";") if s.strip()]
    return found


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A schema holding one full tap read of the emulator, loaded by target-postgres."""
    if not pg_available():
        pytest.skip("PostgreSQL is not reachable on 127.0.0.1:5432 (database test)")
    if not TARGET.exists():  # a `meltano install` only when needed: it disturbs concurrent Meltano runs
        installed_meltano_env("TAP_PIPEDRIVE_", "TARGET_POSTGRES_")
    if not TARGET.exists():
        pytest.skip(f"{TARGET} is not installed")
    schema = f"tap_docs_{uuid.uuid4().hex[:10]}"
    with Emulator(seed=11, scale=0.05) as emu:
        result = run_tap(base_config(emu))
    assert result.exit_code == 0
    config = Path(tmp_path_factory.mktemp("target")) / "config.json"
    config.write_text(json.dumps({
        "sqlalchemy_url": PG_URL.replace("postgresql://", "postgresql+psycopg://"),
        "default_target_schema": schema,
        "add_record_metadata": True,
        "validate_records": False,  # as meltano.yml loads (record types: tests/tap/test_schemas.py)
    }))
    lines = "".join(json.dumps(message) + "\n" for message in result.messages)
    try:
        load = subprocess.run([str(TARGET), "--config", str(config)], input=lines, capture_output=True, text=True,
                              timeout=600, check=False)
        assert load.returncode == 0, load.stderr[-4000:]
        yield schema
    finally:
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def _run(schema: str, sql: str) -> list[tuple[object, ...]]:
    with psycopg.connect(PG_URL) as conn:
        conn.execute(f'SET search_path TO "{schema}"')
        rows: list[tuple[object, ...]] = conn.execute(sql).fetchall()
        return rows


def test_the_page_has_sql() -> None:
    assert len(statements(PAGE.read_text(encoding="utf-8"))) >= 3


def test_every_sql_statement_of_the_page_runs(loaded: str) -> None:
    for sql in statements(PAGE.read_text(encoding="utf-8")):
        _run(loaded, sql)  # an error (jsonb = bigint, a missing column) fails the test


def test_the_participants_join_finds_every_participants_person(loaded: str) -> None:
    """The documented persons-of-a-deal join, for each deal with participants, returns its participants."""
    join = next(s for s in statements(PAGE.read_text(encoding="utf-8")) if "deal_participants" in s)
    deals = _run(loaded, "SELECT deal_id, count(*) FROM deal_participants GROUP BY deal_id")
    assert deals
    for deal_id, participants in deals:
        rows = _run(loaded, join.replace("dp.deal_id = 42", f"dp.deal_id = {int(str(deal_id))}"))
        assert len(rows) == participants, deal_id


def test_every_timestamp_date_and_time_column_is_typed(loaded: str) -> None:
    """Every top-level column the schemas give a temporal format lands as that PostgreSQL type, not text."""
    rows = _run(loaded, f"SELECT table_name, column_name, data_type FROM information_schema.columns "
                        f"WHERE table_schema = '{loaded}'")
    landed = {(str(table), str(column)): str(kind) for table, column, kind in rows}
    checked, wrong = 0, []
    for res in active():
        schema = json.loads((ROOT / "tap_pipedrive" / "schemas" / f"{res.name}.json").read_text(encoding="utf-8"))
        for column, node in schema["properties"].items():
            fmt = node.get("format")
            kind = landed.get((res.name, column))
            if fmt in PG_TYPES and kind is not None:
                checked += 1
                if not kind.startswith(PG_TYPES[fmt]):
                    wrong.append(f"{res.name}.{column}: {fmt} landed as {kind}")
    assert checked >= 90, checked
    assert not wrong
