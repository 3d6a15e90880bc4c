"""v1 start/limit and v2 cursor pagination, including edges and cursor stability under writes."""

from __future__ import annotations

import base64
from typing import Any

from pipedrive_core.catalogue import active
from pipedrive_emulator import Emulator

from .conftest import Client


def test_v2_cursor_walk_returns_every_live_deal_once(shared: Client, shared_emu: Emulator):
    deals = shared.v2_all("/api/v2/deals", limit=37)
    ids = [d["id"] for d in deals]
    assert len(ids) == len(set(ids))
    assert ids == sorted(ids)
    expected = [d["id"] for d in shared_emu.store.records("deals") if not d["is_archived"] and not d["is_deleted"]]
    assert ids == expected


def test_v2_last_page_has_null_cursor_and_limit_bounds(shared: Client):
    body = shared.ok("GET", "/api/v2/pipelines", params={"limit": 500})
    assert body["additional_data"]["next_cursor"] is None
    assert shared.get("/api/v2/deals", params={"limit": 501}).status_code == 400
    assert shared.get("/api/v2/deals", params={"limit": 0}).status_code == 400
    assert shared.get("/api/v2/deals", params={"limit": "x"}).status_code == 400
    assert len(shared.ok("GET", "/api/v2/deals", params={"limit": 500})["data"]) <= 500


def test_v2_cursor_is_opaque_and_validated(shared: Client):
    cursor = shared.ok("GET", "/api/v2/deals", params={"limit": 5})["additional_data"]["next_cursor"]
    assert cursor
    assert not cursor.isdigit()
    bad = shared.get("/api/v2/deals", params={"cursor": "not-a-cursor"})
    assert bad.status_code == 400
    assert bad.json()["success"] is False
    forged = base64.urlsafe_b64encode(b"[1]").decode()
    assert shared.get("/api/v2/deals", params={"cursor": forged}).status_code == 400
    # a cursor of one sort order is refused for another
    assert shared.get("/api/v2/deals", params={"cursor": cursor, "sort_by": "update_time"}).status_code == 400


def test_v2_cursor_stable_while_records_change(client: Client, emu: Emulator):
    first = client.ok("GET", "/api/v2/persons", params={"limit": 10})
    seen = [p["id"] for p in first["data"]]
    cursor = first["additional_data"]["next_cursor"]
    # records before and after the cursor change and disappear; one is created
    emu.store.delete("persons", seen[0])
    emu.store.delete("persons", seen[-1] + 1)
    emu.clock.advance(60)
    emu.store.update("persons", seen[-1] + 2, {"name": "Moved Along"})
    client.ok("POST", "/api/v2/persons", json={"name": "Brand New"})
    rest = client.v2_all("/api/v2/persons", limit=10, cursor=cursor)
    rest_ids = [p["id"] for p in rest]
    assert not set(rest_ids) & set(seen)
    assert seen[-1] + 1 not in rest_ids
    assert seen[-1] + 2 in rest_ids
    assert rest_ids == sorted(rest_ids)


def test_v2_sort_by_update_time_desc_and_asc(shared: Client):
    asc = shared.v2_all("/api/v2/organizations", sort_by="update_time", limit=50)
    desc = shared.v2_all("/api/v2/organizations", sort_by="update_time", sort_direction="desc", limit=50)
    assert [o["id"] for o in asc] == [o["id"] for o in reversed(desc)]
    times = [o["update_time"] or "" for o in asc]
    assert times == sorted(times)
    assert shared.get("/api/v2/deals", params={"sort_by": "title"}).status_code == 400
    assert shared.get("/api/v2/deals", params={"sort_direction": "up"}).status_code == 400


def test_v1_offset_pagination_edges(shared: Client, shared_emu: Emulator):
    total = len(shared_emu.store.records("notes"))
    body = shared.ok("GET", "/v1/notes", params={"start": 0, "limit": 7})
    page = body["additional_data"]["pagination"]
    assert page == {"start": 0, "limit": 7, "more_items_in_collection": True, "next_start": 7}
    last = shared.ok("GET", "/v1/notes", params={"start": total - 3, "limit": 7})
    assert len(last["data"]) == 3
    assert last["additional_data"]["pagination"]["more_items_in_collection"] is False
    assert "next_start" not in last["additional_data"]["pagination"]
    beyond = shared.ok("GET", "/v1/notes", params={"start": total + 10})
    assert beyond["data"] == []
    ids: list[int] = []
    start = 0
    while True:
        body = shared.ok("GET", "/v1/notes", params={"start": start, "limit": 500})
        ids += [n["id"] for n in body["data"]]
        pag = body["additional_data"]["pagination"]
        if not pag["more_items_in_collection"]:
            break
        start = pag["next_start"]
    assert len(ids) == total == len(set(ids))
    assert shared.get("/v1/notes", params={"start": "x"}).status_code == 400


def test_v1_page_limits_from_catalogue(shared: Client):
    files = shared.ok("GET", "/v1/files", params={"limit": 500})
    assert files["additional_data"]["pagination"]["limit"] == 100
    calls = shared.ok("GET", "/v1/callLogs", params={"limit": 500})
    assert calls["additional_data"]["pagination"]["limit"] == 50
    assert len(calls["data"]) == 50


def test_unpaginated_v1_lists_have_no_pagination(shared: Client):
    body = shared.ok("GET", "/v1/activityTypes")
    assert "additional_data" not in body or not body.get("additional_data")
    assert len(body["data"]) == 8


def test_children_lists(shared: Client, shared_emu: Emulator):
    deal_with_products = next(r.parent for r in shared_emu.store.tables["deal_products"])
    products = shared.v2_all(f"/api/v2/deals/{deal_with_products}/products", limit=1)
    assert products
    assert all(p["deal_id"] == deal_with_products for p in products)
    assert shared.get("/api/v2/deals/999999/products").status_code == 404
    followers = shared.ok("GET", "/api/v2/deals/1/followers")["data"]
    assert followers[0]["user_id"] == shared_emu.store.get("deals", 1)["owner_id"]
    flow = shared.ok("GET", "/v1/deals/1/flow")
    assert flow["data"][0]["object"] == "dealChange"
    assert "related_objects" in flow
    threads = shared.ok("GET", "/v1/mailbox/mailThreads", params={"folder": "sent"})["data"]
    assert threads
    assert all("sent" in t["folders"] for t in threads)
    assert shared.get("/v1/mailbox/mailThreads").status_code == 400
    goals = shared.ok("GET", "/v1/goals/find")["data"]["goals"]
    assert goals
    for path in ("/v1/deals/1/participants", "/v1/deals/1/permittedUsers", "/v1/deals/1/mailMessages",
                 "/v1/persons/1/flow", "/v1/organizations/1/flow", "/v1/persons/1/mailMessages",
                 "/v1/organizations/1/mailMessages", "/v1/mailbox/mailThreads/1/mailMessages",
                 "/v1/organizationRelationships?org_id=1", "/api/v2/persons/1/followers",
                 "/api/v2/organizations/1/followers", "/api/v2/products/1/followers", "/api/v2/users/1/followers"):
        assert shared.get(path).status_code == 200, path


def test_every_active_catalogue_read_path_answers(shared: Client):
    for resource in active():
        parent = next(iter(shared.emu.store.tables[resource.parent].rows)) if resource.parent else ""
        path = resource.read_path.replace("{parent_id}", str(parent))
        params = {"folder": "inbox"} if resource.name == "mail_threads" else {}
        if resource.parent_params:  # goal results: the period of the parent goal
            parent_data = shared.emu.store.tables[resource.parent].rows[parent].data
            params = {name: _dotted(parent_data, source) for name, source in resource.parent_params.items()}
        response = shared.get(path, params=params)
        assert response.status_code == 200, (resource.name, path, response.text[:200])


def _dotted(data: dict[str, Any], path: str) -> Any:
    for part in path.split("."):
        data = data[part]
    return data


V1_SORTED = [r for r in active() if r.parent is None and r.read_version == 1 and r.added_key
             and r.pagination.name == "OFFSET" and not r.fields_of and not r.partitions]


def _v1_walk(client: Client, path: str, limit: int, sort: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    start = 0
    while True:
        body = client.ok("GET", path, params={"sort": sort, "limit": limit, "start": start})
        rows.extend(body["data"] or [])
        pagination = body["additional_data"]["pagination"]
        if not pagination["more_items_in_collection"]:
            return rows
        start = pagination["next_start"]


def test_v1_sort_by_a_time_column_follows_every_write(client: Client, emu: Emulator):
    """The emulator keeps each row's parsed sort value until the table changes (a v1 ``sort`` on a time column
    parsed every row's timestamp per request): every v1 list sorted by the time it was added, both ways, is in
    that order, and a record moved to the oldest time comes first on the next request."""
    from pipedrive_emulator.clock import parse_any

    def times(rows: list[dict[str, Any]], key: str) -> list[int]:
        return [-1 if r.get(key) is None else parse_any(r[key]) for r in rows]  # nulls sort first

    checked = 0
    for res in V1_SORTED:
        path = res.read_path.split("?")[0]
        if "{" in path:
            continue
        ascending = _v1_walk(client, path, res.page_limit, f"{res.added_key} ASC")
        if len(ascending) < 2:
            continue
        assert times(ascending, res.added_key) == sorted(times(ascending, res.added_key)), res.name
        descending = times(_v1_walk(client, path, res.page_limit, f"{res.added_key} DESC"), res.added_key)
        assert descending == sorted(descending, reverse=True), res.name
        newest = ascending[-1][res.key]
        emu.store.update(res.name, newest, {res.added_key: "2001-01-01 00:00:00"})
        again = _v1_walk(client, path, res.page_limit, f"{res.added_key} ASC")
        dated = [r[res.key] for r in again if r.get(res.added_key) is not None]
        assert dated[0] == newest, res.name
        checked += 1
    assert checked >= 2
