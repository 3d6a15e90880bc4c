"""Paginators for Pipedrive's two list protocols.

Both read the body that :class:`~pipedrive_core.http.PipedriveSession` already parsed (``body_of``), so a
page is decoded once. Where the next page starts is decided by :mod:`pipedrive_core.pagination`, the one
reading of ``additional_data`` the whole project shares.
"""

from __future__ import annotations

import requests
from singer_sdk.pagination import BaseAPIPaginator

from pipedrive_core.http import body_of
from pipedrive_core.pagination import next_cursor, next_start


class V1OffsetPaginator(BaseAPIPaginator["int | None"]):
    """v1 ``start``/``limit``: follow ``additional_data.pagination`` while ``more_items_in_collection`` is
    true (no extra empty-page request at the end)."""

    def __init__(self) -> None:
        super().__init__(None)

    def has_more(self, response: requests.Response) -> bool:
        """Pipedrive says whether another page exists."""
        return self.get_next(response) is not None

    def continue_if_empty(self, response: requests.Response) -> bool:
        """A page can be empty while more follow (items filtered after paging, a ``/recents`` page of other
        item types): Pipedrive's flag decides, not the page's size (singer-sdk stops on an empty page)."""
        return self.has_more(response)

    def get_next(self, response: requests.Response) -> int | None:
        """The ``start`` of the next page."""
        return next_start(body_of(response), start=self.current_value or 0)


class RecentsPaginator(V1OffsetPaginator):
    """``/v1/recents`` pages like any v1 list; a page often holds no item of the wanted type (items of
    other types, or deleted items without data are skipped), which the empty-page rule above covers."""


class V2CursorPaginator(BaseAPIPaginator["str | None"]):
    """v2 ``cursor``/``limit``: follow ``additional_data.next_cursor`` until it is null."""

    def __init__(self) -> None:
        super().__init__(None)

    def get_next(self, response: requests.Response) -> str | None:
        """The opaque cursor of the next page, or ``None`` on the last one."""
        return next_cursor(body_of(response), current=self.current_value)

    def continue_if_empty(self, response: requests.Response) -> bool:
        """An empty page with a ``next_cursor`` is not the end (singer-sdk stops on an empty page)."""
        return self.get_next(response) is not None
