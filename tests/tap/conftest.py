"""Fixtures for the tap tests: an in-process emulator and an in-process tap run that captures messages."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from pipedrive_emulator.server import Emulator
from tap_pipedrive.tap import TapPipedrive

TOKEN = "emulator-token"
#: v1 entity paths Pipedrive retired on 2026-08-01 (lists, single records, deal products): never called.
#: Nested v1 reads such as /v1/deals/{id}/flow are still served and are not matched.
SUNSET_PATH = re.compile(
    r"^/v1/(deals|persons|organizations|activities|products|pipelines|stages)(/\d+)?$|^/v1/deals/\d+/products$"
)


def base_config(emu: Emulator, **extra: Any) -> dict[str, Any]:
    """Tap config pointing at ``emu``."""
    return {"api_url": emu.url, "api_token": TOKEN, **extra}


@dataclass
class SyncResult:
    """Everything one in-process tap run wrote."""

    messages: list[dict[str, Any]]
    exit_code: int = 0
    log: str = ""
    records: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    schemas: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for msg in self.messages:
            if msg["type"] == "RECORD":
                self.records[msg["stream"]].append(msg["record"])
            elif msg["type"] == "SCHEMA":
                self.schemas[msg["stream"]] = msg["schema"]

    @property
    def counts(self) -> Counter[str]:
        """Records per stream."""
        return Counter({name: len(rows) for name, rows in self.records.items()})

    @property
    def states(self) -> list[dict[str, Any]]:
        """Every STATE value, in order."""
        return [m["value"] for m in self.messages if m["type"] == "STATE"]

    @property
    def state(self) -> dict[str, Any]:
        """The last STATE value."""
        return self.states[-1] if self.states else {}

    def ids(self, stream: str, key: str = "id") -> list[Any]:
        """The key values of a stream's records, in order."""
        return [r[key] for r in self.records[stream]]


def catalog_for(tap: TapPipedrive, streams: Iterable[str] | None) -> dict[str, Any]:
    """The tap's discovered catalog with only ``streams`` (and all their properties) selected."""
    wanted = set(streams) if streams is not None else None
    catalog = tap.catalog_dict
    for entry in catalog["streams"]:
        selected = wanted is None or entry["tap_stream_id"] in wanted
        for meta in entry["metadata"]:
            if meta["breadcrumb"] == []:
                meta["metadata"]["selected"] = selected
    return catalog


def run_tap(
    config: dict[str, Any],
    *,
    streams: Iterable[str] | None = None,
    state: dict[str, Any] | None = None,
    catalog: dict[str, Any] | None = None,
) -> SyncResult:
    """Run discovery + sync in-process; SystemExit (a clean stop) is captured as ``exit_code``."""
    if catalog is None:
        catalog = catalog_for(TapPipedrive(config=config, parse_env_config=False, validate_config=True), streams)
    out = io.StringIO()
    logs = io.StringIO()
    handler = logging.StreamHandler(logs)
    root = logging.getLogger()
    root.addHandler(handler)
    code = 0
    try:
        with contextlib.redirect_stdout(out):
            tap = TapPipedrive(config=config, state=state or {}, catalog=catalog, parse_env_config=False)
            try:
                tap.run_sync()
            except SystemExit as exc:
                code = int(exc.code or 0)
    finally:
        root.removeHandler(handler)
    messages = [json.loads(line) for line in out.getvalue().splitlines() if line.strip()]
    return SyncResult(messages, code, logs.getvalue())


def change_records(emu: Emulator) -> dict[str, Any]:
    """An hour later, change deal 3, person 2 and the first note; return ``{stream: changed id}``."""
    emu.clock.advance(3600)
    emu.store.update("deals", 3, {"title": "changed deal"})
    emu.store.update("persons", 2, {"name": "changed person"})
    note_id = next(iter(emu.store.tables["notes"].rows))
    emu.store.update("notes", note_id, {"content": "changed note"})
    return {"deals": 3, "persons": 2, "notes": note_id}


def requested_paths(emu: Emulator) -> list[str]:
    """Paths the emulator served, in order."""
    return [r.path for r in emu.requests.snapshot()]


@pytest.fixture(scope="module")
def emulator() -> Iterator[Emulator]:
    """A small seeded emulator shared by the tests of one module (tests that mutate use their own)."""
    emu = Emulator(seed=1, scale=0.05)
    emu.start()
    yield emu
    emu.stop()


@pytest.fixture
def fresh_emulator() -> Iterator[Emulator]:
    """An emulator of one's own, for tests that change data or time."""
    emu = Emulator(seed=2, scale=0.05)
    emu.start()
    yield emu
    emu.stop()
