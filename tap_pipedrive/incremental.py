"""Incremental-read helpers: one timestamp form, request parameters, the /recents window, boundary dedupe.

Pipedrive timestamps have second precision and come in several spellings (v1 ``YYYY-MM-DD HH:MM:SS``,
v2 RFC 3339 with ``Z``, projects/tasks with milliseconds). Bookmarks are compared as strings by
singer-sdk, so every replication-key value is rewritten to ``YYYY-MM-DDTHH:MM:SSZ`` before it reaches the
state. Because a second can hold several records and a run may stop inside one, reads restart *at* the
bookmark second (``updated_since`` is inclusive; ``/recents``' ``since_timestamp`` is exclusive, so it is
asked for one second earlier) and the ids already emitted at that second are skipped
(:class:`BoundaryDedupe`), so no record at the boundary is lost and none is sent twice.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterable
from typing import Any

#: ``/v1/recents`` returns at most one month of history (Pipedrive, since 2024-12-01). The margin keeps
#: a bookmark a little younger than the limit on the safe side (clock skew, long runs).
RECENTS_WINDOW = dt.timedelta(days=30) - dt.timedelta(hours=1)

_UTC = dt.timezone.utc


def normalize_timestamp(value: Any) -> str | None:
    """Rewrite a Pipedrive timestamp to ``YYYY-MM-DDTHH:MM:SSZ`` (UTC, whole seconds).

    The common spellings are handled by slicing (this runs once per record); anything else, e.g. a
    non-UTC offset, goes through :func:`datetime.fromisoformat`. Unparseable values become ``None``.
    """
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return _format(value)
    text = str(value)
    if len(text) >= 19 and text[4] == "-" and text[10] in " T" and text[13] == ":":
        rest = text[19:]
        if not rest or rest == "Z" or rest in {"+00:00", "+0000"} or (rest[0] == "." and rest[-1] == "Z"):
            # "0000-00-00 00:00:00" and impossible dates exist in real accounts: no timestamp, not a bad one
            return f"{text[:10]}T{text[11:19]}Z" if _valid_day(text[:10]) and _valid_time(text[11:19]) else None
    elif len(text) == 10 and text[4] == "-":  # a bare date, e.g. start_date: "2024-01-01"
        return f"{text}T00:00:00Z" if _valid_day(text) else None
    try:
        parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return _format(parsed)


@functools.lru_cache(maxsize=4096)
def _valid_day(day: str) -> bool:
    """Whether ``YYYY-MM-DD`` is a real date (cached: a read has few distinct days)."""
    try:
        dt.date.fromisoformat(day)
    except ValueError:
        return False
    return True


def _valid_time(clock: str) -> bool:
    """Whether ``HH:MM:SS`` is a real time of day."""
    hh, mm, ss = clock[0:2], clock[3:5], clock[6:8]
    return (clock[5] == ":" and hh.isdigit() and mm.isdigit() and ss.isdigit()
            and hh < "24" and mm < "60" and ss < "60")


def _format(moment: dt.datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=_UTC)
    return moment.astimezone(_UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_timestamp(value: str) -> dt.datetime:
    """A normalized timestamp as an aware ``datetime``."""
    return dt.datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=_UTC)


def shift(value: str, seconds: float) -> str:
    """``value`` moved by ``seconds`` (negative: earlier), still normalized."""
    return _format(parse_timestamp(value) + dt.timedelta(seconds=seconds))


def to_rfc3339(value: str) -> str:
    """v2 ``updated_since``: RFC 3339 without fractional seconds (anything else gets HTTP 400)."""
    return value  # the normalized form already is exactly that


def to_v1(value: str) -> str:
    """v1 ``since_timestamp``: ``YYYY-MM-DD HH:MM:SS`` in UTC."""
    return f"{value[:10]} {value[11:19]}"


def updated_since_start(bookmark: str, lookback_seconds: float) -> str:
    """The inclusive ``updated_since`` for a bookmark: the bookmark second itself, minus the lookback."""
    return shift(bookmark, -lookback_seconds) if lookback_seconds else bookmark


def recents_since(bookmark: str, lookback_seconds: float) -> str:
    """The exclusive ``since_timestamp`` that re-reads the bookmark second: one second earlier, minus
    the lookback."""
    return shift(bookmark, -1 - lookback_seconds)


def recents_covers(start: str, server_now: dt.datetime) -> bool:
    """Whether ``/recents`` still holds every change since ``start`` (its window is one month)."""
    return parse_timestamp(start) >= server_now - RECENTS_WINDOW


def http_date(value: str | None) -> dt.datetime | None:
    """Parse an HTTP ``Date`` header (RFC 7231), ``None`` if absent or malformed."""
    if not value:
        return None
    try:
        from email.utils import parsedate_to_datetime  # noqa: PLC0415 - rarely needed

        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=_UTC)


class BoundaryDedupe:
    """Suppress a record already emitted with the same ``(id, update time)``.

    Reads are sorted by update time, so a repeat can only share the newest second seen so far; only that
    second's ids are kept, which bounds memory by the records of one second. Seeded from state with the
    ids emitted at the bookmark second by the previous run, it also drops the re-read boundary records.
    """

    __slots__ = ("ids", "second", "suppressed")

    def __init__(self, second: str | None = None, ids: Iterable[Any] = ()) -> None:
        self.second = second
        self.ids: set[Any] = set(ids) if second else set()
        self.suppressed = 0

    def seen(self, record_id: Any, second: str | None) -> bool:
        """Whether this ``(id, second)`` was emitted already; remembers it otherwise."""
        if self.is_repeat(record_id, second):
            return True
        self.remember(record_id, second)
        return False

    def is_repeat(self, record_id: Any, second: str | None) -> bool:
        """Whether this ``(id, second)`` was emitted already (counted as suppressed if so)."""
        if second is None or record_id is None or second != self.second or record_id not in self.ids:
            return False
        self.suppressed += 1
        return True

    def remember(self, record_id: Any, second: str | None) -> None:
        """Note that ``(id, second)`` was emitted."""
        if second is None or record_id is None:
            return
        current = self.second
        if second == current:
            self.ids.add(record_id)
        elif current is None or second > current:
            self.second = second
            self.ids = {record_id}

    def to_state(self) -> dict[str, Any] | None:
        """What to keep in the stream's state next to the bookmark."""
        if self.second is None:
            return None
        return {"second": self.second, "ids": sorted(self.ids, key=str)}

    @classmethod
    def from_state(cls, state: Any, bookmark: str | None) -> BoundaryDedupe:
        """Rebuild from state; ignored unless it describes the bookmark's second."""
        if isinstance(state, dict) and bookmark and state.get("second") == bookmark:
            return cls(bookmark, state.get("ids") or ())
        return cls()
