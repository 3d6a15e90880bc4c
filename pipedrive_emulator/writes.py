"""Creates, updates and deletes, validated the way Pipedrive validates them.

v2 is strict (numbers must be JSON numbers, enum custom values must be option ids, sets lists of option
ids); v1 coerces numeric strings. Both write paths land in the same stored record (v1 top-level custom keys
and the v2 ``custom_fields`` object are converted to one stored form), and every write stamps
``update_time`` from the clock so it shows in later ``updated_since`` reads and in ``/v1/recents``.
Unknown top-level keys are ignored, as v1 does.
"""

from __future__ import annotations

import hashlib
import re
import weakref
from dataclasses import dataclass
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any

from pipedrive_core.catalogue import Resource

from .envelope import Answer, ApiError, bad_request, not_found, ok
from .fields import new_field_def, v1_to_v2, validate_v2
from .reads import parent_key, parse_key, to_plain
from .request import Context, Request
from .shapes import V1_WRITE_ALIASES
from .store import Row, Store, Table

REQUIRED: dict[str, tuple[str, ...]] = {
    "deals": ("title",), "persons": ("name",), "organizations": ("name",), "products": ("name",),
    "pipelines": ("name",), "stages": ("name", "pipeline_id"), "notes": ("content",),
    "filters": ("name", "conditions", "type"), "activity_types": ("name", "icon_key"),
    "call_logs": ("outcome", "to_phone_number", "start_time", "end_time"), "goals": ("title",),
    "leads": ("title",), "lead_labels": ("name", "color"), "roles": ("name",), "teams": ("name", "manager_id"),
    "users": ("email",), "webhooks": ("subscription_url", "event_action", "event_object"),
    "projects": ("title", "board_id", "phase_id"), "tasks": ("title", "project_id"),
    "deal_products": ("product_id", "item_price", "quantity"),
    "organization_relationships": ("type", "rel_owner_org_id", "rel_linked_org_id"),
}
NUMBERS = frozenset({"value", "probability", "item_price", "quantity", "discount", "tax", "sum", "annual_revenue",
                     "employee_count", "deal_probability", "order_nr", "days_to_rotten"})
#: reference fields → the table their id must exist in
REFS: dict[str, str] = {
    "person_id": "persons", "org_id": "organizations", "organization_id": "organizations", "stage_id": "stages",
    "pipeline_id": "pipelines", "deal_id": "deals", "product_id": "products", "owner_id": "users",
    "user_id": "users", "manager_id": "users", "project_id": "projects", "rel_owner_org_id": "organizations",
    "rel_linked_org_id": "organizations", "creator_user_id": "users",
}
DEFAULTS: dict[str, dict[str, Any]] = {
    "deals": {"status": "open", "is_deleted": False, "is_archived": False, "visible_to": 3, "label_ids": [],
              "currency": "EUR", "value": 0, "custom_fields": {}, "origin": "API", "owner_id": 1},
    "persons": {"emails": [], "phones": [], "is_deleted": False, "visible_to": 3, "label_ids": [],
                "custom_fields": {}, "owner_id": 1},
    "organizations": {"is_deleted": False, "visible_to": 3, "label_ids": [], "custom_fields": {}, "owner_id": 1},
    "products": {"is_deleted": False, "is_linkable": True, "prices": [], "custom_fields": {}, "visible_to": 3,
                 "billing_frequency": "one-time", "owner_id": 1},
    "activities": {"is_deleted": False, "done": False, "busy": True, "participants": [], "attendees": [],
                   "owner_id": 1, "creator_user_id": 1, "type": "task"},
    "pipelines": {"is_deleted": False, "is_deal_probability_enabled": False, "order_nr": 0},
    "stages": {"is_deleted": False, "deal_probability": 100, "is_deal_rot_enabled": False, "order_nr": 0},
    "deal_products": {"discount": 0, "discount_type": "percentage", "tax": 0, "tax_method": "inclusive",
                      "is_enabled": True, "billing_frequency": "one-time", "comments": None},
    "leads": {"label_ids": [], "is_archived": False, "was_seen": False, "owner_id": 1, "creator_id": 1,
              "custom_fields": {}, "visible_to": "3", "origin": "API", "source_name": "API"},
    "notes": {"active_flag": True, "user_id": 1},
    "filters": {"active_flag": True, "is_editable": True, "user_id": 1, "visible_to": "7"},
    "webhooks": {"is_active": 1, "version": "2.0", "type": "general", "owner_id": 1, "user_id": 1},
}
_HEX_KEY = re.compile(r"^([0-9a-f]{40})(?:_[a-z_0-9]+)?$")


def _template(table: Table) -> dict[str, Any]:
    """Every public key a record of this table has, set to null (so created records are complete)."""
    for row in table.rows.values():
        return dict.fromkeys(row.data)
    return {}


def _check_types(store: Store, body: dict[str, Any], strict: bool) -> dict[str, Any]:
    out = dict(body)
    for key, value in body.items():
        if value is None:
            continue
        if key in NUMBERS or key in REFS:
            if isinstance(value, bool):
                raise bad_request(f"Field '{key}' must be a number, got {value!r}")
            number = value
            if isinstance(value, str):
                if strict:
                    raise bad_request(f"Field '{key}' must be a number, got string {value!r}")
                try:
                    number = float(value) if "." in value else int(value)
                except ValueError:
                    raise bad_request(f"Field '{key}' must be numeric, got {value!r}") from None
            if not isinstance(number, int | float):
                raise bad_request(f"Field '{key}' must be a number, got {value!r}")
            out[key] = number
        if key in REFS and key in out:
            target = store.tables[REFS[key]]
            if target.get(out[key]) is None:
                raise bad_request(f"{REFS[key].rstrip('s').capitalize()} with id {out[key]} does not exist "
                                  f"(field '{key}')")
    return out


def _custom_values(store: Store, entity: str, body: dict[str, Any], current: dict[str, Any], version: int
                   ) -> dict[str, Any] | None:
    """New stored custom values from a v2 ``custom_fields`` object or v1 top-level hash keys."""
    if entity not in ("deals", "persons", "organizations", "products", "leads"):
        return None
    field_entity = "deals" if entity == "leads" else entity
    defs = {f["key"]: f for f in store.field_defs(field_entity, custom_only=True)}
    if not defs:
        return None
    changed: dict[str, Any] = {}
    if version == 2 and "custom_fields" in body:
        values = body["custom_fields"]
        if values is None:
            return None
        if not isinstance(values, dict):
            raise bad_request("Field 'custom_fields' must be an object keyed by custom field key")
        for key, value in values.items():
            fdef = defs.get(key)
            if fdef is None:
                raise bad_request(f"Unknown custom field '{key}'")
            changed[key] = validate_v2(fdef, value)
    else:
        for key in body:
            match = _HEX_KEY.match(key)
            if match and match.group(1) in defs and match.group(1) not in changed:
                base = match.group(1)
                changed[base] = v1_to_v2(defs[base], body, current.get(base))
    return changed or None


def _normalise(ctx: Context, resource: Resource, body: dict[str, Any], version: int) -> dict[str, Any]:
    """Apply v1 aliases and shape conversions, check types and references."""
    name = resource.name
    if version == 1:
        for old, new in V1_WRITE_ALIASES.get(name, {}).items():
            if old in body and new not in body:
                body[new] = body.pop(old)
        if name == "persons":
            for single, plural in (("email", "emails"), ("phone", "phones")):
                if single in body:
                    raw = body.pop(single)
                    items = raw if isinstance(raw, list) else [raw]
                    body[plural] = [i if isinstance(i, dict) else {"value": i, "primary": n == 0, "label": "work"}
                                    for n, i in enumerate(items)]
    for flag in ("done", "busy", "is_deleted", "is_archived", "is_enabled"):
        if flag in body and version == 2 and not isinstance(body[flag], bool) and body[flag] is not None:
            raise bad_request(f"Field '{flag}' must be a boolean")
    return _check_types(ctx.store, body, strict=version == 2)


def _nested_in_path(resource: Resource) -> bool:
    """Whether the write paths carry the parent (deal products) or the parent is a body field (organization
    relationships: ``rel_owner_org_id``)."""
    writes = resource.writes
    return resource.parent is not None and writes is not None and "{parent_id}" in (writes.create_path or "")


def _write_parent(ctx: Context, resource: Resource, body: dict[str, Any]) -> Any:
    """The parent a created record is filed under: from the path, or from the owner field of the body."""
    if resource.name == "organization_relationships":
        return body.get("rel_owner_org_id")
    return None


def create(ctx: Context, resource: Resource, req: Request, version: int) -> Answer:
    """``POST`` a new record; 400 when a required field is missing or a value is invalid."""
    store = ctx.store
    if resource.fields_of is not None:
        return _create_field(ctx, resource, req)
    if resource.writes is not None and resource.writes.create_multipart:
        return _upload(ctx, resource, req)
    body = _body(req)
    missing = [f for f in REQUIRED.get(resource.name, ()) if body.get(f) in (None, "")]
    if missing:
        raise bad_request(f"Field '{missing[0]}' is required")
    table = store.tables[resource.name]
    parent = None
    if _nested_in_path(resource):
        parent = parent_key(ctx, resource, req)
        body[resource.parent_key or "deal_id"] = parent
    body = _normalise(ctx, resource, body, version)
    if resource.parent is not None and parent is None:
        parent = _write_parent(ctx, resource, body)
    record = _template(table)
    empty_table = not record  # no row to copy the shape from: keep every key the body sends
    record.update(DEFAULTS.get(resource.name, {}))
    custom = _custom_values(store, resource.name, body, {}, version)
    body.pop("custom_fields", None)
    for key, value in body.items():
        if key in record or empty_table:
            record[key] = value
    if "custom_fields" in record:
        record["custom_fields"] = dict(record.get("custom_fields") or {}, **(custom or {}))
    _derive(store, resource.name, record)
    if resource.key_type == "uuid":
        record["id"] = _new_uuid(store, table)
    elif resource.key_type == "string":
        record["id"] = hashlib.sha1(f"{table.name}:{table.next_id()}".encode(),
                                    usedforsecurity=False).hexdigest()[:16]
    elif resource.key == "id":
        record = {"id": table.next_id(), **{k: v for k, v in record.items() if k != "id"}}
    store.insert(resource.name, record, parent=parent)
    row = table.rows[record[resource.key]]
    if resource.name == "organization_relationships":  # listed under both organizations, as the seed does
        table.by_parent.setdefault(record["rel_linked_org_id"], {})[row.key] = None
    status = 201 if version == 1 else 200
    return ok(to_plain(store, table, row, "v2" if version == 2 else "v1"), status=status)


def _new_uuid(store: Store, table: Table) -> str:
    counter = table.next_id()
    digest = hashlib.sha1(f"{table.name}:{counter}".encode(), usedforsecurity=False).hexdigest()
    return f"{digest[:8]}-{digest[8:12]}-4{digest[13:16]}-a{digest[17:20]}-{digest[20:32]}"


def _derive(store: Store, name: str, record: dict[str, Any]) -> None:
    """Fill computed fields of a new/updated record (deal pipeline from stage, deal product sum...)."""
    if name == "deals":
        if record.get("stage_id") is None:
            stage = next(iter(store.tables["stages"]), None)
            record["stage_id"] = stage.key if stage else None
        stage_row = store.tables["stages"].get(record["stage_id"])
        if stage_row is not None:
            record["pipeline_id"] = stage_row.data["pipeline_id"]
    elif name == "persons" and record.get("name") and record.get("first_name") is None:
        first, _, last = str(record["name"]).partition(" ")
        record["first_name"], record["last_name"] = first, last or None
    elif name == "deal_products":
        qty, price = record.get("quantity") or 0, record.get("item_price") or 0
        record["sum"] = round(qty * price * (1 - (record.get("discount") or 0) / 100), 2)
        product = store.tables["products"].get(record.get("product_id"))
        if product is not None and not record.get("name"):
            record["name"] = product.data["name"]
        deal = store.tables["deals"].get(record.get("deal_id"))
        if deal is not None and not record.get("currency"):
            record["currency"] = deal.data["currency"]


def _body(req: Request) -> dict[str, Any]:
    if req.body is None:
        return {}
    if not isinstance(req.body, dict):
        raise bad_request("Request body must be a JSON object")
    return dict(req.body)


def _find(ctx: Context, resource: Resource, req: Request) -> tuple[Table, Row]:
    table = ctx.store.tables[resource.name]
    key = parse_key(resource, req.params["id"])
    row = table.get(key)
    if row is None or row.deleted_at is not None:
        raise not_found(f"{resource.title.split('/')[-1].rstrip('s').capitalize()} not found")
    if _nested_in_path(resource) and str(row.parent) != str(parent_key(ctx, resource, req)):
        raise not_found(f"{resource.title} not found")
    return table, row


def update(ctx: Context, resource: Resource, req: Request, version: int) -> Answer:
    """``PUT``/``PATCH`` a record: partial update, 404 for unknown ids, stamps ``update_time``."""
    store = ctx.store
    table, row = _find(ctx, resource, req)
    body = _body(req)
    if resource.fields_of is not None:
        return _update_field(ctx, table, row, body)
    for key in REQUIRED.get(resource.name, ())[:1]:
        if key in body and body[key] in (None, ""):
            raise bad_request(f"Field '{key}' cannot be empty")
    body = _normalise(ctx, resource, body, version)
    custom = _custom_values(store, resource.name, body, row.data.get("custom_fields") or {}, version)
    body.pop("custom_fields", None)
    changes = {k: v for k, v in body.items() if k in row.data and k not in (resource.key, "add_time",
                                                                              "update_time")}
    if custom:
        changes["custom_fields"] = custom
    merged = dict(row.data, **changes)
    _derive(store, resource.name, merged)
    for key in ("pipeline_id", "sum", "first_name", "last_name"):
        if key in merged and merged[key] != row.data.get(key):
            changes[key] = merged[key]
    store.update(resource.name, row.key, changes)
    return ok(to_plain(store, table, row, "v2" if version == 2 else "v1"))


def delete(ctx: Context, resource: Resource, req: Request, version: int) -> Answer:
    """``DELETE`` one record; 404 for unknown ids. v2 entities are soft-deleted for 30 days."""
    table, row = _find(ctx, resource, req)
    if resource.fields_of is not None:
        row.deleted_at = ctx.store.clock.epoch()
        table.changed(row)
    else:
        ctx.store.delete(resource.name, row.key)
    return ok({"id": row.key})


def bulk_delete(ctx: Context, resource: Resource, req: Request, version: int) -> Answer:
    """``DELETE <path>?ids=1,2,3``: at most ``bulk_delete_max`` ids; answers ``{"id": [...]}``."""
    assert resource.writes is not None
    raw = req.query.get("ids", "")
    try:
        ids = [int(x) for x in raw.split(",") if x.strip()]
    except ValueError:
        raise bad_request("Parameter 'ids' must be a comma-separated list of integers") from None
    if not ids:
        raise bad_request("Parameter 'ids' is required")
    if len(ids) > resource.writes.bulk_delete_max:
        raise bad_request(f"Too many ids: at most {resource.writes.bulk_delete_max} per request")
    table = ctx.store.tables[resource.name]
    parent = parent_key(ctx, resource, req) if _nested_in_path(resource) else None
    deleted: list[int] = []
    for key in ids:
        row = table.get(key)
        if row is None or row.deleted_at is not None or (parent is not None and row.parent != parent):
            continue
        if resource.fields_of is not None:
            row.deleted_at = ctx.store.clock.epoch()
            table.changed(row)
        else:
            ctx.store.delete(resource.name, key)
        deleted.append(key)
    if not deleted:
        raise not_found("None of the given ids exist")
    return ok({"id": deleted})


# -- files: multipart upload, download -------------------------------------------------------------

#: what ``POST /v1/files`` links a file to (the spec's form fields besides ``file``)
FILE_LINKS = ("deal_id", "person_id", "org_id", "product_id", "activity_id", "lead_id", "project_id")
#: uploaded bytes per store and file id (kept out of the record, which ``GET /v1/files`` lists)
_CONTENT: weakref.WeakKeyDictionary[Store, dict[Any, Upload]] = weakref.WeakKeyDictionary()


@dataclass(frozen=True)
class Upload:
    """The ``file`` part of a multipart request."""

    file_name: str
    content: bytes
    content_type: str


def parse_multipart(content_type: str, raw: bytes) -> dict[str, Any]:
    """A ``multipart/form-data`` body as form fields (text) plus :class:`Upload` parts (the server's body
    parser calls this for multipart requests)."""
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    message = BytesParser(policy=HTTP).parsebytes(head + raw)
    if not message.is_multipart():
        raise bad_request("Request body is not valid multipart/form-data")
    out: dict[str, Any] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        payload = part.get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else b""
        filename = part.get_filename()
        if filename is not None:
            out[name] = Upload(filename, data, part.get_content_type())
        else:
            out[name] = data.decode("utf-8", "replace")
    return out


def _upload(ctx: Context, resource: Resource, req: Request) -> Answer:
    """``POST /v1/files``: store the uploaded bytes and a file record linked to its deal/person/… ."""
    store = ctx.store
    body = req.body if isinstance(req.body, dict) else {}
    upload = body.get("file")
    if not isinstance(upload, Upload):
        raise bad_request("Field 'file' is required (a multipart/form-data file part)")
    links: dict[str, Any] = {}
    for name in FILE_LINKS:
        value = body.get(name)
        if value in (None, ""):
            continue
        if name == "lead_id":
            links[name] = str(value)
            continue
        try:
            links[name] = int(value)
        except (TypeError, ValueError):
            raise bad_request(f"Field '{name}' must be an integer, got {value!r}") from None
    links = _check_types(store, links, strict=False)
    for name, table_name in (("activity_id", "activities"), ("lead_id", "leads")):
        if name in links and store.tables[table_name].get(links[name]) is None:
            raise bad_request(f"{table_name.rstrip('s').capitalize()} with id {links[name]} does not exist")
    table = store.tables[resource.name]
    record = {**_template(table), **dict.fromkeys(FILE_LINKS), **links}
    fid = table.next_id()
    record.update({
        "id": fid, "user_id": 1, "file_name": upload.file_name, "name": upload.file_name,
        "file_size": len(upload.content), "file_type": upload.file_name.rsplit(".", 1)[-1].lower(),
        "active_flag": True, "inline_flag": False, "remote_location": "s3", "remote_id": f"upload-{fid}",
        "url": f"{ctx.base_url}/v1/files/{fid}/download", "description": body.get("description") or "",
    })
    store.insert(resource.name, record)
    store.set_content(fid, upload.content)  # what GET /v1/files/{id}/download serves
    _CONTENT.setdefault(store, {})[fid] = upload
    row = table.rows[fid]
    return ok(to_plain(store, table, row, "v1"), status=201)


def uploaded(store: Store, file_id: int) -> Upload | None:
    """What was uploaded as ``file_id`` (tests compare it with the source bytes)."""
    return _CONTENT.get(store, {}).get(file_id)


# -- the authorised user ----------------------------------------------------------------------------


def users_me(ctx: Context, req: Request) -> Answer:
    """``GET /v1/users/me``: the token's user with its ``company_id``. ``Store.company_id`` (an attribute a
    test may set) stands for the company behind the token, so one host can play sandbox and production."""
    row = ctx.store.tables["users"].get(1)
    if row is None:
        raise not_found("User not found")
    company = int(getattr(ctx.store, "company_id", 1))
    user = dict(to_plain(ctx.store, ctx.store.tables["users"], row, "v1"))
    user.update(company_id=company, company_name=f"Company {company}", company_domain=f"company{company}",
                language={"language_code": "en", "country_code": "US"}, locale="en_US", timezone_name="UTC")
    return ok(user)


# -- *Fields ---------------------------------------------------------------------------------------


def _create_field(ctx: Context, resource: Resource, req: Request) -> Answer:
    store = ctx.store
    body = _body(req)
    for key in ("name", "field_type"):
        if not body.get(key):
            raise bad_request(f"Field '{key}' is required")
    table = store.tables[resource.name]
    field_id = table.next_id()
    key = hashlib.sha1(f"{resource.name}:new:{field_id}".encode(), usedforsecurity=False).hexdigest()
    options = body.get("options")
    labels = tuple(o["label"] if isinstance(o, dict) else str(o) for o in options) if options else None
    if body["field_type"] in ("enum", "set") and not labels:
        raise bad_request("Field 'options' is required for enum and set fields")
    fdef = new_field_def(field_id=field_id, key=key, name=str(body["name"]), field_type=str(body["field_type"]),
                         order_nr=len(table), stamp=store.now_text(table) or "", custom=True,
                         option_ids=store.next_option_id, labels=labels)
    store.insert(resource.name, fdef)
    return ok(fdef, status=201)


def _update_field(ctx: Context, table: Table, row: Row, body: dict[str, Any]) -> Answer:
    changes: dict[str, Any] = {}
    if "name" in body:
        if not body["name"]:
            raise bad_request("Field 'name' cannot be empty")
        changes["name"] = body["name"]
    if "options" in body:
        options = []
        known = {o["id"]: o for o in row.data.get("options") or []}
        for option in body["options"] or []:
            if isinstance(option, dict) and option.get("id") in known:
                options.append({"id": option["id"], "label": option.get("label", known[option["id"]]["label"])})
            else:
                label = option["label"] if isinstance(option, dict) else str(option)
                options.append({"id": ctx.store.next_option_id(), "label": label})
        changes["options"] = options
    ctx.store.update(table.name, row.key, changes)
    return ok(row.data)


__all__ = ["ApiError", "Upload", "bulk_delete", "create", "delete", "parse_multipart", "update", "uploaded",
           "users_me"]
