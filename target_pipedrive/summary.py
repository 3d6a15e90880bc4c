"""Run counters and the end-of-run summary (what happened, in numbers a user can check)."""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

OUTCOMES = ("created", "updated", "deleted", "already_gone", "skipped_unchanged", "skipped", "rejected")


@dataclass
class Summary:
    """Thread-safe tallies per stream and outcome, plus samples of planned operations for dry runs."""

    dry_run: bool = False
    counts: Counter[tuple[str, str]] = field(default_factory=Counter)
    samples: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    requests: int = 0
    stopped_reason: str | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, stream: str, outcome: str, n: int = 1) -> None:
        """Count ``n`` records of ``stream`` with ``outcome`` (one of :data:`OUTCOMES`)."""
        with self._lock:
            self.counts[(stream, outcome)] += n

    def sample(self, kind: str, item: dict[str, Any], limit: int = 5) -> None:
        """Keep the first few planned operations of each kind for the dry-run report."""
        with self._lock:
            bucket = self.samples.setdefault(kind, [])
            if len(bucket) < limit:
                bucket.append(item)

    def totals_by_outcome(self) -> dict[str, int]:
        """Every outcome's count over all streams (progress lines)."""
        return {o: self.total(o) for o in OUTCOMES}

    def total(self, outcome: str) -> int:
        """All streams' count of ``outcome``."""
        with self._lock:
            return sum(n for (_, o), n in self.counts.items() if o == outcome)

    def as_dict(self) -> dict[str, Any]:
        """Machine-readable summary (logged as JSON, asserted by tests)."""
        with self._lock:
            streams: dict[str, dict[str, int]] = {}
            for (stream, outcome), n in sorted(self.counts.items()):
                streams.setdefault(stream, dict.fromkeys(OUTCOMES, 0))[outcome] = n
        totals = {o: self.total(o) for o in OUTCOMES}
        out: dict[str, Any] = {"dry_run": self.dry_run, **totals, "requests": self.requests, "streams": streams}
        if self.stopped_reason:
            out["stopped"] = self.stopped_reason
        return out

    def render(self) -> str:
        """A short human-readable report."""
        data = self.as_dict()
        verb = "planned" if self.dry_run else "done"
        if self.dry_run:
            head = (
                f"target-pipedrive dry run (nothing written): create {data['created']}, update {data['updated']}, "
                f"delete {data['deleted']}, skip unchanged {data['skipped_unchanged']}, skip {data['skipped']}, "
                f"rejected {data['rejected']}; requests made {data['requests']}"
            )
        else:
            head = (
                f"target-pipedrive {verb}: created {data['created']}, updated {data['updated']}, "
                f"deleted {data['deleted']}, skipped unchanged {data['skipped_unchanged']}, "
                f"skipped {data['skipped']}, rejected {data['rejected']}; requests made {data['requests']}"
            )
        if data["already_gone"]:  # deletes of ids Pipedrive no longer had: nothing was deleted by this run
            head = head.replace("; requests made", f", already gone {data['already_gone']}; requests made")
        lines = [head]
        for stream, counts in data["streams"].items():
            parts = ", ".join(f"{k}={v}" for k, v in counts.items() if v)
            lines.append(f"  {stream}: {parts}")
        if self.stopped_reason:
            lines.append(f"  stopped: {self.stopped_reason}")
        for kind, items in self.samples.items():
            lines.append(f"  sample {kind}:")
            lines.extend(f"    {item}" for item in items)
        return "\n".join(lines)
