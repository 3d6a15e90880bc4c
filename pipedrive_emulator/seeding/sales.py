"""Sales: products, deals (deleted and archived ones included), leads, and the deals' products and
participants."""

from __future__ import annotations

import time
from typing import Any

from ..store import DELETED_RETENTION_S, fmt
from .base import DAY, SeedContext


def products(s: SeedContext) -> None:
    table, rng = s.store.tables["products"], s.rng
    for pid in range(1, s.sizes["products"] + 1):
        _add, upd, add_s, upd_s = s.times(table)
        price = round(rng.uniform(5, 5000), 2)
        data = {
            "id": pid, "name": f"{rng.choice(s.pools['words']).capitalize()} {('Pro', 'Lite', 'Plus')[pid % 3]}"
            f" {pid}", "code": f"SKU-{pid:05d}", "unit": rng.choice(("pcs", "hours", "licence")),
            "tax": rng.choice((0, 9, 20, 24)), "is_deleted": False, "is_linkable": True, "visible_to": 3,
            "owner_id": s.user_id(), "add_time": add_s, "update_time": upd_s, "category": None,
            "description": rng.choice(s.pools["sentences"]),
            "custom_fields": s.custom("products"), "billing_frequency": "one-time",
            "billing_frequency_cycles": None,
            "prices": [{"product_id": pid, "price": price, "currency": "EUR", "cost": round(price * 0.4, 2),
                        "direct_cost": None, "notes": ""}],
        }
        s.put("products", data, upd)


def deals(s: SeedContext) -> None:
    table, rng = s.store.tables["deals"], s.rng
    n_persons, n_orgs, stages = s.sizes["persons"], s.sizes["organizations"], s.stage_pipeline
    stage_ids = list(stages)
    words = s.pools["words"]
    companies = s.pools["companies"]
    for did in range(1, s.sizes["deals"] + 1):
        _add, upd, add_s, upd_s = s.times(table, null_update=0.01)
        status = rng.choices(("open", "won", "lost"), (6, 3, 1))[0]
        stage = rng.choice(stage_ids)
        closed = None if status == "open" or upd is None else fmt("iso", upd)
        data: dict[str, Any] = {
            "id": did, "title": f"{companies[did % len(companies)]} {rng.choice(words)} deal",
            "owner_id": s.user_id(), "person_id": s.ri(1, n_persons) if rng.random() < 0.9 else None,
            "org_id": s.ri(1, n_orgs) if rng.random() < 0.85 else None, "pipeline_id": stages[stage],
            "stage_id": stage, "value": round(rng.uniform(0, 120000), 2) if rng.random() < 0.95 else 0,
            "currency": rng.choice(("EUR", "EUR", "USD", "GBP")), "add_time": add_s, "update_time": upd_s,
            "stage_change_time": add_s if rng.random() < 0.5 else None, "is_deleted": False,
            "is_archived": False, "status": status, "probability": None,
            "lost_reason": "Price" if status == "lost" else None, "visible_to": 3,
            "close_time": closed, "won_time": closed if status == "won" else None,
            "lost_time": closed if status == "lost" else None,
            "expected_close_date": rng.choice(s.pools["dates"]) if rng.random() < 0.7 else None,
            "label_ids": [], "origin": "ManuallyCreated", "origin_id": None, "channel": None,
            "channel_id": None, "source_lead_id": None, "arr": None, "mrr": None, "acv": None,
            "custom_fields": s.custom("deals"),
        }
        row_ut = upd
        roll = rng.random()
        deleted_at = None
        if roll < 0.03:  # deleted within the last 30 days: still served with status=deleted
            deleted_at = s.now - s.ri(DAY, DELETED_RETENTION_S - DAY)
            data.update(is_deleted=True, status="deleted", update_time=fmt("iso", deleted_at))
            row_ut = deleted_at
        elif roll < 0.08:
            data["is_archived"] = True
            data["archive_time"] = upd_s
        s.put("deals", data, row_ut)
        if deleted_at is not None:
            table.rows[did].deleted_at = deleted_at


def leads(s: SeedContext) -> None:
    labels = s.store.tables["lead_labels"]
    colors = ("blue", "green", "red", "yellow", "purple")
    for index in range(s.sizes["lead_labels"]):
        _add, upd, add_s, upd_s = s.times(labels)
        s.put("lead_labels", {"id": s.uuid(), "name": ("Hot", "Warm", "Cold", "VIP", "Partner")[index % 5],
                                  "color": colors[index % 5], "add_time": add_s, "update_time": upd_s}, upd)
    label_ids = [r.key for r in labels]
    for name in ("Manually created", "Web forms", "Prospector", "Import", "API"):
        s.put("lead_sources", {"name": name}, None)
    table, rng = s.store.tables["leads"], s.rng
    for _ in range(s.sizes["leads"]):
        _add, upd, add_s, upd_s = s.times(table)
        person = s.ri(1, s.sizes["persons"]) if rng.random() < 0.6 else None
        data = {
            "id": s.uuid(), "title": f"{rng.choice(s.pools['companies'])} lead",
            "owner_id": s.user_id(), "creator_id": s.user_id(),
            "label_ids": rng.sample(label_ids, s.ri(0, min(2, len(label_ids)))),
            "person_id": person,
            "organization_id": None if person else s.ri(1, s.sizes["organizations"]),
            "source_name": "Manually created", "origin": "ManuallyCreated", "origin_id": None,
            "channel": None, "channel_id": None, "source_deal_id": None, "is_archived": False,
            "was_seen": True, "value": {"amount": s.ri(100, 50000), "currency": "EUR"}
            if rng.random() < 0.6 else None, "expected_close_date": None, "next_activity_id": None,
            "add_time": add_s, "update_time": upd_s, "visible_to": "3", "cc_email": "leads@example.com",
            "custom_fields": s.custom("deals"),
        }
        s.put("leads", data, upd)


def deal_children(s: SeedContext) -> None:
    """Deal products and participants (flow, followers and permitted users are derived per request)."""
    rng, store = s.rng, s.store
    deals = store.tables["deals"]
    products = store.tables["products"]
    dp_table = store.tables["deal_products"]
    n_products = s.sizes["products"]
    part_id = 1
    for row in list(deals.rows.values()):
        did = row.key
        deal = row.data
        if rng.random() < 0.35:
            for order in range(s.ri(1, 3)):
                product_id: int | None = s.ri(1, n_products)
                product = products.rows[product_id].data if product_id in products.rows else None
                qty = s.ri(1, 10)
                price = product["prices"][0]["price"] if product else 100.0
                _add, upd, add_s, upd_s = s.times(dp_table)
                if rng.random() < 0.03:
                    product_id = None  # the product was hard-deleted later
                item = {
                    "id": dp_table.next_id(), "sum": round(qty * price, 2), "tax": 0, "deal_id": did,
                    "name": product["name"] if product else "Removed product", "product_id": product_id,
                    "product_variation_id": None, "order_nr": order, "add_time": add_s, "update_time": upd_s,
                    "comments": None, "currency": deal["currency"], "discount": 0, "discount_type": "percentage",
                    "quantity": qty, "item_price": price, "tax_method": "inclusive", "is_enabled": True,
                    "billing_frequency": "one-time", "billing_frequency_cycles": None, "billing_start_date": None,
                }
                s.put("deal_products", item, upd, parent=did)
        if deal["person_id"] is not None and rng.random() < 0.5:
            s.put("deal_participants", {
                "id": part_id, "person_id": deal["person_id"], "add_time": deal["add_time"],
                "active_flag": True, "related_item_type": "deal", "related_item_id": did,
                "added_by_user_id": deal["owner_id"]}, None, parent=did)
            part_id += 1


def product_variations(s: SeedContext) -> None:
    """About a third of the products (the first one always) come in 1-3 variations with their own prices."""
    table = s.store.tables["product_variations"]
    for product in list(s.store.tables["products"].rows.values()):
        if s.extra.random() >= 0.3 and len(table.rows) > 0:
            continue
        base = product.data["prices"][0]
        for label in ("S", "M", "L")[: s.extra_int(1, 3)]:
            vid = table.next_id()
            price = round(base["price"] * (0.8 + 0.2 * ("S", "M", "L").index(label)), 2)
            s.put("product_variations", {
                "id": vid, "name": f"{product.data['name']} {label}", "product_id": product.key,
                "prices": [{"product_variation_id": vid, "price": price, "currency": base["currency"],
                            "cost": round(price * 0.4, 2), "notes": ""}]}, None, parent=product.key)


def deal_installments(s: SeedContext) -> None:
    """About a sixth of the open and won deals (the first one always) are paid in 2-4 monthly installments."""
    table = s.store.tables["deal_installments"]
    for deal in list(s.store.tables["deals"].rows.values()):
        data = deal.data
        if data["status"] not in ("open", "won") or (s.extra.random() >= 0.17 and len(table.rows) > 0):
            continue
        count = s.extra_int(2, 4)
        first = s.now + s.extra_int(-90, 90) * DAY
        for index in range(count):
            s.put("deal_installments", {
                "id": table.next_id(), "amount": round((data["value"] or 1000) / count, 2),
                "billing_date": time.strftime("%Y-%m-%d", time.gmtime(first + index * 30 * DAY)),
                "description": f"Installment {index + 1}",
                "deal_id": deal.key}, None, parent=deal.key)


def archived_leads(s: SeedContext) -> None:
    """About one lead in eight is archived (``GET /v1/leads`` leaves it out, ``/v1/leads/archived`` has it)."""
    for lead in s.store.tables["leads"]:
        if s.extra.random() < 0.125:
            lead.data["is_archived"] = True
