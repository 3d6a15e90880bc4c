"""Paginators for Pipedrive's two list protocols.

Both read the body that :class:`~pipedrive_core.http.PipedriveSession` already parsed (``body_of``), so a
page is decoded once. A missing or malformed ``additional_data`` ends pagination instead of looping.
"""

from __future__ import annotations

from typing import Any

import requests
from singer_sdk.pagination import BaseAPIPaginator

from pipedrive_core.http import body_of


def _additional(response: requests.Response) -> dict[str, Any]:
    body = body_of(response)
    extra = body.get("additional_data") if isinstance(body, dict) else None
    return extra if isinstance(extra, dict) else {}


class V1OffsetPaginator(BaseAPIPaginator["int | None"]):
    """v1 ``start``/``limit``: follow ``additional_data.pagination.next_start`` while
    ``more_items_in_collection`` is true (no extra empty-page request at the end)."""

    def __init__(self) -> None:
        super().__init__(None)

    def has_more(self, response: requests.Response) -> bool:
        """Pipedrive says whether another page exists."""
        pagination = _additional(response).get("pagination") or {}
        return bool(pagination.get("more_items_in_collection"))

    def continue_if_empty(self, response: requests.Response) -> bool:
        """A page can be empty while more follow (items filtered after paging, a ``/recents`` page of other
        item types): Pipedrive's flag decides, not the page's size (singer-sdk stops on an empty page)."""
        return self.has_more(response)

    def get_next(self, response: requests.Response) -> int | None:
        """The ``start`` of the next page."""
        pagination = _additional(response).get("pagination") or {}
        next_start = pagination.get("next_start")
        if next_start is None:
            start = int(pagination.get("start") or 0)
            limit = int(pagination.get("limit") or 0)
            next_start = start + limit if limit else None
        return int(next_start) if next_start is not None else None


class RecentsPaginator(V1OffsetPaginator):
    """``/v1/recents`` pages like any v1 list; a page often holds no item of the wanted type (items of
    other types, or deleted items without data are skipped), which the empty-page rule above covers."""


class V2CursorPaginator(BaseAPIPaginator["str | None"]):
    """v2 ``cursor``/``limit``: follow ``additional_data.next_cursor`` until it is null."""

    def __init__(self) -> None:
        super().__init__(None)

    def get_next(self, response: requests.Response) -> str | None:
        """The opaque cursor of the next page, or ``None`` on the last one."""
        cursor = _additional(response).get("next_cursor")
        return str(cursor) if cursor else None

    def continue_if_empty(self, response: requests.Response) -> bool:
        """An empty page with a ``next_cursor`` is not the end (singer-sdk stops on an empty page)."""
        return self.get_next(response) is not None
