"""One command for every benchmark scenario: ``python -m benchmarks.run [--quick|--smoke] [--out DIR]``.

Starts the emulator (own process, fixed seed/sizes/latency/limits) for each phase, runs our tap, the peer
(singer-io tap-pipedrive 2.1.0 in ``benchmarks/.peer-venv``) and our target as measured subprocesses, and
writes ``RESULTS.md``, ``throughput.png`` and ``results.json`` into the output directory (raw logs, configs
and profiles under ``<out>/raw/``, which git ignores).
"""

from __future__ import annotations

import argparse
import json
import platform
import pstats
import shlex
import sys
import time
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from benchmarks import peer as peer_mod
from benchmarks import target_bench
from benchmarks.emulator import EmulatorProcess
from benchmarks.procs import RunResult, run_measured
from benchmarks.profiles import COLUMN_SETTINGS, PROFILES, READ_STREAMS, Profile
from benchmarks.report import write_report

ROOT = Path(__file__).resolve().parent.parent
TAP = [sys.executable, "-m", "benchmarks.entry", "tap"]
#: deal children read in the incremental run (scenario 2) for the changed deals only
INCREMENTAL_CHILDREN = ["deal_products", "deal_followers"]
NO_LIMIT_BURST = 100_000


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


#: the variant row of scenario 1: the five read streams one after another (tap setting ``parallel_streams``; the
#: default reads five at once)
SEQUENTIAL_SETTINGS: dict[str, Any] = {"parallel_streams": 1}
#: the other variant row of scenarios 1 and 3: the defaults without the worker processes that type and encode
#: records (by default two where two CPUs are usable, as here)
ONE_PROCESS_SETTINGS: dict[str, Any] = {"record_processes": 0}


class Bench:
    def __init__(self, profile: Profile, out: Path, *, peer: bool) -> None:
        self.p = profile
        self.out = out
        self.raw = out / "raw"
        self.raw.mkdir(parents=True, exist_ok=True)
        self.use_peer = peer
        self.res: dict[str, Any] = {"notes": []}
        self._catalogs: dict[tuple[str, tuple[str, ...]], Path] = {}

    # -- helpers ----------------------------------------------------------------------------------
    def emulator(self, tag: str, *, sizes: dict[str, int] | None = None, latency_ms: float | None = None,
                 burst: int | None = None, v1_sunset: bool = True) -> EmulatorProcess:
        return EmulatorProcess(
            seed=self.p.seed,
            sizes=sizes or self.p.sizes,
            custom_fields=self.p.custom_fields,
            latency_ms=self.p.latency_ms if latency_ms is None else latency_ms,
            burst=self.p.burst if burst is None else burst,
            v1_sunset=v1_sunset,
            log_path=self.raw / f"emulator-{tag}.log",
        )

    def tap_config(self, emu: EmulatorProcess, tag: str, burst: int, extra: dict[str, Any] | None = None) -> Path:
        path = self.raw / f"tap-config-{tag}.json"
        path.write_text(json.dumps({
            "api_token": emu.token,
            "api_url": emu.url,
            "burst_limit": burst,
            "start_date": "2000-01-01T00:00:00Z",
            **COLUMN_SETTINGS,
            **(extra or {}),
        }))
        return path

    def tap_catalog(self, config: Path, tag: str, streams: list[str]) -> Path:
        import subprocess  # noqa: PLC0415

        api_url = json.loads(config.read_text())["api_url"]
        cached = self._catalogs.get((api_url, tuple(streams)))
        if cached is not None:
            return cached

        proc = subprocess.run([*TAP, "--config", str(config), "--discover"],
                              capture_output=True, text=True, check=False, cwd=ROOT)
        if proc.returncode != 0:
            raise RuntimeError(f"tap discovery failed:\n{proc.stderr[-3000:]}")
        catalog = json.loads(proc.stdout)
        peer_mod.select_streams(catalog, streams)
        path = self.raw / f"tap-catalog-{tag}.json"
        path.write_text(json.dumps(catalog))
        self._catalogs[(api_url, tuple(streams))] = path
        return path

    def run_tap(self, emu: EmulatorProcess, tag: str, *, burst: int, streams: list[str],
                state: dict | None = None, profile_to: Path | None = None,
                extra: dict[str, Any] | None = None) -> tuple[RunResult, int]:
        config = self.tap_config(emu, tag, burst, extra)
        catalog = self.tap_catalog(config, tag, streams)
        cmd = [*TAP, "--config", str(config), "--catalog", str(catalog)]
        if profile_to is not None:
            cmd = [sys.executable, "-m", "cProfile", "-o", str(profile_to), *cmd[1:]]
        if state is not None:
            state_path = self.raw / f"tap-state-{tag}.json"
            state_path.write_text(json.dumps(state))
            cmd += ["--state", str(state_path)]
        before = emu.requests()
        log(f"tap {tag}: {shlex.join(cmd[-4:])}")
        result = run_measured(cmd, stderr_path=self.raw / f"tap-{tag}.stderr", cwd=str(ROOT)).check()
        requests_used = emu.requests() - before
        log(f"tap {tag}: {result.records} records, {requests_used} requests, {result.wall_s:.1f} s, "
            f"{result.records_per_s:,.0f} rec/s, CPU {result.cpu_s:.1f} s, RSS {result.max_rss_mb:.0f} MB")
        return result, requests_used

    def summary(self, label: str, r: RunResult, requests_used: int) -> dict[str, Any]:
        return {
            "label": label,
            "records": r.records,
            "records_by_stream": dict(r.records_by_stream),
            "requests": requests_used,
            "wall_s": r.wall_s,
            "cpu_s": r.cpu_s,
            "max_rss_mb": r.max_rss_mb,
            "records_per_s": r.records_per_s,
            "of_bound": r.records_per_s / self.p.read_bound,
            "startup_s": r.first_record_s,
            "streaming_s": r.streaming_s,
            "streaming_records_per_s": r.records / r.streaming_s if r.streaming_s else None,
            "records_per_request": r.records / requests_used if requests_used else None,
        }

    # -- scenarios 1 and 2 --------------------------------------------------------------------------
    def scenario_1_2(self, run2: bool) -> None:
        log("scenario 1: full sync, ours and the peer, one emulator (v1 sunset off so the peer can use v1)")
        with self.emulator("s1", v1_sunset=False) as emu:
            log(f"emulator ready in {emu.startup_s:.1f} s at {emu.url}; warming its render cache")
            emu.warm(READ_STREAMS)
            ours, ours_req = self.run_tap(emu, "s1-full", burst=self.p.burst, streams=READ_STREAMS)
            s1: dict[str, Any] = {"ours": self.summary("ours (tap-pipedrive)", ours, ours_req)}
            one, one_req = self.run_tap(emu, "s1-full-sequential", burst=self.p.burst,
                                        streams=READ_STREAMS, extra=SEQUENTIAL_SETTINGS)
            s1["ours_sequential"] = self.summary(
                f"ours, parallel_streams={SEQUENTIAL_SETTINGS['parallel_streams']} (one stream after another)",
                one, one_req)
            alone, alone_req = self.run_tap(emu, "s1-full-one-process", burst=self.p.burst, streams=READ_STREAMS,
                                            extra=ONE_PROCESS_SETTINGS)
            s1["ours_one_process"] = self.summary(
                f"ours, record_processes={ONE_PROCESS_SETTINGS['record_processes']} (records in the tap's process)",
                alone, alone_req)
            if self.use_peer:
                s1["peer"] = self.run_peer(emu)
            if s1.get("peer"):
                s1["ours_over_peer"] = s1["ours"]["records_per_s"] / s1["peer"]["records_per_s"]
                s1["target_peer_met"] = s1["ours_over_peer"] >= 3.0
            s1["target_bound_met"] = s1["ours"]["of_bound"] >= 0.9
            self.res["scenario1"] = s1
            if run2:
                self.scenario_2(emu, ours)

    def run_peer(self, emu: EmulatorProcess) -> dict[str, Any] | None:
        if not peer_mod.peer_installed():
            self.res["notes"].append("The peer was not run: its virtualenv is missing (`python -m benchmarks.peer`).")
            return None
        config = peer_mod.write_peer_config(self.raw / "peer-config.json", api_token=emu.token)
        catalog = peer_mod.peer_catalog(emu.url, config, self.raw / "peer-catalog.json", READ_STREAMS)
        before = emu.requests()
        cmd = peer_mod.peer_command(emu.url, config, catalog)
        log("peer full sync")
        r = run_measured(cmd, stderr_path=self.raw / "peer-s1-full.stderr")
        if r.returncode != 0:  # the peer is someone else's code: its failure is a finding, not the harness's end
            reason = next((line.strip() for line in r.stderr_tail.splitlines() if "does not match" in line),
                          r.stderr_tail.strip().splitlines()[-1] if r.stderr_tail.strip() else "no output")
            log(f"peer failed (rc={r.returncode}): {reason[:300]}")
            self.res["notes"].append(f"The peer exited {r.returncode} after {r.records:,} records and was not "
                                     f"measured: {reason[:300]}")
            return None
        used = emu.requests() - before
        log(f"peer: {r.records} records, {used} requests, {r.wall_s:.1f} s, {r.records_per_s:,.0f} rec/s")
        self.res["notes"].append(peer_mod.schema_patch_note())
        return self.summary("singer-io tap-pipedrive 2.1.0", r, used)

    def scenario_2(self, emu: EmulatorProcess, full: RunResult) -> None:
        log("scenario 2: change 1 % of records, then an incremental sync from the full sync's state")
        if not full.last_state:
            self.res["notes"].append("Scenario 2 skipped: the full sync emitted no STATE.")
            return
        changes = emu.mutate(fraction=self.p.change_fraction, seed=self.p.seed, streams=READ_STREAMS,
                             child_resource="deal_products", child_fraction=0.25)
        changed = sum(changes["changed"].values())
        variants = []
        for label, tag, streams in (
            ("parents only", "s2-incremental", READ_STREAMS),
            ("with deal children", "s2-incremental-children", READ_STREAMS + INCREMENTAL_CHILDREN),
        ):
            inc, inc_req = self.run_tap(emu, tag, burst=self.p.burst, streams=streams, state=full.last_state)
            variants.append({
                "label": label,
                "streams": streams,
                "records": inc.records,
                "records_by_stream": dict(inc.records_by_stream),
                "requests": inc_req,
                "requests_per_changed": inc_req / changed if changed else None,
                "wall_s": inc.wall_s,
                "wall_vs_full": inc.wall_s / full.wall_s if full.wall_s else None,
            })
        self.res["scenario2"] = {
            "changed": changed,
            "changed_by_stream": changes["changed"],
            "children_added": changes["children_added"],
            "child_streams": INCREMENTAL_CHILDREN,
            "full_requests": self.res["scenario1"]["ours"]["requests"],
            "variants": variants,
            # the headline figures: the run with children
            "requests": variants[-1]["requests"],
            "requests_per_changed": variants[-1]["requests_per_changed"],
        }

    # -- scenario 3 -----------------------------------------------------------------------------------
    def scenario_3(self) -> None:
        log("scenario 3: tap CPU at zero latency and no rate limit, against download + json.loads only")
        with self.emulator("s3", latency_ms=0, burst=NO_LIMIT_BURST) as emu:
            emu.warm(READ_STREAMS)
            tap, tap_req = self.run_tap(emu, "s3-nolatency", burst=NO_LIMIT_BURST, streams=READ_STREAMS)
            alone, alone_req = self.run_tap(emu, "s3-nolatency-one-process", burst=NO_LIMIT_BURST,
                                            streams=READ_STREAMS, extra=ONE_PROCESS_SETTINGS)
            base_json = self.raw / "baseline.json"
            base = run_measured(
                [sys.executable, "-m", "benchmarks.baseline", "--out", str(base_json), emu.url, emu.token,
                 *READ_STREAMS],
                stderr_path=self.raw / "baseline.stderr", count_stdout=False, cwd=str(ROOT),
            ).check()
            base_records = int(json.loads(base_json.read_text())["records"])
            prof = self.raw / "tap-s3.prof"
            self.run_tap(emu, "s3-profile", burst=NO_LIMIT_BURST, streams=READ_STREAMS, profile_to=prof,
                         extra={**SEQUENTIAL_SETTINGS, **ONE_PROCESS_SETTINGS})  # cProfile: one thread, one process
        s3: dict[str, Any] = {
            "tap": self.summary("ours, no latency", tap, tap_req),
            "tap_one_process": self.summary(
                f"ours, record_processes={ONE_PROCESS_SETTINGS['record_processes']}", alone, alone_req),
            "baseline": {
                "records": base_records,
                "wall_s": base.wall_s,
                "cpu_s": base.cpu_s,
                "records_per_s": base_records / base.wall_s if base.wall_s else 0.0,
            },
            "hotspots": hotspots(prof, 15),
            "profile_total_s": profile_total(prof),
        }
        s3["tap_over_baseline"] = s3["tap"]["records_per_s"] / s3["baseline"]["records_per_s"]
        self.res["scenario3"] = s3

    # -- scenario 4 -----------------------------------------------------------------------------------
    def scenario_4(self) -> None:
        log("scenario 4: target creates, updates and bulk deletes at the profile's latency and burst")
        small = {k: min(v, 50) for k, v in self.p.sizes.items()}
        with self.emulator("s4", sizes=small) as emu:
            self.res["scenario4"] = target_bench.run_writes(self, emu)

    # -- scenario 5 -----------------------------------------------------------------------------------
    def scenario_5(self) -> None:
        """Peak RSS of the tap at N / ``memory_factor`` and N with its defaults, also at N/2 (where the request
        budget's pages in flight are full, so the peak says whether memory keeps growing with N) and one stream
        after another; the target at two sizes."""
        log("scenario 5: peak RSS of the tap at N/10, N/2 and N, of the target at two sizes")
        factor = self.p.memory_factor
        small, half, full = f"1/{factor}", "1/2", "1/1"
        sequential = ("-sequential", SEQUENTIAL_SETTINGS)
        plan: dict[str, list[tuple[str, dict[str, Any]]]] = {small: [("", {}), sequential]}
        plan.setdefault(half, [("", {})])  # the same size when the profile's factor is 2
        plan[full] = [("", {}), sequential]
        results: dict[tuple[str, str], RunResult] = {}
        for size, variants in plan.items():
            divisor = int(size.split("/")[1])
            sizes = {k: max(1, v // divisor) for k, v in self.p.sizes.items()}
            name = f"s5-{size.replace('/', 'of')}"
            with self.emulator(name, sizes=sizes, latency_ms=0, burst=NO_LIMIT_BURST) as emu:
                emu.warm(READ_STREAMS)
                for suffix, extra in variants:
                    results[(size, suffix)], _ = self.run_tap(emu, name + suffix, burst=NO_LIMIT_BURST,
                                                              streams=READ_STREAMS, extra=extra)

        def row(label: str, small: RunResult, large: RunResult) -> dict[str, Any]:
            return {"label": label, "small_n": small.records, "small_mb": small.max_rss_mb,
                    "large_n": large.records, "large_mb": large.max_rss_mb}

        rows = [
            row("tap full sync (defaults: five streams at once, two record processes; the tap's own process)",
                results[(small, "")], results[(full, "")]),
            row("tap full sync (defaults), from N/2", results[(half, "")], results[(full, "")]),
            row(f"tap full sync, parallel_streams={SEQUENTIAL_SETTINGS['parallel_streams']}",
                results[(small, "-sequential")], results[(full, "-sequential")]),
        ]
        rows += target_bench.memory_rows(self)
        for r in rows:
            r["change_pct"] = 100.0 * (r["large_mb"] - r["small_mb"]) / r["small_mb"]
        self.res["scenario5"] = {
            "rows": rows,
            "target_met": all(abs(r["change_pct"]) <= 20.0 for r in rows),
        }


SCENARIO_KEYS = ("scenario1", "scenario2", "scenario3", "scenario4", "scenario5")


def merge_previous(res: dict[str, Any], previous_json: Path) -> None:
    """Label each scenario with the run it comes from, and keep the scenarios this run did not measure
    (``--scenarios`` subset) from the previous ``results.json`` in the same directory, labelled with theirs."""
    this_run = f"{res['meta']['started']} UTC (`{res['meta']['command']}`)"
    for key in SCENARIO_KEYS:
        if key in res:
            res[key]["from_run"] = this_run
    try:
        previous = json.loads(previous_json.read_text())
    except (OSError, ValueError):
        return
    prev_meta = previous.get("meta") or {}
    prev_run = f"{prev_meta.get('started', '?')} UTC (`{prev_meta.get('command', '?')}`)"
    kept = []
    for key in SCENARIO_KEYS:
        if key not in res and key in previous:
            res[key] = previous[key]
            res[key].setdefault("from_run", prev_run)
            kept.append(key.removeprefix("scenario"))
    if kept:
        res["notes"].append(f"Scenario(s) {', '.join(kept)} not rerun: figures kept from an earlier run, "
                            "named under each section heading.")


def profile_total(prof: Path) -> float | None:
    if not prof.exists():
        return None
    return float(pstats.Stats(str(prof)).total_tt)  # type: ignore[attr-defined]


def hotspots(prof: Path, n: int) -> list[dict[str, Any]]:
    if not prof.exists():
        return []
    stats = pstats.Stats(str(prof))
    entries = []
    for (filename, line, func), (_cc, nc, tt, ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        short = "/".join(Path(filename).parts[-2:]) if filename != "~" else ""
        entries.append({"function": f"{short}:{line}({func})" if short else func,
                        "tottime": tt, "cumtime": ct, "ncalls": nc})
    entries.sort(key=lambda e: e["tottime"], reverse=True)
    return entries[:n]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__)
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="1/20 of the default data (for development)")
    size.add_argument("--smoke", action="store_true", help="tiny data, low latency (the test suite's check)")
    parser.add_argument("--out", default=None, help="output directory (default benchmarks/results[/quick|/smoke])")
    parser.add_argument("--scenarios", default="1,2,3,4,5", help="comma-separated subset of 1..5")
    parser.add_argument("--no-peer", action="store_true", help="skip singer-io tap-pipedrive")
    parser.add_argument("--with-peer", action="store_true", help="run the peer even with --smoke")
    parser.add_argument("--install-peer", action="store_true", help="create benchmarks/.peer-venv if missing")
    args = parser.parse_args(argv)

    name = "quick" if args.quick else "smoke" if args.smoke else "default"
    profile = PROFILES[name]
    if args.no_peer:
        profile = replace(profile, run_peer=False)
    elif args.with_peer:
        profile = replace(profile, run_peer=True)
    here = Path(__file__).resolve().parent
    out = Path(args.out) if args.out else here / "results" / ("" if name == "default" else name)
    scenarios = {int(s) for s in args.scenarios.split(",") if s.strip()}
    if profile.run_peer and args.install_peer:
        peer_mod.ensure_peer()
    bench = Bench(profile, out, peer=profile.run_peer)
    started = time.time()
    bench.res["meta"] = {
        "profile": name,
        "command": "python -m benchmarks.run" + (f" --{name}" if name != "default" else "")
        + (" " + " ".join(a for a in (argv if argv is not None else sys.argv[1:]) if a not in ("--quick", "--smoke"))
           if (argv if argv is not None else sys.argv[1:]) else ""),
        "started": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M"),
        "machine": f"{platform.machine()}, {_cpus()} CPUs, Python {platform.python_version()}",
        "load_at_start": _load(),
        "seed": profile.seed,
        "latency_ms": profile.latency_ms,
        "burst": profile.burst,
        "custom_fields": profile.custom_fields,
        "sizes": profile.sizes,
        "total_records": profile.total_records,
        "read_bound": profile.read_bound,
        "write_bound": profile.write_bound,
        "sequential_read_bound": profile.sequential_read_bound,
    }
    if 1 in scenarios or 2 in scenarios:
        bench.scenario_1_2(run2=2 in scenarios)
    if 3 in scenarios:
        bench.scenario_3()
    if 4 in scenarios:
        bench.scenario_4()
    if 5 in scenarios:
        bench.scenario_5()
    bench.res["meta"]["duration_s"] = time.time() - started
    bench.res["meta"]["load_at_end"] = _load()
    merge_previous(bench.res, out / "results.json")
    md, png, _ = write_report(bench.res, out)
    log(f"wrote {md} and {png}")
    return 0


def _load() -> str:
    import os  # noqa: PLC0415

    return " / ".join(f"{x:.2f}" for x in os.getloadavg())


def _cpus() -> int:
    import os  # noqa: PLC0415

    return os.cpu_count() or 0


if __name__ == "__main__":
    raise SystemExit(main())
