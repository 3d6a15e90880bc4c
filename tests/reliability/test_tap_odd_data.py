"""Odd but real data: null timestamps, invalid dates, custom fields whose type changed, empty pages that say
more items follow, and ids repeated across pages. The tap must neither crash nor lose a record."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from pipedrive_core.catalogue import Replication, Resource, active
from tap_pipedrive.incremental import normalize_timestamp
from tap_pipedrive.tap import TapPipedrive
from tests.reliability.conftest import (
    assert_exact,
    duplicates,
    log_tail,
    rewrite_answers,
    sync,
    tap_config,
)
from tests.tap.conftest import catalog_for

#: every top-level list read incrementally (by update time): Pipedrive leaves a record's update time null until
#: its first change, so each of them can hold records never updated
INCREMENTAL_LISTS = [pytest.param(r, id=r.name) for r in active()
                     if r.parent is None and not r.fields_of
                     and r.replication in {Replication.UPDATED_SINCE, Replication.RECENTS}]


@pytest.mark.parametrize("start_date", [None, "2000-01-01T00:00:00Z"], ids=["whole-list", "start-date"])
@pytest.mark.parametrize("res", INCREMENTAL_LISTS)
def test_records_never_updated_are_read_without_a_warning_each(emu, res: Resource, start_date: str | None):
    """Records whose update time is null move no bookmark, as expected; the run says nothing about each of them
    (singer-sdk would log "New replication value is null" once per record) and still delivers them all."""
    table = emu.store.tables[res.name]
    if table.update_field is None:
        pytest.skip(f"{res.name}: the emulator keeps no update time for it")
    live = [k for k, r in table.rows.items() if r.deleted_at is None]
    if len(live) < 2:
        pytest.skip(f"{res.name}: the account holds fewer than two of them")
    never_updated = live[: max(2, len(live) // 4)]
    for key in never_updated:
        emu.store.set_null_update_time(res.name, key)
    extra = {} if start_date is None else {"start_date": start_date}
    run = sync(tap_config(emu, **extra), streams=[res.name])
    assert run.exit_code == 0, log_tail(run.log)
    assert "replication value is null" not in run.log
    got = {r[res.key] for r in run.records[res.name]}
    assert {table.rows[k].data.get(res.key, k) for k in never_updated} <= got
    assert run.state["bookmarks"][res.name], "the dated records still move the bookmark"


def test_null_update_times_are_read_in_full_and_do_not_break_bookmarks(emu):
    for stream, keys in (("deals", [3, 33]), ("persons", [4, 44]), ("notes", [5, 55])):
        for key in keys:
            emu.store.set_null_update_time(stream, key)
    first = sync(tap_config(emu), streams=("deals", "persons", "notes"))
    assert first.exit_code == 0, log_tail(first.log)
    assert_exact(first.messages, emu, ("deals", "persons", "notes"))
    for stream in ("deals", "persons", "notes"):
        assert first.state["bookmarks"][stream], stream
    emu.clock.advance(60)
    emu.store.update("persons", 7, {"name": "changed"})
    second = sync(tap_config(emu), streams=("deals", "persons", "notes"), state=first.state)
    assert second.exit_code == 0, log_tail(second.log)
    assert second.ids("persons") == [7]
    assert second.counts["deals"] == second.counts["notes"] == 0


@pytest.mark.parametrize("bad", ["0000-00-00 00:00:00", "2024-02-30 25:61:00", "not a date"])
def test_invalid_update_times_become_null_and_the_record_is_kept(emu, bad):
    """An impossible timestamp in the replication key (a date-time column): the record is emitted with a null
    update time instead of crashing the sorted read or poisoning the bookmark; other date-time columns such as
    add_time become null too (a loader would refuse the impossible value)."""
    spoiled_ids = {k for k in emu.store.tables["notes"].rows if k % 7 == 0}

    def spoil(query: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
        for note in body.get("data") or []:
            if note["id"] in spoiled_ids:
                note["update_time"] = note["add_time"] = bad
        return body

    rewrite_answers(emu, r"^/v1/notes$", spoil)
    result = sync(tap_config(emu), streams=["notes"])
    assert result.exit_code == 0, log_tail(result.log)
    assert sorted(result.ids("notes")) == sorted(k for k, r in emu.store.tables["notes"].rows.items()
                                                  if r.deleted_at is None)
    spoiled = [r for r in result.records["notes"] if r["id"] in spoiled_ids]
    assert spoiled
    assert all(r["update_time"] is None and r["add_time"] is None for r in spoiled)
    bookmark = result.state["bookmarks"]["notes"]["replication_key_value"]
    assert bookmark == max(r["update_time"] for r in result.records["notes"] if r["update_time"])


def test_custom_field_whose_type_changed_after_discovery(emu):
    """A number field becomes a text field after the catalog was discovered: records still flow; a value
    that no longer fits the catalog's type is left out (and logged), not sent as a wrong type."""
    config = tap_config(emu, custom_field_names="key")
    catalog = catalog_for(TapPipedrive(config=config, parse_env_config=False), ["persons"])
    field = next(d for d in emu.store.field_defs("persons", custom_only=True) if d["field_type"] in {"double", "int"})
    table = emu.store.field_table("persons")
    row = next(r for r in table.rows.values() if r.data["key"] == field["key"])
    row.data["field_type"] = "varchar"
    table.changed(row)
    emu.store.update("persons", 2, {"custom_fields": {field["key"]: "now text"}})
    result = sync(config, catalog=catalog)
    assert result.exit_code == 0, log_tail(result.log)
    assert_exact(result.messages, emu, ["persons"])
    assert "string" not in result.schemas["persons"]["properties"][field["key"]]["type"]
    assert next(r for r in result.records["persons"] if r["id"] == 2)[field["key"]] is None
    assert f"custom field {field['key']} is number in the catalog but string in Pipedrive now" in result.log


@pytest.mark.parametrize("stream", ["notes", "persons"])
def test_empty_page_that_says_more_items_follow_does_not_end_the_read(emu, stream):
    """Pipedrive sometimes answers a page with no items but more_items_in_collection / next_cursor set (items
    filtered out after paging); the tap must follow it, not stop and miss the rest."""
    path = {"notes": r"^/v1/notes$", "persons": r"^/api/v2/persons$"}[stream]
    emptied = {"done": False}

    def empty_second_page(query: dict[str, str], body: dict[str, Any]) -> dict[str, Any] | None:
        if emptied["done"] or not (query.get("start") or query.get("cursor")):
            return None
        emptied["done"] = True
        # the same page, its items gone: the next page starts where this one would have ended
        return {**body, "data": []}

    rewrite_answers(emu, path, empty_second_page)
    result = sync(tap_config(emu, max_requests_in_flight=1), streams=[stream])  # one list, not windows
    assert result.exit_code == 0, log_tail(result.log)
    assert emptied["done"]
    got = {r["id"] for r in result.records[stream]}
    stored = {k for k, r in emu.store.tables[stream].rows.items() if r.deleted_at is None}
    # a v2 cursor list: exactly the emptied page is missing, nothing after it; a v1 offset list checks that each
    # page overlaps the rows already read, so the empty page is asked again and nothing is missing
    assert len(stored - got) == {"notes": 0, "persons": 20}[stream]


@pytest.mark.parametrize("stream", ["notes", "persons", "deals"])
def test_ids_repeated_across_pages_are_emitted_once(emu, stream):
    """A record shows up on two consecutive pages of one list (it moved while paging): no crash, no duplicate in
    one run. A list read as update-time windows is several lists, one per window: each repeats its own."""
    path = {"notes": r"^/v1/notes$", "persons": r"^/api/v2/persons$", "deals": r"^/api/v2/deals$"}[stream]
    previous: dict[Any, Any] = {}

    def repeat_last(query: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
        data = body.get("data") or []
        chain = tuple(sorted((k, v) for k, v in query.items() if k not in ("cursor", "start")))
        if previous.get(chain) is not None and data:
            body["data"] = [copy.deepcopy(previous[chain]), *data]
        if data:
            previous[chain] = data[-1]
        return body

    rewrite_answers(emu, path, repeat_last)
    result = sync(tap_config(emu), streams=[stream])
    assert result.exit_code == 0, log_tail(result.log)
    assert duplicates(result.messages, stream) == {}
    assert_exact(result.messages, emu, [stream])


@pytest.mark.parametrize("stream", ["persons", "deals", "notes"])
def test_records_never_updated_are_delivered_from_start_date_and_when_new(emu, stream):
    """A record whose update_time is null (never changed since it was added) is invisible to updated_since and
    /v1/recents: it comes through the newest-added-first pass, on a first run with start_date and when new."""
    table = emu.store.tables[stream]
    live = [k for k, r in table.rows.items() if r.deleted_at is None and r.ut is not None]
    start = "2026-01-01T00:00:00Z"
    old_enough = [k for k in live if (normalize_timestamp(table.rows[k].data.get("add_time")) or "") >= start]
    never_updated = old_enough[:2]
    for key in never_updated:
        emu.store.set_null_update_time(stream, key)
    first = sync(tap_config(emu, start_date=start), streams=[stream])
    assert first.exit_code == 0, log_tail(first.log)
    assert set(never_updated) <= set(first.ids(stream))
    emu.clock.advance(600)
    template = {k: v for k, v in table.rows[live[-1]].data.items() if k not in {"id", "add_time", "update_time"}}
    new = emu.store.insert(stream, template)["id"]
    emu.store.set_null_update_time(stream, new)
    emu.clock.advance(1)
    second = sync(tap_config(emu, start_date=start), streams=[stream], state=first.state)
    assert second.exit_code == 0, log_tail(second.log)
    assert second.ids(stream) == [new]  # the new record, and not the earlier never-updated ones again
    emu.clock.advance(600)
    third = sync(tap_config(emu, start_date=start), streams=[stream], state=second.state)
    assert third.exit_code == 0, log_tail(third.log)
    assert third.counts.get(stream, 0) == 0  # a quiet run: not again, although no bookmark moved


@pytest.mark.parametrize("stream", ["persons", "notes"])
def test_a_start_date_older_than_the_account_reads_each_list_once(emu, stream):
    """start_date before the oldest record: one request finds that out, then the list is read once without a
    start (the never-updated records included), instead of a read from start_date plus a second pass."""
    for key in list(emu.store.tables[stream].rows)[:2]:
        emu.store.set_null_update_time(stream, key)
    path = {"persons": "/api/v2/persons", "notes": "/v1/notes"}[stream]
    before = len(emu.requests.snapshot())
    # the plan, one request after the other (update-time windows ask their own questions: tests/reliability/
    # test_windows.py)
    run = sync(tap_config(emu, start_date="2000-01-01T00:00:00Z", max_requests_in_flight=1), streams=[stream])
    assert run.exit_code == 0, log_tail(run.log)
    served = [r for r in emu.requests.snapshot()[before:] if r.path == path]
    probes = [r for r in served if r.query.get("limit") == "1"]
    assert len(probes) == 1
    assert not [r for r in served if "updated_since" in r.query or "desc" in str(r.query).lower()]
    live = {k for k, r in emu.store.tables[stream].rows.items() if r.deleted_at is None}
    assert set(run.ids(stream)) == live
