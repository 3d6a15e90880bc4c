"""Property-based: the target fed random and malformed records (wrong types, huge strings, unicode, nulls,
unknown fields, unknown option labels, missing keys). Each record is either written exactly once or rejected
into the dead-letter file with a reason that names it; the run never crashes and never loses an accepted
record."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from pipedrive_emulator.server import Emulator
from target_pipedrive.ledger import Ledger, account_key
from target_pipedrive.planner import key_string
from tests.reliability.conftest import TARGET_FAST
from tests.target.conftest import empty_sizes, record, run_target, schema

_counter = itertools.count()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """One emulator, ledger and dead-letter file for all examples (records are keyed apart)."""
    tmp = tmp_path_factory.mktemp("hypothesis")
    with Emulator(seed=5, sizes=empty_sizes()) as emu:
        defs = {d["field_type"]: d for d in emu.store.field_defs("persons", custom_only=True)}
        config = {"api_token": emu.api_token, "api_url": emu.url, **TARGET_FAST, "on_error": "skip",
                  "ledger_url": f"sqlite:///{tmp / 'ledger.sqlite'}", "dead_letter_path": str(tmp / "dead.jsonl")}
        yield {"emu": emu, "config": config, "enum": defs["enum"], "number": defs.get("double") or defs["monetary"],
               "date": defs["date"], "dead": tmp / "dead.jsonl"}


# -- strategies --------------------------------------------------------------------------------------------

TEXT = st.one_of(
    st.text(max_size=40),
    st.text(alphabet=st.characters(codec="utf-8"), min_size=1, max_size=30),  # any unicode, emoji, RTL, controls
    st.builds(lambda c, n: c * n, st.sampled_from("aé漢🙂"), st.integers(1000, 70_000)),  # huge strings
)
ODD = st.one_of(st.none(), st.integers(), st.floats(allow_nan=False), st.booleans(), st.lists(st.integers(),
                max_size=3), st.dictionaries(st.text(max_size=5), st.integers(), max_size=2), TEXT)


def person(world: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    """Three valid persons (unicode names, emails, known option labels, numbers, dates) for one messy one."""
    enum, number, date = world["enum"], world["number"], world["date"]
    labels = [o["label"] for o in enum["options"]]
    name = st.text(alphabet=st.characters(codec="utf-8", categories=("L", "N", "Zs", "P", "S", "M")), min_size=1,
                   max_size=80).filter(lambda s: s.strip() == s and s)
    valid = st.fixed_dictionaries(
        {"name": name},
        optional={"email": st.emails(), enum["key"]: st.one_of(st.none(), st.sampled_from(labels)),
                  number["key"]: st.one_of(st.none(), st.integers(-10**9, 10**9),
                                           st.floats(-1e9, 1e9, allow_nan=False).map(lambda f: round(f, 2))),
                  date["key"]: st.one_of(st.none(), st.dates().map(str))},
    )
    messy = st.fixed_dictionaries({}, optional={  # any key may be missing
        "name": st.one_of(TEXT, ODD),
        "email": st.one_of(st.emails(), TEXT, ODD),
        enum["key"]: st.one_of(st.sampled_from(labels), TEXT, st.none()),  # unknown labels included
        number["key"]: st.one_of(st.integers(-10**12, 10**12), st.floats(allow_nan=False, allow_infinity=False),
                                 TEXT, st.none()),
        date["key"]: st.one_of(st.dates().map(str), TEXT, st.none()),
        "favourite_colour": ODD,  # an unknown field
    })
    return st.one_of(valid, valid, valid, messy)


# schema: "name" and "email" loosely typed (so translation sees odd values), custom fields typed (so the
# schema validation rejects some), plus an undeclared field passed through
PROPS = {"ext": {"type": "string"}, "name": {}, "email": {}, "favourite_colour": {}}


def _props(world: dict[str, Any]) -> dict[str, Any]:
    return {**PROPS, world["enum"]["key"]: {"type": ["string", "null"]},
            world["number"]["key"]: {"type": ["number", "string", "null"]},
            world["date"]["key"]: {"type": ["string", "null"]}}


def _dead_letters(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_every_record_is_written_once_or_rejected_with_a_reason(world, data):
    emu: Emulator = world["emu"]
    batch = data.draw(st.lists(person(world), min_size=1, max_size=6), label="records")
    tag = next(_counter)
    rows = [{"ext": f"h{tag}-{i}", **fields} for i, fields in enumerate(batch)]
    before = len(_dead_letters(world["dead"]))
    run = run_target(world["config"], schema("persons", _props(world), ["ext"]),
                     *(record("persons", r) for r in rows))
    letters = {d["key"]: d for d in _dead_letters(world["dead"])[before:]}
    ledger = Ledger(world["config"]["ledger_url"], account=account_key(emu.url, 1))
    try:
        for row in rows:
            key = key_string([row["ext"]])
            mapping = ledger.lookup("persons", key)
            label = f'ext=["{row["ext"]}"]'
            if label in letters:
                entry = letters[label]
                assert mapping is None, f"{label} both written and rejected"
                assert entry["stream"] == "persons" and entry["reason"].strip(), entry
                assert entry["record"]["ext"] == row["ext"]
                event(f"rejected: {entry['reason'][:40]}")
                continue
            assert mapping is not None, f"{label} neither written nor rejected"
            stored = emu.store.get("persons", int(mapping.pipedrive_id))
            assert stored is not None, f"{label}: accepted but not in Pipedrive"
            event("written")
            if isinstance(row.get("name"), str) and row["name"].strip():
                assert stored["name"] == row["name"].strip() or stored["name"] == row["name"]
        assert run.summary["created"] + run.summary["rejected"] == len(rows), run.summary
        named = [p for p in emu.store.records("persons") if p.get("name") and str(p["name"]).startswith("h")]
        assert len(named) == len({p["id"] for p in named})
    finally:
        ledger.close()
