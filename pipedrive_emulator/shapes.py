"""v1 (legacy, 2026-01 spec) renderings of records the store keeps in v2 shape.

Used by legacy mode (``v1_sunset=False``) for ``/v1/deals`` and friends, and by ``/v1/recents`` for the
v2 entity item types. ``expand=True`` is the list/get form, where ``user_id``, ``person_id``, ``org_id`` and
user/org/people custom fields are objects; recents items carry bare ids.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .clock import iso_to_v1
from .fields import ADDRESS_PARTS, v2_to_v1
from .store import Row, Store

Renderer = Callable[[Store, Row, bool], dict[str, Any]]


def user_obj(store: Store, uid: int | None, *, int_pic: bool = False) -> dict[str, Any] | None:
    """The v1 user object (``user_id`` of deals; ``has_pic`` is an integer in person/org owners)."""
    if uid is None:
        return None
    row = store.tables["users"].get(uid)
    name = row.data["name"] if row else f"User {uid}"
    email = row.data["email"] if row else ""
    return {"id": uid, "name": name, "email": email, "has_pic": 0 if int_pic else False, "pic_hash": None,
            "active_flag": True, "value": uid}


def person_obj(store: Store, pid: int | None) -> dict[str, Any] | None:
    """The v1 person object (``person_id`` of deals)."""
    if pid is None:
        return None
    row = store.tables["persons"].get(pid)
    if row is None:
        return {"active_flag": False, "name": "", "email": [], "phone": [], "owner_id": None, "value": pid}
    data = row.data
    return {"active_flag": not data["is_deleted"], "name": data["name"],
            "email": [_contact(c) for c in data["emails"]], "phone": [_contact(c) for c in data["phones"]],
            "owner_id": data["owner_id"], "value": pid}


def org_obj(store: Store, oid: int | None) -> dict[str, Any] | None:
    """The v1 organization object (``org_id`` of deals and persons)."""
    if oid is None:
        return None
    row = store.tables["organizations"].get(oid)
    if row is None:
        return {"name": "", "people_count": 0, "owner_id": None, "address": None, "active_flag": False,
                "cc_email": "", "value": oid}
    data = row.data
    return {"name": data["name"], "people_count": 1, "owner_id": data["owner_id"],
            "address": (data.get("address") or {}).get("value"), "active_flag": not data["is_deleted"],
            "cc_email": f"org{oid}@pipedrivemail.com", "value": oid}


def _contact(item: dict[str, Any]) -> dict[str, Any]:
    return {"label": item.get("label") or "work", "value": item.get("value"), "primary": bool(item.get("primary"))}


def expander(store: Store) -> Callable[[str, int], Any]:
    """Expand user/org/people custom values into their v1 objects."""

    def expand(field_type: str, value: int) -> Any:
        if field_type == "user":
            return user_obj(store, value)
        if field_type == "org":
            return org_obj(store, value)
        return person_obj(store, value)

    return expand


def _custom(store: Store, entity: str, data: dict[str, Any], expand: bool) -> dict[str, Any]:
    defs = store.field_defs(entity, custom_only=True)
    return v2_to_v1(defs, data.get("custom_fields"), expander(store) if expand else None)


def _name(store: Store, table: str, key: int | None, field: str = "name") -> str | None:
    if key is None:
        return None
    row = store.tables[table].get(key)
    return None if row is None else row.data.get(field)


def deal(store: Store, row: Row, expand: bool) -> dict[str, Any]:
    """Legacy ``/v1/deals`` item."""
    d = row.data
    owner, person, org = d["owner_id"], d["person_id"], d["org_id"]
    stage_row = store.tables["stages"].get(d["stage_id"])
    value = d["value"] or 0
    probability = stage_row.data["deal_probability"] if stage_row else 100
    weighted = round(value * probability / 100, 2)
    products = len(store.tables["deal_products"].by_parent.get(row.key, {}))
    participants = len(store.tables["deal_participants"].by_parent.get(row.key, {}))
    out: dict[str, Any] = {
        "id": d["id"],
        "creator_user_id": user_obj(store, owner) if expand else owner,
        "user_id": user_obj(store, owner) if expand else owner,
        "person_id": person_obj(store, person) if expand else person,
        "org_id": org_obj(store, org) if expand else org,
        "stage_id": d["stage_id"], "title": d["title"], "value": value, "currency": d["currency"],
        "add_time": iso_to_v1(d["add_time"]), "update_time": iso_to_v1(d["update_time"]),
        "stage_change_time": iso_to_v1(d["stage_change_time"]), "active": d["status"] == "open",
        "deleted": bool(d["is_deleted"]), "is_archived": bool(d["is_archived"]), "status": d["status"],
        "probability": d["probability"], "next_activity_date": None, "next_activity_time": None,
        "next_activity_id": None, "last_activity_id": None, "last_activity_date": None,
        "lost_reason": d["lost_reason"], "visible_to": str(d["visible_to"]),
        "close_time": iso_to_v1(d["close_time"]), "pipeline_id": d["pipeline_id"],
        "won_time": iso_to_v1(d["won_time"]), "first_won_time": iso_to_v1(d["won_time"]),
        "lost_time": iso_to_v1(d["lost_time"]), "products_count": products, "files_count": 0, "notes_count": 0,
        "followers_count": 1, "email_messages_count": 0, "activities_count": 0, "done_activities_count": 0,
        "undone_activities_count": 0, "participants_count": participants,
        "expected_close_date": d["expected_close_date"], "last_incoming_mail_time": None,
        "last_outgoing_mail_time": None, "label": ",".join(str(x) for x in d["label_ids"]) or None,
        "stage_order_nr": stage_row.data["order_nr"] if stage_row else None,
        "person_name": _name(store, "persons", person), "org_name": _name(store, "organizations", org),
        "next_activity_subject": None, "next_activity_type": None, "next_activity_duration": None,
        "next_activity_note": None, "formatted_value": f"{value:,.2f} {d['currency']}",
        "weighted_value": weighted, "formatted_weighted_value": f"{weighted:,.2f} {d['currency']}",
        "weighted_value_currency": d["currency"], "rotten_time": None,
        "owner_name": _name(store, "users", owner), "cc_email": f"deal{d['id']}@pipedrivemail.com",
        "org_hidden": False, "person_hidden": False, "origin": d["origin"], "origin_id": d["origin_id"],
        "channel": d["channel"], "channel_id": d["channel_id"], "arr": d["arr"], "mrr": d["mrr"],
        "acv": d["acv"], "arr_currency": None, "mrr_currency": None, "acv_currency": None,
    }
    out.update(_custom(store, "deals", d, expand))
    return out


def person(store: Store, row: Row, expand: bool) -> dict[str, Any]:
    """Legacy ``/v1/persons`` item."""
    d = row.data
    emails = [_contact(c) for c in d["emails"]]
    out: dict[str, Any] = {
        "id": d["id"], "company_id": 1,
        "owner_id": user_obj(store, d["owner_id"], int_pic=True) if expand else d["owner_id"],
        "org_id": org_obj(store, d["org_id"]) if expand else d["org_id"],
        "name": d["name"], "first_name": d["first_name"], "last_name": d["last_name"],
        "open_deals_count": 0, "related_open_deals_count": 0, "closed_deals_count": 0,
        "related_closed_deals_count": 0, "participant_open_deals_count": 0,
        "participant_closed_deals_count": 0, "email_messages_count": 0, "activities_count": 0,
        "done_activities_count": 0, "undone_activities_count": 0, "files_count": 0, "notes_count": 0,
        "followers_count": 1, "won_deals_count": 0, "related_won_deals_count": 0, "lost_deals_count": 0,
        "related_lost_deals_count": 0, "active_flag": not d["is_deleted"],
        "phone": [_contact(c) for c in d["phones"]], "email": emails,
        "primary_email": emails[0]["value"] if emails else None, "first_char": (d["name"] or " ")[0].lower(),
        "update_time": iso_to_v1(d["update_time"]), "add_time": iso_to_v1(d["add_time"]),
        "visible_to": str(d["visible_to"]), "marketing_status": None, "picture_id": None,
        "next_activity_date": None, "next_activity_time": None, "next_activity_id": None,
        "last_activity_id": None, "last_activity_date": None, "last_incoming_mail_time": None,
        "last_outgoing_mail_time": None, "label": None, "label_ids": d["label_ids"],
        "org_name": _name(store, "organizations", d["org_id"]), "owner_name": _name(store, "users", d["owner_id"]),
        "cc_email": f"person{d['id']}@pipedrivemail.com",
    }
    out.update(_custom(store, "persons", d, expand))
    return out


def organization(store: Store, row: Row, expand: bool) -> dict[str, Any]:
    """Legacy ``/v1/organizations`` item."""
    d = row.data
    address = d.get("address") or {}
    out: dict[str, Any] = {
        "id": d["id"], "company_id": 1,
        "owner_id": user_obj(store, d["owner_id"], int_pic=True),  # an object in recents items too
        "name": d["name"], "open_deals_count": 0, "related_open_deals_count": 0, "closed_deals_count": 0,
        "related_closed_deals_count": 0, "email_messages_count": 0, "people_count": 0, "activities_count": 0,
        "done_activities_count": 0, "undone_activities_count": 0, "files_count": 0, "notes_count": 0,
        "followers_count": 1, "won_deals_count": 0, "related_won_deals_count": 0, "lost_deals_count": 0,
        "related_lost_deals_count": 0, "active_flag": not d["is_deleted"], "picture_id": None,
        "country_code": None, "first_char": (d["name"] or " ")[0].lower(),
        "update_time": iso_to_v1(d["update_time"]), "add_time": iso_to_v1(d["add_time"]),
        "visible_to": str(d["visible_to"]), "next_activity_date": None, "next_activity_time": None,
        "next_activity_id": None, "last_activity_id": None, "last_activity_date": None, "label": None,
        "label_ids": d["label_ids"], "address": address.get("value"),
        **{f"address_{part}": address.get(part) for part in ADDRESS_PARTS},
        "owner_name": _name(store, "users", d["owner_id"]), "cc_email": f"org{d['id']}@pipedrivemail.com",
    }
    out.update(_custom(store, "organizations", d, expand))
    return out


def activity(store: Store, row: Row, expand: bool) -> dict[str, Any]:
    """Legacy ``/v1/activities`` item (ids stay bare, as in the 2026-01 spec)."""
    d = row.data
    return {
        "id": d["id"], "company_id": 1, "user_id": d["owner_id"], "done": d["done"], "type": d["type"],
        "reference_type": None, "reference_id": None, "conference_meeting_client": d["conference_meeting_client"],
        "conference_meeting_url": d["conference_meeting_url"], "conference_meeting_id": d["conference_meeting_id"],
        "due_date": d["due_date"], "due_time": d["due_time"], "duration": d["duration"], "busy_flag": d["busy"],
        "add_time": iso_to_v1(d["add_time"]), "marked_as_done_time": iso_to_v1(d["marked_as_done_time"]),
        "last_notification_time": None, "last_notification_user_id": None, "notification_language_id": None,
        "subject": d["subject"], "public_description": d["public_description"],
        "calendar_sync_include_context": None, "location": None, "org_id": d["org_id"],
        "person_id": d["person_id"], "deal_id": d["deal_id"], "lead_id": d["lead_id"],
        "project_id": d["project_id"], "active_flag": not d["is_deleted"],
        "update_time": iso_to_v1(d["update_time"]), "update_user_id": None, "source_timezone": None,
        "rec_rule": None, "rec_rule_extension": None, "rec_master_activity_id": None, "series": [],
        "note": d["note"], "created_by_user_id": d["creator_user_id"],
        **{f"location_{part}": None for part in ADDRESS_PARTS},
        "org_name": _name(store, "organizations", d["org_id"]),
        "person_name": _name(store, "persons", d["person_id"]),
        "deal_title": _name(store, "deals", d["deal_id"], "title"), "owner_name": _name(store, "users", d["owner_id"]),
        "person_dropbox_bcc": None, "deal_dropbox_bcc": None, "assigned_to_user_id": d["owner_id"],
        "participants": [{"person_id": p["person_id"], "primary_flag": p["primary"]} for p in d["participants"]],
        "attendees": d["attendees"] or None,
    }


def product(store: Store, row: Row, expand: bool) -> dict[str, Any]:
    """Legacy ``/v1/products`` item."""
    d = row.data
    out: dict[str, Any] = {
        "id": d["id"], "name": d["name"], "code": d["code"], "description": d.get("description"),
        "unit": d["unit"], "tax": d["tax"], "category": d["category"], "active_flag": not d["is_deleted"],
        "selectable": d["is_linkable"], "first_char": (d["name"] or " ")[0].lower(),
        "visible_to": str(d["visible_to"]) if expand else d["visible_to"],  # recents items: an integer
        "owner_id": user_obj(store, d["owner_id"]) if expand else d["owner_id"], "files_count": None,
        "add_time": iso_to_v1(d["add_time"]), "update_time": iso_to_v1(d["update_time"]),
        "prices": [{"id": index + 1, "product_id": p["product_id"], "price": p["price"], "currency": p["currency"],
                    "cost": p["cost"], "overhead_cost": p["direct_cost"]} for index, p in enumerate(d["prices"])],
    }
    out.update(_custom(store, "products", d, expand))
    return out


def pipeline(store: Store, row: Row, expand: bool) -> dict[str, Any]:
    """Legacy ``/v1/pipelines`` item."""
    d = row.data
    return {"id": d["id"], "name": d["name"], "url_title": d["name"].lower().replace(" ", "-"),
            "order_nr": d["order_nr"], "active": not d["is_deleted"],
            "deal_probability": d["is_deal_probability_enabled"], "add_time": iso_to_v1(d["add_time"]),
            "update_time": iso_to_v1(d["update_time"]), "selected": d["id"] == 1}


def stage(store: Store, row: Row, expand: bool) -> dict[str, Any]:
    """Legacy ``/v1/stages`` item."""
    d = row.data
    pipe = store.tables["pipelines"].get(d["pipeline_id"])
    return {"id": d["id"], "order_nr": d["order_nr"], "name": d["name"], "active_flag": not d["is_deleted"],
            "deal_probability": d["deal_probability"], "pipeline_id": d["pipeline_id"],
            "rotten_flag": d["is_deal_rot_enabled"], "rotten_days": d["days_to_rotten"],
            "add_time": iso_to_v1(d["add_time"]), "update_time": iso_to_v1(d["update_time"]),
            "pipeline_name": pipe.data["name"] if pipe else None,
            "pipeline_deal_probability": pipe.data["is_deal_probability_enabled"] if pipe else None}


def deal_product(store: Store, row: Row, expand: bool) -> dict[str, Any]:
    """Legacy ``/v1/deals/{id}/products`` item."""
    d = row.data
    return {"id": d["id"], "deal_id": d["deal_id"], "order_nr": d["order_nr"], "product_id": d["product_id"],
            "product_variation_id": d["product_variation_id"], "item_price": d["item_price"],
            "discount": d["discount"], "discount_type": d["discount_type"], "sum": d["sum"],
            "currency": d["currency"], "enabled_flag": d["is_enabled"], "add_time": iso_to_v1(d["add_time"]),
            "last_edit": iso_to_v1(d["update_time"]), "comments": d["comments"], "active_flag": True,
            "tax": d["tax"], "tax_method": d["tax_method"], "quantity": d["quantity"],
            "quantity_formatted": str(d["quantity"]), "sum_formatted": f"{d['sum']:,.2f}", "name": d["name"],
            "duration": 1, "duration_unit": None, "product_attachment_id": d["id"],
            "billing_frequency": d["billing_frequency"], "billing_frequency_cycles": d["billing_frequency_cycles"],
            "billing_start_date": d["billing_start_date"]}


#: resource name → legacy v1 renderer of its v2-shaped stored records
V1_RENDERERS: dict[str, Renderer] = {
    "deals": deal, "persons": person, "organizations": organization, "activities": activity,
    "products": product, "pipelines": pipeline, "stages": stage, "deal_products": deal_product,
}

#: v1 body field → stored v2 field, for legacy v1 writes of v2 entities
V1_WRITE_ALIASES: dict[str, dict[str, str]] = {
    "deals": {"user_id": "owner_id"},
    "activities": {"user_id": "owner_id", "busy_flag": "busy"},
    "stages": {"rotten_flag": "is_deal_rot_enabled", "rotten_days": "days_to_rotten"},
    "deal_products": {"enabled_flag": "is_enabled"},
}


def lead(store: Store, row: Row, expand: bool) -> dict[str, Any]:
    """``/v1/leads`` item: custom fields of deals flattened to top-level keys, as v1 writes them."""
    out = {k: v for k, v in row.data.items() if k != "custom_fields"}
    out.update(v2_to_v1(store.field_defs("deals", custom_only=True), row.data.get("custom_fields")))
    return out


V1_RENDERERS["leads"] = lead
