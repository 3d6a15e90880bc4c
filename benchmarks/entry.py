"""Run a component of this repository by name, without relying on installed console scripts.

``python -m benchmarks.entry tap|target ARGS...`` — the same as ``tap-pipedrive ARGS`` / ``target-pipedrive
ARGS`` from ``pyproject.toml``'s ``[project.scripts]``, but it works from a fresh clone (cwd = repository
root) and under ``python -m cProfile -o FILE -m benchmarks.entry ...``. The harness measures the product as
it is (the per-record fast path and the page prefetch, once benchmark-only variants, are in the tap).
"""

from __future__ import annotations

import sys


def main() -> None:
    which = sys.argv[1]
    sys.argv = [f"{which}-pipedrive", *sys.argv[2:]]
    if which == "tap":
        from tap_pipedrive.tap import TapPipedrive  # noqa: PLC0415

        TapPipedrive.cli()
    elif which == "target":
        from target_pipedrive.target import TargetPipedrive  # noqa: PLC0415

        TargetPipedrive.cli()
    else:
        raise SystemExit(f"unknown component {which!r}: use tap or target")


if __name__ == "__main__":
    main()
