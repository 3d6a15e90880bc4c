"""Run-wide meters: the child streams' aggregated counters and the per-stream summary at the end of a run.

singer-sdk syncs a child stream once per parent record; with its default meters every one of those syncs
logs a record count, a request count and a sync duration (plus a request duration per request), which is
four log lines per parent per child stream, most of a run's log. These meters aggregate per stream instead.
At the end of every run the tap logs one line per stream that did anything: records, requests, Pipedrive
tokens (``x-token-cost`` of each request, from the catalogue) and the time spent waiting for the rate limit.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from singer_sdk import metrics

from pipedrive_core.catalogue import RECENTS_PATH, Pagination, Replication, Resource, active, read_token_cost
from tap_pipedrive.sdk_compat import CompatCounter

if TYPE_CHECKING:
    from tap_pipedrive.client import ApiStream


class RunCounter(CompatCounter):
    """A counter shared by all syncs of a child stream: no per-parent context, no log on every exit.

    ``increment`` still logs once per interval (a minute by default), and ``flush`` logs the rest.
    """

    def with_context(self, value: Any) -> None:
        """Parent contexts are not tags: the count is for the whole stream."""

    def __enter__(self) -> RunCounter:
        return self

    def exit(self) -> None:
        """Leaving one parent's sync logs nothing."""


class SilentTimer(metrics.Timer):
    """A timer that does not log: one child sync per parent is not worth a log line."""

    def __exit__(self, *exc: object) -> None:
        return None


def summary_line(stream: ApiStream) -> str:
    """``<stream>: N records, R requests, T tokens, W s waiting for the rate limit`` (with the parents a
    per-parent child was read for, the step-backs of offset reads that met a moving list, and the offset pages
    read ahead)."""
    stats = stream.stats
    parts = [f"{stats.records} records", f"{stats.requests} requests", f"{stats.tokens} tokens",
             f"{stats.waited:.1f} s waiting for the rate limit"]
    parents = getattr(stream, "parents", 0)
    if parents:
        parts.append(f"read for {parents} parents")
    if stats.step_backs:
        parts.append(f"{stats.step_backs} step-backs over a moving list")
    if stats.read_ahead:
        parts.append(f"{stats.read_ahead} pages read ahead ({stats.read_ahead_unused} past the end or unused)")
    return f"{stream.name}: " + ", ".join(parts)


def request_cost(res: Resource) -> str:
    """Requests per run and Pipedrive tokens per request (``x-token-cost``), as the docs and ``--about`` say."""
    per_page = "1 request" if res.pagination is Pagination.NONE else f"1 request per {res.page_limit} records"
    if res.parent is not None and res.bulk_path:
        runs = (f"1 request per {res.bulk_max} `{res.parent}` records read (`GET {res.bulk_path}?{res.bulk_param}=`, "
                f"more above {res.page_limit} records)")
    elif res.parent is not None:
        runs = f"1 request per `{res.parent}` record read" + (
            "" if res.pagination is Pagination.NONE else f" (more above {res.page_limit} per parent)")
    elif res.replication is Replication.RECENTS:
        runs = f"{per_page}; incremental: 1 per 500 changes (`/v1/recents`, {read_token_cost(RECENTS_PATH)} tokens)"
    else:
        runs = per_page
    if res.archived_path:
        runs += f", plus the archived list ({read_token_cost(res.archived_path)} tokens per request)"
    plan = f"; {res.min_plan.capitalize()} plan and above (skipped below)" if res.min_plan else ""
    return f"{runs}; {res.read_token_cost} tokens each{plan}"


def cost_overview() -> str:
    """Every stream with its default selection and request cost (for ``--about``)."""
    lines = ["Streams (selected by default unless opt-in) and what they cost per run:"]
    for res in active():
        selected = "" if res.selected_by_default else " [opt-in]"
        lines.append(f"- {res.name}{selected}: {request_cost(res).replace('`', '')}")
    return "\n".join(lines)
