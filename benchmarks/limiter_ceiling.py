"""The best scenario 1 could do through the tap's rate limiter: ``python -m benchmarks.limiter_ceiling``.

Scenario 1 needs at least ``--requests`` requests (default 499: 480 full pages of 500 records, the four
custom-field definition sets, one start-date question per list and partition, and per windowed list one question
before it is cut and one more read of its end). This sends that many one-row requests of deals (the 150 ms the
emulator adds, none of the work of a page on either side) from ``--workers`` threads through the tap's own
session and rate limiter (burst 80 per 2 s, its margin) against the benchmark's emulator, and reports the time
from the first send to the last answer, and what the sync's records per second would be with that time plus the
tap's time from launch to its first request (``--start``, seconds): the ceiling of scenario 1 for a client that
wastes no request and no CPU.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from benchmarks.emulator import EmulatorProcess
from benchmarks.profiles import PROFILES
from pipedrive_core.http import ClientConfig, PipedriveClient, RateLimiter
from pipedrive_core.http.session import PipedriveSession

#: the records of scenario 1 (the default profile's five lists)
RECORDS = 240_000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=499)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--start", type=float, default=0.55, help="seconds from launch to the tap's first request")
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    profile = PROFILES["default"]
    bound = profile.read_bound
    with EmulatorProcess(seed=profile.seed, sizes={"deals": 5_000}, custom_fields=profile.custom_fields,
                         latency_ms=profile.latency_ms, burst=profile.burst,
                         log_path=Path("/tmp/limiter-ceiling-emulator.log")) as emu:
        emu.warm(["deals"])
        times = []
        for _ in range(args.runs):
            time.sleep(2.2)  # an empty window, as at a sync's start
            cfg = ClientConfig(api_url=emu.url, api_token=emu.token, burst_limit=profile.burst)
            client = PipedriveClient(cfg, session=PipedriveSession(cfg, limiter=RateLimiter(burst=profile.burst)))
            start = time.perf_counter()
            with ThreadPoolExecutor(args.workers) as pool:
                list(pool.map(lambda _, c=client: c.request("GET", "/api/v2/deals", params={"limit": 1}),
                              range(args.requests)))
            elapsed = time.perf_counter() - start
            times.append(elapsed)
            print(f"{args.requests} requests in {elapsed:.2f} s ({args.requests / elapsed:.1f}/s, "
                  f"{client.session.stats.by_status.get(429, 0)} answers 429)", flush=True)
    best = statistics.median(times)
    wall = best + args.start
    print(f"median {best:.2f} s; with {args.start:.2f} s to the first request: {RECORDS / wall:,.0f} records/s "
          f"= {RECORDS / wall / bound:.3f} of the bound")


if __name__ == "__main__":
    main()
