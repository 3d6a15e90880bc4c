"""CPU per record of each stage of the tap's per-record path: ``python -m benchmarks.stages [--records N]``.

An in-process emulator (default seed, 30 custom fields per entity) serves ``--records`` records of each read
stream; their raw pages are fetched once, then every stage runs over them on its own, repeated, and the best
CPU time (``time.process_time``) per record is printed: decoding (``json.loads``, the tap's msgspec decoder,
``orjson.loads``), the replication key plus custom fields, the schema-driven timestamp/date/time pass,
conforming + encoding + message building (the fast path), writing, and the encoders side by side
(singer-sdk's ``serialize_json``, the standard library's C encoder, orjson via ``encode_record``). HTTP,
threads and singer-sdk's own per-record loop are not in these figures (``benchmarks.cpu_probe`` and
scenario 3 of ``benchmarks.run`` measure the whole process).
"""

from __future__ import annotations

import argparse
import copy
import io
import json
import os
import sys
import time
from collections.abc import Callable
from typing import Any

import orjson
import requests
from singer_sdk.singerlib.json import serialize_json

from benchmarks.profiles import PROFILES, READ_STREAMS
from pipedrive_core.catalogue import CATALOGUE
from pipedrive_core.values import to_datetime
from pipedrive_emulator.server import Emulator
from tap_pipedrive import fastpath
from tap_pipedrive.tap import TapPipedrive


def _best(run: Callable[[], Any], repeat: int) -> float:
    """Least CPU seconds of ``repeat`` runs."""
    times = []
    for _ in range(repeat):
        start = time.process_time()
        run()
        times.append(time.process_time() - start)
    return min(times)


class _Sink(io.RawIOBase):
    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        return len(data)


def fetch_pages(emu: Emulator, name: str, records: int) -> list[bytes]:
    """The raw pages (500 rows) of the first ``records`` records of one stream's list."""
    res = CATALOGUE[name]
    pages: list[bytes] = []
    start = 0
    while start < records:
        params: dict[str, Any] = {"limit": 500}
        if res.read_version == 1:
            params["start"] = start
        elif pages:
            cursor = (json.loads(pages[-1]).get("additional_data") or {}).get("next_cursor")
            if not cursor:
                break
            params["cursor"] = cursor
        pages.append(requests.get(emu.url + res.read_path, params=params, headers=emu.auth_headers(),
                                  timeout=60).content)
        start += 500
    return pages


def stream_stages(emu: Emulator, tap: TapPipedrive, name: str, records: int, repeat: int) -> dict[str, float]:
    """µs per record of each stage for one stream."""
    res = CATALOGUE[name]
    pages = fetch_pages(emu, name, records)
    decoded = [json.loads(p)["data"] for p in pages]
    n = sum(len(d) for d in decoded)
    stream = tap.streams[name]
    plan = stream.plan
    rk = stream.replication_key

    def custom(rows: list[dict[str, Any]]) -> None:
        for row in rows:
            row[rk] = to_datetime(row.get(rk))
            if plan is not None:
                (plan.apply_v2 if res.read_version == 2 else plan.apply_v1)(row)

    def temporal(rows: list[dict[str, Any]]) -> None:
        for row in rows:
            fastpath.normalize_temporal(stream, row)

    def fresh() -> list[dict[str, Any]]:
        return [r for page in copy.deepcopy(decoded) for r in page]

    def timed(prepare: Callable[[], Any], work: Callable[[Any], Any]) -> float:
        best = float("inf")
        for _ in range(repeat):
            data = prepare()
            begin = time.process_time()
            work(data)
            best = min(best, time.process_time() - begin)
        return best

    def typed() -> list[dict[str, Any]]:
        rows = fresh()
        custom(rows)
        return rows

    def ready() -> list[dict[str, Any]]:
        rows = typed()
        temporal(rows)
        return rows

    out = {
        "bytes/record": sum(len(p) for p in pages) / n,
        "decode json.loads": _best(lambda: [json.loads(p) for p in pages], repeat),
        "decode msgspec (tap)": _best(lambda: [fastpath.fast_json_loads(p) for p in pages], repeat),
        "decode orjson": _best(lambda: [orjson.loads(p) for p in pages], repeat),
        "replication key + custom fields": timed(fresh, custom),
        "timestamps/dates/times": timed(typed, temporal),
        "conform + encode + message": timed(ready, lambda rows: [list(fastpath.fast_record_messages(stream, r))
                                                                 for r in rows]),
        "encode: singer-sdk serialize_json": timed(ready, lambda rows: [serialize_json(r) for r in rows]),
        "encode: stdlib C encoder": timed(ready, lambda rows: [fastpath.fast_serialize(r) for r in rows]),
        "encode: orjson (encode_record)": timed(ready, lambda rows: [fastpath.encode_record(r)
                                                                     for r in rows]),
    }
    messages = [m for r in ready() for m in fastpath.fast_record_messages(stream, r)]
    writer = fastpath.FastSingerWriter()
    real = sys.stdout
    sys.stdout = io.TextIOWrapper(io.BufferedWriter(_Sink()))
    try:
        out["write"] = _best(lambda: ([writer.write_message(m) for m in messages], writer.flush()), repeat)
    finally:
        sys.stdout = real
    return {k: (v if k == "bytes/record" else 1e6 * v / n) for k, v in out.items()} | {"records": n}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=2000, help="records per stream (default 2000)")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    profile = PROFILES["default"]
    sizes = dict.fromkeys(READ_STREAMS, args.records)
    with Emulator(seed=profile.seed, sizes=sizes, custom_fields_per_entity=profile.custom_fields) as emu:
        tap = TapPipedrive(config={"api_token": emu.api_token, "api_url": emu.url}, parse_env_config=False)
        results = {name: stream_stages(emu, tap, name, args.records, args.repeat) for name in READ_STREAMS}
    weights = {name: profile.sizes[name] for name in READ_STREAMS}
    total = sum(weights.values())
    stages = [k for k in next(iter(results.values())) if k != "records"]
    print(f"µs of CPU per record (best of {args.repeat}); load average {os.getloadavg()[0]:.2f}")
    print("| stage | " + " | ".join(READ_STREAMS) + " | benchmark mix |")
    print("|---|" + "---|" * (len(READ_STREAMS) + 1))
    for stage in stages:
        mix = sum(results[s][stage] * weights[s] for s in READ_STREAMS) / total
        cells = " | ".join(f"{results[s][stage]:,.1f}" for s in READ_STREAMS)
        print(f"| {stage} | {cells} | {mix:,.1f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
