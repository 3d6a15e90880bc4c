"""Child lists computed from their parent at request time instead of being stored.

Flow, followers and permitted users follow directly from a parent's owner and timestamps; deriving them
keeps seeding of 100k-deal accounts fast and keeps them consistent with later writes to the parent (a new
owner shows up as a follower, an update as a flow event).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .store import Row

Derive = Callable[[Row], list[dict[str, Any]]]


def _iso(value: str | None) -> str | None:
    if value is None or "T" in value:
        return value
    return value.replace(" ", "T") + "Z"


def _v1(value: str | None) -> str | None:
    if value is None or "T" not in value:
        return value
    return value[:10] + " " + value[11:19]


def _owner(row: Row) -> int:
    """Who owns the record (users follow themselves)."""
    data = row.data
    if "email" in data and "modified" in data:  # a user
        return int(data["id"])
    owner = data.get("owner_id") or data.get("user_id") or 1
    return int(owner)


def followers(row: Row) -> list[dict[str, Any]]:
    """v2 followers: the owner follows what they own."""
    add = row.data.get("add_time") or row.data.get("created")
    return [{"user_id": _owner(row), "add_time": _iso(add)}]


def permitted_users(row: Row) -> list[dict[str, Any]]:
    """v1 ``/deals/{id}/permittedUsers``: ids of users who may see the deal."""
    return [{"user_id": _owner(row)}]


def flow(object_name: str) -> Derive:
    """v1 flow: a creation event, and an update event when the record changed since."""

    def derive(row: Row) -> list[dict[str, Any]]:
        data = row.data
        add, upd = data.get("add_time"), data.get("update_time")
        events: list[dict[str, Any]] = []
        for index, (field_key, when) in enumerate((("add_time", add), ("update_time", upd))):
            if when is None or (index == 1 and upd == add):
                continue
            change_id = int(row.key) * 10 + index if isinstance(row.key, int) else index
            events.append({
                "object": f"{object_name}Change",
                "timestamp": _v1(when),
                "data": {"id": change_id, "item_id": row.key, "user_id": _owner(row), "field_key": field_key,
                         "old_value": None, "new_value": _v1(when), "is_bulk_update_flag": None,
                         "log_time": _v1(when), "change_source": "app", "change_source_user_agent": None,
                         "additional_data": []},
                "id": f"{object_name}Change:{change_id}",
            })
        events.reverse()  # newest first, as Pipedrive's flow
        return events

    return derive


#: child resource name → how to derive its records from a parent row
DERIVED: dict[str, Derive] = {
    "deal_followers": followers,
    "person_followers": followers,
    "organization_followers": followers,
    "product_followers": followers,
    "user_followers": followers,
    "deal_permitted_users": permitted_users,
    "deal_flow": flow("deal"),
    "person_flow": flow("person"),
    "organization_flow": flow("organization"),
}
