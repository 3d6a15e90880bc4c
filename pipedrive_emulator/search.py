"""v2 search: ``/api/v2/<entity>/search``, ``/api/v2/itemSearch`` and ``/api/v2/itemSearch/field``.

Matching is a case-insensitive substring (or equality with ``exact_match=true``) over the fields Pipedrive
searches; results carry ``result_score`` and the compact item shapes of the v2 spec. Pagination is a cursor
over the result list (an offset is fine here: search results are not a change feed).
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from typing import Any

from .envelope import Answer, bad_request, ok
from .reads import int_param
from .request import Context, Request
from .store import Row, Store

#: searchable fields per entity when ``fields`` is not given
DEFAULT_FIELDS: dict[str, tuple[str, ...]] = {
    "deals": ("title", "custom_fields"),
    "persons": ("name", "email", "phone", "custom_fields"),
    "organizations": ("name", "address", "custom_fields"),
    "products": ("name", "code", "custom_fields"),
    "leads": ("title", "custom_fields"),
}
ITEM_TYPES: dict[str, str] = {"deal": "deals", "person": "persons", "organization": "organizations",
                              "product": "products", "lead": "leads"}
SEARCH_MAX = 500
ITEM_SEARCH_MAX = 100


def _values(row: Row, field: str) -> Iterable[str]:
    data = row.data
    if field == "email":
        return [e.get("value") or "" for e in data.get("emails") or []]
    if field == "phone":
        return [p.get("value") or "" for p in data.get("phones") or []]
    if field == "address":
        address = data.get("address")
        return [address.get("value") or ""] if isinstance(address, dict) else []
    if field == "custom_fields":
        return [v for v in (data.get("custom_fields") or {}).values() if isinstance(v, str)]
    value = data.get(field)
    return [str(value)] if value is not None else []


def _match(row: Row, fields: tuple[str, ...], term: str, exact: bool) -> float:
    best = 0.0
    for field in fields:
        for value in _values(row, field):
            text = value.lower()
            if text == term:
                return 1.0
            if not exact and term in text:
                best = max(best, 0.5 if text.startswith(term) else 0.3)
    return best


def _item(store: Store, entity: str, row: Row) -> dict[str, Any]:
    d = row.data

    def named(table: str, key: Any, field: str = "name") -> dict[str, Any] | None:
        if key is None:
            return None
        other = store.tables[table].get(key)
        return {"id": key, field: other.data.get(field) if other else None}

    owner = {"id": d.get("owner_id")}
    if entity == "deals":
        stage = store.tables["stages"].get(d.get("stage_id"))
        return {"id": d.get("id"), "type": "deal", "title": d.get("title"), "value": round(d.get("value") or 0),
                "currency": d.get("currency"),
                "status": d.get("status"), "visible_to": d.get("visible_to"), "owner": owner,
                "stage": {"id": d.get("stage_id"), "name": stage.data["name"] if stage else None},
                "person": named("persons", d.get("person_id")), "organization": named("organizations", d.get("org_id")),
                "custom_fields": [], "notes": [], "is_archived": d.get("is_archived")}
    if entity == "persons":
        return {"id": d.get("id"), "type": "person", "name": d.get("name"),
                "phones": [p["value"] for p in d.get("phones") or []],
                "emails": [e["value"] for e in d.get("emails") or []],
                "visible_to": d.get("visible_to"), "owner": owner,
                "organization": named("organizations", d.get("org_id")), "custom_fields": [], "notes": []}
    if entity == "organizations":
        return {"id": d.get("id"), "type": "organization", "name": d.get("name"),
                "address": (d.get("address") or {}).get("value"), "visible_to": d.get("visible_to"), "owner": owner,
                "custom_fields": [], "notes": []}
    if entity == "products":
        return {"id": d.get("id"), "type": "product", "name": d.get("name"), "code": d.get("code"),
                "visible_to": d.get("visible_to"), "owner": owner, "custom_fields": []}
    return {"id": d.get("id"), "type": "lead", "title": d.get("title"), "owner": owner,
            "person": named("persons", d.get("person_id")),
            "organization": named("organizations", d.get("organization_id")), "phones": [], "emails": [],
            "custom_fields": [], "notes": [], "value": (d.get("value") or {}).get("amount"),
            "currency": (d.get("value") or {}).get("currency"), "visible_to": d.get("visible_to"),
            "is_archived": d.get("is_archived")}


def _term(req: Request) -> tuple[str, bool]:
    term = (req.query.get("term") or "").strip().lower()
    exact = req.query.get("exact_match") in ("true", "1")
    if len(term) < (1 if exact else 2):
        raise bad_request("Parameter 'term' must be at least 2 characters long (1 with exact_match)")
    return term, exact


def _fields(req: Request, entity: str) -> tuple[str, ...]:
    raw = req.query.get("fields")
    if not raw:
        return DEFAULT_FIELDS[entity]
    fields = tuple(f.strip() for f in raw.split(",") if f.strip())
    allowed = set(DEFAULT_FIELDS[entity]) | {"notes", "code", "address", "email", "phone", "name", "title"}
    unknown = [f for f in fields if f not in allowed]
    if unknown:
        raise bad_request(f"Parameter 'fields' has unsupported values: {', '.join(unknown)}")
    return fields


def _page(req: Request, results: list[Any], max_limit: int) -> tuple[list[Any], str | None]:
    limit = int_param(req, "limit", 100, low=1, high=max_limit)
    start = 0
    cursor = req.query.get("cursor")
    if cursor:
        try:
            start = int(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode().split(":")[1])
        except (ValueError, IndexError, UnicodeDecodeError):
            raise bad_request("Invalid cursor") from None
    chunk = results[start:start + limit]
    more = start + limit < len(results)
    next_cursor = base64.urlsafe_b64encode(f"search:{start + limit}".encode()).decode().rstrip("=") if more else None
    return chunk, next_cursor


def _search(store: Store, entity: str, term: str, *, exact: bool, fields: tuple[str, ...],
            req: Request) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = []
    person_filter = req.query.get("person_id")
    org_filter = req.query.get("organization_id")
    for row in store.tables[entity]:
        if row.deleted_at is not None:
            continue
        if person_filter and str(row.data.get("person_id")) != person_filter:
            continue
        if org_filter and str(row.data.get("org_id", row.data.get("organization_id"))) != org_filter:
            continue
        score = _match(row, fields, term, exact)
        if score > 0:
            results.append({"result_score": score, "item": _item(store, entity, row)})
    results.sort(key=lambda r: -r["result_score"])
    return results


def entity_search(ctx: Context, entity: str, req: Request) -> Answer:
    """``/api/v2/<entity>/search``."""
    term, exact = _term(req)
    results = _search(ctx.store, entity, term, exact=exact, fields=_fields(req, entity), req=req)
    chunk, next_cursor = _page(req, results, SEARCH_MAX)
    return ok({"items": chunk}, {"next_cursor": next_cursor})


def item_search(ctx: Context, req: Request) -> Answer:
    """``/api/v2/itemSearch?term=&item_types=``."""
    term, exact = _term(req)
    raw_types = req.query.get("item_types") or ",".join(ITEM_TYPES)
    types = [t.strip() for t in raw_types.split(",") if t.strip()]
    unknown = [t for t in types if t not in ITEM_TYPES]
    if unknown:
        raise bad_request(f"Parameter 'item_types' has unsupported values: {', '.join(unknown)}")
    results: list[dict[str, Any]] = []
    for item_type in types:
        entity = ITEM_TYPES[item_type]
        results += _search(ctx.store, entity, term, exact=exact, fields=DEFAULT_FIELDS[entity], req=req)
    results.sort(key=lambda r: -r["result_score"])
    chunk, next_cursor = _page(req, results, ITEM_SEARCH_MAX)
    return ok({"items": chunk, "related_items": []}, {"next_cursor": next_cursor})


def field_search(ctx: Context, req: Request) -> Answer:
    """``/api/v2/itemSearch/field?term=&entity_type=&field=&match=``: values of one field."""
    entity_type = req.query.get("entity_type") or ""
    field = req.query.get("field") or ""
    if entity_type not in ITEM_TYPES:
        raise bad_request("Parameter 'entity_type' must be one of deal, person, organization, product, lead")
    if not field:
        raise bad_request("Parameter 'field' is required")
    match = req.query.get("match") or "exact"
    if match not in ("exact", "beginning", "middle"):
        raise bad_request("Parameter 'match' must be exact, beginning or middle")
    term = (req.query.get("term") or "").lower()
    if len(term) < (1 if match == "exact" else 2):
        raise bad_request("Parameter 'term' is too short")
    entity = ITEM_TYPES[entity_type]
    results: list[dict[str, Any]] = []
    label = "title" if entity in ("deals", "leads") else "name"
    for row in ctx.store.tables[entity]:
        if row.deleted_at is not None:
            continue
        custom = row.data.get("custom_fields") or {}
        values = [custom[field]] if field in custom and isinstance(custom[field], str) else list(_values(row, field))
        for value in values:
            text = str(value).lower()
            hit = (text == term if match == "exact" else text.startswith(term) if match == "beginning"
                   else term in text)
            if hit:
                results.append({"result_score": 1.0 if text == term else 0.5,
                                "item": {"id": row.key, label: row.data.get(label), field: value}})
                break
    chunk, next_cursor = _page(req, results, ITEM_SEARCH_MAX)
    return ok(chunk, {"next_cursor": next_cursor})
