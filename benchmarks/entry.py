"""Run a component of this repository by name, without relying on installed console scripts.

``python -m benchmarks.entry tap|target ARGS...`` — the same as ``tap-pipedrive ARGS`` / ``target-pipedrive
ARGS`` from ``pyproject.toml``'s ``[project.scripts]``, but it works from a fresh clone (cwd = repository
root) and under ``python -m cProfile -o FILE -m benchmarks.entry ...``.

Benchmark-only variants of the tap add proposed changes with ``+``: ``tap+fast`` (per-record fast path,
``benchmarks/tap_fastpath.py``), ``tap+prefetch`` (next page in flight, ``benchmarks/tap_prefetch.py``),
``tap+fast+prefetch``; ``tap-fast`` is an alias of ``tap+fast``.
"""

from __future__ import annotations

import sys


def main() -> None:
    which = sys.argv[1].replace("tap-fast", "tap+fast")
    base, *extras = which.split("+")
    sys.argv = [f"{base}-pipedrive", *sys.argv[2:]]
    if base == "tap":
        from tap_pipedrive.tap import TapPipedrive  # noqa: PLC0415

        if "fast" in extras:
            from benchmarks.tap_fastpath import install as install_fast  # noqa: PLC0415

            install_fast()
        if "prefetch" in extras:
            from benchmarks.tap_prefetch import install as install_prefetch  # noqa: PLC0415

            install_prefetch()
        TapPipedrive.cli()
    elif base == "target" and not extras:
        from target_pipedrive.target import TargetPipedrive  # noqa: PLC0415

        TargetPipedrive.cli()
    else:
        raise SystemExit(f"unknown component {which!r}: use tap[+fast][+prefetch] or target")


if __name__ == "__main__":
    main()
