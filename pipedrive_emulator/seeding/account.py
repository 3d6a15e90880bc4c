"""Account settings: users, currencies, roles and teams, pipelines and stages, activity types, filters,
goals and webhooks (fixed sizes: they do not grow with ``scale``)."""

from __future__ import annotations

import uuid

from ..store import fmt
from .base import DAY, SeedContext

CURRENCIES = (("EUR", "Euro", "€"), ("USD", "US Dollar", "$"), ("GBP", "Pound Sterling", "£"),
              ("SEK", "Swedish Krona", "kr"), ("JPY", "Japanese Yen", "¥"))


def users(s: SeedContext) -> None:
    table = s.store.tables["users"]
    for uid in range(1, s.sizes["users"] + 1):
        first, last = s.rng.choice(s.pools["first"]), s.rng.choice(s.pools["last"])
        add, upd, _, _ = s.times(table)
        data = {
            "id": uid, "name": f"{first} {last}", "default_currency": "EUR", "locale": "en_US",
            "lang": 1, "email": f"{first}.{last}{uid}@example.com".lower(), "phone": None,
            "activated": True, "last_login": fmt("v1", s.now - s.ri(60, 9 * DAY)),
            "created": fmt("v1", add), "modified": fmt("v1", upd), "has_created_company": uid == 1,
            "access": [{"app": "sales", "admin": uid == 1, "permission_set_id": "global"}],
            "active_flag": True, "timezone_name": "Europe/Tallinn", "timezone_offset": "+02:00",
            "role_id": 1 + (uid % 3), "icon_url": None, "is_you": uid == 1, "is_deleted": False,
        }
        s.put("users", data, upd)


def currencies(s: SeedContext) -> None:
    for cid, (code, name, symbol) in enumerate(CURRENCIES, start=1):
        s.put("currencies", {"id": cid, "code": code, "name": name, "decimal_points": 0 if code == "JPY"
                                 else 2, "symbol": symbol, "active_flag": True, "is_custom_flag": False},
                  None)


def roles_teams(s: SeedContext) -> None:
    for rid in range(1, s.sizes["roles"] + 1):
        s.put("roles", {"parent_role_id": None if rid == 1 else 1, "name": f"Role {rid}", "id": rid,
                            "active_flag": True, "assignment_count": "2", "sub_role_count": "0",
                            "level": 1 if rid == 1 else 2}, None)
    for tid in range(1, s.sizes["teams"] + 1):
        s.put("teams", {"id": tid, "name": f"Team {s.rng.choice(s.pools['words'])}",
                            "manager_id": tid, "users": [tid, tid + 1], "active_flag": 1,
                            "deleted_flag": 0, "add_time": fmt("v1", s.now - 300 * DAY),
                            "created_by_user_id": 1}, None)


def pipelines(s: SeedContext) -> None:
    stage_names = ("Qualified", "Contact made", "Demo scheduled", "Proposal made", "Negotiations started")
    stage_id = 1
    s.stage_pipeline.clear()
    ptable, stable = s.store.tables["pipelines"], s.store.tables["stages"]
    for pid in range(1, s.sizes["pipelines"] + 1):
        _add, upd, add_s, upd_s = s.times(ptable)
        s.put("pipelines", {"id": pid, "name": ("Sales", "Partners", "Renewals", "Enterprise")[pid % 4],
                                "order_nr": pid, "is_deleted": False, "is_deal_probability_enabled": pid == 1,
                                "add_time": add_s, "update_time": upd_s}, upd)
        for order, name in enumerate(stage_names, start=1):
            _add, upd, add_s, upd_s = s.times(stable)
            s.put("stages", {"id": stage_id, "order_nr": order, "name": name, "is_deleted": False,
                                 "deal_probability": 20 * order, "pipeline_id": pid,
                                 "is_deal_rot_enabled": order == 2, "days_to_rotten": 30 if order == 2 else None,
                                 "add_time": add_s, "update_time": upd_s}, upd)
            s.stage_pipeline[stage_id] = pid
            stage_id += 1


def activity_types(s: SeedContext) -> None:
    table = s.store.tables["activity_types"]
    for tid, (name, icon) in enumerate((("Call", "call"), ("Meeting", "meeting"), ("Task", "task"),
                                        ("Deadline", "deadline"), ("Email", "email"), ("Lunch", "lunch"),
                                        ("Demo", "presentation"), ("Site visit", "car")), start=1):
        if tid > s.sizes["activity_types"]:
            break
        _add, upd, add_s, upd_s = s.times(table)
        s.put("activity_types", {"id": tid, "name": name, "icon_key": icon, "color": None,
                                     "order_nr": tid, "key_string": icon, "active_flag": True,
                                     "is_custom_flag": tid > 6, "add_time": add_s, "update_time": upd_s}, upd)


def filters(s: SeedContext) -> None:
    table = s.store.tables["filters"]
    types = ("deals", "people", "org", "products", "activity", "leads")
    for fid in range(1, s.sizes["filters"] + 1):
        _add, upd, add_s, upd_s = s.times(table)
        s.put("filters", {"id": fid, "name": f"Filter {fid}", "filter_code": None, "is_editable": True,
                              "active_flag": True, "type": types[fid % len(types)], "temporary_flag": None,
                              "user_id": s.user_id(), "add_time": add_s, "update_time": upd_s,
                              "visible_to": "7", "last_used_time": None, "custom_view_id": None}, upd)


def goals(s: SeedContext) -> None:
    for index in range(s.sizes["goals"]):
        s.put("goals", {
            "id": f"{s.rng.getrandbits(128):032x}", "owner_id": 1, "title": f"Goal {index + 1}",
            "type": {"name": "deals_won", "params": {"pipeline_id": [1]}},
            "assignee": {"id": 1, "type": "company"}, "interval": "monthly",
            "duration": {"start": "2026-01-01", "end": "2026-12-31"},
            "expected_outcome": {"target": 10 + index, "tracking_metric": "quantity"},
            "is_active": True, "report_ids": []}, None)


def webhooks(s: SeedContext) -> None:
    for wid in range(1, s.sizes["webhooks"] + 1):
        s.put("webhooks", {
            "id": wid, "company_id": 1, "owner_id": 1, "user_id": 1, "event_action": "*",
            "event_object": ("deal", "person", "organization", "activity")[wid % 4],
            "subscription_url": f"https://hooks.example.com/{wid}", "version": "2.0", "is_active": 1,
            "add_time": fmt("iso", s.now - 100 * DAY), "remove_time": None, "type": "general",
            "http_auth_user": None, "http_auth_password": None, "remove_reason": None,
            "last_delivery_time": None, "last_http_status": None, "admin_id": 1, "name": f"Hook {wid}"}, None)


PERMISSION_SETS = (("sales", "admin", "Sales admin"), ("sales", "regular", "Regular user"),
                   ("sales", "manager", "Sales manager"), ("projects", "regular", "Projects user"),
                   ("global", "admin", "Global admin"), ("account_settings", "custom", "Billing only"))


def permission_sets(s: SeedContext) -> None:
    """Permission sets per app and the users assigned to each (every user has one set per app it uses)."""
    users = list(range(1, s.sizes["users"] + 1))
    for app, kind, name in PERMISSION_SETS:
        set_id = str(uuid.UUID(int=s.extra.getrandbits(128), version=4))
        if kind == "admin":
            assigned = [1]
        elif kind == "custom":
            assigned = []
        else:
            assigned = [u for u in users[1:] if s.extra.random() < 0.6]
        s.put("permission_sets", {"id": set_id, "name": name, "description": f"{name} ({app})", "app": app,
                                  "type": kind, "assignment_count": len(assigned)}, None)
        for uid in assigned:
            s.put("permission_set_assignments", {"user_id": uid, "permission_set_id": set_id, "name": name},
                  None, parent=set_id, key=f"{set_id}:{uid}")
