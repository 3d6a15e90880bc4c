"""The built wheel on every Python version the package claims: install, discover, sync, write.

The classifiers in ``pyproject.toml`` are what ``--about`` reports (singer-sdk reads them from the installed
metadata), so they must list exactly the versions smoke-tested here. Each interpreter gets a fresh venv with
the wheel and nothing else (no extras): that also proves the tap and the target run without the emulator's
data generator (``faker``) and without the PostgreSQL driver. The emulator runs in the test's own process.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import tomllib

from pipedrive_emulator.server import Emulator
from tests.meltano_support import build_wheel

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "emulator-token"
#: The versions the package claims; each one is smoke-tested below.
CLAIMED = ("3.10", "3.11", "3.12", "3.13")
SYNCED = ("deals", "persons", "deal_fields", "pipelines")

pytestmark = pytest.mark.packaging


def interpreter(version: str) -> str | None:
    """A Python ``version`` interpreter on this machine (pyenv's or one on PATH)."""
    pyenv = Path.home() / ".pyenv" / "versions"
    for candidate in sorted(pyenv.glob(f"{version}.*/bin/python"), reverse=True):
        return str(candidate)
    return shutil.which(f"python{version}")


def run(*args: str | Path, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    """Run a command; fail the test with its output when it fails."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TAP_PIPEDRIVE_", "TARGET_PIPEDRIVE_"))}
    result = subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=600, check=False,
                            env=env, **kwargs)
    assert result.returncode == 0, f"{args}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


def test_claimed_versions_are_the_classifiers():
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    prefix = "Programming Language :: Python :: 3."
    classifiers = tuple(c.rsplit(" :: ", 1)[1] for c in meta["classifiers"] if c.startswith(prefix))
    assert classifiers == CLAIMED
    assert meta["requires-python"] == f">={CLAIMED[0]}"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_wheel(tmp_path_factory.mktemp("dist"))


def test_wheel_ships_only_what_runs(wheel):
    import zipfile

    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        metadata = zf.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    tops = {n.split("/", 1)[0] for n in names}
    assert tops == {"pipedrive_core", "tap_pipedrive", "target_pipedrive", "pipedrive_emulator",
                    wheel.name.split("-py3")[0] + ".dist-info"}
    assert not [n for n in names if "/tests/" in n or n.endswith(".pyc")]
    # generators used at development time only
    assert not {"target_pipedrive/gen_api_fields.py", "pipedrive_core/openapi.py", "tap_pipedrive/docs.py"} & set(names)
    assert any(n.endswith("licenses/LICENSE") for n in names)
    assert "tap_pipedrive/schemas/deals.json" in names
    assert "target_pipedrive/api_fields.json" in names
    required = [line.split(":", 1)[1].strip() for line in metadata.splitlines() if line.startswith("Requires-Dist:")]
    unconditional = {r.split(";")[0].split("[")[0].split("~")[0].split(">")[0].strip().lower()
                     for r in required if "extra ==" not in r}
    assert {"singer-sdk", "requests", "sqlalchemy", "tenacity"} <= unconditional
    # the emulator's data generator, the PostgreSQL driver and the spec readers are not needed to run
    assert unconditional.isdisjoint({"faker", "psycopg", "pyyaml", "pendulum", "openapi-core"})
    assert any("faker" in r and "extra == 'emulator'" in r for r in required)
    assert any("psycopg" in r and "extra == 'postgres'" in r for r in required)


@pytest.mark.parametrize("version", CLAIMED)
def test_wheel_discovers_syncs_and_writes(version, wheel, tmp_path):
    python = interpreter(version)
    if python is None:
        pytest.skip(f"no Python {version} on this machine")
    venv = tmp_path / "venv"
    run(python, "-m", "venv", venv)
    run(venv / "bin" / "python", "-m", "pip", "install", "--quiet", wheel)
    bindir = venv / "bin"
    assert run(bindir / "python", "-c", "import sys; print(sys.version)").stdout.startswith(version)
    # the tap and the target need neither the emulator's generator nor the PostgreSQL driver
    probe = run(bindir / "python", "-c",
                "import importlib.util as u; print([m for m in ('faker', 'psycopg') if u.find_spec(m)])")
    assert probe.stdout.strip() == "[]"

    about = json.loads(run(bindir / "tap-pipedrive", "--about", "--format", "json").stdout)
    assert about["supported_python_versions"] == list(CLAIMED)
    assert about["version"] != "[could not be detected]"
    target_about = json.loads(run(bindir / "target-pipedrive", "--about", "--format", "json").stdout)
    assert target_about["supported_python_versions"] == list(CLAIMED)

    with Emulator(seed=3, scale=0.02) as emu:
        config = tmp_path / "tap.json"
        config.write_text(json.dumps({"api_url": emu.url, "api_token": TOKEN}))
        catalog = json.loads(run(bindir / "tap-pipedrive", "--config", config, "--discover").stdout)
        for entry in catalog["streams"]:
            for meta in entry["metadata"]:
                if meta["breadcrumb"] == []:
                    meta["metadata"]["selected"] = entry["tap_stream_id"] in SYNCED
        catalog_file = tmp_path / "catalog.json"
        catalog_file.write_text(json.dumps(catalog))
        out = run(bindir / "tap-pipedrive", "--config", config, "--catalog", catalog_file).stdout
        records: dict[str, int] = {}
        for line in out.splitlines():
            msg = json.loads(line)
            if msg["type"] == "RECORD":
                records[msg["stream"]] = records.get(msg["stream"], 0) + 1
        for name in ("deals", "persons", "pipelines"):
            stored = sum(1 for row in emu.store.tables[name].rows.values() if row.deleted_at is None)
            assert 0 < stored <= records.get(name, 0), name
        assert set(records) <= set(SYNCED)

        # the target writes one person through the same wheel
        target_config = tmp_path / "target.json"
        target_config.write_text(json.dumps({"api_url": emu.url, "api_token": TOKEN,
                                             "ledger_url": f"sqlite:///{tmp_path / 'ledger.sqlite'}",
                                             "dead_letter_path": str(tmp_path / "dead.jsonl")}))
        before = len(emu.store.tables["persons"].rows)
        lines = [
            {"type": "SCHEMA", "stream": "persons", "key_properties": ["source_id"],
             "schema": {"type": "object", "properties": {"source_id": {"type": "string"},
                                                         "name": {"type": "string"}}}},
            {"type": "RECORD", "stream": "persons", "record": {"source_id": "wheel-1", "name": f"Wheel {version}"}},
        ]
        run(bindir / "target-pipedrive", "--config", target_config,
            input="\n".join(json.dumps(m) for m in lines) + "\n")
        assert len(emu.store.tables["persons"].rows) == before + 1
