"""Run a component of this repository by name, without relying on installed console scripts.

``python -m benchmarks.entry tap|tap-fast|target ARGS...`` — the same as ``tap-pipedrive ARGS`` / ``target-pipedrive
ARGS`` from ``pyproject.toml``'s ``[project.scripts]``, but it works from a fresh clone (cwd = repository
root) and under ``python -m cProfile -o FILE -m benchmarks.entry ...``.
"""

from __future__ import annotations

import sys


def main() -> None:
    which = sys.argv[1]
    sys.argv = [f"{which.split('-')[0]}-pipedrive", *sys.argv[2:]]
    if which in ("tap", "tap-fast"):
        from tap_pipedrive.tap import TapPipedrive  # noqa: PLC0415

        if which == "tap-fast":  # the proposed per-record fast path (benchmarks/tap_fastpath.py)
            from benchmarks.tap_fastpath import install  # noqa: PLC0415

            install()

        TapPipedrive.cli()
    elif which == "target":
        from target_pipedrive.target import TargetPipedrive  # noqa: PLC0415

        TargetPipedrive.cli()
    else:
        raise SystemExit(f"unknown component {which!r}: use tap, tap-fast or target")


if __name__ == "__main__":
    main()
