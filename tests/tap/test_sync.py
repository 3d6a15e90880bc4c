"""Emulator-backed reads: full counts, incremental picks, boundaries, windows, crashes, custom fields."""

from __future__ import annotations

import datetime as dt
import logging

import pytest
import requests
from singer_sdk.exceptions import ConfigValidationError

from pipedrive_core.catalogue import active
from pipedrive_emulator.server import Emulator
from tap_pipedrive.incremental import normalize_timestamp
from tap_pipedrive.tap import TapPipedrive

from .conftest import SUNSET_PATH, base_config, catalog_for, change_records, requested_paths, run_tap

TOP_LEVEL_V2 = ("deals", "persons", "organizations", "activities", "products", "pipelines", "stages")


def _stored_count(emu, name: str) -> int:
    table = emu.store.tables[name]
    if name == "deals":
        return len(table.rows)  # live + archived + deleted (within 30 days) are all read
    return sum(1 for row in table.rows.values() if row.deleted_at is None)


def test_full_read_counts_match_the_emulator_and_sunset_routes_are_never_called(emulator):
    emulator.reset_log()
    result = run_tap(base_config(emulator, page_size=7))
    assert result.exit_code == 0
    top = [r for r in active() if r.parent is None and not r.fields_of and r.name not in {"goals"}]
    for res in top:
        if res.name in {"mail_threads"}:
            continue  # a thread sits in several folders: checked below
        assert result.counts[res.name] == _stored_count(emulator, res.name), res.name
    # every stream produced records (the seed fills them all)
    empty = [r.name for r in active() if result.counts[r.name] == 0]
    assert empty == []
    # v1 entity endpoints retired on 2026-08-01 were never requested
    paths = requested_paths(emulator)
    assert not [p for p in paths if SUNSET_PATH.match(p)]
    assert any(p.startswith("/v1/deals/") for p in paths)  # nested v1 reads of deals are still used
    # pagination really happened (page_size 7 < number of deals)
    assert paths.count("/api/v2/deals") > 1
    # child records carry their parent id; deal products only for deals that were read
    deal_ids = set(result.ids("deals"))
    assert {r["deal_id"] for r in result.records["deal_products"]} <= deal_ids
    assert all(r["followed_user_id"] is not None for r in result.records["user_followers"])


def test_records_have_one_timestamp_form_and_typed_custom_fields(emulator):
    result = run_tap(base_config(emulator, custom_field_names="key"), streams=["deals", "notes", "users", "leads"])
    for stream, key in (("deals", "update_time"), ("notes", "update_time"), ("users", "modified")):
        values = [r[key] for r in result.records[stream] if r[key] is not None]
        assert values
        assert all(v == normalize_timestamp(v) and v.endswith("Z") and "T" in v for v in values), stream
    schema = result.schemas["deals"]["properties"]
    defs = {d["key"]: d for d in emulator.store.field_defs("deals", custom_only=True)}
    expected = {"int": "integer", "double": "number", "monetary": "number", "date": "string", "enum": "integer",
                "set": "array", "user": "integer", "varchar": "string", "address": "string"}
    seen_types = set()
    for key, fdef in defs.items():
        want = expected.get(fdef["field_type"])
        if want:
            assert schema[key]["type"][0] == want, fdef["field_type"]
            seen_types.add(fdef["field_type"])
        if fdef["field_type"] == "monetary":
            assert f"{key}_currency" in schema
        if fdef["field_type"] in {"daterange", "timerange"}:
            assert f"{key}_until" in schema
    assert {"int", "monetary", "enum", "set", "date"} <= seen_types
    # v2 deals and v1 leads (deal fields) end up with the same custom columns
    deal_cols = {k for k in result.records["deals"][0] if len(k) >= 40}
    lead_cols = {k for k in result.records["leads"][0] if len(k) >= 40}
    assert deal_cols == lead_cols
    assert "custom_fields" not in result.records["deals"][0]
    for record in result.records["deals"]:
        for key, fdef in defs.items():
            value = record[key]
            if value is None:
                continue
            if fdef["field_type"] in {"enum", "int", "user", "org", "people"}:
                assert isinstance(value, int)
            if fdef["field_type"] == "set":
                assert all(isinstance(v, int) for v in value)


def test_incremental_second_run_reads_only_changes_via_updated_since_and_recents(fresh_emulator):
    emu = fresh_emulator
    streams = ["deals", "persons", "notes", "users", "deal_products"]
    first = run_tap(base_config(emu), streams=streams)
    assert first.exit_code == 0
    note_id = change_records(emu)["notes"]
    emu.reset_log()
    second = run_tap(base_config(emu), streams=streams, state=first.state)
    assert second.exit_code == 0
    assert second.ids("deals") == [3]
    assert second.records["deals"][0]["title"] == "changed deal"
    assert second.ids("persons") == [2]
    assert second.ids("notes") == [note_id]
    assert second.counts["users"] == 0
    # children only for the changed parent
    assert {r["deal_id"] for r in second.records["deal_products"]} <= {3}
    log = emu.requests.snapshot()
    deal_reads = [r for r in log if r.path == "/api/v2/deals" and r.query.get("sort_by") != "add_time"]
    assert deal_reads
    assert all("updated_since" in r.query and r.query["sort_by"] == "update_time" for r in deal_reads)
    recents = [r for r in log if r.path == "/v1/recents"]
    assert {r.query["items"] for r in recents} == {"note", "user"}
    # besides: one newest-added-first page per list, for records never updated (update_time null)
    added = [r for r in log if r.query.get("sort_by") == "add_time" or r.query.get("sort") == "add_time DESC"]
    assert {"/api/v2/deals", "/api/v2/persons", "/v1/notes"} <= {r.path for r in added}
    assert not [r for r in log if r.path == "/v1/notes" and r not in added]
    assert len([r for r in log if r.path == "/v1/users"]) == 1  # one-page list, read whole once


def test_boundary_second_records_are_neither_lost_nor_duplicated(fresh_emulator):
    emu = fresh_emulator
    first = run_tap(base_config(emu), streams=["persons", "notes"])
    bookmark = first.state["bookmarks"]["persons"]["replication_key_value"]
    # a record changed in the bookmark second itself, after the first run read that second
    emu.clock.set(dt.datetime.fromisoformat(bookmark.replace("Z", "+00:00")))
    emu.store.update("persons", 1, {"name": "same second"})
    note_bm = first.state["bookmarks"]["notes"]["replication_key_value"]
    second = run_tap(base_config(emu), streams=["persons"], state=first.state)
    assert second.ids("persons") == [1]
    assert second.records["persons"][0]["update_time"] == bookmark
    third = run_tap(base_config(emu), streams=["persons", "notes"], state=second.state)
    assert third.counts["persons"] == 0  # nothing new: the boundary ids are not re-emitted
    assert third.counts["notes"] == 0
    assert third.state["bookmarks"]["notes"]["replication_key_value"] == note_bm


def test_bookmark_older_than_the_recents_window_falls_back_to_a_full_read(fresh_emulator, caplog):
    emu = fresh_emulator
    state = {"bookmarks": {"notes": {"replication_key": "update_time",
                                     "replication_key_value": "2026-09-01T00:00:00Z"}}}
    emu.reset_log()
    with caplog.at_level(logging.INFO):
        result = run_tap(base_config(emu), streams=["notes"], state=state)
    notices = [r for r in caplog.records if "older than /recents' window" in r.getMessage()]
    assert notices and all(r.levelno == logging.INFO for r in notices)  # a plan, not a problem
    # a full read, of which only records changed since the bookmark are emitted (older ones were delivered)
    changed = [n for n in emu.store.records("notes") if (n["update_time"] or "") >= "2026-09-01 00:00:00"]
    assert result.counts["notes"] == len(changed)
    assert result.counts["notes"] < _stored_count(emu, "notes")
    paths = requested_paths(emu)
    assert "/v1/notes" in paths
    assert "/v1/recents" not in paths
    # a recent bookmark uses /recents
    emu.reset_log()
    recent = {"bookmarks": {"notes": {"replication_key": "update_time",
                                      "replication_key_value": "2026-11-10T00:00:00Z"}}}
    run_tap(base_config(emu), streams=["notes"], state=recent)
    assert "/v1/recents" in requested_paths(emu)


def test_crash_mid_stream_then_resume_yields_every_record(fresh_emulator):
    emu = fresh_emulator
    total = _stored_count(emu, "persons")
    emu.faults.add("500", after=2, count=100, path="^/api/v2/persons$")
    crashed = run_tap(base_config(emu, page_size=5, max_retries=0), streams=["persons"])
    assert crashed.exit_code != 0
    assert 0 < crashed.counts["persons"] < total
    emu.faults.clear()
    resumed = run_tap(base_config(emu, page_size=5), streams=["persons"], state=crashed.state)
    assert resumed.exit_code == 0
    union = set(crashed.ids("persons")) | set(resumed.ids("persons"))
    assert len(union) == total
    # resuming restarts at the bookmark, not from scratch
    assert resumed.counts["persons"] < total


def test_renamed_custom_field_keeps_its_column_in_name_mode(fresh_emulator):
    emu = fresh_emulator
    cfg = base_config(emu, custom_field_names="name")
    first = run_tap(cfg, streams=["deals", "deal_fields"])
    fields = {r["key"]: r for r in first.records["deal_fields"]}
    custom = [r for r in fields.values() if len(r["key"]) == 40 and r["field_type"] == "double"]
    target = custom[0]
    column = target["column"]
    assert column in first.schemas["deals"]["properties"]
    assert len(column) < 40
    assert first.state["bookmarks"]["deal_fields"]["columns"][target["key"]] == column
    emu.store.rename_field("deals", target["key"], "Totally New Name")
    second = run_tap(cfg, streams=["deals", "deal_fields"], state=first.state)
    assert column in second.schemas["deals"]["properties"]
    assert "totally_new_name" not in second.schemas["deals"]["properties"]
    renamed = next(r for r in second.records["deal_fields"] if r["key"] == target["key"])
    assert renamed["name"] == "Totally New Name"
    assert renamed["column"] == column
    # without the state the new name is used
    fresh = run_tap(cfg, streams=["deal_fields"])
    assert next(r for r in fresh.records["deal_fields"] if r["key"] == target["key"])["column"] == "totally_new_name"


@pytest.mark.parametrize("processes", [0, 2], ids=["one-process", "record-processes"])
def test_field_added_after_discovery_is_logged_and_skipped(fresh_emulator, processes):
    """Logged once per run, also when several worker processes meet the field (their lines are relayed)."""
    emu = fresh_emulator
    cfg = base_config(emu, record_processes=processes, page_size=5)
    catalog = catalog_for(TapPipedrive(config=cfg, parse_env_config=False), ["persons"])
    new_key = "f" * 40
    table = emu.store.field_table("persons")
    defn = dict(next(iter(table.rows.values())).data)
    defn.update(id=table.next_id(), key=new_key, name="Late field", field_type="varchar", edit_flag=True)
    table.put(defn["id"], defn, ut=None)
    for key in sorted(emu.store.tables["persons"].rows)[:30]:  # pages for both workers
        emu.store.update("persons", key, {"custom_fields": {new_key: "late value"}})
    # the tap re-discovers (new column) unless a catalog is given: with the old catalog it is skipped
    result = run_tap(cfg, catalog=catalog)
    assert result.exit_code == 0
    assert all(new_key not in r for r in result.records["persons"])
    assert new_key not in result.schemas["persons"]["properties"]
    assert result.log.count(f"custom field {new_key} is not in the discovered schema") == 1


def test_deleted_and_archived_deals_are_read(fresh_emulator):
    emulator = fresh_emulator
    emulator.store.delete("deals", 1)
    emulator.store.update("deals", 2, {"is_archived": True})
    result = run_tap(base_config(emulator), streams=["deals"])
    assert any(r.get("is_deleted") for r in result.records["deals"])
    assert any(r.get("is_archived") for r in result.records["deals"])
    only_live = run_tap(base_config(emulator, include_deleted_deals=False, include_archived_deals=False),
                        streams=["deals"])
    assert not any(r.get("is_deleted") or r.get("is_archived") for r in only_live.records["deals"])


def test_option_labels_are_resolved_next_to_ids(emulator):
    result = run_tap(base_config(emulator, custom_field_names="key"), streams=["persons"])
    defs = emulator.store.field_defs("persons", custom_only=True)
    enum = next(d for d in defs if d["field_type"] == "enum")
    labels = {o["id"]: o["label"] for o in enum["options"]}
    rows = [r for r in result.records["persons"] if r[enum["key"]] is not None]
    assert rows
    assert all(r[f"{enum['key']}_label"] == labels[r[enum["key"]]] for r in rows)


def test_default_custom_columns_are_readable_names_with_option_labels(emulator):
    result = run_tap(base_config(emulator), streams=["persons", "person_fields"])
    columns = {f["key"]: f["column"] for f in result.records["person_fields"] if f.get("column")}
    defs = emulator.store.field_defs("persons", custom_only=True)
    assert defs and all(columns[d["key"]] != d["key"] for d in defs)
    assert not any(len(k) == 40 for r in result.records["persons"] for k in r)
    enum = next(d for d in defs if d["field_type"] == "enum")
    labels = {o["id"]: o["label"] for o in enum["options"]}
    column = columns[enum["key"]]
    rows = [r for r in result.records["persons"] if r[column] is not None]
    assert rows
    assert all(r[f"{column}_label"] == labels[r[column]] for r in rows)


def test_search_streams_exist_only_when_terms_are_configured(emulator):
    plain = run_tap(base_config(emulator), streams=["currencies"])
    assert "persons_search" not in plain.schemas
    name = emulator.store.records("persons")[0]["name"].split()[0]
    cfg = base_config(emulator, search_terms={"persons": [name], "items": [name]})
    result = run_tap(cfg, streams=["persons_search", "item_search"])
    assert result.counts["persons_search"] >= 1
    assert all(r["term"] == name and r["type"] == "person" for r in result.records["persons_search"])
    assert result.counts["item_search"] >= 1


def test_daily_budget_stops_cleanly_with_resumable_state():
    with Emulator(seed=4, scale=0.05, daily_budget=300) as emu:
        result = run_tap(base_config(emu, page_size=5), streams=["deals", "deal_flow"])
        assert result.exit_code == 3
        assert "daily API token budget" in result.log
        assert "Traceback" not in result.log
        assert result.states  # state emitted before stopping


def test_malformed_config_is_one_clear_error(emulator):
    with pytest.raises(ConfigValidationError, match="api_url must"):
        TapPipedrive(config={"api_token": "x", "api_url": "ftp://nowhere"}, parse_env_config=False)


def test_reconcile_deletes_reports_records_that_disappeared(fresh_emulator):
    emu = fresh_emulator
    cfg = base_config(emu, reconcile_deletes=["persons", "notes"])
    first = run_tap(cfg, streams=["deleted_records"])
    assert first.counts["deleted_records"] == 0  # first pass: ids remembered only
    assert first.state["bookmarks"]["deleted_records"]["partitions"][0]["ids"]
    note_id = next(iter(emu.store.tables["notes"].rows))
    emu.store.delete("persons", 3)
    emu.store.delete("notes", note_id)
    second = run_tap(cfg, streams=["deleted_records"], state=first.state)
    gone = {(r["stream"], r["id"]) for r in second.records["deleted_records"]}
    assert gone == {("persons", "3"), ("notes", str(note_id))}
    assert all(r["_sdc_deleted_at"].endswith("Z") for r in second.records["deleted_records"])
    third = run_tap(cfg, streams=["deleted_records"], state=second.state)
    assert third.counts["deleted_records"] == 0


def test_reconcile_deletes_rejects_streams_it_cannot_reconcile(emulator):
    with pytest.raises(ConfigValidationError, match="cannot be reconciled"):
        TapPipedrive(config=base_config(emulator, reconcile_deletes=["currencies"]), parse_env_config=False)


def test_activate_version_only_for_full_table_snapshots(emulator):
    cfg = base_config(emulator, emit_activate_version_messages=True)
    result = run_tap(cfg, streams=["currencies", "deals", "deal_products", "mail_threads"])
    activated = [m["stream"] for m in result.messages if m["type"] == "ACTIVATE_VERSION"]
    assert sorted(activated) == ["currencies", "mail_threads"]  # once each, before the records
    first_record = next(i for i, m in enumerate(result.messages)
                        if m["type"] == "RECORD" and m["stream"] == "currencies")
    activate = next(i for i, m in enumerate(result.messages)
                    if m["type"] == "ACTIVATE_VERSION" and m["stream"] == "currencies")
    assert activate < first_record
    # one SCHEMA per child stream, not one per parent
    assert sum(1 for m in result.messages if m["type"] == "SCHEMA" and m["stream"] == "deal_products") == 1


def test_lookback_rereads_earlier_records_without_breaking_the_sorted_bookmark(fresh_emulator):
    emu = fresh_emulator
    first = run_tap(base_config(emu), streams=["persons"])
    bookmark = first.state["bookmarks"]["persons"]["replication_key_value"]
    window = [p["id"] for p in emu.store.records("persons")
              if p["update_time"] and normalize_timestamp(p["update_time"]) >= "2026-11-01T00:00:00Z"]
    lookback = int((dt.datetime.fromisoformat(bookmark.replace("Z", "+00:00"))
                    - dt.datetime(2026, 11, 1, tzinfo=dt.timezone.utc)).total_seconds())
    again = run_tap(base_config(emu, lookback_seconds=lookback), streams=["persons"], state=first.state)
    assert again.exit_code == 0
    # everything in the lookback window comes again, except the bookmark second's ids already emitted
    boundary = set(first.state["bookmarks"]["persons"]["boundary"]["ids"])
    assert set(again.ids("persons")) == set(window) - boundary
    assert again.state["bookmarks"]["persons"]["replication_key_value"] == bookmark


def test_proxies_are_resolved_once_per_host(emulator):
    tap = TapPipedrive(config=base_config(emulator), parse_env_config=False)
    run = run_tap(base_config(emulator), streams=["currencies", "roles"])
    assert run.exit_code == 0
    for path in ("/v1/currencies", "/v1/roles"):
        tap.session.send(tap.session.prepare_request(requests.Request("GET", emulator.url + path)))
    assert len(tap.session._proxy_cache) == 1


def test_oauth_credentials_read_through_the_token_endpoint():
    from pipedrive_emulator.auth import OAuthSettings

    # Discovery and sync are two taps here (as with Meltano); with rotating refresh tokens the second would
    # hold a spent token, which the shared HTTP layer does not persist across processes (reported).
    with Emulator(seed=6, scale=0.05, oauth=OAuthSettings(rotate_refresh_tokens=False)) as emu:
        cfg = {"api_url": emu.url, "oauth_client_id": "emulator-client", "oauth_client_secret": "emulator-secret",
               "oauth_refresh_token": "emulator-refresh-0", "oauth_token_url": f"{emu.url}/oauth/token"}
        result = run_tap(cfg, streams=["persons", "currencies"])
        assert result.exit_code == 0
        assert result.counts["persons"] == _stored_count(emu, "persons")
        assert any(r.path == "/oauth/token" for r in emu.requests.snapshot())


def test_child_streams_log_run_wide_metrics_not_one_set_per_parent(emulator):
    result = run_tap(base_config(emulator), streams=["deals", "deal_products", "deal_flow"])
    deals = result.counts["deals"]
    assert deals > 5
    child_lines = [line for line in result.log.splitlines()
                   if "METRIC" in line and '"stream":"deal_products"' in line]
    assert 0 < len(child_lines) <= 4  # one record and one request count per parent partition read
    counted = sum(int(line.split('"value":')[1].split(",")[0]) for line in child_lines
                  if '"metric":"record_count"' in line)
    assert counted == result.counts["deal_products"]
    assert "Beginning sync of 'deal_products'" not in result.log


def test_organization_relationships_are_emitted_once_though_listed_under_both_organizations(emulator):
    result = run_tap(base_config(emulator), streams=["organizations", "organization_relationships"])
    ids = result.ids("organization_relationships")
    assert ids
    assert len(ids) == len(set(ids)) == len(emulator.store.tables["organization_relationships"].rows)


def test_flattened_records_have_only_columns_of_the_flattened_schema(emulator):
    """With flattening on, a null object (an organization without address, a deal without a person) must not
    become one column the flattened schema lacks: target-csv refuses such a record."""
    result = run_tap(base_config(emulator, flattening_enabled=True, flattening_max_depth=1),
                     streams=["deals", "persons", "organizations", "activities"])
    assert result.exit_code == 0
    for stream, records in result.records.items():
        columns = set(result.schemas[stream]["properties"])
        for record in records:
            assert set(record) <= columns, (stream, sorted(set(record) - columns))
