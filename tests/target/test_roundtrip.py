"""Round trip: tap-pipedrive reads account A, target-pipedrive writes into an empty account B; B ends with
the same records, custom fields included (matched by field *name*, since B's field keys differ)."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path
from typing import Any

import pytest

from pipedrive_core.fields import flatten_v2, parse_fields
from pipedrive_emulator.server import Emulator
from tap_pipedrive.tap import TapPipedrive
from tests.target.conftest import TOKEN, empty_sizes, run_target

STREAMS = ("pipelines", "stages", "organizations", "persons", "deals")
COMPARED = {"organizations": "name", "persons": "name", "deals": "title"}


def _tap_messages(url: str) -> list[dict[str, Any]]:
    config = {
        "api_token": TOKEN,
        "api_url": url,
        "custom_field_names": "name",
        "include_deleted_deals": False,
        "include_archived_deals": False,
    }
    tap = TapPipedrive(config=config, parse_env_config=False)
    catalog = tap.catalog_dict
    for entry in catalog["streams"]:
        selected = entry["tap_stream_id"] in STREAMS
        for meta in entry["metadata"]:
            if not meta["breadcrumb"]:
                meta["metadata"]["selected"] = selected
    tap = TapPipedrive(config=config, catalog=catalog, parse_env_config=False)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        tap.sync_all()
    return [json.loads(line) for line in out.getvalue().splitlines() if line.strip()]


def _custom_by_name(emu: Emulator, entity: str, record: dict[str, Any]) -> dict[str, Any]:
    """Custom values keyed by (field name, type), option ids turned into labels, so accounts compare."""
    defs = {f["key"]: f for f in emu.store.field_defs(entity, custom_only=True)}
    flat = flatten_v2(record.get("custom_fields") or {}, parse_fields(defs.values()))
    out: dict[str, Any] = {}
    for key, value in flat.items():
        base = key[:40]
        fdef = defs.get(base)
        if fdef is None or value is None:
            continue
        labels = {o["id"]: o["label"] for o in fdef.get("options") or []}
        if fdef["field_type"] in {"user", "org", "people"}:
            continue  # references: ids differ by design between accounts
        shown = value
        if fdef["field_type"] == "enum":
            shown = labels.get(value, value)
        elif fdef["field_type"] == "set":
            shown = sorted(labels.get(v, v) for v in value)
        out[f"{fdef['name']}:{fdef['field_type']}{key[40:]}"] = shown
    return out


@pytest.mark.e2e
def test_tap_to_target_into_an_empty_account(tmp_path: Path):
    sizes = empty_sizes(organizations=6, persons=10, deals=12, users=8, pipelines=2)
    with Emulator(seed=1, sizes=sizes) as source, Emulator(seed=2, sizes=empty_sizes(users=8, pipelines=0)) as dest:
        messages = _tap_messages(source.url)
        config = {
            "api_token": TOKEN,
            "api_url": dest.url,
            "ledger_url": f"sqlite:///{tmp_path / 'ledger.sqlite'}",
            "dead_letter_path": str(tmp_path / "dead.jsonl"),
            "source_key": {"*": ["id"]},
            "unknown_fields": "drop",
            "custom_field_names": "name",
            "on_error": "fail",
        }
        run = run_target(config, messages)
        assert run.summary["rejected"] == 0
        for entity, label in COMPARED.items():
            src = {r[label]: r for r in source.store.records(entity) if not r.get("is_archived")}
            dst = {r[label]: r for r in dest.store.records(entity)}
            assert set(dst) == set(src), entity
            for name, record in src.items():
                assert _custom_by_name(dest, entity, dst[name]) == _custom_by_name(source, entity, record), name
        src_people = {p["name"]: [e["value"] for e in p["emails"]] for p in source.store.records("persons")}
        assert {p["name"]: [e["value"] for e in p["emails"]] for p in dest.store.records("persons")} == src_people
        # references were translated: each deal points at the copy of its source person/organization
        src_person = {p["id"]: p["name"] for p in source.store.records("persons")}
        dst_person = {p["id"]: p["name"] for p in dest.store.records("persons")}
        for deal in (d for d in source.store.records("deals") if not d.get("is_archived")):
            copy = next(d for d in dest.store.records("deals") if d["title"] == deal["title"])
            assert dst_person.get(copy.get("person_id")) == src_person.get(deal.get("person_id"))

        dest.reset_log()
        again = run_target(config, messages)
        assert again.summary["created"] == 0
        assert again.summary["skipped_unchanged"] > 0
        assert not [r for r in dest.requests if r.method in {"POST", "PATCH", "PUT", "DELETE"}]
