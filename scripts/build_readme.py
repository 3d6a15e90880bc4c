"""Assemble README.md from the documentation fragments in docs/ and the latest benchmark results.

Each part of the product documents itself in one fragment (``docs/tap.md`` has tables generated from the
catalogue by ``python -m tap_pipedrive.docs``); the README is their concatenation, so nothing is written
twice. ``python scripts/build_readme.py --check`` fails when README.md is stale (a test runs it).
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
PARTS = ("overview.md", "tap.md", "target.md", "reliability.md", "benchmarks.md")
RESULTS = ROOT / "benchmarks" / "results" / "RESULTS.md"


def demote(text: str, levels: int) -> str:
    """Add ``levels`` '#' to every Markdown heading outside code fences."""
    out: list[str] = []
    fenced = False
    for line in text.splitlines():
        if line.lstrip().startswith(("```", "~~~")):
            fenced = not fenced
        out.append("#" * levels + line if not fenced and line.startswith("#") else line)
    return "\n".join(out).strip() + "\n"


def top_level(text: str) -> int:
    """The level of the fragment's first heading."""
    for line in text.splitlines():
        if line.startswith("#"):
            return len(line) - len(line.lstrip("#"))
    return 2


def build() -> str:
    """The README's text."""
    chunks: list[str] = []
    for name in PARTS:
        text = (ROOT / "docs" / name).read_text(encoding="utf-8")
        if name == "overview.md":
            chunks.append(text.strip() + "\n")
            continue
        chunks.append(demote(text, max(0, 2 - top_level(text))))
    if RESULTS.is_file():
        results = RESULTS.read_text(encoding="utf-8")
        results = results.replace("](throughput.png)", "](benchmarks/results/throughput.png)")
        chunks.append(demote(results, max(0, 3 - top_level(results))))
    return "\n".join(chunks)


def main() -> int:
    """Write README.md, or with ``--check`` report whether it is current."""
    text = build()
    if "--check" in sys.argv[1:]:
        if README.read_text(encoding="utf-8") != text:
            print("README.md is stale: run python scripts/build_readme.py", file=sys.stderr)
            return 1
        return 0
    README.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
