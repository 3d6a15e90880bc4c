"""Run one measured subprocess: wall time, CPU time and peak RSS (from ``wait4``), Singer messages counted.

The child's stdout is read by a thread of the harness that only counts lines (RECORD per stream) and keeps
the last STATE message, so the measured process writes to a pipe exactly as it would to ``/dev/null`` or a
target, without the harness doing any JSON work on records. stderr goes to a log file; the count of
``http_request_duration`` METRIC lines in it is a fallback request count.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

#: a RECORD line's start: both the SDK's compact and singer-python's spaced JSON put type then stream first.
#: Not anchored with ``^``: a ``MULTILINE`` anchor makes ``re`` try every byte, a leading literal lets it skip
#: ahead to each ``{"type":`` (several times faster on the tap's output); line starts are checked per match
_RECORD_RE = re.compile(rb'\{"type":\s?"RECORD",\s?"stream":\s?"([^"]+)"')
_REQ_METRIC_RE = re.compile(r'"metric":\s*"http_request_duration"')


@dataclass
class RunResult:
    """What one measured run produced."""

    cmd: list[str]
    returncode: int
    wall_s: float
    user_s: float
    sys_s: float
    max_rss_mb: float
    records: int = 0
    records_by_stream: Counter[str] = field(default_factory=Counter)
    last_state: dict | None = None
    metric_requests: int = 0
    #: seconds from process start to its first and last RECORD line (startup and streaming time)
    first_record_s: float | None = None
    last_record_s: float | None = None
    stderr_path: str = ""
    stderr_tail: str = ""

    @property
    def cpu_s(self) -> float:
        return self.user_s + self.sys_s

    @property
    def streaming_s(self) -> float | None:
        """Seconds from the first to the last record (excludes interpreter start-up and discovery)."""
        if self.first_record_s is None or self.last_record_s is None:
            return None
        return self.last_record_s - self.first_record_s

    @property
    def records_per_s(self) -> float:
        return self.records / self.wall_s if self.wall_s > 0 else 0.0

    def check(self) -> RunResult:
        if self.returncode != 0:
            msg = (f"command failed (rc={self.returncode}): {' '.join(self.cmd)}\n"
                   f"--- stderr tail ---\n{self.stderr_tail}")
            raise RuntimeError(msg)
        return self


class _StdoutCounter(threading.Thread):
    def __init__(self, stream, start: float) -> None:
        super().__init__(daemon=True)
        self.stream = stream
        self.t0 = start
        self.first: float | None = None
        self.last: float | None = None
        self.records = 0
        self.by_stream: Counter[str] = Counter()
        self.last_state: bytes | None = None

    def run(self) -> None:
        # Large reads and regex scans in C keep the harness's own CPU per record small, so the measured
        # process never waits on a slow reader of its stdout.
        by_stream = self.by_stream
        records = 0
        clock = time.perf_counter
        read = self.stream.read1 if hasattr(self.stream, "read1") else self.stream.read
        tail = b""
        while True:
            chunk = read(1 << 20)
            if not chunk:
                break
            end = chunk.rfind(b"\n")
            if end < 0:
                tail += chunk
                continue
            block, tail = tail + chunk[: end + 1], chunk[end + 1 :]
            found = [m.group(1) for m in _RECORD_RE.finditer(block) if not m.start() or block[m.start() - 1] == 10]
            if found:
                now = clock() - self.t0
                if not records:
                    self.first = now
                self.last = now
                records += len(found)
                by_stream.update(found)
            state_at = max(block.rfind(b'{"type":"STATE"'), block.rfind(b'{"type": "STATE"'))
            if state_at >= 0:
                self.last_state = block[state_at : block.index(b"\n", state_at)]
        self.records = records
        self.by_stream = Counter({k.decode(): v for k, v in by_stream.items()})


def _vm_hwm_kib(pid: int) -> int:
    """Peak RSS so far of the running process ``pid`` (``VmHWM``, KiB; 0 where /proc does not say)."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def run_measured(
    cmd: list[str],
    *,
    stderr_path: Path,
    stdin_path: Path | None = None,
    env: dict[str, str] | None = None,
    cwd: str | None = None,
    count_stdout: bool = True,
    timeout: float | None = None,
) -> RunResult:
    """Run ``cmd`` to completion and measure it; stdout is counted (or discarded with ``count_stdout=False``)."""
    stderr_path.parent.mkdir(parents=True, exist_ok=True)
    full_env = dict(os.environ)
    full_env.update(env or {})
    stdin = open(stdin_path, "rb") if stdin_path else subprocess.DEVNULL  # noqa: SIM115
    with open(stderr_path, "wb") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(
            cmd,
            stdin=stdin,
            stdout=subprocess.PIPE if count_stdout else subprocess.DEVNULL,
            stderr=err,
            env=full_env,
            cwd=cwd,
        )
        counter = None
        if count_stdout:
            counter = _StdoutCounter(proc.stdout, start)
            counter.start()
        deadline = None if timeout is None else start + timeout
        peak_kib = 0
        while True:
            pid, status, rusage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            peak_kib = max(peak_kib, _vm_hwm_kib(proc.pid))
            if deadline is not None and time.perf_counter() > deadline:
                proc.kill()
                pid, status, rusage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.01)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        if counter is not None:
            counter.join()
    if stdin_path:
        stdin.close()
    text = stderr_path.read_text(errors="replace")
    result = RunResult(
        cmd=cmd,
        returncode=proc.returncode,
        wall_s=wall,
        user_s=rusage.ru_utime,
        sys_s=rusage.ru_stime,
        # the child's own high-water mark; ru_maxrss counts the harness's RSS at fork (vfork + exec keep it)
        max_rss_mb=(peak_kib or rusage.ru_maxrss) / 1024.0,  # KiB
        metric_requests=len(_REQ_METRIC_RE.findall(text)),
        stderr_path=str(stderr_path),
        stderr_tail=text[-3000:],
    )
    if counter is not None:
        result.records = counter.records
        result.records_by_stream = counter.by_stream
        result.first_record_s = counter.first
        result.last_record_s = counter.last
        if counter.last_state:
            try:
                result.last_state = json.loads(counter.last_state).get("value")
            except ValueError:
                result.last_state = None
    return result
