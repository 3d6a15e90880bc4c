"""The harness's measured run (:mod:`benchmarks.procs`) counts the RECORD lines a process writes, per stream."""

from __future__ import annotations

import sys
from pathlib import Path

from benchmarks.procs import run_measured

#: a compact and a spaced RECORD line, a record holding an object that looks like a RECORD message, a STATE,
#: and lines split across the harness's reads (200,000 lines of ~40 bytes: several 1 MB reads)
WRITER = r"""
import sys
out = sys.stdout.buffer
out.write(b'{"type":"SCHEMA","stream":"a"}\n')
for i in range(100_000):
    out.write(b'{"type":"RECORD","stream":"a","record":{"id":%d}}\n' % i)
    out.write(b'{"type": "RECORD", "stream": "b", "record": {"x": {"type":"RECORD","stream":"c"}}}\n')
out.write(b'{"type":"STATE","value":{"done":true}}\n')
"""


def test_records_are_counted_per_stream_at_line_starts_only(tmp_path: Path) -> None:
    result = run_measured([sys.executable, "-c", WRITER], stderr_path=tmp_path / "err.log").check()
    assert result.records == 200_000
    assert dict(result.records_by_stream) == {"a": 100_000, "b": 100_000}
    assert result.last_state == {"done": True}
