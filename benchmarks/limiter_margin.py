"""Why the target loses a quarter of the write bound, and what fixes it: the client limiter's window margin.

``python -m benchmarks.limiter_margin [--workers 8] [--requests 600]``

Starts the emulator (150 ms latency, burst 80 / 2 s) and sends ``--requests`` GETs from ``--workers`` threads
through :class:`pipedrive_core.http.PipedriveSession` with limiter variants. The client stamps a request
when it acquires a slot; Pipedrive (and the emulator) count it when it arrives. Thread scheduling between the
two moves arrivals by a few milliseconds, so a client that fills exactly ``burst - 1`` slots per 2.000 s
window now and then has one request too many in the server's window: a 429, and then a pause of a whole
``x-ratelimit-reset`` (integer seconds). A window of 2.05 s on the client side removes the 429s.
"""

from __future__ import annotations

import argparse
import logging
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from benchmarks.emulator import EmulatorProcess
from pipedrive_core.http import ClientConfig, PipedriveClient, RateLimiter
from pipedrive_core.http.session import PipedriveSession

BURST = 80


class IgnoreRemaining(RateLimiter):
    """Variant: pause only after a 429, not when ``x-ratelimit-remaining`` reaches the headroom."""

    def observe(self, headers: Mapping[str, str], status: int) -> None:
        trimmed = dict(headers)
        if status != 429:
            trimmed.pop("x-ratelimit-remaining", None)
        super().observe(trimmed, status)


VARIANTS: list[tuple[str, type[RateLimiter], float, int]] = [
    ("no margin (before 4d31878): window 2.00 s", RateLimiter, 2.0, 1),
    ("headroom 3", RateLimiter, 2.0, 3),
    ("window 2.05 s, headroom 1", RateLimiter, 2.05, 1),
    ("window 2.10 s, headroom 1", RateLimiter, 2.10, 1),
    ("window 2.05 s, pause only on 429", IgnoreRemaining, 2.05, 1),
]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--requests", type=int, default=600)
    parser.add_argument("--latency-ms", type=float, default=150)
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    print(f"| limiter | 429s | requests/s | ÷ bound ({BURST // 2}/s) |\n|---|---|---|---|")
    with EmulatorProcess(seed=1, sizes={"persons": 50}, custom_fields=2, latency_ms=args.latency_ms, burst=BURST,
                         log_path=Path("/tmp/limiter-margin-emulator.log")) as emu:
        for name, cls, window, headroom in VARIANTS:
            time.sleep(2.2)
            cfg = ClientConfig(api_url=emu.url, api_token=emu.token, burst_limit=BURST)
            limiter = cls(burst=BURST, headroom=headroom, window=window)
            client = PipedriveClient(cfg, session=PipedriveSession(cfg, limiter=limiter))
            start = time.perf_counter()
            with ThreadPoolExecutor(args.workers) as pool:
                list(pool.map(lambda _, c=client: c.request("GET", "/api/v2/persons/1"), range(args.requests)))
            rate = args.requests / (time.perf_counter() - start)
            print(f"| {name} | {client.session.stats.by_status.get(429, 0)} | {rate:.1f} | {rate / (BURST / 2):.2f} |",
                  flush=True)


if __name__ == "__main__":
    main()
