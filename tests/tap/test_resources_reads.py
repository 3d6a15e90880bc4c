"""The tap's reads of the resources of issue 12: bulk child reads (request counts), the plan gate, archived
leads, field history keys, goal results per period, file content downloads and the users search stream.

Every check compares what the tap emitted with what the emulator holds (deduplicated by key)."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipedrive_core.catalogue import active
from pipedrive_emulator.server import Emulator
from tap_pipedrive.streams import STREAM_CLASSES

from .conftest import base_config, requested_paths, run_tap

BULK = [r for r in active() if r.bulk_path]


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator(seed=3, scale=0.5) as emulator:
        yield emulator


def _live_deals(emu: Emulator) -> list[int]:
    return [row.key for row in emu.store.tables["deals"].rows.values() if row.deleted_at is None]


@pytest.mark.parametrize("resource", BULK, ids=lambda r: r.name)
def test_bulk_children_cost_one_request_per_hundred_parents(emu: Emulator, resource):
    emu.reset_log()
    result = run_tap(base_config(emu), streams=["deals", resource.name])
    assert result.exit_code == 0, result.log[-2000:]
    deals = set(result.ids("deals"))
    parents = [d for d in deals if not emu.store.get("deals", d).get("is_deleted")]
    assert len(parents) > resource.bulk_max  # more than one batch
    paths = requested_paths(emu)
    archived = [d for d in parents if emu.store.get("deals", d).get("is_archived")]
    live = len(parents) - len(archived)  # live and archived deals are two reads (partitions)
    assert paths.count(resource.bulk_path) == math.ceil(live / resource.bulk_max) + math.ceil(
        len(archived) / resource.bulk_max)
    assert not [p for p in paths if p.startswith("/api/v2/deals/") and p.endswith(("/products", "/installments"))
                and p != resource.bulk_path]  # never one request per deal
    table = emu.store.tables[resource.name]
    expected = {(row.parent, row.key) for p in parents for row in table.children(p)}
    got = [(r["deal_id"], r["id"]) for r in result.records[resource.name]]
    assert len(got) == len(set(got))
    assert set(got) == expected


def test_bulk_children_are_emitted_before_the_state_that_covers_their_parents(emu: Emulator):
    result = run_tap(base_config(emu, page_size=50), streams=["deals", "deal_products"])
    assert result.exit_code == 0
    seen: set[int] = set()
    for message in result.messages:
        if message["type"] == "RECORD" and message["stream"] == "deals":
            seen.add(message["record"]["id"])
        if message["type"] == "RECORD" and message["stream"] == "deal_products":
            assert message["record"]["deal_id"] in seen
    # every page boundary flushed the batch: no deal's products wait for a later page's STATE
    last_state_at = max(i for i, m in enumerate(result.messages) if m["type"] == "STATE")
    products_after = [m for m in result.messages[last_state_at:] if m["type"] == "RECORD"
                      and m["stream"] == "deal_products"]
    assert not products_after


def test_installments_on_a_lower_plan_skip_the_stream_with_one_line():
    with Emulator(seed=3, scale=0.5, plan="lite") as lite:
        result = run_tap(base_config(lite), streams=["deals", "deal_installments"])
        assert result.exit_code == 0
        assert result.counts["deal_installments"] == 0
        assert result.counts["deals"] > 100
        refused = [r for r in lite.requests.snapshot() if r.path == "/api/v2/deals/installments"]
        assert [r.status for r in refused] == [402]  # closed after the first refusal
        lines = [line for line in result.log.splitlines() if "deal_installments: skipped" in line]
        assert len(lines) == 1 and "Growth" in lines[0]


def test_archived_leads_are_read_from_their_own_list(emu: Emulator):
    result = run_tap(base_config(emu), streams=["leads"])
    assert result.exit_code == 0
    stored = {r["id"]: r for r in emu.store.records("leads")}
    got = result.ids("leads")
    assert sorted(got) == sorted(stored)
    archived = {r["id"] for r in result.records["leads"] if r["is_archived"]}
    assert archived == {k for k, r in stored.items() if r["is_archived"]} and archived
    paths = requested_paths(emu)
    assert "/v1/leads/archived" in paths and "/v1/leads" in paths


def test_changelog_is_keyed_by_parent_time_and_field_and_read_for_changed_parents_only(emu: Emulator):
    assert STREAM_CLASSES["deal_changelog"].primary_keys == ("deal_id", "time", "field_key")
    assert not STREAM_CLASSES["deal_changelog"].selected_by_default
    first = run_tap(base_config(emu), streams=["deals", "deal_changelog"])
    read = {r["id"] for r in first.records["deals"] if not r["is_deleted"]}  # deleted deals have no children read
    table = emu.store.tables["deal_changelog"]
    expected = {(row.parent, row.data["field_key"], row.data["new_value"]) for row in table.rows.values()
                if row.parent in read}
    got = [(r["deal_id"], r["field_key"], r["new_value"]) for r in first.records["deal_changelog"]]
    assert expected and len(got) == len(set(got)) and set(got) == expected
    emu.clock.advance(3600)
    emu.store.update("deals", 7, {"title": "renamed"})
    emu.reset_log()
    second = run_tap(base_config(emu), streams=["deals", "deal_changelog"], state=first.state)
    assert second.ids("deals") == [7]
    assert [p for p in requested_paths(emu) if p.endswith("/changelog")] == ["/v1/deals/7/changelog"]
    assert {"field_key": "title", "new_value": "renamed"}.items() <= next(
        r for r in second.records["deal_changelog"] if r["field_key"] == "title").items()


def test_goal_results_ask_for_each_goals_duration(emu: Emulator):
    result = run_tap(base_config(emu), streams=["goals", "goal_results"])
    assert result.exit_code == 0, result.log[-2000:]
    goals = {g["id"]: g for g in emu.store.records("goals")}
    rows = result.records["goal_results"]
    assert sorted(r["goal_id"] for r in rows) == sorted(goals)
    for row in rows:
        duration = goals[row["goal_id"]]["duration"]
        assert row["period_start"] == duration["start"]
        assert row["goal"]["id"] == row["goal_id"]
    asked = [r.query for r in emu.requests.snapshot() if r.path.endswith("/results")]
    assert all(q["period.start"] and q["period.end"] for q in asked) and len(asked) == len(goals)


def test_file_content_is_downloaded_once_per_version(emu: Emulator, tmp_path: Path):
    config = base_config(emu, download_file_content=True, file_content_dir=str(tmp_path))
    first = run_tap(config, streams=["files"])
    assert first.exit_code == 0, first.log[-2000:]
    records = first.records["files"]
    assert len(records) == len(emu.store.records("files"))
    for record in records:
        body = Path(record["content_path"]).read_bytes()
        assert body == emu.store.content(record["id"])
        assert record["content_sha256"] == hashlib.sha256(body).hexdigest()
        assert Path(record["content_path"]).parent == tmp_path
    downloads = [p for p in requested_paths(emu) if p.endswith("/download")]
    assert len(downloads) == len(records)
    # a full read again (no state): nothing changed, nothing downloaded
    emu.reset_log()
    again = run_tap(config, streams=["files"])
    assert [r["content_sha256"] for r in again.records["files"]] == [r["content_sha256"] for r in records]
    assert not [p for p in requested_paths(emu) if p.endswith("/download")]
    # one file changes: only it is downloaded on the incremental run
    changed = records[0]["id"]
    emu.clock.advance(3600)
    emu.store.set_content(changed, b"new bytes")
    emu.store.update("files", changed, {"file_size": 9})
    emu.reset_log()
    third = run_tap(config, streams=["files"], state=first.state)
    assert [p for p in requested_paths(emu) if p.endswith("/download")] == [f"/v1/files/{changed}/download"]
    row = next(r for r in third.records["files"] if r["id"] == changed)
    assert Path(row["content_path"]).read_bytes() == b"new bytes"


def test_file_content_is_off_by_default(emu: Emulator):
    result = run_tap(base_config(emu), streams=["files"])
    assert all(r.get("content_path") is None for r in result.records["files"])
    assert not [p for p in requested_paths(emu) if p.endswith("/download")]


def test_users_search_stream(emu: Emulator):
    users = emu.store.records("users")
    term = users[1]["name"].split()[0]
    result = run_tap(base_config(emu, search_terms={"users": [term]}), streams=["users_search"])
    assert result.exit_code == 0, result.log[-2000:]
    wanted = {u["id"] for u in users if term.lower() in (u["name"] + u["email"]).lower()}
    assert {r["id"] for r in result.records["users_search"]} == wanted
    assert all(r["term"] == term and r["type"] == "user" for r in result.records["users_search"])



def test_leads_incremental_where_the_api_allows(emu: Emulator):
    first = run_tap(base_config(emu), streams=["leads"])
    live = [r["id"] for r in first.records["leads"] if not r["is_archived"]]
    emu.clock.advance(3600)
    emu.store.update("leads", live[0], {"title": "changed lead"})
    emu.store.update("leads", live[1], {"is_archived": True})
    emu.reset_log()
    second = run_tap(base_config(emu), streams=["leads"], state=first.state)
    assert second.exit_code == 0, second.log[-2000:]
    assert sorted(second.ids("leads")) == sorted(live[:2])
    live_reads = [r.query for r in emu.requests.snapshot() if r.path == "/v1/leads"]
    archived_reads = [r.query for r in emu.requests.snapshot() if r.path == "/v1/leads/archived"]
    assert any("updated_since" in q and q["sort"] == "update_time ASC" for q in live_reads)
    assert archived_reads and not any("updated_since" in q for q in archived_reads)  # the list has no such filter
