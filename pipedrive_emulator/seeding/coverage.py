"""Optional fields filled on some records, so the seeded account shows every documented field with a value.

The entity steps leave many documented fields null on every record (conference links, project links,
recurring billing, contact-sync fields, webhook delivery data, …). Real accounts have them on some records,
and a test that every emitted key is declared in the tap's schemas only sees the keys (and nested keys) of
values that are there. This step fills them on about one record in four, from the second random stream, with
values of the type the OpenAPI documents give and ids that exist.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from ..store import Row, fmt
from .base import DAY, SeedContext

Filler = Callable[[SeedContext, Row], dict[str, Any]]


def _date(s: SeedContext, days: int) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(s.now + days * DAY))


def _any_key(s: SeedContext, table: str) -> Any:
    keys = list(s.store.tables[table].rows)
    return keys[int(s.extra.random() * len(keys))] if keys else None


def _place(s: SeedContext) -> dict[str, Any]:
    """A location object (activities' ``location``, persons' ``postal_address``): an address with its parts."""
    address = s.address()
    return {k: address.get(k) for k in ("value", "country", "admin_area_level_1", "admin_area_level_2", "locality",
                                        "sublocality", "route", "street_number", "postal_code", "subpremise",
                                        "formatted_address")}


def _activity(s: SeedContext, row: Row) -> dict[str, Any]:
    return {"conference_meeting_client": "zoom", "conference_meeting_url": f"https://zoom.example.com/j/{row.key}",
            "conference_meeting_id": f"{900000000 + int(row.key)}", "lead_id": _any_key(s, "leads"),
            "location": _place(s),
            "priority": s.extra_int(1, 3), "project_id": _any_key(s, "projects")}


def _call_log(s: SeedContext, row: Row) -> dict[str, Any]:
    return {"activity_id": _any_key(s, "activities"), "deal_id": _any_key(s, "deals"),
            "lead_id": _any_key(s, "leads"), "org_id": _any_key(s, "organizations")}


def _deal_product(s: SeedContext, row: Row) -> dict[str, Any]:
    product = row.data.get("product_id")
    variations = s.store.tables["product_variations"].children(product) if product is not None else []
    return {"billing_frequency": "monthly", "billing_frequency_cycles": s.extra_int(2, 12),
            "billing_start_date": _date(s, s.extra_int(-60, 60)), "comments": "Annual plan, billed monthly",
            "product_variation_id": variations[0].key if variations else None}


def _deal(s: SeedContext, row: Row) -> dict[str, Any]:
    value = float(row.data.get("value") or 0)
    closed = (row.data.get("close_time") or "")[:10] or None
    return {"acv": value, "arr": value, "mrr": round(value / 12, 2), "channel": s.extra_int(1, 5),
            "channel_id": f"campaign-{s.extra_int(1, 99)}", "origin_id": f"import-{row.key}",
            "probability": float(s.extra_int(1, 10) * 10), "creator_user_id": s.user_id(),
            "local_won_date": closed if row.data.get("status") == "won" else None,
            "local_lost_date": closed if row.data.get("status") == "lost" else None, "local_close_date": closed}


def _file(s: SeedContext, row: Row) -> dict[str, Any]:
    return {"activity_id": _any_key(s, "activities"), "lead_id": _any_key(s, "leads"),
            "org_id": _any_key(s, "organizations"), "person_id": _any_key(s, "persons"),
            "product_id": _any_key(s, "products"), "project_id": _any_key(s, "projects"),
            "description": "Signed copy", "file_type": "pdf", "s3_bucket": "pipedrive-files-eu"}


def _filter(s: SeedContext, row: Row) -> dict[str, Any]:
    return {"custom_view_id": s.extra_int(1, 50), "filter_code": f"f{row.key}", "temporary_flag": False,
            "last_used_time": fmt("v1", s.now - s.extra_int(1, 30) * DAY)}


def _mail_thread(s: SeedContext, row: Row) -> dict[str, Any]:
    return {"deal_status": "open" if row.data.get("deal_id") else None, "lead_id": _any_key(s, "leads"),
            "last_message_sent_timestamp": row.data.get("update_time")}


def _organization(s: SeedContext, row: Row) -> dict[str, Any]:
    return {"annual_revenue": s.extra_int(1, 500) * 100000, "industry": s.extra_int(1, 30),
            "linkedin": f"https://www.linkedin.com/company/example-{row.key}"}


def _person(s: SeedContext, row: Row) -> dict[str, Any]:
    return {"birthday": _date(s, -s.extra_int(8000, 20000)), "job_title": "Head of Operations",
            "notes": "Prefers email", "picture_id": s.extra_int(1, 1000),
            "im": [{"value": f"{row.data['first_name'].lower()}{row.key}", "primary": True, "label": "skype"}],
            "postal_address": _place(s)}


def _project(s: SeedContext, row: Row) -> dict[str, Any]:
    return {"end_date": _date(s, s.extra_int(10, 200)), "health_status": s.extra_int(1, 3)}


def _task(s: SeedContext, row: Row) -> dict[str, Any]:
    others = [r.key for r in s.store.tables["tasks"].rows.values() if r.seq < row.seq]
    return {"due_date": _date(s, s.extra_int(1, 90)), "start_date": _date(s, -s.extra_int(1, 30)),
            "parent_task_id": others[-1] if others else None, "priority": s.extra_int(1, 3)}


def _user(s: SeedContext, row: Row) -> dict[str, Any]:
    return {"icon_url": f"https://avatars.example.com/{row.key}.png", "phone": s.pools["phones"][int(row.key)]}


def _webhook(s: SeedContext, row: Row) -> dict[str, Any]:
    return {"last_delivery_time": fmt("iso", s.now - s.extra_int(60, DAY)), "last_http_status": 200,
            "http_auth_user": "hook"}


def _note(s: SeedContext, row: Row) -> dict[str, Any]:
    """The objects a v1 note carries for what it is attached to (names as they were when seeded)."""
    data, store = row.data, s.store
    out: dict[str, Any] = {}
    for field, table, key, name in (("deal", "deals", "deal_id", "title"), ("person", "persons", "person_id", "name"),
                                    ("organization", "organizations", "org_id", "name"),
                                    ("project", "projects", "project_id", "title"),
                                    ("task", "tasks", "task_id", "title")):
        linked = store.tables[table].get(data.get(key))
        if linked is not None:
            out[field] = {name: linked.data[name]}
    user = store.tables["users"].get(data.get("user_id"))
    if user is not None:
        out["user"] = {"email": user.data["email"], "icon_url": user.data["icon_url"],
                       "is_you": user.data["is_you"], "name": user.data["name"]}
    return out


def _deal_links(s: SeedContext, row: Row) -> dict[str, Any]:
    return {"source_lead_id": _any_key(s, "leads")}


def _lead(s: SeedContext, row: Row) -> dict[str, Any]:
    return {"channel": s.extra_int(1, 5), "channel_id": f"campaign-{s.extra_int(1, 99)}",
            "expected_close_date": _date(s, s.extra_int(5, 120)), "next_activity_id": _any_key(s, "activities"),
            "origin_id": f"web-form-{s.extra_int(1, 9)}", "source_deal_id": _any_key(s, "deals")}


def _note_links(s: SeedContext, row: Row) -> dict[str, Any]:
    return {"lead_id": _any_key(s, "leads"), "org_id": _any_key(s, "organizations"),
            "project_id": _any_key(s, "projects"), "task_id": _any_key(s, "tasks")}


def _work_text(s: SeedContext, row: Row) -> dict[str, Any]:
    done = row.data.get("is_done") and {"marked_as_done_time": row.data.get("update_time")}
    return {"description": s.extra.choice(s.pools["sentences"]), **(done or {})}


FILLERS: dict[str, Filler] = {
    "activities": _activity, "call_logs": _call_log, "deal_products": _deal_product, "deals": _deal,
    "files": _file, "filters": _filter, "mail_threads": _mail_thread, "organizations": _organization,
    "persons": _person, "projects": _project, "tasks": _task, "users": _user, "webhooks": _webhook,
    "leads": _lead, "notes": _note_links,
}
#: second passes over tables the first pass filled already (independent fields, drawn separately)
MORE_FILLERS: dict[str, Filler] = {"deals": _deal_links, "tasks": _work_text, "projects": _work_text}


def optional_fields(s: SeedContext) -> None:
    """Fill the optional fields of about a quarter of the records (the first record of each table always);
    notes get their linked objects on every record, as Pipedrive sends them."""
    for fillers in (FILLERS, MORE_FILLERS):
        for table_name, filler in fillers.items():
            for index, row in enumerate(list(s.store.tables[table_name].rows.values())):
                if index == 0 or s.extra.random() < 0.25:
                    row.data.update(filler(s, row))
    for row in s.store.tables["notes"].rows.values():
        row.data.update(_note(s, row))
