"""The README is a newcomer's page: short, with the commands that work, and every link in the docs resolves.

The links test covers every Markdown file of the repository (README, CHANGELOG, docs/, benchmarks/, …), so a
page added or moved by anyone is checked: relative links must name an existing file, and a ``#fragment`` must
name a heading of the target page (GitHub's anchor rules).
"""

from __future__ import annotations

import re
import sys
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
MAX_README_BYTES = 25_000
SKIPPED_DIRS = {".venv", ".meltano", ".git", "node_modules", ".pytest_cache", ".mypy_cache", ".ruff_cache",
                ".hypothesis", "build", "dist", "output"}
LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
FENCE = re.compile(r"^\s*(```|~~~)")
INLINE_CODE = re.compile(r"`+[^`]*`+")


def markdown_files() -> list[Path]:
    """Every Markdown file of the project, git-ignored tool directories left out."""
    return sorted(p for p in ROOT.rglob("*.md")
                  if not SKIPPED_DIRS.intersection(p.relative_to(ROOT).parts[:-1])
                  and not any(part.startswith(".") for part in p.relative_to(ROOT).parts[:-1]))


def prose_lines(text: str) -> list[str]:
    """The lines outside fenced code blocks."""
    out, fenced = [], False
    for line in text.splitlines():
        if FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            out.append(line)
    return out


def links(path: Path) -> list[str]:
    """The link targets of a Markdown file (code spans and code blocks excluded)."""
    found = []
    for line in prose_lines(path.read_text(encoding="utf-8")):
        found += LINK.findall(INLINE_CODE.sub("", line))
    return found


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = INLINE_CODE.sub(lambda m: m.group(0).strip("`"), heading.strip().lower())
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)  # a link in a heading keeps its text
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """The anchors GitHub generates for a page's headings (repeated headings get -1, -2, …)."""
    seen: Counter[str] = Counter()
    out = set()
    for line in prose_lines(path.read_text(encoding="utf-8")):
        match = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if not match:
            continue
        base = slug(match.group(1))
        out.add(base if not seen[base] else f"{base}-{seen[base]}")
        seen[base] += 1
    return out


@pytest.mark.parametrize("page", markdown_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(page: Path):
    broken = []
    for target in links(page):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.IGNORECASE):  # https:, mailto:, …
            continue
        file_part, _, fragment = target.partition("#")
        dest = (page.parent / file_part).resolve() if file_part else page
        if not dest.exists():
            broken.append(f"{target}: no such file")
        elif fragment and dest.suffix == ".md" and fragment not in anchors(dest):
            broken.append(f"{target}: no heading with anchor #{fragment}")
        elif file_part and ROOT not in dest.parents:
            broken.append(f"{target}: outside the repository")
    assert not broken, f"{page.relative_to(ROOT)}: " + "; ".join(broken)


def test_the_markdown_files_are_found():
    names = {str(p.relative_to(ROOT)) for p in markdown_files()}
    assert {"README.md", "CHANGELOG.md", "docs/tap.md", "docs/target.md", "docs/many-accounts.md"} <= names


def test_readme_is_short_and_has_what_a_newcomer_needs():
    text = README.read_text(encoding="utf-8")
    assert len(text.encode()) < MAX_README_BYTES
    for needle in ("bash scripts/demo.sh", "bash scripts/test.sh", "PORT=18401 bash scripts/demo.sh",
                   "TAP_PIPEDRIVE_API_TOKEN", "--environment=prod", "## Choosing streams", "## Settings",
                   "custom_field_names", "--from-ref", "docs/many-accounts.md"):
        assert needle in text, needle


def test_readme_links_every_docs_page():
    linked = {(README.parent / t.partition("#")[0]).resolve() for t in links(README)}
    missing = [str(p.relative_to(ROOT)) for p in sorted((ROOT / "docs").glob("*.md")) if p.resolve() not in linked]
    assert not missing, f"README.md does not link {missing}: add them to its Documentation table"


def test_readme_names_the_test_command_ci_runs():
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "bash scripts/test.sh" in ci
    assert "bash scripts/test.sh" in README.read_text(encoding="utf-8")


def test_link_checker_catches_broken_links(tmp_path: Path):
    page = tmp_path / "page.md"
    (tmp_path / "other.md").write_text("# Other page\n\n## A `code` heading, with punctuation!\n")
    page.write_text("[ok](other.md#a-code-heading-with-punctuation) [bad](missing.md) "
                    "![img](pic.png) `[not a link](nowhere.md)`\n```\n[in code](nowhere.md)\n```\n")
    assert links(page) == ["other.md#a-code-heading-with-punctuation", "missing.md", "pic.png"]
    assert "a-code-heading-with-punctuation" in anchors(tmp_path / "other.md")


def test_python_claims_match_the_readme():
    """The README names the Python versions the packaging smoke test covers."""
    sys.path.insert(0, str(ROOT))
    from tests.packaging.test_wheel_smoke import CLAIMED

    text = README.read_text(encoding="utf-8")
    assert f"Python {CLAIMED[0]}–{CLAIMED[-1]}" in text
    assert "Apache License" in (ROOT / "LICENSE").read_text(encoding="utf-8")
