"""Run-wide metric meters for child streams.

singer-sdk syncs a child stream once per parent record; with its default meters every one of those syncs
logs a record count, a request count and a sync duration (plus a request duration per request), which is
four log lines per parent per child stream, most of a run's log. These meters aggregate per stream instead.
"""

from __future__ import annotations

from typing import Any

from singer_sdk import metrics


class RunCounter(metrics.Counter):
    """A counter shared by all syncs of a child stream: no per-parent context, no log on every exit.

    ``increment`` still logs once per interval (a minute by default), and :meth:`flush` logs the rest.
    """

    def with_context(self, value: Any) -> None:
        """Parent contexts are not tags: the count is for the whole stream."""

    def __enter__(self) -> RunCounter:
        return self

    def exit(self) -> None:
        """Leaving one parent's sync logs nothing."""

    def flush(self) -> None:
        """Log the count so far and reset it."""
        self._pop()


class SilentTimer(metrics.Timer):
    """A timer that does not log: one child sync per parent is not worth a log line."""

    def __exit__(self, *exc: object) -> None:
        return None
