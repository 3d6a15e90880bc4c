"""README.md is the assembly of docs/*.md and the latest benchmark results; it must not go stale."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_readme_is_current():
    result = subprocess.run([sys.executable, "scripts/build_readme.py", "--check"], cwd=ROOT,
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr


def test_readme_has_the_sections_users_need():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    for needle in ("bash scripts/demo.sh", "bash scripts/test.sh", "| stream | endpoint | API | replication | key |",
                   "| setting | type | default | description |", "reverse ETL", "## Reliability and security",
                   "## Benchmarks", "throughput.png"):
        assert needle in text, needle
