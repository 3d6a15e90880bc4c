"""Resources and reads beyond the plain lists: include_fields, bulk child lists, archived leads, plans,
field history, goal results, user search, file downloads; each generated over the catalogue where the
catalogue declares the behaviour, and each route's token cost checked against the spec's ``x-token-cost``."""

from __future__ import annotations

import functools
import hashlib
import re
from collections import Counter
from typing import Any

import pytest
import yaml

from pipedrive_core.catalogue import RESOURCES, active
from pipedrive_emulator import Emulator
from pipedrive_emulator.routing import build_router
from tests.specs import openapi_dir

from .conftest import Client

INCLUDING = [r for r in active() if r.include_fields]
BULK = [r for r in active() if r.bulk_path]
PLANNED = [r for r in active() if r.min_plan]
SPEC_DIR = openapi_dir()


# -- include_fields -----------------------------------------------------------------------------------


@pytest.mark.parametrize("resource", INCLUDING, ids=lambda r: r.name)
def test_include_fields_absent_unless_requested(shared: Client, resource):
    plain = shared.ok("GET", resource.v2_path, params={"limit": 50})["data"]
    assert plain
    assert not {k for rec in plain for k in rec} & set(resource.include_fields)
    full = shared.ok("GET", resource.v2_path,
                     params={"limit": 50, "include_fields": ",".join(resource.include_fields)})["data"]
    assert all(set(resource.include_fields) <= set(rec) for rec in full)
    one = shared.ok("GET", f"{resource.v2_path}/{plain[0]['id']}",
                    params={"include_fields": resource.include_fields[0]})["data"]
    assert resource.include_fields[0] in one
    assert not set(resource.include_fields[1:]) & set(one)


@pytest.mark.parametrize("resource", INCLUDING, ids=lambda r: r.name)
def test_unknown_include_field_is_rejected(shared: Client, resource):
    answer = shared.get(resource.v2_path, params={"include_fields": "no_such_field"})
    assert answer.status_code == 400


def test_deal_counts_are_computed_from_the_store(shared: Client):
    store = shared.emu.store
    deals = shared.v2_all("/api/v2/deals", limit=500, include_fields="products_count,notes_count,"
                          "activities_count,done_activities_count,participants_count,files_count")
    notes = Counter(n["deal_id"] for n in store.records("notes"))
    files = Counter(f["deal_id"] for f in store.records("files"))
    activities = store.records("activities")
    for deal in deals:
        did = deal["id"]
        assert deal["products_count"] == len(store.tables["deal_products"].children(did))
        assert deal["participants_count"] == len(store.tables["deal_participants"].children(did))
        assert deal["notes_count"] == notes[did]
        assert deal["files_count"] == files[did]
        assert deal["activities_count"] == sum(a["deal_id"] == did for a in activities)
        assert deal["done_activities_count"] == sum(a["deal_id"] == did and a["done"] for a in activities)
    assert any(d["products_count"] for d in deals) and any(d["activities_count"] for d in deals)


def test_person_and_organization_counts(shared: Client):
    store = shared.emu.store
    deals = store.records("deals")
    persons = shared.v2_all("/api/v2/persons", limit=500, include_fields="open_deals_count,won_deals_count")
    for person in persons:
        mine = [d for d in deals if d["person_id"] == person["id"]]
        assert person["open_deals_count"] == sum(d["status"] == "open" for d in mine)
        assert person["won_deals_count"] == sum(d["status"] == "won" for d in mine)
    orgs = shared.v2_all("/api/v2/organizations", limit=500, include_fields="people_count")
    people = Counter(p["org_id"] for p in store.records("persons"))
    assert [o["people_count"] for o in orgs] == [people[o["id"]] for o in orgs]


def test_mail_times_come_from_the_records_mail(shared: Client):
    table = shared.emu.store.tables["deal_mail_messages"]
    with_mail = sorted({row.parent for row in table.rows.values()})
    assert with_mail
    for deal_id in with_mail[:10]:
        deal = shared.ok("GET", f"/api/v2/deals/{deal_id}", params={
            "include_fields": "last_incoming_mail_time,last_outgoing_mail_time"})["data"]
        stamps = {True: [], False: []}
        for row in table.children(deal_id):
            stamps[bool(row.data["data"]["sent_flag"])].append(row.data["timestamp"].replace(" ", "T") + "Z")
        assert deal["last_outgoing_mail_time"] == max(stamps[True], default=None)
        assert deal["last_incoming_mail_time"] == max(stamps[False], default=None)


def test_counts_follow_writes(client: Client):
    store = client.emu.store
    deal = store.records("deals")[0]["id"]
    before = client.ok("GET", f"/api/v2/deals/{deal}", params={"include_fields": "notes_count"})["data"]
    store.insert("notes", {"content": "new", "deal_id": deal, "active_flag": True})
    after = client.ok("GET", f"/api/v2/deals/{deal}", params={"include_fields": "notes_count"})["data"]
    assert after["notes_count"] == before["notes_count"] + 1


# -- bulk child lists -----------------------------------------------------------------------------------


def _per_parent(client: Client, resource: Any, parents: list[int]) -> list[dict[str, Any]]:
    table = client.emu.store.tables[resource.name]
    return [row.data for p in parents for row in table.children(p)]


@pytest.mark.parametrize("resource", BULK, ids=lambda r: r.name)
def test_bulk_list_serves_the_children_of_the_requested_parents(shared: Client, resource):
    parents = list(range(1, resource.bulk_max + 1))
    got = shared.v2_all(resource.bulk_path, **{resource.bulk_param: ",".join(map(str, parents))}, limit=7)
    expected = _per_parent(shared, resource, parents)
    assert expected
    assert sorted(r["id"] for r in got) == sorted(r["id"] for r in expected)
    assert len({r["id"] for r in got}) == len(got)  # cursor pages neither repeat nor skip


@pytest.mark.parametrize("resource", BULK, ids=lambda r: r.name)
def test_bulk_list_limits(shared: Client, resource):
    too_many = ",".join(str(i) for i in range(1, resource.bulk_max + 2))
    assert shared.get(resource.bulk_path, params={resource.bulk_param: too_many}).status_code == 400
    assert shared.get(resource.bulk_path).status_code == 400
    repeated = shared.ok("GET", f"{resource.bulk_path}?{resource.bulk_param}=1&{resource.bulk_param}=2"
                         "&limit=500")["data"]
    assert sorted(r["id"] for r in repeated) == sorted(r["id"] for r in _per_parent(shared, resource, [1, 2]))


@pytest.mark.parametrize("resource", PLANNED, ids=lambda r: r.name)
def test_plan_gate(resource):
    with Emulator(seed=1, scale=0.1, plan="lite") as lite:
        answer = Client(lite).get(resource.bulk_path or resource.read_path.split("?")[0],
                                  params={resource.bulk_param or "id": "1"})
        assert answer.status_code == 402
        assert resource.min_plan.capitalize() in answer.json()["error"]


# -- leads --------------------------------------------------------------------------------------------


def test_archived_leads_are_only_on_the_archived_path(client: Client):
    store = client.emu.store
    live = client.ok("GET", "/v1/leads", params={"limit": 500})["data"]
    archived = client.ok("GET", "/v1/leads/archived", params={"limit": 500})["data"]
    assert archived and all(lead["is_archived"] for lead in archived)
    assert not any(lead["is_archived"] for lead in live)
    assert sorted(x["id"] for x in live + archived) == sorted(x["id"] for x in store.records("leads"))
    moved = live[0]["id"]
    store.update("leads", moved, {"is_archived": True})
    assert moved not in {x["id"] for x in client.ok("GET", "/v1/leads", params={"limit": 500})["data"]}
    assert moved in {x["id"] for x in client.ok("GET", "/v1/leads/archived", params={"limit": 500})["data"]}


def test_leads_updated_since(client: Client):
    store = client.emu.store
    client.emu.clock.advance(3600)
    lead = client.ok("GET", "/v1/leads", params={"limit": 1})["data"][0]["id"]
    store.update("leads", lead, {"title": "changed"})
    since = store.get("leads", lead)["update_time"]
    got = client.ok("GET", "/v1/leads", params={"updated_since": since})["data"]
    assert [x["id"] for x in got] == [lead]
    assert client.get("/v1/leads", params={"updated_since": "yesterday"}).status_code == 400


# -- field history, goal results, users, files ----------------------------------------------------------


@pytest.mark.parametrize("entity", ["deals", "persons", "organizations"])
def test_changelog_records_writes_newest_first(client: Client, entity):
    store = client.emu.store
    key = store.records(entity)[0]["id"]
    client.emu.clock.advance(60)
    store.update(entity, key, {"name" if entity != "deals" else "title": "First"})
    client.emu.clock.advance(60)
    store.update(entity, key, {"owner_id": 2 if store.get(entity, key)["owner_id"] != 2 else 3})
    entries: list[dict[str, Any]] = []
    cursor = None
    while True:
        body = client.ok("GET", f"/v1/{entity}/{key}/changelog", params={"limit": 1, **({"cursor": cursor} if cursor
                                                                                       else {})})
        entries += body["data"]
        cursor = body["additional_data"]["next_cursor"]
        if not cursor:
            break
    assert entries[0]["field_key"] == "owner_id" and entries[1]["new_value"] == "First"
    assert [e["time"] for e in entries] == sorted((e["time"] for e in entries), reverse=True)
    assert client.get(f"/v1/{entity}/999999/changelog").status_code == 404


def test_goal_results(shared: Client):
    store = shared.emu.store
    goal = store.records("goals")[0]
    period = {"period.start": "2026-01-01", "period.end": "2026-12-31"}
    body = shared.ok("GET", f"/v1/goals/{goal['id']}/results", params=period)["data"]
    pipelines = set(goal["type"]["params"]["pipeline_id"])
    won = [d for d in store.records("deals") if d["won_time"] and "2026-01-01" <= d["won_time"][:10] <= "2026-12-31"
           and d["pipeline_id"] in pipelines]
    assert body == {"progress": len(won), "goal": goal}
    assert shared.get(f"/v1/goals/{goal['id']}/results").status_code == 400
    assert shared.get("/v1/goals/nope/results", params=period).status_code == 404


def test_user_search(shared: Client):
    users = shared.emu.store.records("users")
    name = users[2]["name"].split()[0].lower()
    found = shared.ok("GET", "/v1/users/find", params={"term": name})["data"]
    assert {u["id"] for u in found} == {u["id"] for u in users if name in u["name"].lower()
                                        or name in u["email"].lower()}
    by_mail = shared.ok("GET", "/v1/users/find", params={"term": users[0]["email"], "search_by_email": 1})["data"]
    assert [u["id"] for u in by_mail] == [users[0]["id"]]
    assert shared.get("/v1/users/find").status_code == 400


def test_file_download(client: Client):
    store = client.emu.store
    files = store.records("files")
    for record in files[:5]:
        answer = client.get(f"/v1/files/{record['id']}/download")
        assert answer.status_code == 200
        assert answer.headers["content-type"] == "application/octet-stream"
        assert answer.content == store.content(record["id"])
        assert len(answer.content) == record["file_size"]
    store.set_content(files[0]["id"], b"replaced")
    replaced = client.get(f"/v1/files/{files[0]['id']}/download").content
    assert hashlib.sha256(replaced).hexdigest() == hashlib.sha256(b"replaced").hexdigest()
    assert client.get("/v1/files/999999/download").status_code == 404


def test_permission_sets_and_assignments(shared: Client):
    sets = shared.ok("GET", "/v1/permissionSets")["data"]
    assert sets
    for item in sets:
        assigned = shared.ok("GET", f"/v1/permissionSets/{item['id']}/assignments")["data"]
        assert len(assigned) == item["assignment_count"]
        assert all(a["permission_set_id"] == item["id"] for a in assigned)
    sales = shared.ok("GET", "/v1/permissionSets", params={"app": "sales"})["data"]
    assert sales and all(s["app"] == "sales" for s in sales)


# -- token costs ----------------------------------------------------------------------------------------


@functools.cache
def _spec_costs() -> dict[tuple[int, str, str], int]:
    assert SPEC_DIR is not None
    costs: dict[tuple[int, str, str], int] = {}
    for version, name in ((1, "openapi-v1.yaml"), (2, "openapi-v2.yaml")):
        doc = yaml.load((SPEC_DIR / name).read_text(), Loader=yaml.CSafeLoader)
        for path, ops in doc["paths"].items():
            for method, op in ops.items():
                if isinstance(op, dict) and "x-token-cost" in op:
                    costs[(version, method.upper(), re.sub(r"\{[^}]+\}", "{}", path))] = op["x-token-cost"]
    return costs


NEW_READS = {r.name for r in RESOURCES if r.bulk_path or r.archived_path or r.download_path or r.min_plan
             or r.parent_params or r.key_columns} | {"permission_sets", "permission_set_assignments",
                                                     "product_variations", "users"}


@pytest.mark.skipif(SPEC_DIR is None, reason="Pipedrive OpenAPI documents not available")
def test_read_routes_cost_what_the_spec_says():
    checked = 0
    for route in build_router().routes:
        if route.method != "GET" or route.resource not in NEW_READS:
            continue
        prefix = "/api/v2" if route.version == 2 else "/v1"
        spec_path = re.sub(r"\{[^}]+\}", "{}", route.template.removeprefix(prefix))
        cost = _spec_costs().get((route.version, "GET", spec_path))
        if cost is None:
            continue
        assert route.cost == cost, (route.template, route.cost, cost)
        checked += 1
    assert checked >= 12
