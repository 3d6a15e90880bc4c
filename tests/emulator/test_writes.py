"""Writes: create/update/delete, v2 strict validation, update_time, v1/v2 agreement, bulk deletes."""

from __future__ import annotations

import uuid

from pipedrive_emulator import Emulator

from .conftest import Client


def _cf(emu: Emulator, entity: str, field_type: str) -> dict:
    return next(f for f in emu.store.field_defs(entity, custom_only=True) if f["field_type"] == field_type)


def test_create_update_delete_v2_deal(client: Client, emu: Emulator):
    enum = _cf(emu, "deals", "enum")
    option = enum["options"][1]["id"]
    created = client.ok("POST", "/api/v2/deals", json={"title": "Big one", "value": 1200, "person_id": 1,
                                                       "custom_fields": {enum["key"]: option}})["data"]
    assert created["title"] == "Big one"
    assert created["status"] == "open"
    assert created["add_time"] == created["update_time"] == "2026-11-20T12:00:00Z"
    assert created["custom_fields"][enum["key"]] == option
    deal_id = created["id"]
    assert deal_id > max(d["id"] for d in emu.store.records("deals", include_deleted=True) if d["id"] != deal_id)
    emu.clock.advance(90)
    updated = client.ok("PATCH", f"/api/v2/deals/{deal_id}", json={"value": 99.5})["data"]
    assert updated["value"] == 99.5
    assert updated["title"] == "Big one"
    assert updated["update_time"] == "2026-11-20T12:01:30Z"
    changed = client.v2_all("/api/v2/deals", updated_since="2026-11-20T12:01:00Z")
    assert [d["id"] for d in changed] == [deal_id]
    assert client.ok("DELETE", f"/api/v2/deals/{deal_id}")["data"] == {"id": deal_id}
    assert client.call("DELETE", f"/api/v2/deals/{deal_id}").status_code == 404
    assert client.call("PATCH", "/api/v2/deals/999999", json={"title": "x"}).status_code == 404


def test_v2_validation_errors(client: Client, emu: Emulator):
    enum, multi = _cf(emu, "deals", "enum"), _cf(emu, "deals", "set")
    cases = [
        ({"value": 5}, "title"),
        ({"title": "x", "value": "12"}, "value"),
        ({"title": "x", "value": "abc"}, "value"),
        ({"title": "x", "custom_fields": {enum["key"]: enum["options"][0]["label"]}}, enum["key"]),
        ({"title": "x", "custom_fields": {enum["key"]: 987654}}, "987654"),
        ({"title": "x", "custom_fields": {multi["key"]: multi["options"][0]["id"]}}, multi["key"]),
        ({"title": "x", "custom_fields": {"f" * 40: 1}}, "f" * 40),
        ({"title": "x", "person_id": 99999999}, "person_id"),
    ]
    for body, needle in cases:
        response = client.call("POST", "/api/v2/deals", json=body)
        assert response.status_code == 400, body
        payload = response.json()
        assert payload["success"] is False
        assert payload["data"] is None
        assert needle in payload["error"], (needle, payload["error"])
    assert client.call("POST", "/api/v2/deals", data="{not json", headers={"content-type": "application/json"}
                       ).status_code == 400
    assert client.call("PATCH", "/api/v2/deals/1", json={"title": ""}).status_code == 400


def test_v1_and_v2_writes_land_in_one_record(lclient: Client, legacy: Emulator):
    money, enum = _cf(legacy, "deals", "monetary"), _cf(legacy, "deals", "enum")
    option = enum["options"][0]["id"]
    lclient.ok("PUT", "/v1/deals/5", json={"title": "From v1", money["key"]: "250.5",
                                           f"{money['key']}_currency": "USD", enum["key"]: str(option)})
    v2 = lclient.ok("GET", "/api/v2/deals/5")["data"]
    assert v2["title"] == "From v1"
    assert v2["custom_fields"][money["key"]] == {"value": 250.5, "currency": "USD"}
    assert v2["custom_fields"][enum["key"]] == option
    lclient.ok("PATCH", "/api/v2/deals/5", json={"custom_fields": {money["key"]: {"value": 7, "currency": "EUR"}}})
    v1 = lclient.ok("GET", "/v1/deals/5")["data"]
    assert (v1[money["key"]], v1[f"{money['key']}_currency"]) == (7, "EUR")
    assert v1[enum["key"]] == str(option)
    created = lclient.ok("POST", "/v1/persons", json={"name": "Ada Lovelace", "email": "ada@example.com"})
    assert created["data"]["email"][0]["value"] == "ada@example.com"
    assert lclient.ok("GET", f"/api/v2/persons/{created['data']['id']}")["data"]["emails"][0]["value"] == \
        "ada@example.com"


def test_v1_resources_writes(client: Client, emu: Emulator):
    note = client.ok("POST", "/v1/notes", json={"content": "hello", "deal_id": 1})
    assert note["data"]["content"] == "hello"
    assert note["data"]["add_time"] == "2026-11-20 12:00:00"
    assert client.call("POST", "/v1/notes", json={"deal_id": 1}).status_code == 400
    emu.clock.advance(5)
    put = client.ok("PUT", f"/v1/notes/{note['data']['id']}", json={"content": "bye"})["data"]
    assert put["update_time"] == "2026-11-20 12:00:05"
    lead = client.ok("POST", "/v1/leads", json={"title": "Lead A", "person_id": 1})["data"]
    uuid.UUID(lead["id"])
    patched = client.ok("PATCH", f"/v1/leads/{lead['id']}", json={"title": "Lead B"})["data"]
    assert patched["title"] == "Lead B"
    assert client.call("PATCH", f"/v1/leads/{uuid.uuid4()}", json={"title": "x"}).status_code == 404
    label = client.ok("POST", "/v1/leadLabels", json={"name": "Urgent", "color": "red"})["data"]
    client.ok("PATCH", f"/v1/leadLabels/{label['id']}", json={"name": "Very urgent"})
    call = client.ok("POST", "/v1/callLogs", json={"outcome": "connected", "to_phone_number": "+1",
                                                   "start_time": "2026-11-20 10:00:00",
                                                   "end_time": "2026-11-20 10:05:00"})["data"]
    assert isinstance(call["id"], str)
    client.ok("DELETE", f"/v1/callLogs/{call['id']}")
    for path in ("/api/v2/projects", "/api/v2/tasks"):
        body = {"title": "P", "board_id": 1, "phase_id": 1} if "projects" in path else {"title": "T",
                                                                                         "project_id": 1}
        created = client.ok("POST", path, json=body)["data"]
        assert created["add_time"].endswith(".000Z")


def test_deal_products_writes_and_bulk_delete(client: Client, emu: Emulator):
    added = [client.ok("POST", "/api/v2/deals/2/products", json={"product_id": 1, "item_price": 10,
                                                                 "quantity": q})["data"] for q in (1, 2, 3)]
    assert added[1]["sum"] == 20
    assert added[1]["deal_id"] == 2
    client.ok("PATCH", f"/api/v2/deals/2/products/{added[0]['id']}", json={"quantity": 5})
    assert client.call("POST", "/api/v2/deals/2/products", json={"product_id": 1, "item_price": "10",
                                                                 "quantity": 1}).status_code == 400
    ids = ",".join(str(a["id"]) for a in added)
    assert client.ok("DELETE", "/api/v2/deals/2/products", params={"ids": ids})["data"] == {
        "id": [a["id"] for a in added]}
    too_many = ",".join(str(i) for i in range(1, 102))
    assert client.call("DELETE", "/api/v2/deals/2/products", params={"ids": too_many}).status_code == 400


def test_filters_bulk_delete(client: Client):
    assert client.ok("DELETE", "/v1/filters", params={"ids": "1,2"})["data"] == {"id": [1, 2]}
    remaining = {f["id"] for f in client.ok("GET", "/v1/filters")["data"]}
    assert not {1, 2} & remaining
    assert client.call("DELETE", "/v1/filters", params={"ids": ",".join(map(str, range(1001)))}).status_code == 400
    assert client.call("DELETE", "/v1/filters", params={"ids": "x"}).status_code == 400
    # the removed v1 bulk deletes do not exist
    assert client.call("DELETE", "/api/v2/deals", params={"ids": "1,2"}).status_code in (404, 405)


def test_search_endpoints(shared: Client, shared_emu: Emulator):
    person = shared_emu.store.get("persons", 3)
    email = person["emails"][0]["value"]
    hits = shared.ok("GET", "/api/v2/persons/search", params={"term": email, "fields": "email",
                                                              "exact_match": "true"})["data"]["items"]
    assert [h["item"]["id"] for h in hits] == [3]
    assert hits[0]["result_score"] > 0
    assert hits[0]["item"]["type"] == "person"
    deal_title = shared_emu.store.get("deals", 1)["title"]
    deals = shared.ok("GET", "/api/v2/deals/search", params={"term": deal_title[:6]})["data"]["items"]
    assert any(h["item"]["id"] == 1 for h in deals)
    assert shared.get("/api/v2/deals/search", params={"term": "a"}).status_code == 400
    mixed = shared.ok("GET", "/api/v2/itemSearch", params={"term": deal_title[:6], "item_types": "deal,person"})
    assert "items" in mixed["data"]
    assert "next_cursor" in mixed["additional_data"]
    field = shared.ok("GET", "/api/v2/itemSearch/field", params={"term": email, "entity_type": "person",
                                                                 "field": "email", "match": "exact"})["data"]
    assert [r["item"]["id"] for r in field] == [3]
    for path in ("/api/v2/organizations/search", "/api/v2/products/search", "/api/v2/leads/search"):
        assert shared.get(path, params={"term": "ab"}).status_code == 200
    page = shared.ok("GET", "/api/v2/deals/search", params={"term": "deal", "limit": 5})
    assert len(page["data"]["items"]) == 5
    assert page["additional_data"]["next_cursor"]


def test_organization_relationships_create_update_delete(client: Client, emu: Emulator):
    """POST/PUT/DELETE /v1/organizationRelationships take the organizations in the body (no parent in the path);
    the relationship is then listed for both organizations."""
    created = client.call("POST", "/v1/organizationRelationships",
                          json={"type": "parent", "rel_owner_org_id": 2, "rel_linked_org_id": 3})
    assert created.status_code == 201, created.text
    rel = created.json()["data"]
    assert rel["rel_owner_org_id"]["value"] == 2
    assert rel["rel_linked_org_id"]["value"] == 3
    for org in (2, 3):
        listed = client.ok("GET", "/v1/organizationRelationships", params={"org_id": org})["data"]
        assert rel["id"] in [r["id"] for r in listed]
    updated = client.ok("PUT", f"/v1/organizationRelationships/{rel['id']}", json={"type": "related"})["data"]
    assert updated["type"] == "related"
    missing = client.call("POST", "/v1/organizationRelationships",
                          json={"type": "parent", "rel_owner_org_id": 2, "rel_linked_org_id": 999999})
    assert missing.status_code == 400
    assert client.ok("DELETE", f"/v1/organizationRelationships/{rel['id']}")["data"] == {"id": rel["id"]}
    assert client.call("DELETE", f"/v1/organizationRelationships/{rel['id']}").status_code == 404
