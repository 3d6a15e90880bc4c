"""Pipedrive's current time, read from the HTTP ``Date`` header of its answers.

Bookmarks, the ``/recents`` window and the reconciliation of creates of unknown outcome compare moments with
Pipedrive's own timestamps; the local clock may be minutes off (and the emulator's clock is fake). Every
:class:`~pipedrive_core.http.PipedriveSession` keeps one :class:`ServerClock` fed by each answer it gets.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable
from email.utils import parsedate_to_datetime
from typing import Any

import requests

_UTC = dt.timezone.utc


def http_date(value: str | None) -> dt.datetime | None:
    """Parse an HTTP ``Date`` header (RFC 7231) as an aware datetime; ``None`` if absent or malformed."""
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=_UTC)


class ServerClock:
    """The ``Date`` of the latest answer plus the (monotonic) time elapsed since it arrived.

    Thread-safe: the target's workers and the tap's prefetch thread feed it concurrently. Until an answer
    told the time, :meth:`now` is the local clock.
    """

    def __init__(
        self,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        local_now: Callable[[], dt.datetime] = lambda: dt.datetime.now(_UTC),
    ) -> None:
        self._monotonic = monotonic
        self._local_now = local_now
        self._lock = threading.Lock()
        #: held while one thread asks Pipedrive the time for all (:meth:`known_now`)
        self._asking = threading.Lock()
        self._seen: tuple[dt.datetime, float] | None = None

    def observe_date(self, value: str | None) -> None:
        """Take the time from one ``Date`` header value (ignored when missing or malformed)."""
        moment = http_date(value)
        if moment is not None:
            with self._lock:
                self._seen = (moment, self._monotonic())

    def observe(self, response: requests.Response, *args: Any, **kwargs: Any) -> requests.Response:
        """A ``requests`` response hook."""
        self.observe_date(response.headers.get("Date"))
        return response

    @property
    def last_date(self) -> dt.datetime | None:
        """The ``Date`` of the latest answer, as sent (``None`` before the first)."""
        with self._lock:
            return self._seen[0] if self._seen else None

    def now(self) -> dt.datetime:
        """Pipedrive's time now."""
        with self._lock:
            seen = self._seen
        if seen is None:
            return self._local_now()
        moment, at = seen
        return moment + dt.timedelta(seconds=max(0.0, self._monotonic() - at))

    def known_now(self, ask: Callable[[], object]) -> dt.datetime:
        """Pipedrive's time now, never the local clock's: when no answer has told the time yet, ``ask()`` (a request
        whose answer feeds this clock) goes first, once however many threads want the time at the same moment. A
        moment taken from a local clock that runs ahead would lie in Pipedrive's future."""
        if self.last_date is None:
            with self._asking:
                if self.last_date is None:
                    ask()
        return self.now()
