"""Create, update, delete, upsert, ledger skip, ordering, dry run and summary against the emulator."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from pipedrive_emulator.server import Emulator
from target_pipedrive.translate import format_datetime
from tests.target.conftest import record, run_cli, run_target, schema, text

PERSON_PROPS: dict[str, Any] = {
    "ext": {"type": "string"},
    "name": {"type": ["string", "null"]},
    "email": {"type": ["string", "null"]},
    "region": {"type": ["string", "null"]},
    "interests": {"type": ["array", "null"], "items": {"type": "string"}},
    "seats": {"type": ["number", "null"]},
    "renewal_date": {"type": ["string", "null"], "format": "date"},
    "budget": {"type": ["number", "null"]},
    "budget_currency": {"type": ["string", "null"]},
    "preferred_call_time": {"type": ["string", "null"], "format": "time"},
}


def field_key(emu: Emulator, entity: str, name: str, ftype: str | None = None) -> str:
    return next(
        f["key"]
        for f in emu.store.field_defs(entity, custom_only=True)
        if f["name"] == name and (ftype is None or f["field_type"] == ftype)
    )


def writes(emu: Emulator) -> list[tuple[str, str]]:
    return [(r.method, r.path) for r in emu.requests if r.method in {"POST", "PUT", "PATCH", "DELETE"}]


def test_creates_with_custom_fields_by_name_then_skips_unchanged(emulator, config):
    people = [
        {
            "ext": "c-1",
            "name": "Ann Lee",
            "email": "ann@example.com",
            "region_16": "EMEA",
            "interests": ["Analytics", "Integrations"],
            "seats": 12,
            "renewal_date": "2027-01-31",
            "budget": 1500.5,
            "budget_currency": "EUR",
            "preferred_call_time": "09:30:00",
        },
        {"ext": "c-2", "name": "Bob Stone", "email": "bob@example.com"},
    ]
    props = {**PERSON_PROPS, "region_16": {"type": ["string", "null"]}}
    run = run_target(config, schema("persons", props, ["ext"]), [record("persons", p) for p in people])
    assert run.summary["created"] == 2
    stored = sorted(emulator.store.records("persons"), key=lambda r: r["name"])
    assert [p["name"] for p in stored] == ["Ann Lee", "Bob Stone"]
    custom = stored[0]["custom_fields"]
    region = field_key(emulator, "persons", "Region", "enum")
    options = {
        o["label"]: o["id"] for f in emulator.store.field_defs("persons") if f["key"] == region for o in f["options"]
    }
    assert custom[region] == options["EMEA"]
    interests = field_key(emulator, "persons", "Interests")
    assert len(custom[interests]) == 2
    assert custom[field_key(emulator, "persons", "Seats")] == 12
    assert custom[field_key(emulator, "persons", "Renewal date")] == "2027-01-31"
    assert custom[field_key(emulator, "persons", "Budget")] == {"value": 1500.5, "currency": "EUR"}
    assert stored[0]["emails"][0]["value"] == "ann@example.com"

    emulator.reset_log()
    again = run_target(config, schema("persons", props, ["ext"]), [record("persons", p) for p in people])
    assert again.summary["skipped_unchanged"] == 2
    assert writes(emulator) == []
    assert len(emulator.store.records("persons")) == 2


def test_changed_record_is_updated_with_patch_of_present_fields(emulator, config):
    msgs = [
        schema("persons", PERSON_PROPS, ["ext"]),
        record("persons", {"ext": "c-1", "name": "Ann", "email": "a@x.io"}),
    ]
    run_target(config, *msgs)
    emulator.reset_log()
    run = run_target(
        config, schema("persons", PERSON_PROPS, ["ext"]), record("persons", {"ext": "c-1", "name": "Ann B"})
    )
    assert run.summary["updated"] == 1
    assert writes(emulator) == [("PATCH", "/api/v2/persons/1")]
    person = emulator.store.records("persons")[0]
    assert person["name"] == "Ann B"
    assert person["emails"][0]["value"] == "a@x.io"  # not present in the record: untouched


def test_record_with_pipedrive_id_updates_v2_with_patch_and_v1_with_put(emulator, config):
    run_target(
        config,
        schema("deals", {"title": {"type": "string"}}),
        record("deals", {"title": "Deal one"}),
        schema("notes", {"content": {"type": "string"}, "deal_id": {"type": "integer"}}),
        record("notes", {"content": "first", "deal_id": 1}),
    )
    emulator.reset_log()
    run = run_target(
        config,
        schema("deals", {"id": {"type": "integer"}, "title": {"type": "string"}, "value": {"type": "number"}}, ["id"]),
        record("deals", {"id": 1, "value": 250.75}),
        schema("notes", {"id": {"type": "integer"}, "content": {"type": "string"}}, ["id"]),
        record("notes", {"id": 1, "content": "second"}),
    )
    assert run.summary["updated"] == 2
    assert ("PATCH", "/api/v2/deals/1") in writes(emulator)
    assert ("PUT", "/v1/notes/1") in writes(emulator)
    deal = emulator.store.records("deals")[0]
    assert deal["title"] == "Deal one"
    assert deal["value"] == 250.75
    assert emulator.store.records("notes")[0]["content"] == "second"


def test_leads_are_created_and_patched_through_v1(emulator, config):
    props = {
        "ext": {"type": "string"},
        "title": {"type": "string"},
        "expected_close_date": {"type": "string", "format": "date"},
    }
    run_target(
        config,
        schema("leads", props, ["ext"]),
        record("leads", {"ext": "l1", "title": "Lead", "expected_close_date": "2027-02-01"}),
    )
    emulator.reset_log()
    run_target(config, schema("leads", props, ["ext"]), record("leads", {"ext": "l1", "title": "Lead 2"}))
    lead = emulator.store.records("leads")[0]
    assert writes(emulator) == [("PATCH", f"/v1/leads/{lead['id']}")]
    assert lead["title"] == "Lead 2"
    assert lead["expected_close_date"] == "2027-02-01"


def test_deletes_one_by_one_where_pipedrive_has_no_bulk_delete(emulator, config):
    props = {**PERSON_PROPS, "_sdc_deleted_at": {"type": ["string", "null"], "format": "date-time"}}
    people = [{"ext": f"p{i}", "name": f"P {i}"} for i in range(4)]
    run_target(config, schema("persons", props, ["ext"]), [record("persons", p) for p in people])
    emulator.reset_log()
    gone = [
        {"ext": "p1", "_sdc_deleted_at": "2026-01-01T00:00:00Z"},
        {"ext": "p2", "_sdc_deleted_at": "2026-01-01T00:00:00Z"},
        {"ext": "never-written", "_sdc_deleted_at": "2026-01-01T00:00:00Z"},
    ]
    run = run_target(config, schema("persons", props, ["ext"]), [record("persons", p) for p in gone])
    assert run.summary["deleted"] == 2
    assert run.summary["skipped"] == 1
    calls = writes(emulator)
    assert len(calls) == 2
    assert all(method == "DELETE" and path.startswith("/api/v2/persons/") for method, path in calls)
    assert sorted(p["name"] for p in emulator.store.records("persons")) == ["P 0", "P 3"]


def test_bulk_deletes_are_batched_by_the_configured_size(emulator, config):
    props = {
        "ext": {"type": "string"},
        "name": {"type": "string"},
        "type": {"type": "string"},
        "conditions": {"type": "object"},
        "deleted": {"type": ["boolean", "null"]},
    }
    conditions = {
        "glue": "and",
        "conditions": [
            {"glue": "and", "conditions": [{"object": "deal", "field_id": "12", "operator": "=", "value": "open"}]}
        ],
    }
    filters = [{"ext": f"f{i}", "name": f"F{i}", "type": "deals", "conditions": conditions} for i in range(5)]
    cfg = {**config, "delete_flag_field": "deleted", "bulk_delete_batch_size": 2}
    run_target(cfg, schema("filters", props, ["ext"]), [record("filters", f) for f in filters])
    assert len(emulator.store.records("filters")) == 5
    emulator.reset_log()
    run = run_target(
        cfg, schema("filters", props, ["ext"]), [record("filters", {"ext": f"f{i}", "deleted": True}) for i in range(5)]
    )
    assert run.summary["deleted"] == 5
    bulk = [r for r in emulator.requests if r.method == "DELETE"]
    assert [r.path for r in bulk] == ["/v1/filters"] * 3
    assert sorted(len(r.query["ids"].split(",")) for r in bulk) == [1, 2, 2]
    assert emulator.store.records("filters") == []


def test_bulk_delete_size_is_capped_by_pipedrive_maximum(emulator, config):
    run_target(config, schema("deals", {"title": {"type": "string"}}), record("deals", {"title": "Big"}))
    run_target(config, schema("products", {"name": {"type": "string"}}), record("products", {"name": "Widget"}))
    props = {
        "id": {"type": "integer"},
        "deal_id": {"type": "integer"},
        "product_id": {"type": "integer"},
        "quantity": {"type": "number"},
        "item_price": {"type": "number"},
        "gone": {"type": "boolean"},
    }
    items = [{"deal_id": 1, "product_id": 1, "quantity": 1, "item_price": i} for i in range(101)]
    run_target(config, schema("deal_products", props), [record("deal_products", i) for i in items])
    ids = [r["id"] for r in emulator.store.records("deal_products")]
    assert len(ids) == 101
    emulator.reset_log()
    cfg = {**config, "delete_flag_field": "gone", "bulk_delete_batch_size": 1000}
    run = run_target(
        cfg,
        schema("deal_products", props, ["id"]),
        [record("deal_products", {"id": i, "deal_id": 1, "gone": True}) for i in ids],
    )
    assert run.summary["deleted"] == 101
    bulk = [r for r in emulator.requests if r.method == "DELETE"]
    assert all(r.path == "/api/v2/deals/1/products" for r in bulk)
    assert sorted(len(r.query["ids"].split(",")) for r in bulk) == [1, 100]


def test_match_on_email_updates_existing_person_instead_of_creating(emulator, config):
    run_target(
        config,
        schema("persons", PERSON_PROPS, ["ext"]),
        record("persons", {"ext": "crm-1", "name": "Ann", "email": "Ann@Example.com"}),
    )
    emulator.reset_log()
    cfg = {**config, "match_on": {"contacts": ["email"]}, "stream_map": {"contacts": "persons"}}
    props = {"email": {"type": "string"}, "name": {"type": "string"}}
    run = run_target(
        cfg,
        schema("contacts", props),
        record("contacts", {"email": "ann@example.com", "name": "Ann Updated"}),
        record("contacts", {"email": "new@example.com", "name": "New"}),
    )
    assert run.summary["updated"] == 1
    assert run.summary["created"] == 1
    assert ("PATCH", "/api/v2/persons/1") in writes(emulator)
    assert sorted(p["name"] for p in emulator.store.records("persons")) == ["Ann Updated", "New"]
    assert any(r.path == "/api/v2/persons/search" for r in emulator.requests)


def test_match_on_custom_field_external_id(emulator, config):
    cfg = {**config, "match_on": {"deals": ["account_code"]}, "source_key": {"deals": []}}
    props = {"title": {"type": "string"}, "account_code": {"type": "string"}}
    first = run_target(cfg, schema("deals", props), record("deals", {"title": "A", "account_code": "EXT-9"}))
    assert first.summary["created"] == 1
    second = run_target(cfg, schema("deals", props), record("deals", {"title": "A renamed", "account_code": "EXT-9"}))
    assert second.summary["updated"] + second.summary["skipped_unchanged"] == 1
    assert [d["title"] for d in emulator.store.records("deals")] == ["A renamed"]


def test_same_key_keeps_order_while_other_keys_run_in_parallel(emulator, config):
    cfg = {**config, "max_workers": 8}
    msgs = [record("persons", {"ext": f"k{k}", "name": f"k{k} v{v}"}) for v in range(6) for k in range(10)]
    run = run_target(cfg, schema("persons", PERSON_PROPS, ["ext"]), msgs)
    assert run.summary["created"] == 10
    assert run.summary["updated"] == 50
    names = sorted(p["name"] for p in emulator.store.records("persons"))
    assert names == sorted(f"k{k} v5" for k in range(10))


def test_dry_run_plans_and_writes_nothing(emulator, config):
    run_target(config, schema("persons", PERSON_PROPS, ["ext"]), record("persons", {"ext": "a", "name": "A"}))
    emulator.reset_log()
    cfg = {**config, "dry_run": True}
    props = {**PERSON_PROPS, "_sdc_deleted_at": {"type": ["string", "null"]}}
    run = run_target(
        cfg,
        schema("persons", props, ["ext"]),
        record("persons", {"ext": "a", "name": "A2"}),
        record("persons", {"ext": "b", "name": "B"}),
        record("persons", {"ext": "a", "_sdc_deleted_at": "2026-01-01T00:00:00Z"}),
    )
    assert run.summary["dry_run"] is True
    assert (run.summary["created"], run.summary["updated"], run.summary["deleted"]) == (1, 1, 1)
    assert writes(emulator) == []
    assert [p["name"] for p in emulator.store.records("persons")] == ["A"]
    assert "create" in run.target.runtime.summary.samples


def test_summary_is_printed_at_the_end(emulator, config, tmp_path):
    out = run_cli(
        config,
        tmp_path,
        text(
            schema("persons", PERSON_PROPS, ["ext"]),
            record("persons", {"ext": "a", "name": "A"}),
            {"type": "STATE", "value": {"bookmarks": {"x": 1}}},
        ),
    )
    assert out.returncode == 0, out.stderr
    assert "target-pipedrive done: created 1, updated 0, deleted 0, skipped unchanged 0" in out.stderr
    assert "requests made 4" in out.stderr  # users/me (company), new-ledger check, personFields, POST
    assert out.stdout.strip().splitlines()[-1] == '{"bookmarks": {"x": 1}}'


def test_datetimes_decimals_and_v1_timestamps(emulator, config):
    props = {
        "subject": {"type": "string"},
        "due_date": {"type": "string", "format": "date"},
        "due_time": {"type": "string", "format": "time"},
        "duration": {"type": "string"},
    }
    run_target(
        config,
        schema("activities", props),
        record(
            "activities", {"subject": "Call", "due_date": "2027-03-04", "due_time": "14:05:00", "duration": "00:30"}
        ),
    )
    activity = emulator.store.records("activities")[0]
    assert (activity["due_date"], activity["due_time"]) == ("2027-03-04", "14:05")
    props = {"content": {"type": "string"}, "add_time": {"type": "string", "format": "date-time"}}
    run_target(
        config, schema("notes", props), record("notes", {"content": "n", "add_time": "2026-05-06T07:08:09.123+02:00"})
    )
    note = emulator.store.records("notes")[0]
    assert note["add_time"] == "2026-05-06 05:08:09"


def test_references_are_translated_through_the_ledger_for_replicated_streams(emulator, config):
    cfg = {**config, "source_key": {"*": ["id"]}}
    emulator.store.insert("persons", {"name": "pre-existing"})  # so destination ids differ from source ids
    run = run_target(
        cfg,
        schema("persons", {"id": {"type": "integer"}, "name": {"type": "string"}}, ["id"]),
        record("persons", {"id": 501, "name": "Source person"}),
        schema(
            "deals", {"id": {"type": "integer"}, "title": {"type": "string"}, "person_id": {"type": "integer"}}, ["id"]
        ),
        record("deals", {"id": 77, "title": "Source deal", "person_id": 501}),
    )
    assert run.summary["created"] == 2
    person = next(p for p in emulator.store.records("persons") if p["name"] == "Source person")
    deal = emulator.store.records("deals")[0]
    assert deal["person_id"] == person["id"] != 501
    assert deal["id"] != 77 or person["id"] != 501


@pytest.mark.parametrize(
    ("stream", "message"),
    [
        ("subscriptions", "retired"),
        ("currencies", "read-only"),
        ("widgets", "maps to no Pipedrive resource"),
    ],
)
def test_unknown_retired_and_read_only_streams_are_refused(config, stream, message):
    with pytest.raises(ValueError, match=message):
        run_target(config, schema(stream, {"name": {"type": "string"}}), record(stream, {"name": "x"}))


def test_datetime_formats_unit():
    moment = dt.datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    assert format_datetime(moment, "iso") == "2026-01-02T01:04:05Z"
    assert format_datetime(moment, "v1") == "2026-01-02 01:04:05"
