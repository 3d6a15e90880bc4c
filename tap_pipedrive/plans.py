"""Resources only some Pipedrive plans serve (catalogue ``min_plan``): deal installments need Growth.

On a lower plan Pipedrive refuses the read with 402 Payment Required (or 403); that is the account's
plan, not an error of the run, so the stream is closed with one warning naming the plan it needs, and no
further request of it is sent for the rest of the run.
"""

from __future__ import annotations

from typing import Any

from pipedrive_core.http.errors import CloudflareBlockedError, ForbiddenError, PaymentRequiredError


class PlanGate:
    """Whether a stream's resource is outside the account's plan (learned from the first refusal)."""

    def __init__(self, stream: Any) -> None:
        self.stream = stream
        self.closed = False

    def skips(self, exc: BaseException) -> bool:
        """True (and the stream closed, one warning) when ``exc`` is the plan refusing the resource."""
        res = self.stream.resource
        refused = isinstance(exc, PaymentRequiredError) or (
            isinstance(exc, ForbiddenError) and not isinstance(exc, CloudflareBlockedError))
        if res.min_plan is None or not refused:
            return False
        if not self.closed:
            self.closed = True
            self.stream.logger.warning(
                "%s: skipped: the Pipedrive plan of this account does not include %s (%s plan and above; "
                "Pipedrive answered %s)", self.stream.name, res.title, res.min_plan.capitalize(),
                getattr(exc, "status", "a refusal"))
        return True
