"""Fixtures for target-pipedrive: empty emulators, and ways to feed Singer messages to the target."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pipedrive_emulator.seed import BASE_SIZES, FIXED_SIZES
from pipedrive_emulator.server import Emulator
from target_pipedrive.target import TargetPipedrive

REPO = Path(__file__).resolve().parents[2]
TOKEN = "emulator-token"


def empty_sizes(**keep: int) -> dict[str, int]:
    """Seed sizes for an account with no business records (one user and one pipeline with its stages)."""
    sizes = dict.fromkeys({**BASE_SIZES, **FIXED_SIZES}, 0)
    sizes.update(users=1, pipelines=1)
    sizes.update(keep)
    return sizes


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    """A started emulator holding no persons, deals, … but the usual custom-field definitions."""
    with Emulator(seed=1, sizes=empty_sizes()) as emu:
        yield emu


@pytest.fixture
def config(emulator: Emulator, tmp_path: Path) -> dict[str, Any]:
    """A target config pointing at the emulator, with a ledger and dead-letter file in ``tmp_path``."""
    return {
        "api_token": TOKEN,
        "api_url": emulator.url,
        "ledger_url": f"sqlite:///{tmp_path / 'ledger.sqlite'}",
        "dead_letter_path": str(tmp_path / "dead.jsonl"),
        "max_retries": 2,
        "backoff_base_seconds": 0.01,
        "backoff_max_seconds": 0.05,
    }


def schema(stream: str, properties: dict[str, Any], key_properties: list[str] | None = None) -> dict[str, Any]:
    """A SCHEMA message."""
    return {
        "type": "SCHEMA",
        "stream": stream,
        "schema": {"type": "object", "properties": properties},
        "key_properties": key_properties or [],
    }


def record(stream: str, rec: dict[str, Any]) -> dict[str, Any]:
    """A RECORD message."""
    return {"type": "RECORD", "stream": stream, "record": rec}


def text(*messages: dict[str, Any] | Iterable[dict[str, Any]]) -> str:
    """Singer lines for messages (or iterables of messages)."""
    out: list[str] = []
    for m in messages:
        items = [m] if isinstance(m, dict) else list(m)
        out.extend(json.dumps(i) for i in items)
    return "\n".join(out) + "\n"


@dataclass
class Run:
    """What an in-process run produced."""

    target: TargetPipedrive
    summary: dict[str, Any]


def run_target(config: dict[str, Any], *messages: dict[str, Any] | Iterable[dict[str, Any]]) -> Run:
    """Run the target in-process on the messages; exceptions propagate."""
    target = TargetPipedrive(config=config, parse_env_config=False, validate_config=True)
    try:
        target.listen(io.StringIO(text(*messages)))
    finally:
        summary = target.runtime.summary.as_dict() if target._runtime is not None else {}
    return Run(target, summary)


@dataclass
class CliRun:
    """What a subprocess run produced."""

    returncode: int
    stdout: str
    stderr: str


def cli_env() -> dict[str, str]:
    """Environment for running the target as a process from the repository."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TARGET_PIPEDRIVE_")}
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def run_cli(config: dict[str, Any], tmp_path: Path, input_text: str, timeout: float = 120) -> CliRun:
    """Run ``python -m target_pipedrive --config …`` as a separate process."""
    cfg = tmp_path / "config.json"
    cfg.write_text(json.dumps(config))
    proc = subprocess.run(
        [sys.executable, "-m", "target_pipedrive", "--config", str(cfg)],
        input=input_text,
        capture_output=True,
        text=True,
        cwd=REPO,
        env=cli_env(),
        timeout=timeout,
        check=False,
    )
    return CliRun(proc.returncode, proc.stdout, proc.stderr)


def dead_letters(config: dict[str, Any]) -> list[dict[str, Any]]:
    """Entries of the dead-letter file."""
    path = Path(config["dead_letter_path"])
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
