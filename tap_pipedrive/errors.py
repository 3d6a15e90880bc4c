"""How a tap run ends early: streams raise :class:`RunStopped`, :meth:`TapPipedrive.run_sync` catches it once.

``RunStopped`` derives from ``SystemExit`` so that it passes singer-sdk's ``except Exception`` blocks (no
"unhandled error" log, no sibling stream tried after it) and, if anything calls ``sync_all`` directly, still
ends the process with the documented exit code.
"""

from __future__ import annotations

from pipedrive_core.http.errors import DailyBudgetExhaustedError, PipedriveError

#: exit code of a run stopped by an API error, bad state or an unreadable answer
EXIT_API_ERROR = 1
#: exit code of a run stopped by Pipedrive's daily budget (rerun after it resets)
EXIT_DAILY_BUDGET = 3


class RunStopped(SystemExit):
    """The run cannot go on; ``message`` is the one line that says why and what to do."""

    def __init__(self, message: str, code: int = EXIT_API_ERROR) -> None:
        super().__init__(code)
        self.message = message

    def __str__(self) -> str:
        return self.message

    @classmethod
    def from_api(cls, exc: PipedriveError) -> RunStopped:
        """The stop caused by an API error (the daily budget has its own code)."""
        if isinstance(exc, DailyBudgetExhaustedError):
            return cls(f"{exc}. The state written so far resumes the sync.", EXIT_DAILY_BUDGET)
        return cls(str(exc))


class BadBookmarkError(ValueError):
    """A bookmark in the input state that is not a time this tap wrote (hand-edited or foreign state)."""
