"""Scenario 1's default row several times on one emulator: ``python -m benchmarks.repeat [--runs N]``.

One run of scenario 1 varies by several percent (the machine's two cores are shared by the tap, its record
processes, the emulator and the harness; a rare rate-limit pause costs a second), so a change to the tap is judged
on the median of several runs, not on one. Each run is the tap with the defaults against the same emulator
(the default profile, warmed, as in ``benchmarks/run.py``); it prints each run and the median, the spread and the
requests, and with ``--log-requests DIR`` writes each run's requests as the emulator served them.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from benchmarks.profiles import PROFILES, READ_STREAMS
from benchmarks.run import Bench


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--out", default="/tmp/benchmarks-repeat")
    parser.add_argument("--log-requests", default=None, help="directory for each run's request log (JSON)")
    args = parser.parse_args()
    if args.runs < 1:
        parser.error("--runs must be 1 or more")
    profile = PROFILES["default"]
    bench = Bench(profile, Path(args.out), peer=False)
    records = 0
    walls: list[float] = []
    requests: list[int] = []
    with bench.emulator("repeat", v1_sunset=False) as emu:
        emu.warm(READ_STREAMS)
        for i in range(args.runs):
            served = len(emu.request_log())
            result, used = bench.run_tap(emu, f"repeat-{i}", burst=profile.burst, streams=READ_STREAMS)
            if args.log_requests:
                folder = Path(args.log_requests)
                folder.mkdir(parents=True, exist_ok=True)
                (folder / f"requests-{i}.json").write_text(json.dumps(emu.request_log()[served:]))
            walls.append(result.wall_s)
            requests.append(used)
            print(f"run {i + 1}: {result.records:,} records, {used} requests, {result.wall_s:.2f} s, "
                  f"{result.records_per_s / profile.read_bound:.3f} of the bound, first record "
                  f"{result.first_record_s:.2f} s", flush=True)
            records = result.records
    median = statistics.median(walls)
    print(f"median {median:.2f} s = {records / median / profile.read_bound:.3f} of the bound "
          f"(runs {min(walls):.2f}–{max(walls):.2f} s); requests median {statistics.median(requests):.0f} "
          f"({min(requests)}–{max(requests)})")


if __name__ == "__main__":
    main()
