"""v1 sunset (410) by default, legacy v1 shapes with --no-v1-sunset, retired resources."""

from __future__ import annotations

import re

from pipedrive_core.catalogue import RESOURCES
from pipedrive_emulator import Emulator

from .conftest import Client

V1_TS = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")


def test_sunset_v1_entities_answer_410(shared: Client):
    for resource in RESOURCES:
        if not resource.v1_sunset:
            continue
        for method, path in (("GET", resource.v1_path), ("GET", f"{resource.v1_path}/1"),
                             ("POST", resource.v1_path), ("PUT", f"{resource.v1_path}/1"),
                             ("DELETE", f"{resource.v1_path}/1")):
            response = shared.call(method, path, json={"title": "x", "name": "x"})
            assert response.status_code == 410, (method, path)
            body = response.json()
            assert body["success"] is False
            assert "v2" in body["error"]
    assert shared.get("/v1/deals/1/products").status_code == 410


def test_retired_resources(shared: Client):
    gone = shared.get("/v1/subscriptions")
    assert gone.status_code == 410
    assert "Subscriptions" in gone.json()["error"]
    missing = shared.get("/v1/deals/1/persons")
    assert missing.status_code == 404
    assert "participants" in missing.json()["error"]
    assert shared.get("/v1/nonsense").status_code == 404


def test_legacy_mode_serves_v1_shapes(lclient: Client, legacy: Emulator):
    body = lclient.ok("GET", "/v1/deals", params={"start": 0, "limit": 3})
    deal = body["data"][0]
    assert V1_TS.match(deal["add_time"])
    assert isinstance(deal["user_id"], dict)
    assert deal["user_id"]["value"] == deal["user_id"]["id"]
    assert deal["person_id"] is None or isinstance(deal["person_id"], dict)
    assert body["additional_data"]["pagination"]["more_items_in_collection"] is True
    assert set(body["related_objects"]) == {"user", "person", "organization"}
    for path in ("/v1/persons", "/v1/organizations", "/v1/activities", "/v1/products", "/v1/pipelines",
                 "/v1/stages", "/v1/dealFields"):
        data = lclient.ok("GET", path, params={"limit": 2})["data"]
        assert data, path
        assert all(V1_TS.match(d["add_time"]) for d in data if d.get("add_time")), path
    deal_id = next(r.parent for r in legacy.store.tables["deal_products"])
    items = lclient.ok("GET", f"/v1/deals/{deal_id}/products")["data"]
    assert items
    assert all(i["deal_id"] == deal_id and "enabled_flag" in i for i in items)
    v2 = lclient.ok("GET", "/api/v2/deals/1")["data"]
    v1 = lclient.ok("GET", "/v1/deals/1")["data"]
    assert v1["title"] == v2["title"]
    assert v1["user_id"]["id"] == v2["owner_id"]


def test_legacy_v1_writes(lclient: Client, legacy: Emulator):
    created = lclient.ok("POST", "/v1/deals", json={"title": "Legacy", "value": "10", "user_id": 2})
    assert created["data"]["title"] == "Legacy"
    assert legacy.store.get("deals", created["data"]["id"])["owner_id"] == 2
    lclient.ok("DELETE", f"/v1/deals/{created['data']['id']}")
    assert legacy.store.get("deals", created["data"]["id"])["is_deleted"] is True
