"""Unit tests: paginators, timestamps, incremental parameters, custom-field typing and column naming."""

from __future__ import annotations

import datetime as dt
import decimal
import json
import logging
from pathlib import Path

import pytest
import requests

from pipedrive_core.catalogue import CATALOGUE, active
from pipedrive_core.clock import http_date
from pipedrive_core.fields import FieldDef, FieldOption, nest_v2
from pipedrive_core.http.session import BODY_ATTR
from tap_pipedrive.custom_fields import CustomFieldPlan, to_id_list, to_int, to_number
from tap_pipedrive.incremental import (
    BoundaryDedupe,
    normalize_timestamp,
    recents_covers,
    recents_since,
    to_v1,
    updated_since_start,
)
from tap_pipedrive.pagination import RecentsPaginator, V1OffsetPaginator, V2CursorPaginator
from tap_pipedrive.streams import STREAM_CLASSES
from tap_pipedrive.tap import TapPipedrive

ROOT = Path(__file__).resolve().parents[2]


def _response(body: dict) -> requests.Response:
    response = requests.Response()
    response.status_code = 200
    setattr(response, BODY_ATTR, body)
    return response


# -- paginators ---------------------------------------------------------------------------------------


def test_v1_offset_paginator_follows_next_start_and_stops_without_an_extra_request():
    paginator = V1OffsetPaginator()
    assert paginator.current_value is None
    paginator.advance(_response({"data": [1], "additional_data": {"pagination": {
        "start": 0, "limit": 500, "more_items_in_collection": True, "next_start": 500}}}))
    assert paginator.current_value == 500
    assert not paginator.finished
    paginator.advance(_response({"data": [1], "additional_data": {"pagination": {
        "start": 500, "limit": 500, "more_items_in_collection": False}}}))
    assert paginator.finished


def test_v1_offset_paginator_without_next_start_uses_start_plus_limit():
    paginator = V1OffsetPaginator()
    paginator.advance(_response({"additional_data": {"pagination": {
        "start": 0, "limit": 50, "more_items_in_collection": True}}}))
    assert paginator.current_value == 50


def test_v2_cursor_paginator_stops_on_null_cursor_and_on_missing_additional_data():
    paginator = V2CursorPaginator()
    paginator.advance(_response({"data": [], "additional_data": {"next_cursor": "abc"}}))
    assert paginator.current_value == "abc"
    paginator.advance(_response({"data": [], "additional_data": {"next_cursor": None}}))
    assert paginator.finished
    other = V2CursorPaginator()
    other.advance(_response({"data": [], "additional_data": None}))
    assert other.finished


def test_recents_paginator_continues_over_pages_without_wanted_items():
    paginator = RecentsPaginator()
    more = _response({"data": [], "additional_data": {"pagination": {"more_items_in_collection": True,
                                                                      "next_start": 500}}})
    last = _response({"data": [], "additional_data": {"pagination": {"more_items_in_collection": False}}})
    assert paginator.continue_if_empty(more)
    assert not paginator.continue_if_empty(last)


# -- timestamps and incremental parameters ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2026-11-20 10:00:00", "2026-11-20T10:00:00Z"),
        ("2026-11-20T10:00:00Z", "2026-11-20T10:00:00Z"),
        ("2026-11-20T10:00:00.000Z", "2026-11-20T10:00:00Z"),
        ("2026-11-20T10:00:00+00:00", "2026-11-20T10:00:00Z"),
        ("2026-11-20T12:00:00+02:00", "2026-11-20T10:00:00Z"),
        ("2026-11-20", "2026-11-20T00:00:00Z"),
        (dt.datetime(2026, 11, 20, 10, tzinfo=dt.timezone.utc), "2026-11-20T10:00:00Z"),
        (None, None),
        ("", None),
        ("not a time", None),
    ],
)
def test_normalize_timestamp(raw, expected):
    assert normalize_timestamp(raw) == expected


def test_normalized_timestamps_sort_as_strings_like_times():
    values = ["2026-11-20 09:59:59", "2026-11-20T10:00:00.000Z", "2026-11-20T10:00:01Z"]
    normalized = [normalize_timestamp(v) for v in values]
    assert normalized == sorted(normalized)


def test_incremental_parameters_reread_the_bookmark_second():
    bookmark = "2026-11-20T10:00:00Z"
    assert updated_since_start(bookmark, 0) == bookmark  # updated_since is inclusive
    assert updated_since_start(bookmark, 60) == "2026-11-20T09:59:00Z"
    assert recents_since(bookmark, 0) == "2026-11-20T09:59:59Z"  # since_timestamp is exclusive
    assert to_v1(recents_since(bookmark, 0)) == "2026-11-20 09:59:59"


def test_recents_window_is_one_month():
    now = dt.datetime(2026, 11, 20, tzinfo=dt.timezone.utc)
    assert recents_covers("2026-11-01T00:00:00Z", now)
    assert not recents_covers("2026-10-01T00:00:00Z", now)
    assert http_date("Fri, 20 Nov 2026 12:00:00 GMT") == dt.datetime(2026, 11, 20, 12, tzinfo=dt.timezone.utc)
    assert http_date("garbage") is None


def test_boundary_dedupe_keeps_only_the_newest_second():
    dedupe = BoundaryDedupe("2026-11-20T10:00:00Z", [1, 2])
    assert dedupe.seen(1, "2026-11-20T10:00:00Z")  # emitted by the previous run at the bookmark second
    assert not dedupe.seen(3, "2026-11-20T10:00:00Z")
    assert dedupe.seen(3, "2026-11-20T10:00:00Z")  # duplicate within the run
    assert not dedupe.seen(1, "2026-11-20T10:00:01Z")  # same id, newer version: emitted
    assert dedupe.ids == {1}
    assert dedupe.to_state() == {"second": "2026-11-20T10:00:01Z", "ids": [1]}
    assert dedupe.suppressed == 2
    assert BoundaryDedupe.from_state({"second": "x", "ids": [1]}, "y").ids == set()


def test_read_plans_per_replication_kind(emulator):
    state = {"bookmarks": {
        "persons": {"replication_key": "update_time", "replication_key_value": "2026-11-19T00:00:00Z"},
        "notes": {"replication_key": "update_time", "replication_key_value": "2026-11-19T00:00:00Z"},
    }}
    tap = TapPipedrive(config={"api_url": emulator.url, "api_token": "emulator-token", "lookback_seconds": 10},
                       state=state, parse_env_config=False)
    for name in ("persons", "notes"):
        tap.streams[name]._write_starting_replication_value(None)
    persons = tap.streams["persons"].read_plan(None)
    assert persons.mode == "updated_since"
    assert persons.path == "/api/v2/persons"
    assert persons.params == {"sort_by": "update_time", "sort_direction": "asc",
                              "updated_since": "2026-11-18T23:59:50Z",
                              "include_fields": ",".join(CATALOGUE["persons"].include_fields)}
    tap.session.server_clock.observe_date("Fri, 20 Nov 2026 00:00:00 GMT")
    notes = tap.streams["notes"].read_plan(None)
    assert notes.mode == "recents"
    assert notes.params == {"items": "note", "since_timestamp": "2026-11-18 23:59:49"}
    deals = tap.streams["deals"]
    assert deals.partitions == [{"is_archived": True}, {"is_archived": False}]
    archived = deals.read_plan({"is_archived": True})
    assert archived.path == "/api/v2/deals/archived"
    assert archived.params["status"] == "open,won,lost,deleted"
    relationships = tap.streams["organization_relationships"].read_plan({"parent_id": 7})
    assert (relationships.path, relationships.params) == ("/v1/organizationRelationships", {"org_id": "7"})
    files = tap.streams["files"]
    assert files.page_size == 100  # the resource's own cap beats page_size 500


def test_an_archived_list_is_read_before_the_live_one_and_only_when_its_setting_allows(emulator):
    """The archived list is usually the smaller: read first, its serial start overlaps other streams' reads
    instead of ending the run alone. Every resource with an archived list, with its setting on and off."""
    with_archived = [res for res in active() if res.archived_path and not res.parent]
    assert with_archived
    for res in with_archived:
        settings = [True] if res.archived_setting is None else [True, False]
        for on in settings:
            extra = {} if res.archived_setting is None else {res.archived_setting: on}
            tap = TapPipedrive(config={"api_token": "emulator-token", "api_url": emulator.url, **extra},
                               parse_env_config=False)
            parts = tap.streams[res.name].partitions
            assert parts == ([{"is_archived": True}, {"is_archived": False}] if on else [{"is_archived": False}])


def test_stream_classes_cover_every_active_resource_and_no_retired_one():
    names = set(STREAM_CLASSES)
    assert names == {r.name for r in active()}
    assert "subscriptions" not in names
    assert "deal_persons" not in names
    assert len({id(c) for c in STREAM_CLASSES.values()}) == len(names)  # distinct classes
    assert STREAM_CLASSES["deal_products"].parent_stream_type is STREAM_CLASSES["deals"]
    assert STREAM_CLASSES["deal_products"].primary_keys == ("deal_id", "id")
    assert STREAM_CLASSES["user_followers"].primary_keys == ("followed_user_id", "user_id")
    for name in ("deals", "persons", "organizations", "activities", "products", "pipelines", "stages"):
        assert CATALOGUE[name].read_version == 2


# -- custom fields ---------------------------------------------------------------------------------------

KEYS = {t: f"{i:02d}" + "a" * 38 for i, t in enumerate(
    ["int", "double", "monetary", "date", "time", "daterange", "timerange", "enum", "set", "user", "org",
     "people", "address", "varchar", "text", "phone"])}


def _fields() -> dict[str, FieldDef]:
    out = {}
    for i, (ftype, key) in enumerate(KEYS.items()):
        options = (FieldOption(1, "Red"), FieldOption(2, "Blue")) if ftype in {"enum", "set"} else ()
        out[key] = FieldDef(id=100 + i, key=key, name=f"My {ftype}", field_type=ftype, options=options)
    out["title"] = FieldDef(id=1, key="title", name="Title", field_type="varchar", edit_flag=False)
    return out


def test_schema_type_per_field_type():
    plan = CustomFieldPlan.build(_fields(), mode="key", reserved=())
    props = plan.schema_properties()
    expected = {"int": ("integer", None), "double": ("number", None), "monetary": ("number", None),
                "date": ("string", "date"), "time": ("string", None), "daterange": ("string", "date"),
                "timerange": ("string", None), "enum": ("integer", None), "set": ("array", None),
                "user": ("integer", None), "org": ("integer", None), "people": ("integer", None),
                "address": ("string", None), "varchar": ("string", None), "text": ("string", None),
                "phone": ("string", None)}
    for ftype, (json_type, fmt) in expected.items():
        schema = props[KEYS[ftype]]
        assert schema["type"] == [json_type, "null"], ftype
        assert schema.get("format") == fmt, ftype
    assert props[KEYS["monetary"] + "_currency"]["type"] == ["string", "null"]
    assert props[KEYS["daterange"] + "_until"]["format"] == "date"
    assert props[KEYS["address"] + "_locality"]["type"] == ["string", "null"]
    assert props[KEYS["set"]]["items"] == {"type": "integer"}
    assert "title" not in props  # built-in fields are not custom columns


def test_v1_and_v2_records_normalise_to_the_same_columns():
    fields = _fields()
    plan = CustomFieldPlan.build(fields, mode="key", reserved=(), resolve_labels=True)
    flat = {
        KEYS["int"]: "42", KEYS["double"]: "1.5", KEYS["monetary"]: 100, KEYS["monetary"] + "_currency": "EUR",
        KEYS["date"]: "2026-01-02", KEYS["daterange"]: "2026-01-01", KEYS["daterange"] + "_until": "2026-02-01",
        KEYS["enum"]: "2", KEYS["set"]: "1,2", KEYS["user"]: {"id": 5, "value": 5, "name": "U"},
        KEYS["address"]: "Main St 1", KEYS["address"] + "_locality": "Tallinn", KEYS["varchar"]: "x",
    }
    v1 = plan.apply_v1({"id": 1, **flat})
    nested = nest_v2({k: (v if not isinstance(v, dict) else v["value"]) for k, v in flat.items()}, fields)
    nested[KEYS["int"]] = 42
    nested[KEYS["enum"]] = 2
    nested[KEYS["set"]] = [1, 2]
    nested[KEYS["double"]] = decimal.Decimal("1.5")
    v2 = plan.apply_v2({"id": 1, "custom_fields": nested})
    assert v1 == v2
    assert v1[KEYS["int"]] == 42
    assert v1[KEYS["set"]] == [1, 2]
    assert v1[KEYS["set"] + "_labels"] == ["Red", "Blue"]
    assert v1[KEYS["enum"] + "_label"] == "Blue"
    assert v1[KEYS["monetary"] + "_currency"] == "EUR"
    assert v1[KEYS["daterange"] + "_until"] == "2026-02-01"
    assert v1[KEYS["address"] + "_locality"] == "Tallinn"
    assert v1[KEYS["user"]] == 5
    assert "custom_fields" not in v2


def test_converters_tolerate_pipedrive_shapes():
    assert to_int("12") == 12
    assert to_int(12.0) == 12
    assert to_int(12.5) is None
    assert to_int({"value": 3}) == 3
    assert to_number("3.25") == decimal.Decimal("3.25")
    assert to_number("") is None
    assert to_id_list("") is None
    assert to_id_list([1, "2"]) == [1, 2]
    assert to_id_list(7) == [7]


def test_name_mode_columns_are_snake_case_deduplicated_and_kept_from_previous():
    fields = {
        "a" * 40: FieldDef(1, "a" * 40, "Deal Size (€)", "double"),
        "b" * 40: FieldDef(2, "b" * 40, "Region", "varchar"),
        "c" * 40: FieldDef(3, "c" * 40, "Region", "varchar"),
        "d" * 40: FieldDef(4, "d" * 40, "Title", "varchar"),
    }
    plan = CustomFieldPlan.build(fields, mode="name", reserved={"title"})
    assert plan.columns == {"a" * 40: "deal_size", "b" * 40: "region_2", "c" * 40: "region_3",
                            "d" * 40: "title_4"}
    renamed = dict(fields)
    renamed["a" * 40] = FieldDef(1, "a" * 40, "Contract Value", "double")
    kept = CustomFieldPlan.build(renamed, mode="name", reserved={"title"}, previous=plan.columns)
    assert kept.columns["a" * 40] == "deal_size"
    record = kept.apply_v1({"a" * 40: 5})
    assert record == {"deal_size": 5, "region_2": None, "region_3": None, "title_4": None}


def test_catalog_properties_are_renamed_back_by_field_key():
    fields = {"a" * 40: FieldDef(1, "a" * 40, "Deal Size", "monetary")}
    old = CustomFieldPlan.build(fields, mode="name", reserved=())
    renamed = {"a" * 40: FieldDef(1, "a" * 40, "New Name", "monetary")}
    fresh = CustomFieldPlan.build(renamed, mode="name", reserved=())
    catalog_props = {"id": {"type": ["integer"]}, **fresh.schema_properties()}
    assert set(catalog_props) == {"id", "new_name", "new_name_currency"}
    assert set(old.rename_catalog_properties(catalog_props)) == {"id", "deal_size", "deal_size_currency"}


def test_unknown_custom_keys_are_dropped_and_logged_once():
    messages: list[str] = []
    log = logging.getLogger("test-unknown-keys")
    log.addHandler(_ListHandler(messages))
    plan = CustomFieldPlan.build({}, mode="key", reserved=(), stream_name="persons", logger=log)
    record = plan.apply_v1({"id": 1, "e" * 40: "x", "e" * 40 + "_currency": "EUR"})
    plan.apply_v2({"id": 2, "custom_fields": {"f" * 40: 1}})
    plan.apply_v2({"id": 3, "custom_fields": {"f" * 40: 1}})
    assert record == {"id": 1}
    assert len([m for m in messages if "not in the discovered schema" in m]) == 2


class _ListHandler(logging.Handler):
    def __init__(self, sink: list[str]) -> None:
        super().__init__()
        self.sink = sink

    def emit(self, record: logging.LogRecord) -> None:
        self.sink.append(record.getMessage())


# -- meltano.yml -------------------------------------------------------------------------------------------


def test_plugin_definition_documents_every_tap_setting_and_marks_secrets_sensitive():
    import yaml

    project = yaml.safe_load((ROOT / "meltano.yml").read_text())
    tap = yaml.safe_load((ROOT / "plugins" / "hub" / "tap-pipedrive.yml").read_text())
    declared = {s["name"]: s for s in tap["settings"]}
    from singer_sdk import typing as th

    from pipedrive_core.settings import CONNECTION_SETTINGS
    from tap_pipedrive.tap import TAP_SETTINGS

    schema = th.PropertiesList(*CONNECTION_SETTINGS, *TAP_SETTINGS).to_dict()["properties"]
    for name, prop in schema.items():
        assert name in declared, name
        assert declared[name].get("description"), name
        assert bool(declared[name].get("sensitive")) == bool(prop.get("secret")), name
    assert {"state", "catalog", "discover", "about", "stream-maps", "activate-version",
            "structured-logging"} <= set(tap["capabilities"])
    loaders = {p["name"]: p for p in project["plugins"]["loaders"]}
    for name, variant in (("target-postgres", "meltanolabs"), ("target-csv", "meltanolabs")):
        assert loaders[name]["variant"] == variant
        lock = json.loads((ROOT / "plugins" / "loaders" / f"{name}--{variant}.lock").read_text())
        assert lock["pip_url"] == loaders[name]["pip_url"]
    assert {e["name"] for e in project["environments"]} >= {"dev", "prod"}


def test_docs_tables_are_current():
    from tap_pipedrive.docs import main as docs_main

    assert docs_main(["--check"]) == 0


def test_id_ranges_round_trip():
    from tap_pipedrive.reconcile import compress, expand

    ids = {1, 2, 3, 5, 9, 10, "uuid-a"}
    compact = compress(ids)
    assert compact == [[1, 3], [5, 5], [9, 10], "uuid-a"]
    assert expand(compact) == ids


# -- the bookmark keeper, without singer-sdk ------------------------------------------------------------------

def test_bookmark_keeper_holds_the_boundary_and_the_record_in_flight():
    from tap_pipedrive.incremental import BOUNDARY_STATE_KEY, BookmarkKeeper

    state = {"replication_key_value": "2026-11-20 10:00:00", BOUNDARY_STATE_KEY: {"second": "2026-11-20T10:00:00Z",
                                                                                 "ids": [1]}}
    keeper = BookmarkKeeper(state, start="2026-11-20T10:00:00Z", floor="2026-11-20T10:00:00Z", key="id")
    assert state["replication_key_value"] == "2026-11-20T10:00:00Z"  # normalized before the SDK compares
    assert not keeper.admit(1, "2026-11-20T10:00:00Z")  # emitted by the previous run at the bookmark second
    assert keeper.admit(2, "2026-11-20T10:00:00Z")
    keeper.checkpoint(settle=False)  # a stop while record 2's children are read: 2 is not emitted yet
    assert state[BOUNDARY_STATE_KEY]["ids"] == [1]
    keeper.checkpoint()
    assert state[BOUNDARY_STATE_KEY]["ids"] == [1, 2]


def test_bookmark_keeper_lookback_moves_the_bookmark_back_and_restores_it():
    from tap_pipedrive.incremental import BookmarkKeeper

    state = {"replication_key_value": "2026-11-20T10:00:00Z"}
    keeper = BookmarkKeeper(state, start="2026-11-20T10:00:00Z", floor="2026-11-20T09:59:00Z", key="id")
    assert state["replication_key_value"] == "2026-11-20T09:59:00Z"
    assert keeper.admit(7, "2026-11-20T09:59:30Z")
    state["replication_key_value"] = "2026-11-20T09:59:30Z"  # what singer-sdk writes for that record
    keeper.finish(checked_until="2026-11-21T00:00:00Z")
    assert state["replication_key_value"] == "2026-11-20T10:00:00Z"
    assert state["checked_until"] == "2026-11-21T00:00:00Z"


def test_bookmark_keeper_freezes_the_bookmark_when_the_server_answers_out_of_order():
    from tap_pipedrive.incremental import BookmarkKeeper

    state = {"replication_key_value": "2026-11-20T10:00:00Z"}
    keeper = BookmarkKeeper(state, start="2026-11-20T10:00:00Z", floor="2026-11-20T10:00:00Z", key="id")
    for record_id, second in ((1, "2026-11-20T11:00:00Z"), (2, "2026-11-20T10:30:00Z"), (3, "2026-11-20T12:00:00Z")):
        assert keeper.admit(record_id, second)
        state["replication_key_value"] = second
    keeper.checkpoint()
    assert state["replication_key_value"] == "2026-11-20T10:00:00Z"  # a stop now re-reads; it never skips
    keeper.finish()
    assert state["replication_key_value"] == "2026-11-20T12:00:00Z"


@pytest.mark.parametrize(("given", "read"), [
    ("2026-11-20T10:00:00Z", "2026-11-20T10:00:00Z"),
    ("2026-11-20 10:00:00", "2026-11-20T10:00:00Z"),
    ("2026-11-20T12:00:00+02:00", "2026-11-20T10:00:00Z"),
    (1795168800, "2026-11-20T10:00:00Z"),
    ("1795168800", "2026-11-20T10:00:00Z"),
    (1795168800000, "2026-11-20T10:00:00Z"),
])
def test_foreign_bookmarks_are_read_as_the_time_they_say(given, read):
    from tap_pipedrive.incremental import bookmark_from_state

    assert bookmark_from_state(given) == read


@pytest.mark.parametrize("given", ["garbage", True, "2026-13-45", {"a": 1}])
def test_bookmarks_that_are_no_time_are_refused(given):
    from tap_pipedrive.errors import BadBookmarkError
    from tap_pipedrive.incremental import bookmark_from_state

    with pytest.raises(BadBookmarkError):
        bookmark_from_state(given)


def test_offset_guard_accepts_only_pages_that_begin_on_a_delivered_row():
    from tap_pipedrive.pages import OffsetGuard

    guard = OffsetGuard(lambda r: (r["id"], r["t"]), page_limit=8)
    first = [{"id": i, "t": 1} for i in range(1, 9)]
    assert guard.overlaps(0, first)
    assert guard.fresh(first) == first
    assert guard.after(8) == 7  # one row early
    assert guard.overlaps(7, [{"id": 8, "t": 1}, {"id": 9, "t": 1}])
    moved = [{"id": 10, "t": 1}]  # rows 8 and 9 moved left: something before the offset went away
    assert not guard.overlaps(7, moved)
    assert guard.retry(7) == 6 and guard.overlap == 2  # asked again from further back
    assert guard.overlaps(6, [{"id": 8, "t": 1}, {"id": 9, "t": 1}, {"id": 10, "t": 1}])
    assert guard.fresh([{"id": 8, "t": 1}, {"id": 9, "t": 1}, {"id": 3, "t": 2}]) == [{"id": 9, "t": 1},
                                                                                       {"id": 3, "t": 2}]
    assert guard.after(14) == 12  # the list moved: later pages overlap by two rows
    for _ in range(3):
        guard.retry(12)
    assert guard.overlap == guard.max_overlap == 4
    assert guard.retry(12) == 8  # beyond half a page: a page further back at a time



# -- request costs in the catalogue ---------------------------------------------------------------------------

def test_catalogue_token_costs_are_the_documents_x_token_cost():
    """Every read path's token cost in the catalogue (list paths, /recents, archived lists, searches, bulk child
    routes) is the ``x-token-cost`` Pipedrive's OpenAPI documents give its GET."""
    from pipedrive_core import openapi
    from pipedrive_core.catalogue import EXTRA_READ_TOKEN_COSTS

    spec_dir = openapi.default_spec_dir()
    if spec_dir is None:
        pytest.skip("Pipedrive OpenAPI documents not available")
    resolvers = {v: openapi.Resolver(doc) for v, doc in openapi.load_documents(spec_dir).items()}
    paths = {r.read_path: r.read_token_cost for r in active()} | dict(EXTRA_READ_TOKEN_COSTS)
    for path, cost in paths.items():
        version, local = openapi.split_version(path)
        operation = resolvers[version].find_operation(local)
        assert operation is not None, path
        assert operation.get("x-token-cost") == cost, path


def test_per_parent_children_are_opt_in_and_say_what_they_cost():
    from tap_pipedrive.metering import cost_overview

    tap_classes = STREAM_CLASSES
    for name, cls in tap_classes.items():
        assert cls.selected_by_default is (cls.resource.parent is None), name
    overview = cost_overview()
    assert "- deal_products [opt-in]: 1 request per 100 `deals` records read".replace("`", "") in overview  # bulk
    assert "- deal_participants [opt-in]: 1 request per `deals` record read".replace("`", "") in overview
    assert "10 tokens each" in overview


def test_include_fields_are_asked_for_and_can_be_narrowed(emulator):
    from pipedrive_core.catalogue import CATALOGUE as RESOURCES_BY_NAME

    base = {"api_url": emulator.url, "api_token": "emulator-token"}
    tap = TapPipedrive(config={**base, "include_fields": {"deals": ["products_count"], "persons": []}},
                       parse_env_config=False)
    assert tap.streams["deals"].read_plan({"is_archived": True}).params["include_fields"] == "products_count"
    assert "include_fields" not in tap.streams["persons"].read_plan(None).params
    every = TapPipedrive(config=base, parse_env_config=False).streams["organizations"].read_plan(None)
    assert every.params["include_fields"] == ",".join(RESOURCES_BY_NAME["organizations"].include_fields)
    with pytest.raises(Exception, match=r"include_fields\.deals: nonsense unknown"):
        TapPipedrive(config={**base, "include_fields": {"deals": ["nonsense"]}}, parse_env_config=False)


def test_recents_is_trusted_only_within_the_shortest_month():
    """/recents keeps one calendar month: on 2026-03-29 that reaches back to 2026-02-28 only."""
    now = dt.datetime(2026, 3, 29, 12, tzinfo=dt.timezone.utc)
    assert recents_covers("2026-03-02T00:00:00Z", now)  # 27.5 days
    assert not recents_covers("2026-03-01T00:00:00Z", now)  # 28.5 days: outside February's month


def test_a_read_that_finds_nothing_new_in_many_retries_gives_up_with_one_line():
    from pipedrive_core.catalogue import Pagination
    from pipedrive_core.http.errors import PaginationError
    from tap_pipedrive.client import ReadPlan
    from tap_pipedrive.pages import MAX_RETRIES_WITHOUT_PROGRESS, PageLoop, ReadStats

    class Stream:
        name = "notes"

        def record_identity(self, record):
            return record["id"]

    loop = PageLoop(Stream(), None, ReadPlan("full", "/v1/notes", {}, Pagination.OFFSET, 10), ReadStats())
    assert loop.guard is not None
    for _ in range(MAX_RETRIES_WITHOUT_PROGRESS):
        loop.step_back(50)
    with pytest.raises(PaginationError, match="kept moving under the reader"):
        loop.step_back(50)
