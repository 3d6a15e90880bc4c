"""The shared HTTP layer's guarantees the reliability matrix leans on, checked without a tap or target."""

from __future__ import annotations

import pytest

from pipedrive_core.http.errors import DailyBudgetExhaustedError
from pipedrive_core.http.ratelimit import RateLimiter


def test_a_new_run_in_the_same_process_relearns_a_daily_budget_that_was_spent():
    """A spent budget must not outlive the run that saw it: the next run asks Pipedrive again (it used to
    refuse every request of the process for good, so an in-process rerun after the reset could not start)."""
    account = "https://rel-budget.example|token:1"
    first = RateLimiter.shared(account)
    first.observe({"x-daily-requests-left": "0"}, 429)
    with pytest.raises(DailyBudgetExhaustedError):
        first.acquire()
    again = RateLimiter.shared(account)  # what a new PipedriveSession does
    assert again is first  # still one limiter per account (burst accounting stays shared)
    again.acquire()  # the request goes out; its answer's headers tell the new budget
