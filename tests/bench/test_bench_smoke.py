"""Smoke test of the benchmark harness: it runs end to end on tiny data and writes its table and plot.

It checks that the harness works (every scenario produces numbers, the markdown and the PNG exist), never
how fast anything is. The peer (singer-io tap-pipedrive) runs only if ``benchmarks/.peer-venv`` exists.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.peer import peer_installed
from benchmarks.report import render_markdown
from benchmarks.run import merge_previous

ROOT = Path(__file__).resolve().parents[2]

pytest.importorskip("matplotlib")


@pytest.mark.timeout(120)
def test_harness_smoke_run_writes_table_and_plot(tmp_path: Path) -> None:
    cmd = [sys.executable, "-m", "benchmarks.run", "--smoke", "--out", str(tmp_path)]
    if peer_installed():
        cmd.append("--with-peer")
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=110, check=False)
    assert proc.returncode == 0, proc.stderr[-4000:]

    md = (tmp_path / "RESULTS.md").read_text()
    for heading in ("## 1. Tap full sync", "## 2. Tap incremental", "## 3. Tap CPU", "## 4. Target writes",
                    "## 5. Peak memory"):
        assert heading in md, f"missing section {heading!r}\n{md}"
    assert re.search(r"\| ours \(tap-pipedrive\) \| [\d,]+ \| [\d,]+ \|", md), md

    png = (tmp_path / "throughput.png").read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert len(png) > 10_000

    res = json.loads((tmp_path / "results.json").read_text())
    s1 = res["scenario1"]["ours"]
    assert s1["records"] > 0
    assert s1["requests"] > 0
    assert res["scenario2"]["changed"] > 0
    assert res["scenario2"]["requests"] > 0
    assert res["scenario3"]["baseline"]["records"] > 0
    assert res["scenario3"]["hotspots"]
    assert res["scenario4"]["phases"]
    assert all(p["requests"] > 0 for p in res["scenario4"]["phases"])
    assert all(row["small_mb"] > 0 and row["large_mb"] > 0 for row in res["scenario5"]["rows"])


def test_subset_run_keeps_earlier_scenarios_with_their_provenance(tmp_path: Path) -> None:
    earlier = {"meta": {"started": "2026-01-01 10:00", "command": "python -m benchmarks.run"}, "notes": [],
               "scenario2": {"changed": 1, "changed_by_stream": {}, "variants": [], "requests": 1},
               "scenario3": {"old": True}}
    (tmp_path / "results.json").write_text(json.dumps(earlier))
    res = {"meta": {"started": "2026-01-02 11:00", "command": "python -m benchmarks.run --scenarios 3"},
           "notes": [], "scenario3": {"new": True}}
    merge_previous(res, tmp_path / "results.json")
    this = "2026-01-02 11:00 UTC (`python -m benchmarks.run --scenarios 3`)"
    assert res["scenario3"] == {"new": True, "from_run": this}
    assert res["scenario2"]["from_run"] == "2026-01-01 10:00 UTC (`python -m benchmarks.run`)"
    assert "scenario1" not in res
    assert any("2" in note and "earlier run" in note for note in res["notes"])
    meta = {"profile": "default", "command": "x", "started": "s", "machine": "m", "seed": 1, "latency_ms": 1.0,
            "burst": 80, "custom_fields": 1, "sizes": {}, "total_records": 0, "read_bound": 1, "write_bound": 1,
            "sequential_read_bound": 1}
    md = render_markdown({"meta": meta, "notes": [], "scenario2": res["scenario2"]})
    assert "Measured in the run of 2026-01-01 10:00 UTC" in md
