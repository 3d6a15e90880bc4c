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
