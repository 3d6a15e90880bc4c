"""Measure how fast the emulator serves v2 deal pages of 500 on loopback.

    python -m pipedrive_emulator.measure --deals 100000 [--clients 1]

Starts the emulator in a separate process (``pipedrive-emulator`` CLI, so client and server do not share a
GIL), pages through ``/api/v2/deals?limit=500`` once to warm the serialization cache, then again timed, and
prints records/s. The client is ``http.client`` with keep-alive and does not decode the JSON (it only reads
``next_cursor`` from the tail), so the number measures the server, not the client.
"""

from __future__ import annotations

import argparse
import http.client
import json
import signal
import subprocess
import sys
import threading
import time
from urllib.parse import urlsplit


def page_through(url: str, token: str) -> int:
    """Read every deal page; return how many records were read."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=60)
    cursor = None
    total = 0
    while True:
        path = "/api/v2/deals?limit=500" + (f"&cursor={cursor}" if cursor else "")
        conn.request("GET", path, headers={"x-api-token": token})
        raw = conn.getresponse().read()
        tail = raw[raw.rfind(b'"additional_data":'):]
        total += raw.count(b'{"id":')
        cursor = json.loads(tail[len(b'"additional_data":'):-1])["next_cursor"]
        if not cursor:
            conn.close()
            return total


def measure(deals: int, clients: int = 1, seed: int = 1) -> dict[str, float]:
    """Seed, warm up, and time ``clients`` concurrent full reads of the deals."""
    started = time.perf_counter()
    proc = subprocess.Popen(  # noqa: S603 - our own CLI
        [sys.executable, "-m", "pipedrive_emulator.cli", "--seed", str(seed), "--sizes", f"deals={deals}"],
        stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        info = json.loads(proc.stdout.readline())
        seed_s = time.perf_counter() - started
        url, token = info["url"], info["api_token"]
        page_through(url, token)
        counts: list[int] = []
        begin = time.perf_counter()
        threads = [threading.Thread(target=lambda: counts.append(page_through(url, token)))
                   for _ in range(clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - begin
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    total = sum(counts)
    return {"deals": deals, "clients": clients, "seed_seconds": round(seed_s, 2),
            "seconds": round(elapsed, 3), "records_per_second": round(total / elapsed)}


def main() -> None:
    """CLI entry point."""
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--deals", type=int, default=100_000)
    p.add_argument("--clients", type=int, default=1)
    args = p.parse_args()
    print(json.dumps(measure(args.deals, args.clients)))


if __name__ == "__main__":
    main()
