"""``include_fields`` of the v2 lists and get-one answers of deals, persons, organizations and activities.

Pipedrive adds these keys only when they are asked for (``include_fields=products_count,notes_count``), and
leaves them out otherwise. Counts and links are computed from the store: one index per (table, field),
rebuilt only when that table changed, so a page of 500 deals costs a few dictionary lookups per record.
Values that depend on things the emulator does not model (mail timestamps, marketing consent) are fixed.
"""

from __future__ import annotations

import threading
import weakref
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

from pipedrive_core.catalogue import Resource

from .envelope import bad_request, dumps
from .request import Request
from .store import Row, Store, Table

#: table → field → (table version, counts, done counts, next undone id, last done id)
_Index = tuple[int, Counter[Any], Counter[Any], dict[Any, int], dict[Any, int]]
_INDEXES: weakref.WeakKeyDictionary[Table, dict[str, _Index]] = weakref.WeakKeyDictionary()
#: deals table → field → (table version, status group → counts)
_GROUPS: weakref.WeakKeyDictionary[Table, dict[str, tuple[int, dict[str, Counter[Any]]]]] = (
    weakref.WeakKeyDictionary())
_LOCK = threading.Lock()


def requested(resource: Resource, req: Request) -> tuple[str, ...]:
    """The ``include_fields`` values of a request, in the catalogue's order; 400 for unknown ones."""
    raw = req.query.get("include_fields") or ""
    wanted = {v.strip() for v in raw.split(",") if v.strip()}
    unknown = wanted - set(resource.include_fields)
    if unknown:
        raise bad_request(f"Parameter 'include_fields' has invalid values: {', '.join(sorted(unknown))}")
    return tuple(name for name in resource.include_fields if name in wanted)


def strip(resource: Resource, data: dict[str, Any]) -> dict[str, Any]:
    """The record without the keys Pipedrive adds only on request."""
    if not resource.include_fields or not any(k in data for k in resource.include_fields):
        return data
    return {k: v for k, v in data.items() if k not in resource.include_fields}


def splice(body: bytes, extra: bytes) -> bytes:
    """Add the serialized members of ``extra`` (a JSON object) to the serialized object ``body``."""
    if extra == b"{}":
        return body
    return body[:-1] + b"," + extra[1:] if body != b"{}" else extra


def _index(table: Table, field: str, activity: bool = False) -> _Index:
    """Counts of ``table`` rows per value of ``field`` (live rows only), cached by table version."""
    cached = _INDEXES.get(table, {}).get(field)
    if cached is not None and cached[0] == table.version:
        return cached
    counts: Counter[Any] = Counter()
    done: Counter[Any] = Counter()
    next_undone: dict[Any, tuple[str, int]] = {}
    last_done: dict[Any, tuple[str, int]] = {}
    for row in list(table.rows.values()):
        if row.deleted_at is not None:
            continue
        value = row.data.get(field)
        if value is None:
            continue
        counts[value] += 1
        if activity:
            stamp = (str(row.data.get("due_date") or ""), int(row.key))
            if row.data.get("done"):
                done[value] += 1
                if value not in last_done or stamp > last_done[value]:
                    last_done[value] = stamp
            elif value not in next_undone or stamp < next_undone[value]:
                next_undone[value] = stamp
    index = (table.version, counts, done, {k: v[1] for k, v in next_undone.items()},
             {k: v[1] for k, v in last_done.items()})
    with _LOCK:
        _INDEXES.setdefault(table, {})[field] = index
    return index


def _deal_counts(store: Store, field: str) -> dict[str, Counter[Any]]:
    """Live deal counts per ``field`` value by status group (open, closed, won, lost), cached by version."""
    table = store.tables["deals"]
    cached = _GROUPS.get(table, {}).get(field)
    if cached is not None and cached[0] == table.version:
        return cached[1]
    groups: dict[str, Counter[Any]] = {"open": Counter(), "closed": Counter(), "won": Counter(), "lost": Counter()}
    for row in list(table.rows.values()):
        value = row.data.get(field)
        if row.deleted_at is not None or value is None:
            continue
        status = row.data["status"]
        groups[status][value] += 1
        if status in ("won", "lost"):
            groups["closed"][value] += 1
    with _LOCK:
        _GROUPS.setdefault(table, {})[field] = (table.version, groups)
    return groups


def _activity_fields(store: Store, field: str, key: Any, out: dict[str, Any], wanted: Iterable[str]) -> None:
    _v, counts, done, next_undone, last_done = _index(store.tables["activities"], field, activity=True)
    values = {"activities_count": counts[key], "done_activities_count": done[key],
              "undone_activities_count": counts[key] - done[key], "next_activity_id": next_undone.get(key),
              "last_activity_id": last_done.get(key)}
    out.update({k: v for k, v in values.items() if k in wanted})


def _common(store: Store, field: str, row: Row, wanted: tuple[str, ...], prefix: str) -> dict[str, Any]:
    """Fields deals, persons and organizations share: activity links, files, notes, followers, mail."""
    key = row.key
    out: dict[str, Any] = {}
    _activity_fields(store, field, key, out, wanted)
    if "files_count" in wanted:
        out["files_count"] = _index(store.tables["files"], field)[1][key]
    if "notes_count" in wanted:
        out["notes_count"] = _index(store.tables["notes"], field)[1][key]
    if "followers_count" in wanted:
        out["followers_count"] = 1  # the owner (see derived.followers)
    mail = store.tables.get(f"{prefix}_mail_messages")
    if "email_messages_count" in wanted and mail is not None:
        out["email_messages_count"] = len(mail.by_parent.get(key, ()))
    if mail is not None and ("last_incoming_mail_time" in wanted or "last_outgoing_mail_time" in wanted):
        out.update(_mail_times(mail.children(key)))
    for name in ("marketing_status", "doi_status"):
        if name in wanted:
            out[name] = "no_consent" if name == "marketing_status" else None
    if "smart_bcc_email" in wanted:
        out["smart_bcc_email"] = f"company+{prefix}{key}@pipedrivemail.com"
    return out


def _mail_times(messages: list[Row]) -> dict[str, str | None]:
    """The newest received and sent message of a record's mail (RFC 3339); sent: the message's ``sent_flag``."""
    newest: dict[str, str | None] = {"last_incoming_mail_time": None, "last_outgoing_mail_time": None}
    for message in messages:
        stamp = message.data.get("timestamp")
        if not isinstance(stamp, str):
            continue
        stamp = stamp.replace(" ", "T") + ("" if stamp.endswith("Z") else "Z")
        inner = message.data.get("data") or {}
        name = "last_outgoing_mail_time" if inner.get("sent_flag") else "last_incoming_mail_time"
        if newest[name] is None or stamp > str(newest[name]):
            newest[name] = stamp
    return newest


def _deal(store: Store, row: Row, wanted: tuple[str, ...]) -> dict[str, Any]:
    out = _common(store, "deal_id", row, wanted, "deal")
    data = row.data
    if "products_count" in wanted:
        out["products_count"] = len(store.tables["deal_products"].by_parent.get(row.key, ()))
    if "participants_count" in wanted:
        out["participants_count"] = len(store.tables["deal_participants"].by_parent.get(row.key, ()))
    if "first_won_time" in wanted:
        out["first_won_time"] = data.get("won_time")
    if "source_lead_id" in wanted:
        out["source_lead_id"] = data.get("source_lead_id")
    return out


def _party(field: str, prefix: str) -> Callable[[Store, Row, tuple[str, ...]], dict[str, Any]]:
    """Persons (``person_id``) and organizations (``org_id``): deal counts by status, people."""

    def compute(store: Store, row: Row, wanted: tuple[str, ...]) -> dict[str, Any]:
        out = _common(store, field, row, wanted, prefix)
        by_status = _deal_counts(store, field)
        for group in ("open", "closed", "won", "lost"):
            count = by_status[group][row.key]
            for name in (f"{group}_deals_count", f"related_{group}_deals_count"):
                if name in wanted:
                    out[name] = count
            if f"participant_{group}_deals_count" in wanted:
                out[f"participant_{group}_deals_count"] = count
        if "people_count" in wanted:
            out["people_count"] = _index(store.tables["persons"], "org_id")[1][row.key]
        return out

    return compute


def _activity(store: Store, row: Row, wanted: tuple[str, ...]) -> dict[str, Any]:
    return {"attendees": row.data.get("attendees") or []} if "attendees" in wanted else {}


COMPUTE: dict[str, Callable[[Store, Row, tuple[str, ...]], dict[str, Any]]] = {
    "deals": _deal,
    "persons": _party("person_id", "person"),
    "organizations": _party("org_id", "organization"),
    "activities": _activity,
}


def page_renderer(store: Store, resource: Resource, wanted: tuple[str, ...],
                  render: Callable[[Row], bytes]) -> Callable[[Row], bytes]:
    """Serialized rows of one list answer with their requested include fields, cached per row.

    The include fields are counts and links computed from other tables, so the cached bytes are keyed by the
    fields asked for and by every table's version, taken once per answer: any write anywhere recomputes them,
    and an unchanged store serves a page of 500 deals as 500 lookups (the benchmark reads the same pages at the
    rate limit, and computing the counts for every answer made the emulator, not the client, the bottleneck).
    """
    stamp = ("include", wanted, tuple(table.version for table in store.tables.values()))

    def rendered(row: Row) -> bytes:
        cached = row.cache.get(stamp)
        if cached is None:
            cached = splice(render(row), dumps(extras(store, resource, row, wanted)))
            row.cache[stamp] = cached
        return cached

    return rendered


def extras(store: Store, resource: Resource, row: Row, wanted: tuple[str, ...]) -> dict[str, Any]:
    """The requested include fields of one record, in the order asked for."""
    if not wanted:
        return {}
    values = COMPUTE[resource.name](store, row, wanted)
    return {name: values.get(name) for name in wanted}
