"""Contacts: organizations, persons and the relationships between organizations."""

from __future__ import annotations

from typing import Any

from .base import SeedContext


def organizations(s: SeedContext) -> None:
    table = s.store.tables["organizations"]
    companies = s.pools["companies"]
    for oid in range(1, s.sizes["organizations"] + 1):
        _add, upd, add_s, upd_s = s.times(table, null_update=0.01)
        data = {
            "id": oid, "name": f"{companies[oid % len(companies)]}" + ("" if oid <= len(companies)
                                                                       else f" {oid}"),
            "owner_id": s.user_id(), "add_time": add_s, "update_time": upd_s, "is_deleted": False,
            "visible_to": 3, "address": s.address(), "label_ids": [],
            "website": f"https://www.example{oid}.com", "linkedin": None,
            "industry": None, "annual_revenue": None, "employee_count": s.rng.choice((None, 10, 50, 250)),
            "custom_fields": s.custom("organizations"),
        }
        s.put("organizations", data, upd)


def persons(s: SeedContext) -> None:
    table, rng = s.store.tables["persons"], s.rng
    n_orgs = s.sizes["organizations"]
    for pid in range(1, s.sizes["persons"] + 1):
        first, last = rng.choice(s.pools["first"]), rng.choice(s.pools["last"])
        _add, upd, add_s, upd_s = s.times(table, null_update=0.01)
        data = {
            "id": pid, "name": f"{first} {last}", "first_name": first, "last_name": last,
            "owner_id": s.user_id(), "org_id": s.ri(1, n_orgs) if rng.random() < 0.8 else None,
            "add_time": add_s, "update_time": upd_s,
            "emails": [{"value": f"{first}.{last}.{pid}@example.org".lower(), "primary": True,
                        "label": "work"}],
            "phones": [{"value": rng.choice(s.pools["phones"]), "primary": True, "label": "mobile"}],
            "is_deleted": False, "visible_to": 3, "label_ids": [], "picture_id": None,
            "custom_fields": s.custom("persons"),
        }
        s.put("persons", data, upd)


def org_relationships(s: SeedContext) -> None:
    table, rng = s.store.tables["organization_relationships"], s.rng
    n_orgs = s.sizes["organizations"]
    for _ in range(max(1, n_orgs // 5)):
        owner, linked = s.ri(1, n_orgs), s.ri(1, n_orgs)
        if owner == linked:
            continue
        _add, upd, add_s, upd_s = s.times(table)
        rel: dict[str, Any] = {"id": table.next_id(), "type": rng.choice(("parent", "related")),
                               "rel_owner_org_id": owner,
               "rel_linked_org_id": linked, "add_time": add_s, "update_time": upd_s, "active_flag": "true"}
        s.put("organization_relationships", rel, upd, parent=owner)
        table.by_parent.setdefault(linked, {})[rel["id"]] = None
