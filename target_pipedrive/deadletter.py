"""The dead-letter file: every rejected record, with the reason, one JSON object per line.

With ``on_error: skip`` this is where rejected records go so the run can finish and nothing is silently
lost: fix the data (or the configuration) and feed the ``record`` objects back. Lines are flushed as they
are written, so a crash keeps what was already rejected.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import threading
from pathlib import Path
from typing import IO, Any


def _default(value: Any) -> Any:
    if isinstance(value, decimal.Decimal):
        return int(value) if value == int(value) else float(value)
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    return str(value)


class DeadLetter:
    """Append-only JSONL writer shared by all sinks and worker threads."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._handle: IO[str] | None = None
        self.count = 0

    def write(
        self, *, stream: str, key: str, reason: str, record: dict[str, Any], field: str | None = None,
        status: int | None = None,
    ) -> None:
        """Append one rejected record."""
        entry = {
            "stream": stream,
            "key": key,
            "field": field,
            "status": status,
            "reason": reason,
            "rejected_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "record": {k: v for k, v in record.items() if not k.startswith("__tp_")},
        }
        line = json.dumps(entry, default=_default, sort_keys=False)
        with self._lock:
            if self._handle is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._handle = self.path.open("a", encoding="utf-8")
            self._handle.write(line + "\n")
            self._handle.flush()
            self.count += 1

    def close(self) -> None:
        """Close the file if it was opened."""
        with self._lock:
            if self._handle is not None:
                self._handle.close()
                self._handle = None
