"""Where the next page of a Pipedrive list starts: one reading of ``additional_data`` for every reader.

The tap's singer-sdk paginators, :meth:`pipedrive_core.http.PipedriveClient.iter_pages` (target look-ups,
field definitions, delete reconciliation) and any offset-under-change reader built on top call
:func:`next_token`, so they cannot disagree on when a list ends or where it continues.

* v1 offset lists: ``additional_data.pagination = {start, limit, more_items_in_collection, next_start}``.
  The list goes on only while ``more_items_in_collection`` is true. The next start is ``next_start``; when
  Pipedrive leaves it out, the answer's own ``start + limit`` (the page size the server applied, which may be
  smaller than the one asked for), else the current start plus the number of items the page delivered. The
  requested limit is never used: a server that caps it (files 100, call logs 50) would make that skip rows.
* v2 cursor lists: ``additional_data.next_cursor``, null on the last page.
* single-answer lists: one page.

A position that does not move forward (a ``next_start`` at or before the current start, a cursor that
repeats) or a list announced to go on with no way to tell where raises :class:`PaginationError` rather than
looping or silently ending early: both would lose or repeat rows without anyone noticing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pipedrive_core.catalogue import Pagination
from pipedrive_core.http.errors import PaginationError

Token = int | str


def additional_data(body: Any) -> Mapping[str, Any]:
    """The answer's ``additional_data`` object (empty when missing or malformed)."""
    extra = body.get("additional_data") if isinstance(body, Mapping) else None
    return extra if isinstance(extra, Mapping) else {}


def _whole(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdecimal():
        return int(value)
    return None


def next_start(body: Any, *, start: int = 0) -> int | None:
    """The ``start`` of the v1 page after the one ``body`` answered (asked with ``start``), ``None`` at the end."""
    page = additional_data(body).get("pagination")
    if not isinstance(page, Mapping) or page.get("more_items_in_collection") is not True:
        return None
    following = _whole(page.get("next_start"))
    if following is None:
        echoed_start, echoed_limit = _whole(page.get("start")), _whole(page.get("limit"))
        if echoed_start is not None and echoed_limit:
            following = echoed_start + echoed_limit
        else:
            data = body.get("data") if isinstance(body, Mapping) else None
            delivered = len(data) if isinstance(data, list) else 0
            if not delivered:
                raise PaginationError(
                    f"the page at start={start} announces more items but neither where they start (next_start) "
                    "nor its own size; the list cannot be followed safely"
                )
            following = start + delivered
    if following <= start:
        raise PaginationError(
            f"the page at start={start} points back to start={following}; following it would repeat pages forever"
        )
    return following


def next_cursor(body: Any, *, current: str | None = None) -> str | None:
    """The v2 cursor of the page after ``body`` (asked with ``current``), ``None`` on the last page."""
    cursor = additional_data(body).get("next_cursor")
    if cursor is None or cursor == "":
        return None
    cursor = str(cursor)
    if cursor == current:
        raise PaginationError(
            "the page repeats the cursor it was asked with; following it would repeat the same page forever"
        )
    return cursor


def next_token(pagination: Pagination, body: Any, current: Token | None = None) -> Token | None:
    """The next page's ``start`` (offset lists) or ``cursor`` (cursor lists); ``None`` when ``body`` is the last.

    ``current`` is the token the page was asked with (``None`` for the first page).
    """
    if pagination is Pagination.OFFSET:
        return next_start(body, start=int(current or 0))
    if pagination is Pagination.CURSOR:
        return next_cursor(body, current=None if current is None else str(current))
    return None


def token_param(pagination: Pagination) -> str | None:
    """The query parameter that carries the next-page token (``start`` or ``cursor``)."""
    return {Pagination.OFFSET: "start", Pagination.CURSOR: "cursor"}.get(pagination)
