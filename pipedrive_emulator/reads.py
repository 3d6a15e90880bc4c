"""List and get-one answers: v1 offset pagination, v2 cursors, v2 filters, serialization caches.

v2 cursors are opaque base64 of the last served position in the requested order (sort value, sequence
number), never an offset, so a client paging while records change neither skips nor repeats records that
kept their place. Record bytes are cached per row and rendering, so a page of 500 is mostly a join.
"""

from __future__ import annotations

import base64
import bisect
import json
from collections.abc import Callable, Iterable
from typing import Any

from pipedrive_core.catalogue import Pagination, Resource
from pipedrive_core.values import digits_int

from . import include
from .clock import iso_to_v1, parse_rfc3339
from .derived import DERIVED
from .envelope import Answer, bad_request, dumps, not_found, ok_raw
from .fields import render_field_v2
from .request import Context, Request
from .shapes import V1_RENDERERS, org_obj, person_obj, user_obj
from .store import Row, Store, Table

MAX_LIMIT = 500
DEFAULT_LIMIT = 100
V2_SORT_FIELDS = ("id", "update_time", "add_time")
#: v2 list query parameters that filter on a stored field of the same name
V2_EQUALITY_FILTERS = ("owner_id", "person_id", "org_id", "pipeline_id", "stage_id", "deal_id", "project_id",
                       "board_id", "phase_id", "assignee_id", "parent_task_id")
NO_UPDATED_FILTER = frozenset({"pipelines", "stages", "deal_products", "projects", "tasks"})
UPDATED_SINCE_ONLY = frozenset({"products"})
#: v1 lists that carry ``related_objects`` in real answers
RELATED = frozenset({"deals", "persons", "organizations", "activities", "deal_participants", "deal_flow",
                     "notes", "organization_relationships"})
#: v1 lists that accept ``updated_since`` (RFC 3339, ``update_time >=``): ``GET /v1/leads`` (not the archived list)
V1_UPDATED_SINCE = frozenset({"leads"})
#: v1 list query parameters that filter on a stored field of the same name, per resource
V1_EQUALITY_FILTERS: dict[str, tuple[str, ...]] = {"leads": ("owner_id", "person_id", "organization_id"),
                                                   "permission_sets": ("app",)}


# -- rendering -------------------------------------------------------------------------------------


def render(store: Store, table: Table, row: Row, variant: str) -> bytes:
    """Serialized record for ``variant`` (``v2``, ``v1``: expanded legacy, ``v1r``: recents), cached."""
    cached = row.cache.get(variant)
    if cached is not None:
        return cached
    body = dumps(to_plain(store, table, row, variant))
    row.cache[variant] = body
    return body


def to_plain(store: Store, table: Table, row: Row, variant: str) -> dict[str, Any]:
    """The record as plain JSON data in the requested rendering."""
    if table.resource.fields_of is not None and variant == "v2":
        return render_field_v2(row.data)
    if variant == "v2" and table.resource.include_fields:
        return include.strip(table.resource, row.data)
    renderer = V1_RENDERERS.get(table.name)
    if variant != "v2" and renderer is not None:
        return renderer(store, row, variant == "v1")
    if table.name == "deal_participants" and variant == "v1":
        return _participant(store, row.data)
    if table.name == "organization_relationships" and variant == "v1":
        return _relationship(store, row.data)
    return row.data


def _participant(store: Store, data: dict[str, Any]) -> dict[str, Any]:
    person_id = person_obj(store, data["person_id"])
    person = None
    row = store.tables["persons"].get(data["person_id"])
    if row is not None:
        p = row.data
        person = {"id": p["id"], "company_id": 1, "active_flag": not p["is_deleted"], "name": p["name"],
                  "first_name": p["first_name"], "last_name": p["last_name"],
                  "phone": person_id["phone"] if person_id else [], "email": person_id["email"] if person_id else [],
                  "first_char": (p["name"] or " ")[0].lower(), "add_time": iso_to_v1(p["add_time"]),
                  "update_time": iso_to_v1(p["update_time"]), "visible_to": str(p["visible_to"]),
                  "picture_id": None, "label": None, "label_ids": p["label_ids"], "org_name": None,
                  "owner_name": (user_obj(store, p["owner_id"]) or {}).get("name", ""), "cc_email": None,
                  "owner_id": user_obj(store, p["owner_id"], int_pic=True)}
    return dict(data, person_id=person_id, person=person,
                added_by_user_id=user_obj(store, data["added_by_user_id"]),
                related_item_data={"deal_id": data["related_item_id"]})


def _relationship(store: Store, data: dict[str, Any]) -> dict[str, Any]:
    owner, linked = data["rel_owner_org_id"], data["rel_linked_org_id"]
    linked_row = store.tables["organizations"].get(linked)
    return dict(data, rel_owner_org_id=org_obj(store, owner), rel_linked_org_id=org_obj(store, linked),
                calculated_type=data["type"], calculated_related_org_id=linked,
                related_organization_name=linked_row.data["name"] if linked_row else "")


def join(chunks: Iterable[bytes]) -> bytes:
    """A JSON array from serialized items."""
    return b"[" + b",".join(chunks) + b"]"


# -- helpers ---------------------------------------------------------------------------------------


def int_param(req: Request, name: str, default: int, *, low: int = 0, high: int | None = None) -> int:
    """An integer query parameter, 400 when it is not one or out of range."""
    raw = req.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise bad_request(f"Parameter '{name}' must be an integer, got {raw!r}") from None
    if value < low or (high is not None and value > high):
        raise bad_request(f"Parameter '{name}' must be between {low} and {high}, got {value}")
    return value


def parse_key(resource: Resource, raw: str) -> int | str:
    """A path id in the resource's key type (404 for a non-numeric integer id, as Pipedrive)."""
    if resource.key_type == "integer" and resource.key in ("id",):
        key = digits_int(raw)
        if key is None:
            raise bad_request(f"Parameter 'id' must be an integer, got {raw!r}")
        return key
    return raw


def parent_key(ctx: Context, resource: Resource, req: Request) -> int | str:
    """The parent id of a nested read, 404 when the parent does not exist."""
    assert resource.parent is not None
    parent_res = ctx.store.tables[resource.parent].resource
    raw = req.params.get("parent_id") or req.query.get("org_id") or ""
    key = parse_key(parent_res, raw)
    row = ctx.store.tables[resource.parent].get(key)
    if row is None or (row.deleted_at is not None and resource.parent != "deals"):
        raise not_found(f"{parent_res.title.rstrip('s').capitalize()} not found")
    return key


def related_objects(store: Store, items: list[dict[str, Any]]) -> dict[str, Any]:
    """``related_objects`` of a v1 page: the users, persons and organizations it references."""
    users: dict[str, Any] = {}
    persons: dict[str, Any] = {}
    orgs: dict[str, Any] = {}
    for item in items:
        for name in ("user_id", "owner_id", "creator_user_id"):
            uid = _ref(item.get(name))
            if uid is not None:
                users[str(uid)] = dict(user_obj(store, uid) or {}, value=None)
        pid = _ref(item.get("person_id"))
        if pid is not None:
            obj = person_obj(store, pid) or {}
            persons[str(pid)] = {"active_flag": obj.get("active_flag"), "id": pid, "name": obj.get("name"),
                                 "email": obj.get("email"), "phone": obj.get("phone"), "owner_id": obj.get("owner_id")}
        oid = _ref(item.get("org_id"))
        if oid is not None:
            org = org_obj(store, oid) or {}
            orgs[str(oid)] = {"active_flag": org.get("active_flag"), "id": oid, "name": org.get("name"),
                              "people_count": org.get("people_count"), "owner_id": org.get("owner_id"),
                              "address": org.get("address"), "cc_email": org.get("cc_email")}
    for user in users.values():
        user.pop("value", None)
    return {"user": users, "person": persons, "organization": orgs}


def _ref(value: Any) -> int | None:
    if isinstance(value, dict):
        value = value.get("value", value.get("id"))
    return value if isinstance(value, int) else None


# -- v1 --------------------------------------------------------------------------------------------


def v1_rows(ctx: Context, resource: Resource, req: Request, *, archived: bool = False) -> list[Row]:
    """The rows a v1 list serves, in order, before pagination (archived ones only on the archived path)."""
    store = ctx.store
    table = store.tables[resource.name]
    if resource.parent is not None:
        key = parent_key(ctx, resource, req)
        derive = DERIVED.get(resource.name)
        if derive is not None:
            parent_row = store.tables[resource.parent].rows[key]
            return [Row(str(i), data, i) for i, data in enumerate(derive(parent_row))]
        rows = table.children(key)
    else:
        rows = [r for r in table if r.deleted_at is None]
    if resource.name == "mail_threads":
        folder = req.query.get("folder")
        if folder not in ("inbox", "drafts", "sent", "archive"):
            raise bad_request("Parameter 'folder' is required: one of inbox, drafts, sent, archive")
        rows = [r for r in rows if folder in r.data["folders"]]
    if resource.name == "deals" and req.query.get("status") not in (None, "", "all_not_deleted"):
        wanted = req.query["status"]
        rows = [r for r in rows if r.data["status"] == wanted]
    if resource.archived_path is not None:
        rows = [r for r in rows if bool(r.data.get("is_archived")) == archived]
    return _v1_filtered(resource, req, rows, archived=archived)


def _v1_filtered(resource: Resource, req: Request, rows: list[Row], *, archived: bool) -> list[Row]:
    """``updated_since`` and the equality filters of the v1 lists that have them (leads, permission sets)."""
    raw = req.query.get("updated_since")
    if raw and not archived and resource.name in V1_UPDATED_SINCE:
        try:
            bound = parse_rfc3339(raw)
        except ValueError as exc:
            raise bad_request(f"Parameter 'updated_since' {exc}") from None
        rows = [r for r in rows if r.ut is not None and r.ut >= bound]
    for key in V1_EQUALITY_FILTERS.get(resource.name, ()):
        value = req.query.get(key)
        if value:
            wanted: int | str = value
            if key.endswith("_id"):
                number = digits_int(value)
                if number is None:
                    raise bad_request(f"Parameter '{key}' must be an integer")
                wanted = number
            rows = [r for r in rows if r.data.get(key) == wanted]
    return rows


def _sort_key(table: Table, name: str, row: Row) -> Any:
    return table._sort_value(row, name)


def v1_sorted(table: Table, rows: list[Row], spec: str) -> list[Row]:
    """v1 ``sort=field ASC[, other DESC]`` (notes, files, leads, ...): stable, applied last key first."""
    for part in reversed([p.strip() for p in spec.split(",") if p.strip()]):
        name, _, direction = part.partition(" ")
        values = table.sort_values(name)

        def value(row: Row, name: str = name, values: dict[Any, Any] = values) -> Any:
            return values[row.key] if table.rows.get(row.key) is row else _sort_key(table, name, row)

        rows = sorted(rows, key=value, reverse=direction.strip().upper() == "DESC")
    return rows


def list_v1(ctx: Context, resource: Resource, req: Request, *, archived: bool = False) -> Answer:
    """A v1 list: ``start``/``limit`` with ``additional_data.pagination`` (or the whole list)."""
    store = ctx.store
    table = store.tables[resource.name]
    rows = v1_rows(ctx, resource, req, archived=archived)
    if req.query.get("sort"):
        rows = v1_sorted(table, rows, req.query["sort"])
    variant = "v1"
    if resource.pagination is Pagination.NONE:
        chunk = rows
        additional: dict[str, Any] | None = None
    else:
        start = int_param(req, "start", 0)
        limit = min(int_param(req, "limit", DEFAULT_LIMIT, low=1), resource.page_limit, MAX_LIMIT)
        chunk = rows[start:start + limit]
        more = start + limit < len(rows)
        pagination: dict[str, Any] = {"start": start, "limit": limit, "more_items_in_collection": more}
        if more:
            pagination["next_start"] = start + limit
        additional = {"pagination": pagination}
    body = join(render(store, table, r, variant) if r.key in table.rows else dumps(to_plain(store, table, r, variant))
                for r in chunk)
    if resource.name == "goals":
        return ok_raw(b'{"goals":' + body + b"}", additional)
    if resource.name in RELATED:
        plain = [json.loads(render(store, table, r, variant)) if r.key in table.rows else r.data for r in chunk]
        return ok_raw(body, additional, related_objects=related_objects(store, plain))
    return ok_raw(body, additional)


def get_one(ctx: Context, resource: Resource, req: Request, variant: str) -> Answer:
    """``GET <path>/{id}`` in v1 or v2 rendering; 404 for unknown or deleted ids."""
    store = ctx.store
    table = store.tables[resource.name]
    raw = req.params["id"]
    if resource.fields_of is not None and variant == "v2":
        row = next((r for r in table if r.data["key"] == raw and r.deleted_at is None), None)
    else:
        key = parse_key(resource, raw)
        row = table.get(key)
        if row is not None and row.deleted_at is not None and resource.name != "deals":
            row = None
    if row is None:
        raise not_found(f"{resource.title.split('/')[-1].rstrip('s').capitalize()} not found")
    if variant == "v2" and resource.include_fields:
        wanted = include.requested(resource, req)
        return ok_raw(include.splice(render(store, table, row, variant),
                                     dumps(include.extras(store, resource, row, wanted))))
    return ok_raw(render(store, table, row, variant))


# -- v2 --------------------------------------------------------------------------------------------


def encode_cursor(position: dict[str, Any]) -> str:
    """Opaque cursor text."""
    return base64.urlsafe_b64encode(json.dumps(position, separators=(",", ":")).encode()).decode().rstrip("=")


def decode_cursor(text: str) -> dict[str, Any]:
    """Inverse of :func:`encode_cursor`; 400 for anything we did not issue."""
    try:
        padded = text + "=" * (-len(text) % 4)
        value = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if not isinstance(value, dict) or "v" not in value or "q" not in value:
            raise ValueError(text)
        return value
    except (ValueError, json.JSONDecodeError, UnicodeDecodeError):
        raise bad_request("Invalid cursor") from None


Filter = Callable[[Row], bool]


def _since(bound: int) -> Filter:
    return lambda row: row.ut is not None and row.ut >= bound


def _until(bound: int) -> Filter:
    return lambda row: row.ut is not None and row.ut < bound


def _equals(field: str, value: int) -> Filter:
    return lambda row: row.data.get(field) == value


def v2_filters(  # noqa: PLR0912 - one branch per query parameter Pipedrive accepts
    ctx: Context, resource: Resource, req: Request, *, archived: bool = False) -> list[Filter]:
    """Row predicates for the query of a v2 list; 400 for values Pipedrive rejects."""
    q = req.query
    filters: list[Filter] = []
    name = resource.name
    if name == "deals":
        statuses = {s for s in (q.get("status") or "").split(",") if s}
        unknown = statuses - {"open", "won", "lost", "deleted"}
        if unknown:
            raise bad_request(f"Parameter 'status' has invalid values: {', '.join(sorted(unknown))}")
        with_deleted = "deleted" in statuses
        plain = statuses - {"deleted"} or ({"open", "won", "lost"} if not statuses else set())

        def deal_filter(row: Row) -> bool:
            if bool(row.data.get("is_archived")) != archived:
                return False
            if row.deleted_at is not None:
                return with_deleted
            return row.data["status"] in plain

        filters.append(deal_filter)
    elif resource.parent is None:
        filters.append(lambda row: row.deleted_at is None)
    for key in ("updated_since", "updated_until"):
        raw = q.get(key)
        if raw is None:
            continue
        if name in NO_UPDATED_FILTER:
            raise bad_request(f"Parameter '{key}' is not supported for {resource.title}")
        if key == "updated_until" and name in UPDATED_SINCE_ONLY:
            raise bad_request(f"Parameter '{key}' is not supported for {resource.title}")
        try:
            bound = parse_rfc3339(raw)
        except ValueError as exc:
            raise bad_request(f"Parameter '{key}' {exc}") from None
        filters.append(_since(bound) if key == "updated_since" else _until(bound))
    ids = q.get("ids")
    if ids:
        try:
            wanted = {int(x) for x in ids.split(",") if x}
        except ValueError:
            raise bad_request("Parameter 'ids' must be a comma-separated list of integers") from None
        filters.append(lambda row: row.key in wanted)
    for key in V2_EQUALITY_FILTERS:
        raw = q.get(key)
        if raw:
            number = digits_int(raw)
            if number is None:
                raise bad_request(f"Parameter '{key}' must be an integer")
            filters.append(_equals("owner_id" if key == "assignee_id" else key, number))
    done = q.get("done") or q.get("is_done")
    if done in ("true", "false", "1", "0"):
        flag = done in ("true", "1")
        filters.append(lambda row: bool(row.data.get("done", row.data.get("is_done"))) == flag)
    return filters


def list_v2(
    ctx: Context, resource: Resource, req: Request, *, archived: bool = False) -> Answer:
    """A v2 list: ``cursor``/``limit``, ``sort_by``/``sort_direction``, filters, ``next_cursor``."""
    store = ctx.store
    table = store.tables[resource.name]
    limit = int_param(req, "limit", DEFAULT_LIMIT, low=1, high=MAX_LIMIT)
    sort_by = req.query.get("sort_by") or "id"
    if sort_by not in V2_SORT_FIELDS:
        raise bad_request(f"Parameter 'sort_by' must be one of {', '.join(V2_SORT_FIELDS)}")
    direction = req.query.get("sort_direction") or "asc"
    if direction not in ("asc", "desc"):
        raise bad_request("Parameter 'sort_direction' must be asc or desc")
    filters = v2_filters(ctx, resource, req, archived=archived)
    derived_rows: dict[Any, Row] | None = None
    if resource.parent is not None:
        key = parent_key(ctx, resource, req)
        derive = DERIVED.get(resource.name)
        if derive is not None:
            parent_row = store.tables[resource.parent].rows[key]
            derived_rows = {i: Row(i, d, i) for i, d in enumerate(derive(parent_row))}
            entries = [(i, i, i) for i in derived_rows]
        else:
            children = table.children(key)
            entries = sorted((table._sort_value(r, sort_by), r.seq, r.key) for r in children)
    else:
        entries = table.ordered(sort_by)
    rows = table.rows if derived_rows is None else derived_rows
    span = update_time_span(req) if sort_by == "update_time" else None
    chosen, next_cursor = walk(entries, rows, filters, limit=limit, direction=direction,
                               cursor=req.query.get("cursor"), query_sig=f"{resource.name}|{sort_by}|{direction}",
                               span=span)
    if derived_rows is None and resource.include_fields:
        wanted = include.requested(resource, req)
        rendered = include.page_renderer(store, resource, wanted, lambda r: render(store, table, r, "v2"))
        body = join(rendered(r) for _, _, r in chosen)
    elif derived_rows is None:
        body = join(render(store, table, r, "v2") for _, _, r in chosen)
    else:
        body = join(dumps(r.data) for _, _, r in chosen)
    return ok_raw(body, {"next_cursor": next_cursor})


Entry = tuple[Any, int, Any]


def update_time_span(req: Request) -> tuple[int | None, int | None]:
    """``updated_since`` and ``updated_until`` as epoch seconds (``None`` where not asked; a value the filters
    reject never gets here)."""
    since, until = req.query.get("updated_since"), req.query.get("updated_until")
    return (parse_rfc3339(since) if since else None, parse_rfc3339(until) if until else None)


def walk(entries: list[Entry], rows: dict[Any, Row], filters: list[Filter], *, limit: int, direction: str,
         cursor: str | None, query_sig: str,
         span: tuple[int | None, int | None] | None = None) -> tuple[list[tuple[Any, int, Row]], str | None]:
    """One cursor page of ``entries`` (``(sort value, seq, key)`` ascending): rows passing ``filters`` after
    the cursor's position, and the cursor of the next page (``None`` on the last page).

    ``span`` (``[since, until)``, when the entries are sorted by the update time those filters test) starts and
    ends the walk inside it, as an index on the update time would: a window's page is found without walking every
    row before and after it. The filters still decide each row."""
    if cursor:
        pos = decode_cursor(cursor)
        if pos["q"] != query_sig:
            raise bad_request("Cursor does not belong to this query (sort order changed)")
        mark = (pos["v"], pos["s"])
        if direction == "asc":
            index = bisect.bisect_right(entries, mark, key=lambda e: (e[0], e[1]))
        else:
            index = bisect.bisect_left(entries, mark, key=lambda e: (e[0], e[1])) - 1
    else:
        index = 0 if direction == "asc" else len(entries) - 1
    low, high = span or (None, None)
    if direction == "asc" and low is not None:
        index = max(index, bisect.bisect_left(entries, low, key=lambda e: e[0]))
    elif direction == "desc" and high is not None:
        index = min(index, bisect.bisect_left(entries, high, key=lambda e: e[0]) - 1)
    step = 1 if direction == "asc" else -1
    chosen: list[tuple[Any, int, Row]] = []
    more = False
    while 0 <= index < len(entries):
        value, seq, key = entries[index]
        if (direction == "asc" and high is not None and value >= high) or (
                direction == "desc" and low is not None and value < low):
            break  # past the span: no row beyond can pass its filters
        index += step
        row = rows.get(key)
        if row is None or not all(f(row) for f in filters):
            continue
        if len(chosen) == limit:
            more = True
            break
        chosen.append((value, seq, row))
    next_cursor = None
    if more and chosen:
        value, seq, _ = chosen[-1]
        next_cursor = encode_cursor({"q": query_sig, "v": value, "s": seq})
    return chosen, next_cursor
