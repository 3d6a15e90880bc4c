"""The Meltano plugin definitions: current, Hub-shaped, and usable by a new project through ``--from-ref``.

``scripts/plugin_definitions.py`` generates ``plugins/hub/*.yml`` (Meltano Hub format) and the lock files this
project's ``meltano.yml`` uses from the plugins' own settings. The end-to-end test adds both plugins to a
fresh Meltano project with ``meltano add --from-ref`` (no setting typed by hand), installs the built wheel and
runs them against the emulator.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest
import yaml

from pipedrive_emulator.server import Emulator
from tap_pipedrive.tap import TapPipedrive
from target_pipedrive.target import TargetPipedrive
from tests.meltano_support import MELTANO, MELTANO_BIN, ROOT, build_wheel

HUB = ROOT / "plugins" / "hub"


def hub(name: str) -> dict[str, Any]:
    return yaml.safe_load((HUB / f"{name}.yml").read_text(encoding="utf-8"))


def test_definitions_are_current():
    result = subprocess.run([sys.executable, "scripts/plugin_definitions.py", "--check"], cwd=ROOT,
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(("name", "cls"), [("tap-pipedrive", TapPipedrive), ("target-pipedrive", TargetPipedrive)])
def test_definition_matches_the_plugin(name, cls):
    definition = hub(name)
    settings = {s["name"]: s for s in definition["settings"]}
    schema = cls.config_jsonschema["properties"]
    assert set(schema) <= set(settings)  # every setting the plugin declares itself
    assert definition["capabilities"] == [str(c) for c in cls.capabilities]
    assert definition["executable"] == name and definition["namespace"] == name.replace("-", "_")
    # Hub conventions: the same label for the same setting in both plugins, acronyms spelled out
    assert settings["api_token"]["label"] == "API Token" and settings["api_token"]["sensitive"] is True
    assert settings["oauth_client_id"]["label"] == "OAuth Client ID"
    assert settings["api_url"]["label"] == "API URL"
    assert settings["request_timeout"]["kind"] == "decimal"
    assert definition["settings_group_validation"] == [["api_token"], ["oauth_client_id", "oauth_client_secret",
                                                                       "oauth_refresh_token"]]
    for setting in definition["settings"]:
        assert setting["kind"] in {"string", "integer", "decimal", "boolean", "object", "array", "options",
                                   "date_iso8601"}, setting
        assert setting.get("description"), setting["name"]


def test_shared_settings_have_one_label():
    tap = {s["name"]: s["label"] for s in hub("tap-pipedrive")["settings"]}
    target = {s["name"]: s["label"] for s in hub("target-pipedrive")["settings"]}
    assert {n: tap[n] for n in tap.keys() & target.keys()} == {n: target[n] for n in tap.keys() & target.keys()}


def test_tap_has_batch_and_target_drops_settings_it_ignores():
    assert "batch" in hub("tap-pipedrive")["capabilities"]
    target_settings = {s["name"] for s in hub("target-pipedrive")["settings"]}
    assert not {"load_method", "add_record_metadata"} & target_settings
    # the target really ignores them: no code reads either name
    code = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "target_pipedrive").glob("*.py"))
    assert "load_method" not in code and "add_record_metadata" not in code


def test_project_uses_the_generated_lock_files():
    project = yaml.safe_load((ROOT / "meltano.yml").read_text(encoding="utf-8"))
    ours = {p["name"]: p for kind in ("extractors", "loaders") for p in project["plugins"][kind]
            if p["name"] in {"tap-pipedrive", "target-pipedrive"}}
    for name, entry in ours.items():
        assert entry["variant"] == "pipedrive-singer" and "settings" not in entry, name
    for path in (ROOT / "plugins" / "extractors" / "tap-pipedrive--pipedrive-singer.lock",
                 ROOT / "plugins" / "loaders" / "target-pipedrive--pipedrive-singer.lock"):
        lock = json.loads(path.read_text(encoding="utf-8"))
        assert lock["settings"] == hub(lock["name"])["settings"]


@pytest.mark.e2e
def test_meltano_add_from_ref_in_a_new_project(tmp_path):
    if not MELTANO_BIN.exists():  # scripts/meltano.sh creates Meltano's venv on first use
        subprocess.run(["bash", str(MELTANO), "--version"], cwd=ROOT, capture_output=True, check=True, timeout=900)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("TAP_PIPEDRIVE", "TARGET_PIPEDRIVE", "MELTANO_"))}
    env["MELTANO_SEND_ANONYMOUS_USAGE_STATS"] = "false"
    project = tmp_path / "project"

    def meltano(*args: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
        result = subprocess.run([str(MELTANO_BIN), *args], cwd=project if project.exists() else tmp_path,
                                env=env, capture_output=True, text=True, timeout=900, check=False, **kwargs)
        assert result.returncode == 0, f"meltano {' '.join(args)}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        return result

    meltano("init", "--no-usage-stats", str(project))
    # Meltano 4 syntax: `meltano add extractor tap-pipedrive` would add a second plugin (a utility) named "extractor"
    meltano("add", "--plugin-type", "extractor", "tap-pipedrive", "--from-ref", str(HUB / "tap-pipedrive.yml"),
            "--no-install")
    meltano("add", "--plugin-type", "loader", "target-pipedrive", "--from-ref", str(HUB / "target-pipedrive.yml"),
            "--no-install")

    # the package is not on an index yet: point pip_url at the wheel, as docs/meltano.md says
    wheel = build_wheel(tmp_path / "dist")
    config = yaml.safe_load((project / "meltano.yml").read_text(encoding="utf-8"))
    assert set(config["plugins"]) == {"extractors", "loaders"}
    for kind in ("extractors", "loaders"):
        (entry,) = config["plugins"][kind]
        assert len(entry["settings"]) == len(hub(entry["name"])["settings"])  # nothing typed by hand
        entry["pip_url"] = str(wheel)
    (project / "meltano.yml").write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    meltano("install")

    listed = meltano("config", "list", "tap-pipedrive", "--all").stdout
    assert "[env: TAP_PIPEDRIVE_API_TOKEN]" in listed and "API Token:" in listed and "custom_field_names" in listed
    meltano("config", "set", "tap-pipedrive", "request_timeout", "0.5")
    printed = json.loads(meltano("config", "print", "tap-pipedrive").stdout)
    assert printed["request_timeout"] == 0.5
    target_listed = meltano("config", "list", "target-pipedrive", "--all").stdout
    assert "load_method" not in target_listed and "ledger_url" in target_listed

    with Emulator(seed=5, scale=0.02) as emu:
        env.update(TAP_PIPEDRIVE_API_URL=emu.url, TAP_PIPEDRIVE_API_TOKEN=emu.api_token,
                   TARGET_PIPEDRIVE_API_URL=emu.url, TARGET_PIPEDRIVE_API_TOKEN=emu.api_token,
                   TARGET_PIPEDRIVE_LEDGER_URL=f"sqlite:///{tmp_path / 'ledger.sqlite'}",
                   TARGET_PIPEDRIVE_DEAD_LETTER_PATH=str(tmp_path / "dead.jsonl"))
        meltano("select", "tap-pipedrive", "pipelines", "*")
        meltano("select", "tap-pipedrive", "stages", "*")
        out = meltano("invoke", "tap-pipedrive").stdout
        records = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
        assert {m["stream"] for m in records if m.get("type") == "RECORD"} == {"pipelines", "stages"}

        before = len(emu.store.tables["persons"].rows)
        lines = [{"type": "SCHEMA", "stream": "persons", "key_properties": ["ext_id"],
                  "schema": {"type": "object", "properties": {"ext_id": {"type": "string"},
                                                              "name": {"type": "string"}}}},
                 {"type": "RECORD", "stream": "persons", "record": {"ext_id": "from-ref-1", "name": "From Ref"}}]
        meltano("invoke", "target-pipedrive", input="\n".join(json.dumps(m) for m in lines) + "\n")
        assert len(emu.store.tables["persons"].rows) == before + 1
