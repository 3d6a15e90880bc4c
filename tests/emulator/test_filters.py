"""v2 list filters: deal status/deleted/archived, updated_since/until and their 400s, ids, equality."""

from __future__ import annotations

import pytest

from pipedrive_core.catalogue import active
from pipedrive_emulator import Emulator

from .conftest import Client


def test_default_deals_exclude_deleted_and_archived(shared: Client, shared_emu: Emulator):
    deals = shared.v2_all("/api/v2/deals", limit=500)
    assert deals
    assert not any(d["is_deleted"] or d["is_archived"] for d in deals)


def test_status_deleted_adds_recently_deleted_deals(shared: Client, shared_emu: Emulator):
    deals = shared.v2_all("/api/v2/deals", status="open,won,lost,deleted", limit=500)
    deleted = [d for d in deals if d["is_deleted"]]
    stored_deleted = [d for d in shared_emu.store.records("deals", include_deleted=True) if d["is_deleted"]
                      and not d["is_archived"]]
    assert deleted
    assert len(deleted) == len(stored_deleted)
    assert all(d["status"] == "deleted" for d in deleted)
    only_won = shared.v2_all("/api/v2/deals", status="won", limit=500)
    assert only_won
    assert all(d["status"] == "won" for d in only_won)
    assert shared.get("/api/v2/deals", params={"status": "open,gone"}).status_code == 400


def test_archived_deals_only_on_archived_path(shared: Client, shared_emu: Emulator):
    archived = shared.v2_all("/api/v2/deals/archived", limit=500)
    assert archived
    assert all(d["is_archived"] for d in archived)
    live_ids = {d["id"] for d in shared.v2_all("/api/v2/deals", limit=500)}
    assert not live_ids & {d["id"] for d in archived}


def test_deleted_deals_older_than_30_days_are_purged(emu: Emulator, client: Client):
    live = next(d["id"] for d in emu.store.records("deals") if not d["is_archived"] and not d["is_deleted"])
    emu.store.delete("deals", live)
    assert any(d["id"] == live for d in client.v2_all("/api/v2/deals", status="deleted", limit=500))
    assert not any(d["id"] == live for d in client.v2_all("/api/v2/deals", limit=500))
    assert client.ok("GET", f"/api/v2/deals/{live}")["data"]["is_deleted"] is True
    emu.clock.advance(31 * 86400)
    assert not any(d["id"] == live for d in client.v2_all("/api/v2/deals", status="deleted", limit=500))
    assert client.get(f"/api/v2/deals/{live}").status_code == 404


def test_updated_since_and_until(shared: Client, shared_emu: Emulator):
    since, until = "2026-11-01T00:00:00Z", "2026-11-10T00:00:00Z"
    window = shared.v2_all("/api/v2/persons", updated_since=since, updated_until=until, limit=500)
    assert window
    assert all(since <= p["update_time"] < until for p in window)
    expected = [p for p in shared_emu.store.records("persons") if p["update_time"] and
                since <= p["update_time"] < until]
    assert len(window) == len(expected)
    # since is inclusive, until exclusive
    exact = window[0]["update_time"]
    assert any(p["id"] == window[0]["id"] for p in shared.v2_all("/api/v2/persons", updated_since=exact))
    assert not any(p["id"] == window[0]["id"] for p in shared.v2_all("/api/v2/persons", updated_until=exact))


def test_updated_since_rejects_non_rfc3339(shared: Client):
    for value in ("2026-11-01 00:00:00", "2026-11-01T00:00:00.123Z", "yesterday", "2026-11-01"):
        response = shared.get("/api/v2/deals", params={"updated_since": value})
        assert response.status_code == 400, value
        assert "RFC 3339" in response.json()["error"]
    assert shared.get("/api/v2/deals", params={"updated_since": "2026-11-01T00:00:00+02:00"}).status_code == 200


def test_products_accept_only_updated_since_and_pipelines_reject_it(shared: Client):
    assert shared.get("/api/v2/products", params={"updated_since": "2026-01-01T00:00:00Z"}).status_code == 200
    assert shared.get("/api/v2/products", params={"updated_until": "2026-01-01T00:00:00Z"}).status_code == 400
    assert shared.get("/api/v2/pipelines", params={"updated_since": "2026-01-01T00:00:00Z"}).status_code == 400
    assert shared.get("/api/v2/stages", params={"updated_since": "2026-01-01T00:00:00Z"}).status_code == 400


def test_ids_and_equality_filters(shared: Client, shared_emu: Emulator):
    body = shared.ok("GET", "/api/v2/deals", params={"ids": "1,2,3,999999"})
    assert {d["id"] for d in body["data"]} <= {1, 2, 3}
    owner = shared_emu.store.get("deals", 1)["owner_id"]
    owned = shared.v2_all("/api/v2/deals", owner_id=owner, limit=500)
    assert owned
    assert all(d["owner_id"] == owner for d in owned)
    stages = shared.ok("GET", "/api/v2/stages", params={"pipeline_id": 2})["data"]
    assert stages
    assert all(s["pipeline_id"] == 2 for s in stages)
    assert shared.get("/api/v2/deals", params={"ids": "a,b"}).status_code == 400


def _update_time_lists() -> list[str]:
    """Every v2 list path that takes ``updated_until`` (from the catalogue), archived lists included."""
    paths = []
    for res in active():
        if res.read_version == 2 and res.updated_until and not res.parent:
            paths.append(res.read_path.split("?", 1)[0])
            if res.archived_path and res.archived_updated_since:
                paths.append(res.archived_path)
    return paths


@pytest.mark.parametrize("direction", ["asc", "desc"])
@pytest.mark.parametrize("path", _update_time_lists())
def test_update_time_windows_page_exactly_like_the_whole_list_filtered(shared: Client, path: str,
                                                                       direction: str) -> None:
    """Sorted by update time, a list asked with ``updated_since``/``updated_until`` pages through exactly the
    records of the whole list that fall in ``[since, until)``, in the same order, whichever end the walk starts at."""
    whole = shared.v2_all(path, sort_by="update_time", sort_direction=direction, limit=500)
    times = sorted(r["update_time"] for r in whole if r["update_time"])
    assert len(times) > 10, path
    quarter, three_quarters = times[len(times) // 4], times[3 * len(times) // 4]
    for since, until in ((quarter, None), (None, three_quarters), (quarter, three_quarters),
                         (three_quarters, quarter)):
        params = {k: v for k, v in (("updated_since", since), ("updated_until", until)) if v}
        window = shared.v2_all(path, sort_by="update_time", sort_direction=direction, limit=7, **params)
        expected = [r["id"] for r in whole if r["update_time"] and (since is None or r["update_time"] >= since)
                    and (until is None or r["update_time"] < until)]
        assert [r["id"] for r in window] == expected, (path, direction, params)
