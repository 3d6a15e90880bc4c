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
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from pipedrive_core.values import to_datetime, utc_text

if TYPE_CHECKING:
    from tap_pipedrive.windows import Watermark

#: ``/v1/recents`` returns at most one *calendar* month of history (Pipedrive, since 2024-12-01): at the end
#: of March that is 28 days back. The window trusted is the shortest month, less a margin for clock skew and
#: long runs; an older bookmark gets a full read.
RECENTS_WINDOW = dt.timedelta(days=28) - dt.timedelta(hours=1)

_UTC = dt.timezone.utc


def normalize_timestamp(value: Any) -> str | None:
    """Rewrite a Pipedrive timestamp to ``YYYY-MM-DDTHH:MM:SSZ`` (UTC, whole seconds); ``None`` when it is
    not a real one (:func:`pipedrive_core.values.to_datetime`, the one timestamp coercion)."""
    return to_datetime(value)


def parse_timestamp(value: str) -> dt.datetime:
    """A normalized timestamp as an aware ``datetime``."""
    return dt.datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=_UTC)


def epoch_seconds(value: Any) -> int | None:
    """A Pipedrive timestamp as whole seconds since 1970 (what update-time windows are cut on), ``None`` when it
    is not one."""
    text = normalize_timestamp(value)
    return None if text is None else int(parse_timestamp(text).timestamp())


def from_epoch_seconds(seconds: float) -> str:
    """Seconds since 1970 as a normalized timestamp (also v2's ``updated_since``/``updated_until`` form)."""
    return utc_text(dt.datetime.fromtimestamp(seconds, tz=_UTC))


def shift(value: str, seconds: float) -> str:
    """``value`` moved by ``seconds`` (negative: earlier), still normalized."""
    return utc_text(parse_timestamp(value) + dt.timedelta(seconds=seconds))


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


#: state key holding the ids emitted at the bookmark second (see :class:`BoundaryDedupe`)
BOUNDARY_STATE_KEY = "boundary"
#: state key: server time when the last complete read of a /recents stream began (no change before it unseen)
CHECKED_STATE_KEY = "checked_until"
#: state key: update-time windows above the bookmark that a stopped windowed read handed out whole
WINDOWS_STATE_KEY = "windows_done"
_BOOKMARK = "replication_key_value"


def _window_ranges(value: Any) -> list[tuple[int, int]]:
    """``windows_done`` of a state as ``(lo, hi)`` seconds; anything unreadable is dropped (read again)."""
    out = []
    for item in value if isinstance(value, list) else ():
        if isinstance(item, list) and len(item) == 2:
            lo, hi = (epoch_seconds(v) if isinstance(v, str) else None for v in item)
            if lo is not None and hi is not None and lo < hi:
                out.append((lo, hi))
    return out


def bookmark_from_state(value: Any) -> str:
    """A bookmark of the input state as a normalized timestamp.

    Another time zone or spelling is rewritten, an epoch number (seconds or milliseconds) is read as such;
    anything else raises :class:`~tap_pipedrive.errors.BadBookmarkError` (a guess could skip or repeat
    the whole history).
    """
    from tap_pipedrive.errors import BadBookmarkError  # noqa: PLC0415 - keeps this module free of imports

    if isinstance(value, bool):
        raise BadBookmarkError(repr(value))
    if isinstance(value, int | float) or (isinstance(value, str) and value.strip().isdecimal()):
        seconds = float(value)
        if seconds > 1e11:  # milliseconds
            seconds /= 1000
        try:
            return from_epoch_seconds(seconds)
        except (OverflowError, OSError, ValueError):
            raise BadBookmarkError(repr(value)) from None
    normalized = normalize_timestamp(value) if isinstance(value, str) else None
    if normalized is None:
        raise BadBookmarkError(repr(value))
    return normalized


class BookmarkKeeper:
    """The bookmark of one partition during one read, kept in the partition's state dict.

    singer-sdk advances ``replication_key_value`` itself as records are emitted; this class adds what makes
    the bookmark safe to resume from after a stop at any point:

    * **boundary second**: ids emitted at the newest second are kept next to the bookmark, so the next read,
      which restarts *at* that second, skips them (:class:`BoundaryDedupe`);
    * **in flight**: singer-sdk reads a parent's children before writing the parent, so a record counts as
      emitted only once the next one is asked for (:meth:`settle`);
    * **lookback**: the bookmark is moved back to the floor before a read that re-reads seconds before it, so
      the sorted-stream check accepts them, and put back if the read ends lower;
    * **order**: a server page out of update-time order freezes the persisted bookmark at the read's start
      until the read ends (a stop then re-reads, never skips);
    * ``checked_until``: when the last complete read began (``/recents`` streams start there when the bookmark
      is older; its presence says the previous read ran to its end);
    * **windows**: a read of update-time windows (:mod:`tap_pipedrive.windows`) hands records out of order; while
      the keeper follows it (:meth:`follow`), every STATE carries the read's watermark instead, and singer-sdk's
      per-record bookmark is put back to it after each record (:meth:`hold`).
    """

    def __init__(self, state: dict[str, Any], *, start: str | None, floor: str | None, key: str | None) -> None:
        self.state = state
        self.start = start
        self.floor = floor
        self.key = key  #: record field holding the id
        self.dedupe = BoundaryDedupe()
        self._in_flight: tuple[Any, str | None] | None = None
        self._original = state.get(_BOOKMARK)
        self._newest: str | None = None
        self.out_of_order = 0
        #: what the last STATE said: the bookmark and boundary a stop can fall back to
        self._saved: tuple[Any, Any] = (state.get(_BOOKMARK), state.get(BOUNDARY_STATE_KEY))
        if start:
            self.dedupe = BoundaryDedupe.from_state(state.get(BOUNDARY_STATE_KEY), start)
            if self._original is not None:
                state[_BOOKMARK] = start  # the normalized form, so the SDK compares like with like
            if floor and floor < start and self._original is not None:
                state[_BOOKMARK] = floor
        #: windows a stopped windowed read handed out whole, for this read to skip if it is windowed too
        self.windows_done = _window_ranges(state.pop(WINDOWS_STATE_KEY, None)) if start else []
        #: what the state said when the read began (a windowed read's watermark before anything is handed out)
        self._initial: tuple[Any, Any] = (state.get(_BOOKMARK), state.get(BOUNDARY_STATE_KEY))
        self._watermark: Callable[[], Watermark] | None = None
        self._held: Any = state.get(_BOOKMARK)

    def follow(self, watermark: Callable[[], Watermark]) -> None:
        """From now on the records come out of update-time order: the bookmark is ``watermark()``."""
        self._watermark = watermark
        self._held = self.state.get(_BOOKMARK)

    def hold(self) -> None:
        """singer-sdk moved the bookmark to the record it just wrote: while following a windowed read, put it back
        to the last watermark, so a STATE written at any moment never covers a record not written yet."""
        if self._watermark is not None:
            self.state[_BOOKMARK] = self._held

    def admit(self, record_id: Any, second: str | None, *, drop_before: str | None = None) -> bool:
        """Whether a record read now is emitted (``False``: already emitted at the boundary second, or older
        than ``drop_before``); remembers it as in flight."""
        if drop_before and (second is None or second < drop_before):
            return False
        self.settle()
        if self.dedupe.is_repeat(record_id, second):
            return False
        if second is not None:
            if self._newest is not None and second < self._newest and self._watermark is None:
                self.out_of_order += 1
            elif self._newest is None or second > self._newest:
                self._newest = second
        self._in_flight = (record_id, second)
        return True

    def settle(self) -> None:
        """The record handed out last is written (with its children): remember it as emitted."""
        if self._in_flight is not None:
            self.dedupe.remember(*self._in_flight)
            self._in_flight = None

    def checkpoint(self, *, settle: bool = True) -> None:
        """Bring the state to what a resume needs now (called before every STATE message). ``settle=False``:
        the record in flight is not written yet (a stop while its children were read)."""
        if settle:
            self.settle()
        if self._watermark is not None:
            self._apply(self._watermark())
            self._held = self.state.get(_BOOKMARK)
            self._saved = (self.state.get(_BOOKMARK), self.state.get(BOUNDARY_STATE_KEY))
            return
        if self.out_of_order:
            self.state[_BOOKMARK] = self.floor or self.start or self._original
            self.state.pop(BOUNDARY_STATE_KEY, None)
            return
        if self.dedupe.second:
            self.state[BOUNDARY_STATE_KEY] = self.dedupe.to_state()
        self._saved = (self.state.get(_BOOKMARK), self.state.get(BOUNDARY_STATE_KEY))

    def _apply(self, mark: Watermark) -> None:
        """Bring the bookmark and boundary to a windowed read's watermark."""
        state = self.state
        state.pop(WINDOWS_STATE_KEY, None)
        if mark.done:
            state[WINDOWS_STATE_KEY] = [[from_epoch_seconds(lo), from_epoch_seconds(hi)] for lo, hi in mark.done]
        if mark.frozen:
            state[_BOOKMARK] = self.floor or self.start or self._original
            state.pop(BOUNDARY_STATE_KEY, None)
        elif mark.complete:
            if self._newest is not None:
                state[_BOOKMARK] = max(str(self._initial[0] or ""), self._newest)
            if self.dedupe.second:
                state[BOUNDARY_STATE_KEY] = self.dedupe.to_state()
        elif mark.second is None:
            bookmark, boundary = self._initial
            state[_BOOKMARK] = bookmark
            if boundary is None:
                state.pop(BOUNDARY_STATE_KEY, None)
            else:
                state[BOUNDARY_STATE_KEY] = boundary
        else:
            state[_BOOKMARK] = mark.second
            ids = set(mark.ids)
            bookmark, boundary = self._initial
            if mark.second == bookmark and isinstance(boundary, dict) and boundary.get("second") == bookmark:
                ids.update(boundary.get("ids") or ())  # the ids the read began with at that very second
            if ids:
                state[BOUNDARY_STATE_KEY] = {"second": mark.second, "ids": sorted(ids, key=str)}
            else:
                state.pop(BOUNDARY_STATE_KEY, None)

    def rollback(self) -> None:
        """Back to what the last STATE said: records emitted since then are not covered (their children, read
        in batches, may still be unread)."""
        bookmark, boundary = self._saved
        self.state[_BOOKMARK] = bookmark
        if boundary is None:
            self.state.pop(BOUNDARY_STATE_KEY, None)
        else:
            self.state[BOUNDARY_STATE_KEY] = boundary

    def finish(self, *, checked_until: str | None = None) -> None:
        """The read is complete: the bookmark never ends lower than it started, and never below the newest
        record when the server's order could not be trusted."""
        self.settle()
        self.state.pop(WINDOWS_STATE_KEY, None)
        if self._watermark is not None:
            self._watermark = None
            if self._newest:
                self.state[_BOOKMARK] = max(str(self._held or ""), self._newest)
        current = self.state.get(_BOOKMARK)
        if self.out_of_order and self._newest:
            self.state[_BOOKMARK] = current = max(str(current or ""), self._newest)
            self.out_of_order = 0
        if self.start and self._original is not None and str(current or "") < self.start:
            self.state[_BOOKMARK] = self.start
        if self.dedupe.second:
            self.state[BOUNDARY_STATE_KEY] = self.dedupe.to_state()
        if checked_until:
            self.state[CHECKED_STATE_KEY] = checked_until
