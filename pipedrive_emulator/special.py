"""Reads that do not follow the generic list pattern: bulk child lists by parent ids, goal results, the
newest-first v1 field history, user search, file downloads, and the plan gate of Growth+ features.

Each follows its operation in Pipedrive's OpenAPI documents (parameters, limits, order); where the documents
are silent the assumption is written next to the code and in ``docs/emulator.md``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from pipedrive_core.catalogue import Resource

from .envelope import Answer, ApiError, bad_request, not_found, ok, ok_raw
from .reads import DEFAULT_LIMIT, MAX_LIMIT, int_param, join, list_v2, parse_key, render, walk
from .request import Context, Request

#: Pipedrive plans, lowest first (``min_plan`` of the catalogue names one of them)
PLANS = ("lite", "growth", "premium", "ultimate")
#: sort fields the bulk lists accept (openapi-v2.yaml: GET /deals/products, GET /deals/installments)
BULK_SORT_FIELDS: dict[str, tuple[str, ...]] = {
    "deal_products": ("id", "deal_id", "add_time", "update_time", "order_nr"),
    "deal_installments": ("id", "billing_date", "deal_id"),
}


def check_plan(ctx: Context, resource: Resource) -> None:
    """402 when the account's plan is below the resource's ``min_plan``.

    Pipedrive documents the restriction ("Only available in Growth and above plans") but not the answer;
    402 Payment Required is what it sends for other plan-restricted features, so the emulator uses it.
    """
    if resource.min_plan is not None and PLANS.index(ctx.plan) < PLANS.index(resource.min_plan):
        raise ApiError(402, f"Your plan does not include {resource.title}: available in "
                            f"{resource.min_plan.capitalize()} and above plans.")


def parent_ids(resource: Resource, req: Request) -> list[int]:
    """The ``deal_ids`` of a bulk list: required, integers, at most ``bulk_max``."""
    raw = req.query.get(resource.bulk_param) or req.query.get(f"{resource.bulk_param}[]") or ""
    if not raw:
        raise bad_request(f"Parameter '{resource.bulk_param}' is required")
    try:
        ids = [int(x) for x in raw.split(",") if x.strip()]
    except ValueError:
        raise bad_request(f"Parameter '{resource.bulk_param}' must be an array of integers") from None
    if len(ids) > resource.bulk_max:
        raise bad_request(f"Parameter '{resource.bulk_param}' accepts at most {resource.bulk_max} ids, got {len(ids)}")
    return ids


def list_bulk(ctx: Context, resource: Resource, req: Request) -> Answer:
    """``GET /api/v2/deals/products?deal_ids=1,2`` (and installments): the children of up to 100 parents,
    cursor-paginated; ids of unknown parents contribute nothing (assumed: the documents are silent)."""
    check_plan(ctx, resource)
    store = ctx.store
    table = store.tables[resource.name]
    ids = parent_ids(resource, req)
    limit = int_param(req, "limit", DEFAULT_LIMIT, low=1, high=MAX_LIMIT)
    sort_by = req.query.get("sort_by") or "id"
    allowed = BULK_SORT_FIELDS.get(resource.name, ("id",))
    if sort_by not in allowed:
        raise bad_request(f"Parameter 'sort_by' must be one of {', '.join(allowed)}")
    direction = req.query.get("sort_direction") or "asc"
    if direction not in ("asc", "desc"):
        raise bad_request("Parameter 'sort_direction' must be asc or desc")
    entries = sorted((_sort_value(table, row, sort_by), row.seq, row.key)
                     for parent in dict.fromkeys(ids) for row in table.children(parent))
    sig = f"{resource.name}|{','.join(map(str, ids))}|{sort_by}|{direction}"
    chosen, next_cursor = walk(entries, table.rows, [], limit=limit, direction=direction,
                               cursor=req.query.get("cursor"), query_sig=sig)
    body = join(render(store, table, row, "v2") for _, _, row in chosen)
    return ok_raw(body, {"next_cursor": next_cursor})


def _sort_value(table: Any, row: Any, sort_by: str) -> Any:
    if sort_by in ("id", "update_time", "add_time"):
        return table._sort_value(row, sort_by)
    value = row.data.get(sort_by)
    return -1 if value is None else value


def list_newest_first(ctx: Context, resource: Resource, req: Request) -> Answer:
    """A v1 cursor list (field history): newest entry first, as Pipedrive's example answers show."""
    req.query = {k: v for k, v in req.query.items() if k in ("cursor", "limit")}
    req.query.update(sort_by="id", sort_direction="desc")
    return list_v2(ctx, resource, req)


def goal_results(ctx: Context, resource: Resource, req: Request) -> Answer:
    """``GET /v1/goals/{id}/results?period.start=&period.end=``: won deals of the goal's pipelines in the
    period (``deals_won``; other goal types count 0: the emulator seeds only ``deals_won`` goals)."""
    goal = ctx.store.tables["goals"].get(parse_key(ctx.store.tables["goals"].resource, req.params["parent_id"]))
    if goal is None:
        raise not_found("Goal not found")
    start, end = (_date(req, "period.start"), _date(req, "period.end"))
    duration = goal.data["duration"]
    if start < duration["start"] or end > (duration["end"] or end):
        raise bad_request("The period must be within the goal's duration")
    pipelines = set(goal.data["type"].get("params", {}).get("pipeline_id") or [])
    progress = 0
    if goal.data["type"]["name"] == "deals_won":
        for row in list(ctx.store.tables["deals"].rows.values()):
            won = row.data.get("won_time")
            if (row.deleted_at is None and won and start <= won[:10] <= end
                    and (not pipelines or row.data["pipeline_id"] in pipelines)):
                progress += 1
    return ok({"progress": progress, "goal": goal.data})


def _date(req: Request, name: str) -> str:
    raw = req.query.get(name) or ""
    try:
        return dt.date.fromisoformat(raw).isoformat()
    except ValueError:
        raise bad_request(f"Parameter '{name}' is required: a date YYYY-MM-DD") from None


def find_records(ctx: Context, resource: Resource, req: Request) -> Answer:
    """``GET /v1/users/find?term=`` (``search_by_email=1``: email only); case-insensitive substring of the
    name or email, no pagination (the operation has none)."""
    term = (req.query.get("term") or "").strip().lower()
    if not term:
        raise bad_request("Parameter 'term' is required")
    by_email = req.query.get("search_by_email") in ("1", "true")
    table = ctx.store.tables[resource.name]
    fields = ("email",) if by_email else ("name", "email")
    found = [row for row in table if any(term in str(row.data.get(f) or "").lower() for f in fields)]
    return ok_raw(join(render(ctx.store, table, row, "v1") for row in found))


def download_file(ctx: Context, req: Request) -> Answer:
    """``GET /v1/files/{id}/download``: the file's bytes (``application/octet-stream``, as the spec)."""
    files = ctx.store.tables["files"]
    key = parse_key(files.resource, req.params["id"])
    row = files.get(key)
    body = ctx.store.content(key)
    if row is None or row.deleted_at is not None or body is None:
        raise not_found("File not found")
    name = str(row.data.get("file_name") or f"file-{key}").replace('"', "")
    return Answer(200, body, {"Content-Disposition": f'attachment; filename="{name}"'}, "application/octet-stream")

