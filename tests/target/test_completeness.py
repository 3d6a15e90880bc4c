"""Completeness of the target (issue 11): links by warehouse keys, organization relationships, deal products
deleted by their key alone, file uploads, progress lines, and ledger reads batched per batch."""

from __future__ import annotations

import base64
import logging
from typing import Any

import requests

from pipedrive_emulator import writes as emulator_writes
from pipedrive_emulator.server import Emulator
from target_pipedrive.ledger import Ledger
from tests.target.conftest import record, run_target, schema

ORG_PROPS = {"ext_id": {"type": "string"}, "name": {"type": "string"}}
DELETED = {"_sdc_deleted_at": {"type": ["string", "null"]}}
NOW = "2026-11-30T10:00:00Z"


def _orgs() -> list[dict[str, Any]]:
    return [{"ext_id": "o-1", "name": "Acme GmbH"}, {"ext_id": "o-2", "name": "Globex Ltd"}]


def _org_ids(emu: Emulator) -> dict[str, int]:
    return {o["name"]: o["id"] for o in emu.store.records("organizations")}


def test_person_org_id_given_as_the_organizations_warehouse_key(emulator, config):
    """A warehouse has org_ext_id on a person row, not a Pipedrive id: ``references`` translates it through
    the ledger, and organizations are written first even when the person rows arrive first."""
    cfg = {**config, "stream_map": {"crm-persons": "persons", "crm-organizations": "organizations"},
           "references": {"crm-persons": {"org_id": "crm-organizations"}}}
    person_props = {"ext_id": {"type": "string"}, "name": {"type": "string"}, "org_id": {"type": ["string", "null"]}}
    people = [{"ext_id": "p-1", "name": "Ann Lee", "org_id": "o-2"}, {"ext_id": "p-2", "name": "Bob", "org_id": None}]
    run = run_target(
        cfg,
        schema("crm-persons", person_props, ["ext_id"]), [record("crm-persons", p) for p in people],
        schema("crm-organizations", ORG_PROPS, ["ext_id"]), [record("crm-organizations", o) for o in _orgs()],
    )
    assert run.summary["created"] == 4
    orgs = _org_ids(emulator)
    persons = {p["name"]: p for p in emulator.store.records("persons")}
    assert persons["Ann Lee"]["org_id"] == orgs["Globex Ltd"]
    assert persons["Bob"]["org_id"] is None


def test_a_reference_to_a_key_never_written_rejects_the_record(emulator, config):
    cfg = {**config, "on_error": "skip", "references": {"persons": {"org_id": "organizations"}}}
    props = {"ext_id": {"type": "string"}, "name": {"type": "string"}, "org_id": {"type": "string"}}
    run = run_target(cfg, schema("persons", props, ["ext_id"]),
                     record("persons", {"ext_id": "p-9", "name": "Nobody", "org_id": "o-404"}))
    assert run.summary["rejected"] == 1
    assert emulator.store.records("persons") == []


def test_organization_relationships_created_updated_and_deleted(emulator, config):
    """Writes used to demand a synthetic organization_id (the read side's parent column) and the emulator
    answered 400; the owner and linked organizations are body fields."""
    cfg = {**config, "references": {"organization_relationships": {
        "rel_owner_org_id": "organizations", "rel_linked_org_id": "organizations"}}}
    props = {"ext_id": {"type": "string"}, "type": {"type": "string"}, "rel_owner_org_id": {"type": "string"},
             "rel_linked_org_id": {"type": "string"}, **DELETED}
    rel = {"ext_id": "r-1", "type": "parent", "rel_owner_org_id": "o-1", "rel_linked_org_id": "o-2"}
    msgs = [schema("organizations", ORG_PROPS, ["ext_id"]), [record("organizations", o) for o in _orgs()],
            schema("organization_relationships", props, ["ext_id"])]
    run = run_target(cfg, *msgs, record("organization_relationships", rel))
    assert run.summary["created"] == 3
    orgs = _org_ids(emulator)
    [stored] = emulator.store.records("organization_relationships")
    assert (stored["rel_owner_org_id"], stored["rel_linked_org_id"]) == (orgs["Acme GmbH"], orgs["Globex Ltd"])
    run = run_target(cfg, *msgs, record("organization_relationships", {**rel, "type": "related"}))
    assert run.summary["updated"] == 1
    assert emulator.store.records("organization_relationships")[0]["type"] == "related"
    run = run_target(cfg, *msgs, record("organization_relationships", {"ext_id": "r-1", "_sdc_deleted_at": NOW}))
    assert run.summary["deleted"] == 1
    assert emulator.store.records("organization_relationships") == []


def test_deal_product_deleted_by_its_key_alone(emulator, config):
    """The ledger knows the deal a deal product was written under; the delete used to need deal_id."""
    cfg = {**config, "references": {"deal_products": {"deal_id": "deals", "product_id": "products"}}}
    deal_props = {"ext_id": {"type": "string"}, "title": {"type": "string"}}
    product_props = {"ext_id": {"type": "string"}, "name": {"type": "string"}}
    dp_props = {"ext_id": {"type": "string"}, "deal_id": {"type": "string"}, "product_id": {"type": "string"},
                "item_price": {"type": "number"}, "quantity": {"type": "number"}, **DELETED}
    base = [schema("deals", deal_props, ["ext_id"]), record("deals", {"ext_id": "d-1", "title": "Big deal"}),
            schema("products", product_props, ["ext_id"]), record("products", {"ext_id": "pr-1", "name": "Seat"}),
            schema("deal_products", dp_props, ["ext_id"])]
    line = {"ext_id": "dp-1", "deal_id": "d-1", "product_id": "pr-1", "item_price": 100, "quantity": 3}
    run = run_target(cfg, *base, record("deal_products", line))
    assert run.summary["created"] == 3
    assert len(emulator.store.records("deal_products")) == 1
    run = run_target(cfg, *base, record("deal_products", {"ext_id": "dp-1", "_sdc_deleted_at": NOW}))
    assert run.summary["deleted"] == 1
    assert run.summary["rejected"] == 0
    assert emulator.store.records("deal_products") == []


def test_files_uploaded_from_a_path_and_from_base64_and_linked(emulator, config, tmp_path):
    """A ``files`` record with a local path or base64 content becomes a multipart POST /v1/files linked to
    its deal/person; the emulator serves the bytes back."""
    cfg = {**config, "references": {"files": {"deal_id": "deals"}}}
    report = tmp_path / "report.pdf"
    report.write_bytes(b"%PDF-1.4 quarterly numbers\n" + bytes(range(256)))
    notes = "Call notes: ünïcode ✓\n".encode()
    file_props = {"ext_id": {"type": "string"}, "file_path": {"type": ["string", "null"]},
                  "file_name": {"type": ["string", "null"]}, "content_base64": {"type": ["string", "null"]},
                  "deal_id": {"type": ["string", "null"]}}
    files = [{"ext_id": "f-1", "file_path": str(report), "deal_id": "d-1"},
             {"ext_id": "f-2", "file_name": "notes.txt", "content_base64": base64.b64encode(notes).decode(),
              "deal_id": "d-1"}]
    run = run_target(cfg, schema("deals", {"ext_id": {"type": "string"}, "title": {"type": "string"}}, ["ext_id"]),
                     record("deals", {"ext_id": "d-1", "title": "Big deal"}),
                     schema("files", file_props, ["ext_id"]), [record("files", f) for f in files])
    assert run.summary["created"] == 3
    deal = emulator.store.records("deals")[0]
    stored = {f["file_name"]: f for f in emulator.store.records("files")}
    assert set(stored) == {"report.pdf", "notes.txt"}
    for name, content in (("report.pdf", report.read_bytes()), ("notes.txt", notes)):
        assert stored[name]["deal_id"] == deal["id"]
        assert stored[name]["file_size"] == len(content)
        upload = emulator_writes.uploaded(emulator.store, stored[name]["id"])
        assert upload is not None and upload.content == content
        served = requests.get(f"{emulator.url}/v1/files/{stored[name]['id']}/download",
                              headers=emulator.auth_headers(), timeout=10)
        assert served.status_code == 200 and served.content == content
    rerun = run_target(cfg, schema("files", file_props, ["ext_id"]), [record("files", f) for f in files])
    assert rerun.summary["skipped_unchanged"] == 2
    assert len(emulator.store.records("files")) == 2


def test_a_files_record_without_content_is_rejected_naming_the_columns(emulator, config):
    cfg = {**config, "on_error": "skip"}
    props = {"ext_id": {"type": "string"}, "file_name": {"type": "string"}}
    run = run_target(cfg, schema("files", props, ["ext_id"]), record("files", {"ext_id": "f", "file_name": "a.txt"}))
    assert run.summary["rejected"] == 1
    assert emulator.store.records("files") == []


def test_progress_is_logged_after_each_batch(emulator, config, caplog):
    cfg = {**config, "batch_size_rows": 5}
    props = {"ext_id": {"type": "string"}, "name": {"type": "string"}}
    with caplog.at_level(logging.INFO, logger="target_pipedrive"):
        run_target(cfg, schema("persons", props, ["ext_id"]),
                   [record("persons", {"ext_id": f"p{i}", "name": f"P {i}"}) for i in range(12)])
    lines = [r.getMessage() for r in caplog.records if " batch: " in r.getMessage()]
    assert len(lines) == 3  # 5 + 5 + 2
    assert lines[0].startswith("persons batch: created 5 | run so far: created 5 | rate-limit waits")
    assert "run so far: created 12" in lines[-1]


def test_ledger_is_read_once_per_batch_not_once_per_record(emulator, config, monkeypatch):
    """The writer used to query the ledger once per record (lookup, pending); the planner reads a batch's
    mappings with lookup_many and its open intents with pending_keys."""
    calls: dict[str, int] = {"lookup_many": 0, "pending_keys": 0}
    original_many, original_pending = Ledger.lookup_many, Ledger.pending_keys

    def lookup_many(self: Ledger, resource: str, keys: list[str]) -> Any:
        calls["lookup_many"] += 1
        return original_many(self, resource, keys)

    def pending_keys(self: Ledger, resource: str) -> Any:
        calls["pending_keys"] += 1
        return original_pending(self, resource)

    def lookup(self: Ledger, resource: str, key: str) -> Any:
        raise AssertionError("a per-record ledger lookup")

    monkeypatch.setattr(Ledger, "lookup_many", lookup_many)
    monkeypatch.setattr(Ledger, "pending_keys", pending_keys)
    monkeypatch.setattr(Ledger, "lookup", lookup)
    props = {"ext_id": {"type": "string"}, "name": {"type": "string"}}
    rows = [record("persons", {"ext_id": f"p{i}", "name": f"P {i}"}) for i in range(60)]
    run_target({**config, "batch_size_rows": 30}, schema("persons", props, ["ext_id"]), rows)
    again = run_target({**config, "batch_size_rows": 30}, schema("persons", props, ["ext_id"]), rows)
    assert again.summary["skipped_unchanged"] == 60
    assert calls == {"lookup_many": 4, "pending_keys": 4}  # two runs of two batches


def test_bulk_delete_counts_ids_pipedrive_no_longer_has_as_already_gone(emulator, config):
    """Deal products are deleted in DELETE ?ids= batches; Pipedrive's answer lists the ids it deleted."""
    cfg = {**config, "references": {"deal_products": {"deal_id": "deals", "product_id": "products"}}}
    base = [schema("deals", {"ext_id": {"type": "string"}, "title": {"type": "string"}}, ["ext_id"]),
            record("deals", {"ext_id": "d-1", "title": "Big deal"}),
            schema("products", {"ext_id": {"type": "string"}, "name": {"type": "string"}}, ["ext_id"]),
            record("products", {"ext_id": "pr-1", "name": "Seat"}),
            schema("deal_products", {"ext_id": {"type": "string"}, "deal_id": {"type": "string"},
                                     "product_id": {"type": "string"}, "item_price": {"type": "number"},
                                     "quantity": {"type": "number"}, **DELETED}, ["ext_id"])]
    lines = [{"ext_id": f"dp-{i}", "deal_id": "d-1", "product_id": "pr-1", "item_price": 10 * i, "quantity": 1}
             for i in range(1, 4)]
    run_target(cfg, *base, [record("deal_products", line) for line in lines])
    first = emulator.store.records("deal_products")[0]
    emulator.store.delete("deal_products", first["id"], hard=True)  # removed in Pipedrive meanwhile
    run = run_target(cfg, *base, [record("deal_products", {"ext_id": line["ext_id"], "_sdc_deleted_at": NOW})
                                  for line in lines])
    assert run.summary["deleted"] == 2
    assert run.summary["already_gone"] == 1
    assert emulator.store.records("deal_products") == []
