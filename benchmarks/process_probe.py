"""Would a second process carry the per-record path? ``python -m benchmarks.process_probe [--scale 0.1]``.

The tap's per-record work (decode a page, type its custom fields and timestamps, conform, encode, frame the
RECORD lines) runs on the one core that also receives the pages and drives singer-sdk's loop; threads do not
help, because that work holds the GIL. This probe measures the alternative on the benchmark's own data, without
the tap's HTTP and bookkeeping around it: the raw pages of the five read streams (the benchmark mix, scaled by
``--scale``) are fetched once from an in-process emulator, then turned into the bytes of their RECORD lines

* in this process, page after page (what the tap does today), and
* in a pool of worker processes (``fork``, so each has the tap's streams and field plans), the raw page sent to a
  worker and its encoded lines sent back, written in page order by this process.

For each way it prints the records per second, this process's CPU per record (the core the tap's reader would
keep) and the workers' CPU per record (best of ``--repeat``). The lines are compared across the ways, apart
from ``time_extracted``, so a faster way is also the same output.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import time
from collections import deque
from concurrent.futures import Future, ProcessPoolExecutor
from multiprocessing import get_context

from benchmarks.profiles import PROFILES, READ_STREAMS
from benchmarks.stages import fetch_pages
from pipedrive_emulator.server import Emulator
from tap_pipedrive import fastpath
from tap_pipedrive.tap import TapPipedrive

#: the tap of this process, inherited by forked workers
_TAP: TapPipedrive | None = None
_TIME_EXTRACTED = re.compile(rb',"time_extracted":"[^"]*"')


class _KeepingWriter(fastpath.FastSingerWriter):
    """The tap's writer with its lines kept in its buffer instead of written to stdout."""

    def flush(self) -> None:
        """Keep the lines."""


def record_lines(name: str, raw: bytes) -> tuple[int, bytes]:
    """(records, the bytes of their RECORD lines) of one raw page: the tap's own per-record path."""
    assert _TAP is not None
    stream = _TAP.streams[name]
    writer = _KeepingWriter()
    body = fastpath.fast_json_loads(raw)
    count = 0
    for row in stream.extract_records(body.get("data")):
        record = stream.post_process(row, None)
        if record is None:
            continue
        for message in stream.build_record_messages(record):
            writer.write_message(message)
        count += 1
    lines = bytes(writer._pending)
    writer._pending.clear()
    return count, lines


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def in_process(pages: list[tuple[str, bytes]]) -> tuple[float, float, float, list[bytes]]:
    """(wall s, this process's CPU s, workers' CPU s, lines per page) of the pages turned into lines here."""
    wall, cpu = time.perf_counter(), time.process_time()
    out = [record_lines(name, raw)[1] for name, raw in pages]
    return time.perf_counter() - wall, time.process_time() - cpu, 0.0, out


def in_workers(pages: list[tuple[str, bytes]], workers: int) -> tuple[float, float, float, list[bytes]]:
    """The same in ``workers`` forked processes, at most two pages per worker out at once, written in order."""
    before = _children_cpu()
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=get_context("fork"))
    try:
        list(pool.map(int, range(workers * 4)))  # the workers are up before the clock starts
        wall, cpu = time.perf_counter(), time.process_time()
        out: list[bytes] = []
        pending: deque[Future[tuple[int, bytes]]] = deque()
        for name, raw in pages:
            if len(pending) >= 2 * workers:
                out.append(pending.popleft().result()[1])
            pending.append(pool.submit(record_lines, name, raw))
        while pending:
            out.append(pending.popleft().result()[1])
        elapsed, used = time.perf_counter() - wall, time.process_time() - cpu
    finally:
        pool.shutdown(wait=True)
    return elapsed, used, _children_cpu() - before, out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=0.1, help="share of the benchmark's records (default 0.1)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workers", default="1,2", help="pool sizes to measure (default 1,2)")
    args = parser.parse_args(argv)
    global _TAP  # noqa: PLW0603 - inherited by the forked workers
    profile = PROFILES["default"].scaled(args.scale)
    with Emulator(seed=profile.seed, sizes=profile.sizes, custom_fields_per_entity=profile.custom_fields) as emu:
        _TAP = TapPipedrive(config={"api_token": emu.api_token, "api_url": emu.url, "custom_field_names": "key",
                                    "resolve_option_labels": False}, parse_env_config=False)
        pages = [(name, raw) for name in READ_STREAMS for raw in fetch_pages(emu, name, profile.sizes[name])]
    records = sum(record_lines(name, raw)[0] for name, raw in pages)
    ways = {"this process": lambda: in_process(pages)}
    for count in (int(w) for w in args.workers.split(",")):
        ways[f"{count} worker process{'es' if count > 1 else ''}"] = lambda count=count: in_workers(pages, count)
    reference: list[bytes] | None = None
    print(f"{records:,} records in {len(pages)} pages; best of {args.repeat}; {os.cpu_count()} CPUs; "
          f"load average {os.getloadavg()[0]:.2f}")
    print("| way | records/s | CPU µs/record, this process | CPU µs/record, workers | same lines |")
    print("|---|---|---|---|---|")
    for label, run in ways.items():
        best = min((run() for _ in range(args.repeat)), key=lambda r: r[0])
        wall, cpu, children, out = best
        lines = [_TIME_EXTRACTED.sub(b"", page) for page in out]
        reference = reference or lines
        print(f"| {label} | {records / wall:,.0f} | {1e6 * cpu / records:,.1f} | {1e6 * children / records:,.1f} | "
              f"{'yes' if lines == reference else 'NO'} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
