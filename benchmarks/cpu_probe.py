"""CPU per record of the tap at zero latency, repeated: ``python -m benchmarks.cpu_probe [--scale F] [--runs N]``.

A development companion of scenario 3 of :mod:`benchmarks.run`: one emulator (own process, default seed and
custom fields, ``--scale`` of the default sizes, no latency, no rate limit, cache warmed), then ``--runs``
tap runs whose CPU time (user + system, from ``wait4``) is divided by the records they wrote. The machine is
shared, so CPU time (not wall time) is what is compared, runs are repeated and the load average is printed
with every figure. ``--profile FILE`` adds one run under cProfile and prints its hot spots; ``--startup``
also measures a run that writes no record (``--discover``), the fixed cost every sync pays.
"""

from __future__ import annotations

import argparse
import json
import os
import pstats
import statistics
import sys
from pathlib import Path

from benchmarks.emulator import EmulatorProcess
from benchmarks.procs import run_measured
from benchmarks.profiles import COLUMN_SETTINGS, PROFILES, READ_STREAMS

ROOT = Path(__file__).resolve().parent.parent
TAP = [sys.executable, "-m", "benchmarks.entry", "tap"]


def _catalog(config: Path, streams: list[str], out: Path) -> Path:
    import subprocess  # noqa: PLC0415

    done = subprocess.run([*TAP, "--config", str(config), "--discover"], cwd=ROOT, capture_output=True,
                          text=True, check=False)
    if done.returncode:
        raise SystemExit(f"discovery failed:\n{done.stderr[-3000:]}")
    text = done.stdout
    catalog = json.loads(text)
    for entry in catalog["streams"]:
        for meta in entry["metadata"]:
            if meta["breadcrumb"] == []:
                meta["metadata"]["selected"] = entry["tap_stream_id"] in streams
    out.write_text(json.dumps(catalog))
    return out


def print_spy(path: Path, top: int = 40) -> None:
    """Own and inclusive sample shares per function of a py-spy ``raw`` (collapsed stacks) file."""
    import collections  # noqa: PLC0415
    import re  # noqa: PLC0415

    own: collections.Counter[str] = collections.Counter()
    incl: collections.Counter[str] = collections.Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        n = int(count)
        total += n
        frames = [re.sub(r":\d+\)$", ")", f) for f in stack.split(";")]
        own[frames[-1]] += n
        for frame in set(frames):
            incl[frame] += n
    print(f"py-spy samples: {total}")
    for name, n in own.most_common(top):
        print(f"{100 * n / total:5.1f}% own  {name[:140]}")
    for name, n in incl.most_common(top + 20):
        print(f"{100 * n / total:5.1f}% incl {name[:140]}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=0.2, help="fraction of the default sizes (default 0.2)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--columns", choices=["key", "default"], default="key",
                        help="custom-field columns: 40-hex keys as in benchmarks.run (key), or the tap's defaults")
    parser.add_argument("--streams", default=",".join(READ_STREAMS))
    parser.add_argument("--profile", default=None, help="also one run under cProfile into this file")
    parser.add_argument("--pyspy", default=None, help="also one run under py-spy (all threads) into this file")
    parser.add_argument("--gil", action="store_true",
                        help="py-spy samples only the thread holding the GIL (where the CPU of a GIL-bound tap goes)")
    parser.add_argument("--startup", action="store_true", help="also measure --discover (fixed cost)")
    parser.add_argument("--entry", default="benchmarks.entry", help="module that runs the tap")
    parser.add_argument("--start-date", default="2000-01-01T00:00:00Z",
                        help="the tap's start_date, as in benchmarks.run ('' for none: a plain full read)")
    parser.add_argument("--extra", default="", help="extra arguments for the entry")
    parser.add_argument("--setting", action="append", default=[], metavar="KEY=JSON",
                        help="a tap setting for every run, e.g. record_processes=1 (repeatable)")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "raw" / "probe"))
    args = parser.parse_args(argv)
    streams = args.streams.split(",")
    tap = [sys.executable, "-m", args.entry] + (["tap"] if args.entry == "benchmarks.entry" else [])
    tap += args.extra.split()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    profile = PROFILES["default"].scaled(args.scale)
    with EmulatorProcess(seed=profile.seed, sizes=profile.sizes, custom_fields=profile.custom_fields,
                         latency_ms=0, burst=None, log_path=out / "emulator.log") as emu:
        emu.warm(streams)
        config = out / "config.json"
        settings = {"api_token": emu.token, "api_url": emu.url, "burst_limit": 100_000}
        if args.columns == "key":
            settings.update(COLUMN_SETTINGS)
        if args.start_date:
            settings["start_date"] = args.start_date
        for item in args.setting:
            key, _, value = item.partition("=")
            settings[key] = json.loads(value)
        config.write_text(json.dumps(settings))
        catalog = _catalog(config, streams, out / "catalog.json")
        cmd = [*tap, "--config", str(config), "--catalog", str(catalog)]
        figures = []
        for i in range(args.runs):
            r = run_measured(cmd, stderr_path=out / f"tap-{i}.stderr", cwd=str(ROOT)).check()
            per = 1e6 * r.cpu_s / max(1, r.records)
            figures.append(per)
            print(f"run {i}: {r.records} records, CPU {r.cpu_s:.2f} s ({r.user_s:.2f} user + {r.sys_s:.2f} sys) "
                  f"= {per:.1f} µs/record, wall {r.wall_s:.1f} s, RSS {r.max_rss_mb:.0f} MB, "
                  f"load {os.getloadavg()[0]:.2f}", flush=True)
        if figures:
            print(f"CPU µs/record: min {min(figures):.1f}, median {statistics.median(figures):.1f}")
        if args.startup:
            r = run_measured([*TAP, "--config", str(config), "--discover"], stderr_path=out / "discover.stderr",
                             count_stdout=False, cwd=str(ROOT)).check()
            print(f"--discover: CPU {r.cpu_s:.2f} s, wall {r.wall_s:.1f} s")
        if args.pyspy:
            import subprocess  # noqa: PLC0415

            spy = Path(sys.executable).with_name("py-spy")
            subprocess.run([str(spy), "record", "-r", "250", "-f", "raw", "-o", args.pyspy,
                            *(["--gil"] if args.gil else []), "--", *cmd], cwd=ROOT,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
            print_spy(Path(args.pyspy))
        if args.profile:
            prof = Path(args.profile)
            run_measured([sys.executable, "-m", "cProfile", "-o", str(prof), *cmd[1:]],
                         stderr_path=out / "tap-profile.stderr", cwd=str(ROOT)).check()
            pstats.Stats(str(prof)).sort_stats("tottime").print_stats(30)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
