"""Custom-field definitions and the three faces of a custom value: stored (v2), v1 flat keys, v2 writes.

Pipedrive keeps custom values under 40-hex keys. API v1 puts them at the top level of a record with
companion subfield keys (``<key>_currency``, ``<key>_until``, ``<key>_route``…); API v2 nests them in
``custom_fields`` as one value per key (monetary ``{value, currency}``, address object, ranges
``{value, until}``, enum option id, set list of option ids). The store keeps the v2 form; this module
converts both ways and validates writes as strictly as v2 does (an enum must be an option id, a set a list
of option ids, numbers must be numbers).

Field names deliberately collide (two "Region" fields, a custom "Value" beside the built-in one) because
real accounts do.

The per-type behaviour here (which types are numbers, dates, ranges, option ids) is written out on purpose
instead of importing the connector's table (``pipedrive_core.fields.INTEGER_TYPES`` …): the emulator is an
independent model of Pipedrive, so a mistake in the connector's table shows up as a disagreement in the
round-trip tests rather than being shared by both sides.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable
from typing import Any

from pipedrive_core.fields import ADDRESS_PARTS
from pipedrive_core.values import digits_int

from .envelope import ApiError, bad_request

#: One custom field of every type a user can create, in the order the seeder adds them; names collide on
#: purpose ("Region" twice, "Value" like the built-in deal value).
CUSTOM_TYPES: tuple[tuple[str, str], ...] = (
    ("enum", "Region"),
    ("varchar_auto", "Region"),
    ("double", "Value"),
    ("varchar", "Account code"),
    ("text", "Background"),
    ("int", "Seats"),
    ("monetary", "Budget"),
    ("date", "Renewal date"),
    ("daterange", "Contract period"),
    ("time", "Preferred call time"),
    ("timerange", "Office hours"),
    ("set", "Interests"),
    ("user", "Account manager"),
    ("org", "Partner organization"),
    ("people", "Referrer"),
    ("phone", "Support line"),
    ("address", "Billing address"),
    ("varchar_options", "Segment"),
)


OPTION_LABELS: dict[str, tuple[str, ...]] = {
    "Region": ("EMEA", "North America", "LATAM", "APAC"),
    "Interests": ("Analytics", "Automation", "Integrations", "Support", "Training"),
    "Segment": ("SMB", "Mid-market", "Enterprise"),
}

# (key, name, field_type) of built-in fields per entity; readable keys, edit_flag false.
_COMMON_TAIL = (("add_time", "Created", "date"), ("update_time", "Update time", "date"),
                ("visible_to", "Visible to", "visible_to"))
BUILTINS: dict[str, tuple[tuple[str, str, str], ...]] = {
    "deals": (
        ("id", "ID", "int"), ("title", "Title", "varchar"), ("creator_user_id", "Creator", "user"),
        ("user_id", "Owner", "user"), ("value", "Value", "monetary"), ("currency", "Currency", "varchar"),
        ("weighted_value", "Weighted value", "monetary"), ("probability", "Probability", "double"),
        ("org_id", "Organization", "org"), ("pipeline", "Pipeline", "double"),
        ("person_id", "Contact person", "people"), ("stage_id", "Stage", "stage"),
        ("status", "Status", "status"), ("stage_change_time", "Last stage change", "date"),
        ("next_activity_date", "Next activity date", "date"), ("won_time", "Won time", "date"),
        ("lost_time", "Lost time", "date"), ("close_time", "Deal closed on", "date"),
        ("expected_close_date", "Expected close date", "date"), ("lost_reason", "Lost reason", "varchar"),
        ("label", "Label", "set"), *_COMMON_TAIL,
    ),
    "persons": (
        ("id", "ID", "int"), ("name", "Name", "varchar"), ("first_name", "First name", "varchar"),
        ("last_name", "Last name", "varchar"), ("org_id", "Organization", "org"),
        ("owner_id", "Owner", "user"), ("email", "Email", "varchar"), ("phone", "Phone", "phone"),
        ("label_ids", "Labels", "set"), ("birthday", "Birthday", "date"), ("job_title", "Job title", "varchar"),
        ("postal_address", "Postal address", "address"), *_COMMON_TAIL,
    ),
    "organizations": (
        ("id", "ID", "int"), ("name", "Name", "varchar"), ("owner_id", "Owner", "user"),
        ("address", "Address", "address"), ("label_ids", "Labels", "set"), ("website", "Website", "varchar"),
        ("industry", "Industry", "enum"), ("annual_revenue", "Annual revenue", "monetary"),
        ("employee_count", "Number of employees", "int"), *_COMMON_TAIL,
    ),
    "products": (
        ("id", "ID", "int"), ("name", "Name", "varchar"), ("code", "Product code", "varchar"),
        ("unit", "Unit", "varchar"), ("tax", "Tax", "double"), ("category", "Category", "enum"),
        ("owner_id", "Owner", "user"), ("prices", "Unit prices", "price_list"),
        ("description", "Description", "text"), *_COMMON_TAIL,
    ),
    "activities": (
        ("id", "ID", "int"), ("subject", "Subject", "varchar"), ("type", "Type", "varchar"),
        ("due_date", "Due date", "date"), ("due_time", "Due time", "time"), ("duration", "Duration", "time"),
        ("done", "Done", "boolean"), ("user_id", "Assigned to user", "user"), ("deal_id", "Deal", "deal"),
        ("person_id", "Contact person", "people"), ("org_id", "Organization", "org"),
        ("note", "Note", "text"), ("location", "Location", "address"), ("busy_flag", "Free/busy", "enum"),
        ("add_time", "Add time", "date"), ("update_time", "Update time", "date"),
    ),
    "notes": (
        ("id", "ID", "int"), ("content", "Content", "text"), ("deal_id", "Deal", "deal"),
        ("lead_id", "Lead", "lead"), ("person_id", "Person", "people"), ("org_id", "Organization", "org"),
        ("user_id", "User", "user"), ("add_time", "Add time", "date"), ("update_time", "Update time", "date"),
    ),
    "leads": (
        ("id", "ID", "varchar"), ("title", "Title", "varchar"), ("owner_id", "Owner", "user"),
        ("person_id", "Person", "people"), ("organization_id", "Organization", "org"),
        ("value", "Value", "monetary"), ("expected_close_date", "Expected close date", "date"),
        ("label_ids", "Labels", "set"), ("source_name", "Source", "varchar"),
        ("add_time", "Created", "date"), ("update_time", "Update time", "date"),
    ),
}

_BUILTIN_OPTIONS: dict[str, tuple[str, ...]] = {
    "status": ("open", "won", "lost", "deleted"),
    "visible_to": ("Owner & followers", "Entire company"),
    "label": ("Hot", "Warm", "Cold"),
    "label_ids": ("Customer", "Hot lead", "Warm lead", "Cold lead"),
    "industry": ("Software", "Manufacturing", "Retail", "Finance"),
    "category": ("Hardware", "Software", "Services"),
    "busy_flag": ("Free", "Busy"),
}
_STATUS_IDS = {"open": "open", "won": "won", "lost": "lost", "deleted": "deleted"}


def field_key(seed: int, entity: str, index: int) -> str:
    """A stable 40-hex custom-field key (Pipedrive generates random ones; ours depend on the seed)."""
    return hashlib.sha1(f"{seed}:{entity}:{index}".encode(), usedforsecurity=False).hexdigest()


def custom_specs(count: int) -> list[tuple[str, str]]:
    """``count`` (field_type, name) pairs: every type once, then again with numbered names."""
    specs: list[tuple[str, str]] = []
    rounds = 0
    while len(specs) < count:
        for field_type, name in CUSTOM_TYPES:
            if len(specs) >= count:
                break
            specs.append((field_type, name if rounds == 0 else f"{name} {rounds + 1}"))
        rounds += 1
    return specs


def new_field_def(
    *,
    field_id: int,
    key: str,
    name: str,
    field_type: str,
    order_nr: int,
    stamp: str,
    custom: bool,
    option_ids: Callable[[], int],
    labels: tuple[str, ...] | None = None,
) -> dict[str, Any]:
    """A field definition in the v1 ``/v1/dealFields`` shape (the stored form)."""
    options: list[dict[str, Any]] | None = None
    if field_type in ("enum", "set", "varchar_options") and custom:
        labels = labels or OPTION_LABELS.get(name.split(" ", maxsplit=1)[0], ("Option A", "Option B", "Option C"))
        options = [{"id": option_ids(), "label": label} for label in labels]
    elif not custom and key in _BUILTIN_OPTIONS:
        values = _BUILTIN_OPTIONS[key]
        if key == "status":
            options = [{"id": v, "label": v.capitalize()} for v in values]
        elif key == "visible_to":
            options = [{"id": 1, "label": values[0]}, {"id": 3, "label": values[1]}]
        else:
            options = [{"id": option_ids(), "label": label} for label in values]
    return {
        "id": field_id,
        "key": key,
        "name": name,
        "order_nr": order_nr,
        "field_type": field_type,
        "add_time": stamp,
        "update_time": stamp,
        "last_updated_by_user_id": 1 if custom else None,
        "created_by_user_id": 1 if custom else None,
        "active_flag": True,
        "edit_flag": custom,
        "index_visible_flag": True,
        "details_visible_flag": True,
        "add_visible_flag": True,
        "important_flag": False,
        "bulk_edit_allowed": True,
        "searchable_flag": field_type in ("varchar", "varchar_auto", "text", "phone"),
        "filtering_allowed": True,
        "sortable_flag": True,
        "mandatory_flag": key in {"title", "name"},
        "options": options,
        "is_subfield": False,
        "subfields": subfields(key, name, field_type) if custom else None,
    }


def subfields(key: str, name: str, field_type: str) -> list[dict[str, str]] | None:
    """Companion keys of a custom field (v1 top-level keys, v2 ``subfields``)."""
    if field_type == "monetary":
        return [{"key": f"{key}_currency", "name": f"Currency of {name}", "field_type": "varchar"}]
    if field_type in ("daterange", "timerange"):
        return [{"key": f"{key}_until", "name": f"End of {name}", "field_type": field_type[:4]}]
    if field_type == "address":
        return [
            {"key": f"{key}_{part}", "name": f"{part.replace('_', ' ').capitalize()} of {name}",
             "field_type": "varchar"}
            for part in ADDRESS_PARTS
        ]
    return None


def render_field_v2(fdef: dict[str, Any]) -> dict[str, Any]:
    """The ``/api/v2/dealFields`` shape of a stored (v1-shaped) definition."""
    subs = fdef.get("subfields")
    options = fdef.get("options")
    return {
        "field_name": fdef["name"],
        "field_code": fdef["key"],
        "field_type": fdef["field_type"],
        "options": None if options is None else [
            {"id": o["id"], "label": o["label"], "color": None,
             "add_time": None, "update_time": None} for o in options
        ],
        "subfields": None if subs is None else [
            {"field_code": s["key"], "field_name": s["name"], "field_type": s["field_type"]} for s in subs
        ],
        "is_custom_field": bool(fdef["edit_flag"]),
        "is_optional_response_field": False,
        "ui_visibility": {"add_visible_flag": fdef["add_visible_flag"],
                          "details_visible_flag": fdef["details_visible_flag"]},
    }


# -- values ----------------------------------------------------------------------------------------


def v2_to_v1(
    fdefs: list[dict[str, Any]],
    custom: dict[str, Any] | None,
    expand: Callable[[str, int], Any] | None = None,
) -> dict[str, Any]:
    """Flatten a stored ``custom_fields`` object into v1 top-level keys plus companion keys.

    ``expand(field_type, id)`` turns user/org/people ids into the objects v1 list answers carry; without
    it the bare id is written (as in ``/v1/recents``).
    """
    out: dict[str, Any] = {}
    custom = custom or {}
    for fdef in fdefs:
        key, ftype = fdef["key"], fdef["field_type"]
        value = custom.get(key)
        if ftype == "monetary":
            out[key] = None if value is None else value["value"]
            out[f"{key}_currency"] = None if value is None else value["currency"]
        elif ftype in ("daterange", "timerange"):
            out[key] = None if value is None else value["value"]
            out[f"{key}_until"] = None if value is None else value["until"]
        elif ftype == "address":
            out[key] = None if value is None else value.get("value")
            for part in ADDRESS_PARTS:
                out[f"{key}_{part}"] = None if value is None else value.get(part)
        elif ftype == "enum":
            out[key] = None if value is None else str(value)
        elif ftype == "set":
            out[key] = None if not value else ",".join(str(v) for v in value)
        elif ftype in ("user", "org", "people") and value is not None and expand is not None:
            out[key] = expand(ftype, value)
        else:
            out[key] = value
    return out


def v1_to_v2(  # noqa: PLR0911 - one branch per Pipedrive field type
    fdef: dict[str, Any], body: dict[str, Any], current: Any) -> Any:
    """Read a v1 write (top-level key and companions) into the stored v2 form; lenient like v1."""
    key, ftype = fdef["key"], fdef["field_type"]
    value = body.get(key, _MISSING)
    if ftype == "monetary":
        amount = current["value"] if value is _MISSING and current else value
        currency = body.get(f"{key}_currency") or (current or {}).get("currency") or "EUR"
        if amount is None or amount is _MISSING:
            return None
        return {"value": _number(key, amount, strict=False), "currency": currency}
    if ftype in ("daterange", "timerange"):
        start = (current or {}).get("value") if value is _MISSING else value
        until = body.get(f"{key}_until", (current or {}).get("until"))
        return None if start is None else {"value": start, "until": until}
    if ftype == "address":
        if value is None:
            return None
        return {"value": value, **{p: body.get(f"{key}_{p}") for p in ADDRESS_PARTS},
                "formatted_address": body.get(f"{key}_formatted_address", value)}
    if value is None:
        return None
    if ftype == "enum":
        return _option_ids(fdef, [value], strict=False)[0]
    if ftype == "set":
        items = value if isinstance(value, list) else [v for v in str(value).split(",") if v.strip()]
        return _option_ids(fdef, items, strict=False) or None
    if ftype in ("int", "user", "org", "people"):
        return int(_number(key, value, strict=False))
    if ftype == "double":
        return _number(key, value, strict=False)
    return str(value)


def validate_v2(  # noqa: PLR0911, PLR0912 - one branch per Pipedrive field type
    fdef: dict[str, Any], value: Any) -> Any:
    """Check a v2 ``custom_fields`` value as strictly as API v2 does; return the stored form."""
    key, ftype = fdef["key"], fdef["field_type"]
    if value is None:
        return None
    if ftype == "enum":
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad_request(f"Custom field '{key}' ({fdef['name']}) expects an option id (integer), got "
                              f"{value!r}")
        return _option_ids(fdef, [value], strict=True)[0]
    if ftype == "set":
        if not isinstance(value, list) or not value:
            raise bad_request(f"Custom field '{key}' ({fdef['name']}) expects a non-empty array of option ids")
        return _option_ids(fdef, value, strict=True)
    if ftype in ("int", "user", "org", "people"):
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad_request(f"Custom field '{key}' ({fdef['name']}) expects an integer, got {value!r}")
        return value
    if ftype == "double":
        return _number(key, value, strict=True)
    if ftype == "monetary":
        if not isinstance(value, dict) or "value" not in value:
            raise bad_request(f"Custom field '{key}' ({fdef['name']}) expects {{value, currency}}")
        return {"value": _number(key, value["value"], strict=True), "currency": value.get("currency") or "EUR"}
    if ftype in ("daterange", "timerange"):
        if not isinstance(value, dict) or "value" not in value:
            raise bad_request(f"Custom field '{key}' ({fdef['name']}) expects {{value, until}}")
        return {"value": value["value"], "until": value.get("until")}
    if ftype == "address":
        if isinstance(value, str):
            return {"value": value, **dict.fromkeys(ADDRESS_PARTS), "formatted_address": value}
        if not isinstance(value, dict):
            raise bad_request(f"Custom field '{key}' ({fdef['name']}) expects an address object")
        return {"value": value.get("value"), **{p: value.get(p) for p in ADDRESS_PARTS}}
    if not isinstance(value, str):
        raise bad_request(f"Custom field '{key}' ({fdef['name']}) expects a string, got {value!r}")
    return value


_MISSING: Any = object()


def _number(key: str, value: Any, *, strict: bool) -> float | int:
    if isinstance(value, bool):
        raise bad_request(f"Field '{key}' must be numeric, got {value!r}")
    if isinstance(value, int | float):
        return value
    if not strict and isinstance(value, str):
        try:
            return float(value) if "." in value else int(value)
        except ValueError:
            pass
    raise bad_request(f"Field '{key}' must be numeric, got {value!r}")


def _option_ids(fdef: dict[str, Any], values: list[Any], *, strict: bool) -> list[int]:
    known = {o["id"] for o in fdef.get("options") or []}
    out: list[int] = []
    for value in values:
        candidate = value
        if not strict and isinstance(value, str) and (number := digits_int(value.strip())) is not None:
            candidate = number
        if isinstance(candidate, bool) or not isinstance(candidate, int):
            raise bad_request(f"Option of field '{fdef['key']}' must be an option id, got {value!r}")
        if candidate not in known:
            raise ApiError(400, f"Option id {candidate} does not exist for field '{fdef['key']}' "
                           f"({fdef['name']})")
        out.append(candidate)
    return out


def random_value(  # noqa: PLR0911, PLR0912 - one branch per Pipedrive field type
    fdef: dict[str, Any], rng: random.Random, pools: dict[str, list[Any]], id_ranges: dict[str, int]
) -> Any:
    """A plausible stored (v2) value of a custom field, from precomputed pools (cheap per record)."""
    ftype = fdef["field_type"]
    if rng.random() < 0.15:
        return None
    if ftype in ("varchar", "varchar_auto", "varchar_options"):
        return rng.choice(pools["words"])
    if ftype == "text":
        return rng.choice(pools["sentences"])
    if ftype == "int":
        return rng.randint(1, 5000)
    if ftype == "double":
        return round(rng.uniform(0, 100000), 2)
    if ftype == "monetary":
        return {"value": round(rng.uniform(100, 250000), 2), "currency": rng.choice(("EUR", "USD", "GBP"))}
    if ftype == "date":
        return rng.choice(pools["dates"])
    if ftype == "daterange":
        start = rng.choice(pools["dates"])
        return {"value": start, "until": _later_date(start, rng)}
    if ftype == "time":
        return f"{rng.randint(7, 18):02d}:{rng.choice((0, 15, 30, 45)):02d}:00"
    if ftype == "timerange":
        hour = rng.randint(7, 12)
        return {"value": f"{hour:02d}:00:00", "until": f"{hour + rng.randint(1, 8):02d}:00:00"}
    if ftype == "enum":
        return rng.choice(fdef["options"])["id"]
    if ftype == "set":
        ids = [o["id"] for o in fdef["options"]]
        return sorted(rng.sample(ids, rng.randint(1, min(3, len(ids)))))
    if ftype == "user":
        return rng.randint(1, id_ranges["users"])
    if ftype == "org":
        return rng.randint(1, max(1, id_ranges["organizations"]))
    if ftype == "people":
        return rng.randint(1, max(1, id_ranges["persons"]))
    if ftype == "phone":
        return rng.choice(pools["phones"])
    if ftype == "address":
        return dict(rng.choice(pools["addresses"]))
    return None


def _later_date(start: str, rng: random.Random) -> str:
    year, month, day = (int(p) for p in start.split("-"))
    month += rng.randint(1, 11)
    year += (month - 1) // 12
    month = (month - 1) % 12 + 1
    return f"{year:04d}-{month:02d}-{min(day, 28):02d}"
