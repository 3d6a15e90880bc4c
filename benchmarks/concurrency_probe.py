"""What reading streams concurrently would give: ``python -m benchmarks.concurrency_probe [--scale F]``.

A measurement for the design of concurrent reads (issue 14), not the tap: one emulator at the benchmark's
150 ms latency and burst 80 / 2 s, the tap's own session (one rate limiter, msgspec decoding), one fetch
thread per stream (``--streams``; each a sequential page chain, as Pipedrive's cursors are), a bounded queue of
pages (``--queue``), and the main thread doing the tap's per-record work on every page (replication key, custom
fields, timestamp pass, conform, orjson encode, write to /dev/null). It prints records/s against the bound, CPU
per record, the peak of pages waiting and requests in flight, and peak RSS, for 1 stream at a time
(sequential) and for all streams at once.
"""

from __future__ import annotations

import argparse
import datetime
import os
import queue
import resource
import threading
import time
from collections.abc import Iterator
from typing import Any

from benchmarks.emulator import EmulatorProcess
from benchmarks.profiles import PROFILES, READ_STREAMS
from pipedrive_core.catalogue import CATALOGUE
from pipedrive_core.http import body_of
from pipedrive_core.pagination import next_cursor
from pipedrive_core.values import to_datetime
from tap_pipedrive import fastpath
from tap_pipedrive.tap import TapPipedrive

_DONE = object()


class Probe:
    def __init__(self, tap: TapPipedrive, streams: list[str], queue_pages: int) -> None:
        self.tap, self.streams = tap, streams
        self.pages: queue.Queue[Any] = queue.Queue(maxsize=queue_pages)
        self.in_flight = 0
        self.peak_in_flight = 0
        self.peak_waiting = 0
        self.requests = 0
        self.lock = threading.Lock()

    def chain(self, name: str, window: dict[str, str] | None = None) -> Iterator[list[dict[str, Any]]]:
        """One stream's (or update-time window's) pages, one request at a time (the next cursor/start comes
        with each answer)."""
        res = CATALOGUE[name]
        url = self.tap.session.base_url + res.read_path
        params: dict[str, Any] = {"limit": 500, **(window or {})}
        start = 0
        while True:
            with self.lock:
                self.in_flight += 1
                self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
                self.requests += 1
            try:
                body = body_of(self.tap.session.get(url, params=params, timeout=60))
            finally:
                with self.lock:
                    self.in_flight -= 1
            data = body.get("data") or []
            yield data
            if res.read_version == 2:
                cursor = next_cursor(body)
                if not cursor:
                    return
                params["cursor"] = cursor
            else:
                more = ((body.get("additional_data") or {}).get("pagination") or {}).get("more_items_in_collection")
                if not more:
                    return
                start += len(data)
                params["start"] = start

    def fetch(self, name: str, window: dict[str, str] | None = None) -> None:
        for data in self.chain(name, window):
            self.pages.put((name, data))
        self.pages.put((name, _DONE))

    def windows(self, name: str, count: int) -> list[dict[str, str] | None]:
        """``count`` equal-width update-time windows of a v2 stream (two requests: its oldest and newest
        update time); the last one is open-ended."""
        res = CATALOGUE[name]
        if count <= 1 or res.read_version != 2:
            return [None]
        url = self.tap.session.base_url + res.read_path
        ends = []
        for direction in ("asc", "desc"):
            body = body_of(self.tap.session.get(url, params={
                "limit": 1, "sort_by": "update_time", "sort_direction": direction,
                "updated_since": "2000-01-01T00:00:00Z"}, timeout=60))  # records never updated: not in a window
            self.requests += 1
            stamp = body["data"][0]["update_time"]
            ends.append(datetime.datetime.fromisoformat(stamp.replace("Z", "+00:00")))
        first, last = ends
        step = (last - first) / count
        cuts = [(first + step * i).strftime("%Y-%m-%dT%H:%M:%SZ") for i in range(count)]
        out: list[dict[str, str] | None] = []
        for i, cut in enumerate(cuts):
            window = {"sort_by": "update_time", "sort_direction": "asc", "updated_since": cut}
            if i + 1 < count:
                window["updated_until"] = cuts[i + 1]
            out.append(window)
        return out

    def run(self, windows: int = 1) -> tuple[int, float, float]:
        """(records, wall s, CPU s) of reading every stream, all fetch threads at once (``windows`` threads per
        v2 stream, each an update-time window)."""
        devnull = open(os.devnull, "wb")  # noqa: SIM115
        threads = [threading.Thread(target=self.fetch, args=(name, window), daemon=True)
                   for name in self.streams for window in self.windows(name, windows)]
        wall, cpu = time.perf_counter(), time.process_time()
        for thread in threads:
            thread.start()
        open_streams, records = len(threads), 0
        while open_streams:
            self.peak_waiting = max(self.peak_waiting, self.pages.qsize())
            name, data = self.pages.get()
            if data is _DONE:
                open_streams -= 1
                continue
            stream = self.tap.streams[name]
            out = bytearray()
            for row in data:
                rk = stream.replication_key
                row[rk] = to_datetime(row.get(rk))
                if stream.plan is not None:
                    (stream.plan.apply_v2 if CATALOGUE[name].read_version == 2 else stream.plan.apply_v1)(row)
                fastpath.normalize_temporal(stream, row)
                conformed, _ = fastpath.conform_in_place(row, fastpath._schema_plan(stream, stream.schema))
                out += fastpath.encode_record(conformed) or b"{}"
                out += b"\n"
                records += 1
            devnull.write(out)
        devnull.close()
        return records, time.perf_counter() - wall, time.process_time() - cpu


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=0.5)
    parser.add_argument("--streams", default=",".join(READ_STREAMS))
    parser.add_argument("--queue", type=int, default=8, help="pages waiting at most (all streams)")
    parser.add_argument("--windows", type=int, default=4, help="update-time windows per v2 stream (third run)")
    parser.add_argument("--runs", default="1,2,3", help="which runs: 1 sequential, 2 streams at once, 3 windows")
    args = parser.parse_args(argv)
    profile = PROFILES["default"].scaled(args.scale)
    streams = args.streams.split(",")
    with EmulatorProcess(seed=profile.seed, sizes=profile.sizes, custom_fields=profile.custom_fields,
                         latency_ms=profile.latency_ms, burst=profile.burst) as emu:
        emu.warm(streams)
        config = {"api_token": emu.token, "api_url": emu.url, "burst_limit": profile.burst}
        print(f"bound {profile.read_bound:,.0f} records/s; latency {profile.latency_ms:.0f} ms; "
              f"load {os.getloadavg()[0]:.2f}")
        runs = (("one stream at a time", [[s] for s in streams], 1), ("all streams at once", [streams], 1),
                (f"all streams at once, {args.windows} update-time windows per v2 stream", [streams], args.windows))
        chosen = {int(x) for x in args.runs.split(",")}
        for label, groups, windows in (run for i, run in enumerate(runs, 1) if i in chosen):
            total = wall = cpu = 0.0
            peaks = [0, 0, 0]
            for group in groups:
                tap = TapPipedrive(config=config, parse_env_config=False)
                tap.session.json_loads = fastpath.fast_json_loads
                probe = Probe(tap, group, args.queue)
                n, w, c = probe.run(windows)
                total, wall, cpu = total + n, wall + w, cpu + c
                peaks = [max(peaks[0], probe.peak_in_flight), max(peaks[1], probe.peak_waiting),
                         peaks[2] + probe.requests]
            rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            print(f"{label}: {int(total):,} records in {wall:.1f} s = {total / wall:,.0f} records/s "
                  f"({total / wall / profile.read_bound:.2f} of the bound); CPU {cpu:.1f} s = "
                  f"{1e6 * cpu / total:.0f} µs/record; {peaks[2]} requests, at most {peaks[0]} in flight and "
                  f"{peaks[1]} pages waiting; process peak RSS so far {rss:.0f} MB; load {os.getloadavg()[0]:.2f}",
                  flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
