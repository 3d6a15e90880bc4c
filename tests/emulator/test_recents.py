"""/v1/recents: exclusive since_timestamp, ascending order, one-month window, null update_time."""

from __future__ import annotations

from pipedrive_emulator import Emulator
from pipedrive_emulator.clock import iso_to_v1

from .conftest import Client


def _all(client: Client, **params) -> tuple[list[dict], dict]:
    items: list[dict] = []
    start = 0
    while True:
        body = client.ok("GET", "/v1/recents", params=dict(params, start=start, limit=100))
        items += body["data"]
        pag = body["additional_data"]["pagination"]
        if not pag["more_items_in_collection"]:
            return items, body["additional_data"]
        start = pag["next_start"]


def test_recents_sorted_and_exclusive(shared: Client, shared_emu: Emulator):
    items, _ = _all(shared, since_timestamp="2026-11-10 00:00:00", items="deal,person,note")
    assert items
    times = [i["data"]["update_time"] for i in items]
    assert times == sorted(times)
    assert all(t > "2026-11-10 00:00:00" for t in times)
    pivot = items[len(items) // 2]["data"]["update_time"]
    after, _ = _all(shared, since_timestamp=pivot, items="deal,person,note")
    assert all(i["data"]["update_time"] > pivot for i in after)
    assert {i["item"] for i in items} == {"deal", "person", "note"}
    assert all(isinstance(i["id"], int) and i["data"]["id"] == i["id"] for i in items)


def test_recents_additional_data(shared: Client):
    body = shared.ok("GET", "/v1/recents", params={"since_timestamp": "2026-11-10 00:00:00", "items": "deal",
                                                    "limit": 5})
    extra = body["additional_data"]
    assert extra["since_timestamp"] == "2026-11-10 00:00:00"
    assert extra["last_timestamp_on_page"] == body["data"][-1]["data"]["update_time"]
    assert extra["pagination"]["limit"] == 5
    assert extra["pagination"]["more_items_in_collection"] is True


def test_recents_clamped_to_one_month(shared: Client, shared_emu: Emulator):
    old, _ = _all(shared, since_timestamp="2020-01-01 00:00:00", items="deal")
    month, _ = _all(shared, since_timestamp="2026-10-20 12:00:00", items="deal")
    assert [i["id"] for i in old] == [i["id"] for i in month]
    stored_old = [d for d in shared_emu.store.records("deals", include_deleted=True)
                  if d["update_time"] and d["update_time"] < "2026-10-20T12:00:00Z"]
    assert stored_old  # there is history older than a month, and recents does not serve it
    assert not {d["id"] for d in stored_old} & {i["id"] for i in old}


def test_null_update_time_never_appears(emu: Emulator, client: Client):
    emu.store.set_null_update_time("deals", 2)
    items, _ = _all(client, since_timestamp="2026-10-25 00:00:00", items="deal")
    assert 2 not in {i["id"] for i in items}
    nulls = [d["id"] for d in emu.store.records("deals") if d["update_time"] is None]
    assert nulls
    assert not set(nulls) & {i["id"] for i in items}


def test_writes_and_deletes_show_up_in_recents(emu: Emulator, client: Client):
    emu.clock.advance(3600)
    now_v1 = "2026-11-20 13:00:00"
    emu.store.update("notes", 1, {"content": "edited"})
    client.ok("PATCH", "/api/v2/deals/3", json={"title": "Renamed"})
    client.ok("DELETE", "/api/v2/deals/4")
    items, _ = _all(client, since_timestamp="2026-11-20 12:59:59", items="deal,note")
    found = {(i["item"], i["id"]): i["data"] for i in items}
    assert found[("note", 1)]["content"] == "edited"
    assert found[("deal", 3)]["title"] == "Renamed"
    assert found[("deal", 3)]["update_time"] == now_v1
    assert found[("deal", 4)]["deleted"] is True
    # exclusive: nothing when since equals the change time
    assert _all(client, since_timestamp=now_v1, items="deal,note")[0] == []


def test_recents_items_are_v1_shaped(shared: Client, shared_emu: Emulator):
    items, _ = _all(shared, since_timestamp="2026-11-15 00:00:00", items="deal,user,activityType")
    deal = next(i for i in items if i["item"] == "deal")
    stored = shared_emu.store.get("deals", deal["id"])
    assert deal["data"]["update_time"] == iso_to_v1(stored["update_time"])
    assert isinstance(deal["data"]["user_id"], int)
    assert "custom_fields" not in deal["data"]
    assert any(len(k) == 40 for k in deal["data"])


def test_recents_validation(shared: Client):
    assert shared.get("/v1/recents", params={"items": "deal"}).status_code == 400
    assert shared.get("/v1/recents", params={"since_timestamp": "2026-11-10T00:00:00Z"}).status_code == 400
    assert shared.get("/v1/recents", params={"since_timestamp": "2026-11-10 00:00:00",
                                             "items": "spaceship"}).status_code == 400
