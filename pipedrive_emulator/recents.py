"""``GET /v1/recents``: the v1 change feed.

Semantics (shared/pipedrive-api.md): ``since_timestamp`` is exclusive; items are sorted by update time
ascending; records whose update time is null never appear; and since 2024-12-01 Pipedrive returns at most
one month of history whatever ``since_timestamp`` says: an older value is silently clamped to now minus one
calendar month (the answer still echoes the requested ``since_timestamp``), so a bookmark older than a month
needs a full read. Deleted deals (within 30 days) appear with ``deleted: true``.
"""

from __future__ import annotations

import bisect
import heapq
from datetime import datetime, timezone
from typing import Any

from .clock import parse_v1, v1
from .envelope import Answer, bad_request, ok_raw
from .reads import MAX_LIMIT, int_param, join, render
from .request import Context, Request
from .store import Store

#: ``items=`` value → table
ITEMS: dict[str, str] = {
    "activity": "activities", "activityType": "activity_types", "deal": "deals", "file": "files",
    "filter": "filters", "note": "notes", "person": "persons", "organization": "organizations",
    "pipeline": "pipelines", "product": "products", "stage": "stages", "user": "users",
}


def month_before(epoch: int) -> int:
    """The same wall time one calendar month earlier (day clamped to the month's length)."""
    now = datetime.fromtimestamp(epoch, tz=timezone.utc)
    year, month = (now.year, now.month - 1) if now.month > 1 else (now.year - 1, 12)
    for day in (now.day, 30, 29, 28):
        try:
            return int(now.replace(year=year, month=month, day=day).timestamp())
        except ValueError:
            continue
    raise AssertionError("unreachable")


def recents(ctx: Context, req: Request) -> Answer:
    """The feed for ``items`` changed after ``since_timestamp`` (exclusive), within the last month."""
    store: Store = ctx.store
    raw_since = req.query.get("since_timestamp")
    if not raw_since:
        raise bad_request("Parameter 'since_timestamp' is required (YYYY-MM-DD HH:MM:SS)")
    try:
        since = parse_v1(raw_since)
    except ValueError as exc:
        raise bad_request(f"Parameter 'since_timestamp' {exc}") from None
    since = max(since, month_before(store.clock.epoch()))
    raw_items = req.query.get("items") or ",".join(ITEMS)
    items = [i.strip() for i in raw_items.split(",") if i.strip()]
    unknown = [i for i in items if i not in ITEMS]
    if unknown:
        raise bad_request(f"Parameter 'items' has unsupported values: {', '.join(unknown)}")
    start = int_param(req, "start", 0)
    limit = min(int_param(req, "limit", 100, low=1), MAX_LIMIT)
    streams = []
    for order, item in enumerate(items):
        table = store.tables[ITEMS[item]]
        entries = table.ordered("update_time")
        first = bisect.bisect_right(entries, since, key=lambda e: e[0])
        streams.append([(value, order, seq, item, key) for value, seq, key in entries[first:]])
    merged = list(heapq.merge(*streams))
    chunk = merged[start:start + limit]
    parts = []
    last = None
    for value, _, _, item, key in chunk:
        table = store.tables[ITEMS[item]]
        row = table.rows.get(key)
        if row is None:
            continue
        id_json = key if isinstance(key, int) else f'"{key}"'
        parts.append(b'{"item":"' + item.encode() + b'","id":' + str(id_json).encode() + b',"data":'
                     + render(store, table, row, "v1r") + b"}")
        last = value
    more = start + limit < len(merged)
    pagination: dict[str, Any] = {"start": start, "limit": limit, "more_items_in_collection": more}
    if more:
        pagination["next_start"] = start + limit
    additional = {"since_timestamp": raw_since, "last_timestamp_on_page": v1(last) if last is not None else None,
                  "pagination": pagination}
    return ok_raw(join(parts), additional)
