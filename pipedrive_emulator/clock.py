"""A controllable clock, and the two timestamp styles Pipedrive speaks.

Tests move time forward to make records "change later" and to expire OAuth access tokens, so every
timestamp the emulator writes comes from :class:`Clock`, never from ``time.time()``. Rate-limit windows are
the exception: they use real monotonic time so a client really has to slow down.
"""

from __future__ import annotations

import re
import threading
from datetime import datetime, timedelta, timezone

#: Runs start here unless told otherwise, so two runs with the same seed serve the same bytes.
DEFAULT_START = datetime(2026, 11, 20, 12, 0, 0, tzinfo=timezone.utc)

_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(Z|[+-]\d{2}:\d{2})$")
_V1 = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")


class Clock:
    """Fake wall-clock time, shared by the store, recents and OAuth expiry; thread-safe."""

    def __init__(self, start: datetime = DEFAULT_START) -> None:
        self._lock = threading.Lock()
        self._now = _utc(start)

    def now(self) -> datetime:
        """The current fake time (UTC, whole seconds)."""
        with self._lock:
            return self._now

    def epoch(self) -> int:
        """The current fake time as Unix seconds."""
        return int(self.now().timestamp())

    def advance(self, seconds: float) -> datetime:
        """Move time forward (never backward: negative values raise) and return the new time."""
        if seconds < 0:
            msg = "the clock only moves forward; use set() to jump"
            raise ValueError(msg)
        with self._lock:
            self._now = self._now + timedelta(seconds=seconds)
            return self._now

    def set(self, when: datetime) -> None:
        """Jump to ``when`` (naive values are taken as UTC)."""
        with self._lock:
            self._now = _utc(when)


def _utc(when: datetime) -> datetime:
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return when.astimezone(timezone.utc).replace(microsecond=0)


def iso(epoch: float | None) -> str | None:
    """RFC 3339 with ``Z`` and whole seconds, as API v2 writes timestamps."""
    if epoch is None:
        return None
    return datetime.fromtimestamp(int(epoch), tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def v1(epoch: float | None) -> str | None:
    """``YYYY-MM-DD HH:MM:SS`` in UTC, as most of API v1 writes timestamps."""
    if epoch is None:
        return None
    return datetime.fromtimestamp(int(epoch), tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def iso_to_v1(value: str | None) -> str | None:
    """Turn a stored ``2026-11-20T12:00:00Z`` into ``2026-11-20 12:00:00`` without parsing."""
    if value is None:
        return None
    return value[:10] + " " + value[11:19]


def parse_rfc3339(value: str) -> int:
    """Parse a v2 ``updated_since``-style value; reject what Pipedrive rejects (fractions, spaces)."""
    if not _RFC3339.match(value):
        msg = f"must be an RFC 3339 date-time without fractional seconds, got {value!r}"
        raise ValueError(msg)
    return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp())


def parse_v1(value: str) -> int:
    """Parse ``YYYY-MM-DD HH:MM:SS`` (UTC), the ``since_timestamp`` of ``/v1/recents``."""
    if not _V1.match(value):
        msg = f"must look like YYYY-MM-DD HH:MM:SS, got {value!r}"
        raise ValueError(msg)
    return int(datetime.strptime(value, "%Y-%m-%d %H:%M:%S").replace(tzinfo=timezone.utc).timestamp())


def parse_any(value: str) -> int:
    """Parse either style (used when the emulator reads back timestamps it stored)."""
    if "T" in value:
        return int(datetime.fromisoformat(value.replace("Z", "+00:00")[:25]).timestamp())
    return parse_v1(value[:19])
