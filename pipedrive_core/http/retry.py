"""When and how long to retry a failed request, as an explicit, testable policy built on tenacity.

Retried: 429 (after the announced ``x-ratelimit-reset``, or one window when the header is missing), 5xx,
timeouts and connection errors, bodies that are not JSON, and a 200 whose body is ``null``. Never retried:
400, 401 (the session refreshes OAuth once instead), 402, 403, 404, 410 and a spent daily budget: repeating
them cannot succeed. Waits grow exponentially with full jitter, capped at ``max_delay``.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import tenacity

from pipedrive_core.http.errors import HostUnreachableError, PipedriveError, RateLimitedError

logger = logging.getLogger("pipedrive.http")


@dataclass(frozen=True)
class RetryPolicy:
    """Retry settings: ``max_attempts`` counts the first try too."""

    max_attempts: int = 8
    #: 429s are expected under load and cost only waiting, so they get more attempts than failures do
    rate_limit_attempts: int = 30
    base_delay: float = 1.0
    max_delay: float = 60.0
    #: attempts, and the pause between them, for a host not reached once yet (a wrong api_url, no network)
    connect_attempts: int = 3
    connect_delay: float = 0.5
    sleep: Callable[[float], None] = field(default=time.sleep, compare=False)
    rng: random.Random = field(default_factory=random.Random, compare=False)

    def should_retry(self, exc: BaseException) -> bool:
        """Whether ``exc`` is worth another attempt."""
        return isinstance(exc, PipedriveError) and exc.retriable

    def delay(self, attempt: int, exc: BaseException | None) -> float:
        """Seconds to wait before attempt ``attempt + 1``.

        A server-announced wait (``retry_after``) is honoured exactly plus a little jitter so that worker
        threads do not all wake in the same instant; otherwise exponential backoff with full jitter.
        """
        if isinstance(exc, HostUnreachableError) and exc.first_contact:
            return self.connect_delay * attempt
        retry_after = getattr(exc, "retry_after", None)
        if retry_after is not None:
            return float(retry_after) + self.rng.uniform(0, 0.25)
        ceiling = min(self.max_delay, self.base_delay * (2 ** (attempt - 1)))
        return self.rng.uniform(ceiling / 2, ceiling)

    def _stop(self, state: tenacity.RetryCallState) -> bool:
        exc = state.outcome.exception() if state.outcome else None
        limit = self.rate_limit_attempts if isinstance(exc, RateLimitedError) else self.max_attempts
        if isinstance(exc, HostUnreachableError) and exc.first_contact:
            limit = min(limit, self.connect_attempts)
        return state.attempt_number >= limit

    def retrying(self, describe: Callable[[], str]) -> tenacity.Retrying:
        """A tenacity controller applying this policy; ``describe`` names the call in log lines."""

        def wait(state: tenacity.RetryCallState) -> float:
            exc = state.outcome.exception() if state.outcome else None
            return self.delay(state.attempt_number, exc)

        def before_sleep(state: tenacity.RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            logger.warning(
                "%s: attempt %d failed (%s); retrying in %.1fs",
                describe(),
                state.attempt_number,
                exc,
                state.upcoming_sleep,
            )

        return tenacity.Retrying(
            retry=tenacity.retry_if_exception(self.should_retry),
            stop=self._stop,
            wait=wait,
            sleep=self.sleep,
            before_sleep=before_sleep,
            reraise=True,
        )
