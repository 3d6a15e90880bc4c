"""The README's quick start, as a newcomer runs it: ``PORT=<any> bash scripts/demo.sh``.

A real run: the script starts the emulator on a port that is not the default 8765, runs Meltano
(``meltano run tap-pipedrive target-csv`` in the ``dev`` environment) and writes CSV files; the files must
hold the emulator's records with readable custom-field columns. A port taken by another program must stop the
script with one ``error:`` line before Meltano starts.
"""

from __future__ import annotations

import csv
import json
import os
import re
import socket
import subprocess
from pathlib import Path

import pytest

from pipedrive_emulator.server import Emulator
from tests.meltano_support import ROOT, free_port, installed_meltano_env

pytestmark = pytest.mark.e2e

DEMO = ROOT / "scripts" / "demo.sh"
HEX_KEY = re.compile(r"[0-9a-f]{40}")


def demo(env: dict[str, str], port: int, out: Path, log: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(DEMO)], cwd=ROOT, env=dict(env, PORT=str(port), OUT=str(out),
                                                                    EMULATOR_LOG=str(log)),
                          capture_output=True, text=True, timeout=900, check=False)


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], Path, int]:
    env = installed_meltano_env("TAP_PIPEDRIVE", "TARGET_PIPEDRIVE", "TARGET_CSV", "MELTANO_")
    env.pop("MELTANO_ENVIRONMENT", None)  # the demo selects dev itself
    out = tmp_path_factory.mktemp("csv")
    port = free_port()
    result = demo(env, port, out, out.parent / "emulator.log")
    return result, out, port


def test_demo_runs_on_any_port_and_says_which(demo_run):
    result, _out, port = demo_run
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    assert f"http://127.0.0.1:{port}" in result.stdout
    assert "Done. The data is in" in result.stdout


def test_demo_csv_holds_the_emulators_records(demo_run):
    result, out, _ = demo_run
    assert result.returncode == 0
    seeded = Emulator(seed=1, scale=1)  # the demo's data set, built in-process (not served)
    for stream in ("persons", "organizations", "products"):
        with (out / f"{stream}.csv").open(encoding="utf-8") as fh:
            ids = {int(row["id"]) for row in csv.DictReader(fh)}
        live = {i for i, row in seeded.store.tables[stream].rows.items() if row.deleted_at is None}
        assert ids == live, stream


def test_demo_shows_readable_custom_fields(demo_run):
    result, out, _ = demo_run
    assert result.returncode == 0
    with (out / "deals.csv").open(encoding="utf-8") as fh:
        header = next(csv.reader(fh))
    assert not [c for c in header if HEX_KEY.search(c)]  # no 40-hex custom-field keys
    seeded = Emulator(seed=1, scale=1)
    names = {d["name"] for d in seeded.store.field_defs("deals", custom_only=True)}
    assert "budget" in header and "Budget" in names
    assert [c for c in header if c.endswith("_label")], "option labels next to option ids"
    assert "The columns of deals.csv" in result.stdout


def test_demo_writes_nested_values_as_columns_and_json_not_python_reprs(demo_run):
    result, out, _ = demo_run
    assert result.returncode == 0
    with (out / "persons.csv").open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    text = (out / "persons.csv").read_text(encoding="utf-8")
    assert "{'" not in text and "'primary': True" not in text
    emails = [json.loads(row["emails"]) for row in rows if row["emails"]]
    assert emails and all(isinstance(e, list) and "value" in e[0] for e in emails if e)
    with (out / "activities.csv").open(encoding="utf-8") as fh:
        header = next(csv.reader(fh))
    assert "location" not in header and "location__value" in header  # an object flattened into columns


def test_demo_stops_with_one_line_when_the_port_is_taken(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TAP_PIPEDRIVE", "TARGET_", "MELTANO_"))}
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = demo(env, port, tmp_path / "csv", tmp_path / "emulator.log")
    assert result.returncode != 0
    errors = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(errors) == 1 and errors[0].startswith("error:") and str(port) in errors[0], result.stderr
    assert "meltano" not in result.stdout  # stopped before Meltano
