"""Render the results of a run: ``RESULTS.md`` (tables) and ``throughput.png`` (plot)."""

from __future__ import annotations

import json
import math
import textwrap
from pathlib import Path
from typing import Any

#: the rows of scenario 1 in results (``ours_parallel``: runs from before five streams at once became the default)
ROWS_OF_SCENARIO_1 = ("ours", "ours_sequential", "ours_one_process", "ours_parallel", "peer")


def _f(value: Any, digits: int = 2) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if math.isinf(value) or math.isnan(value):
            return "—"
        if abs(value) >= 1000:
            return f"{value:,.0f}"
        return f"{value:.{digits}f}"
    return str(value)


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(_f(c) for c in row) + " |" for row in rows]
    return lines


def _target(met: bool | None) -> str:
    if met is None:
        return "not measured"
    return "**met**" if met else "**not met**"


def _run_of(section: dict[str, Any]) -> list[str]:
    return [f"Measured in the run of {section['from_run']}.", ""] if section.get("from_run") else []


def render_markdown(res: dict[str, Any]) -> str:
    meta = res["meta"]
    out: list[str] = [
        f"# Benchmark results — profile `{meta['profile']}`",
        "",
        f"Command: `{meta['command']}`  ",
        f"Run at {meta['started']} UTC on {meta['machine']}; took {_f(meta.get('duration_s'), 0)} s; "
        f"load average (1/5/15 min) {meta.get('load_at_start', '?')} at the start, {meta.get('load_at_end', '?')} "
        "at the end (other work on the machine skews CPU-bound figures).  ",
        f"Emulator: seed {meta['seed']}, latency {_f(meta['latency_ms'], 0)} ms, burst {meta['burst']} requests / 2 s, "
        f"{meta['custom_fields']} custom fields per entity. Data: "
        + ", ".join(f"{_f(v)} {k}" for k, v in meta["sizes"].items())
        + f" ({_f(meta['total_records'])} records).  ",
        f"Bounds: reads {_f(meta['read_bound'])} records/s (500 records × {meta['burst']} / 2 s); "
        f"writes {_f(meta['write_bound'])} requests/s; a sequential reader at this latency reaches at most "
        f"{_f(meta['sequential_read_bound'])} records/s.",
        "",
    ]
    s1 = res.get("scenario1")
    if s1:
        out += ["## 1. Tap full sync", "", *_run_of(s1)]
        rows = []
        for who in ROWS_OF_SCENARIO_1:
            r = s1.get(who)
            if not r:
                continue
            rows.append([
                r["label"], r["records"], r["requests"], r["wall_s"], r["records_per_s"], r["of_bound"],
                r.get("startup_s"), r.get("streaming_records_per_s"), r["records_per_request"], r["cpu_s"],
                r["max_rss_mb"],
            ])
        out += _table(
            ["tap", "records", "requests", "wall s", "records/s", "÷ bound", "s to 1st record",
             "records/s after 1st", "records/request", "CPU s", "peak RSS MB"],
            rows,
        )
        out += [
            "",
            f"Ours ÷ singer-io: **{_f(s1.get('ours_over_peer'))}×**. "
            f"Targets: ≥ 0.9 of the bound — {_target(s1.get('target_bound_met'))}; "
            f"≥ 3× singer-io — {_target(s1.get('target_peer_met'))}.",
        ]
        if s1.get("peer_note"):
            out += ["", s1["peer_note"]]
        out += [""]
    s2 = res.get("scenario2")
    if s2:
        out += ["## 2. Tap incremental after changing 1 % of records", "", *_run_of(s2)]
        out += _table(
            ["incremental run", "changed records", "records emitted", "requests", "requests / changed record",
             "wall s", "wall ÷ full sync"],
            [[v["label"], s2["changed"], v["records"], v["requests"], v["requests_per_changed"], v["wall_s"],
              v["wall_vs_full"]] for v in s2["variants"]],
        )
        out += ["", f"Changed per stream: {s2['changed_by_stream']}; deal products added to changed deals: "
                f"{s2.get('children_added', 0)}; child streams of the second run: "
                f"{', '.join(s2.get('child_streams') or [])} (read for changed deals only). "
                f"The full sync used {_f(s2.get('full_requests'))} requests.", ""]
    s3 = res.get("scenario3")
    if s3:
        out += ["## 3. Tap CPU (no latency, no rate limit)", "", *_run_of(s3)]
        rows = [["tap full sync (defaults; CPU includes the record processes)", s3["tap"]["records"],
                 s3["tap"]["wall_s"], s3["tap"]["records_per_s"],
                 s3["tap"].get("streaming_records_per_s"), s3["tap"]["cpu_s"]]]
        if s3.get("tap_one_process"):
            w = s3["tap_one_process"]
            rows.append(["tap full sync, record_processes=0 (every record in the tap's process)", w["records"],
                         w["wall_s"], w["records_per_s"], w.get("streaming_records_per_s"), w["cpu_s"]])
        b = s3["baseline"]
        rows.append(["download + json.loads only", b["records"], b["wall_s"], b["records_per_s"], None, b["cpu_s"]])
        out += _table(["run", "records", "wall s", "records/s", "records/s after 1st record", "CPU s"], rows)
        out += ["", f"Tap ÷ download-only: **{_f(s3['tap_over_baseline'])}** of the baseline's rate. cProfile "
                f"total: {_f(s3.get('profile_total_s'))} s.", ""]
        if s3.get("hotspots"):
            out += ["Top functions by own time (cProfile of the tap at zero latency, one stream after another: "
                    "cProfile sees only the thread that writes the records):", ""]
            out += _table(["function", "own s", "cumulative s", "calls"],
                          [[h["function"], h["tottime"], h["cumtime"], h["ncalls"]] for h in s3["hotspots"]])
            out += [""]
    s4 = res.get("scenario4")
    if s4:
        out += ["## 4. Target writes", "", *_run_of(s4)]
        rows = [[p["label"], p["records"], p["requests"], p["wall_s"], p["requests_per_s"], p["of_bound"]]
                for p in s4["phases"]]
        out += _table(["phase", "records", "requests", "wall s", "requests/s", "÷ bound"], rows)
        bulk = s4.get("bulk_delete")
        if bulk:
            out += ["", f"Bulk delete ({bulk['resource']}): {_f(bulk['ids'])} ids in {_f(bulk['requests'])} "
                    f"requests = **{_f(bulk['ids_per_request'])} ids/request** "
                    f"(single-delete resources: 1 id/request)."]
        out += ["", f"Target ≥ 0.9 of the write bound — {_target(s4.get('target_bound_met'))}.", ""]
    s5 = res.get("scenario5")
    if s5:
        out += ["## 5. Peak memory (RSS)", "", *_run_of(s5)]
        rows = [[m["label"], m["small_n"], m["small_mb"], m["large_n"], m["large_mb"], m["change_pct"]]
                for m in s5["rows"]]
        out += _table(["process", "records, smaller run", "peak MB", "records, larger run", "peak MB", "change %"],
                      rows)
        out += ["", f"Within ±20 % — {_target(s5.get('target_met'))}.", ""]
    if res.get("notes"):
        out += ["## Notes", ""] + [f"- {n}" for n in res["notes"]] + [""]
    out += ["![throughput](throughput.png)", ""]
    return "\n".join(out)


def _wrapped(label: str, width: int = 34) -> str:
    return textwrap.fill(" ".join(label.split()), width)


def _plot_reads(ax: Any, res: dict[str, Any]) -> None:
    meta = res["meta"]
    labels, values = [], []
    s1 = res.get("scenario1") or {}
    short = {"ours": "ours", "ours_sequential": "ours, one stream after another",
             "ours_one_process": "ours, records in the tap's process",
             "ours_parallel": "ours, 5 streams at once", "peer": "singer-io 2.1.0"}
    for who in ROWS_OF_SCENARIO_1:
        if s1.get(who):
            labels.append(_wrapped(f"{short[who]} @{meta['latency_ms']:.0f} ms"))
            values.append(s1[who]["records_per_s"])
    s3 = res.get("scenario3") or {}
    if s3:
        labels += ["ours @0 ms", "download + json.loads @0 ms"]
        values += [s3["tap"]["records_per_s"], s3["baseline"]["records_per_s"]]
    ax.barh(labels[::-1], values[::-1], color="tab:blue")
    for y, value in enumerate(values[::-1]):
        ax.annotate(f" {value:,.0f}", (value, y), va="center", fontsize=8)
    ax.set_xscale("log")
    ax.axvline(meta["read_bound"], color="red", linestyle="--", label=f"rate-limit bound {meta['read_bound']:,.0f}/s")
    ax.axvline(meta["sequential_read_bound"], color="purple", linestyle=":",
               label=f"one request at a time @ {meta['latency_ms']:.0f} ms: {meta['sequential_read_bound']:,.0f}/s")
    ax.set_xlim(right=2.2 * max([*values, meta["read_bound"]]))  # room for the figures at the bars' ends
    ax.set_xlabel("records / s (log)")
    ax.set_title("Scenarios 1 and 3: read throughput")
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.25), ncol=2)
    ax.tick_params(axis="y", labelsize=8)


def _plot_writes(ax: Any, res: dict[str, Any]) -> None:
    meta = res["meta"]
    phases = (res.get("scenario4") or {}).get("phases") or []
    ax.barh([_wrapped(p["label"]) for p in phases][::-1], [p["requests_per_s"] for p in phases][::-1],
            color="tab:blue")
    ax.axvline(meta["write_bound"], color="red", linestyle="--", label=f"bound {meta['write_bound']:.0f} req/s")
    ax.set_xlabel("requests / s")
    ax.set_title("Scenario 4: target writes")
    ax.legend(fontsize=8, loc="lower right")
    ax.tick_params(axis="y", labelsize=8)


def _plot_memory(ax: Any, res: dict[str, Any]) -> None:
    rows = (res.get("scenario5") or {}).get("rows") or []
    height = 0.38
    ys = range(len(rows))[::-1]
    ax.barh([y + height / 2 for y in ys], [r["small_mb"] for r in rows], height, label="smaller run")
    ax.barh([y - height / 2 for y in ys], [r["large_mb"] for r in rows], height, label="larger run")
    ax.set_yticks(list(ys), [_wrapped(r["label"]) for r in rows], fontsize=8)
    ax.set_xlabel("peak RSS (MB)")
    ax.set_title("Scenario 5: peak memory")
    ax.legend(fontsize=8, loc="lower right")


def render_plot(res: dict[str, Any], path: Path) -> None:
    """One panel per scenario the run measured, labels on horizontal bars so that long ones stay readable."""
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    panels = [plot for plot, present in (
        (_plot_reads, res.get("scenario1") or res.get("scenario3")),
        (_plot_writes, (res.get("scenario4") or {}).get("phases")),
        (_plot_memory, (res.get("scenario5") or {}).get("rows")),
    ) if present]
    fig, axes = plt.subplots(len(panels) or 1, 1, figsize=(10, 3.6 * max(1, len(panels))), squeeze=False)
    for plot, ax in zip(panels, axes[:, 0], strict=False):
        plot(ax, res)
    fig.suptitle(f"tap/target-pipedrive benchmarks — profile {res['meta']['profile']}", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_report(res: dict[str, Any], out_dir: Path) -> tuple[Path, Path, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    md = out_dir / "RESULTS.md"
    png = out_dir / "throughput.png"
    js = out_dir / "results.json"
    js.write_text(json.dumps(res, indent=2, default=str))
    md.write_text(render_markdown(res))
    render_plot(res, png)
    return md, png, js
