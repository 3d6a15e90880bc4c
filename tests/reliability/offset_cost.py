"""Requests of quiet and changing reads of offset-paged lists, with and without the offset guard.

``python -m tests.reliability.offset_cost guard`` (or ``noguard``) prints one line per case; the figures in
docs/reliability.md ("What it costs in requests") come from it. The changing reads use the churn of
``test_offset_under_change.py``: before every page request after the first, a row is updated, one deleted
and one inserted.
"""

from __future__ import annotations

import sys

from pipedrive_core.catalogue import CATALOGUE
from tests.reliability.conftest import small_emulator, sync, tap_config
from tests.reliability.test_offset_under_change import SIZES, Churn, _churn, _plan_sorts_by_update

CASES = (("notes", 7), ("notes", 100), ("leads", 8), ("files", 8))


def main(variant: str) -> None:
    if variant == "noguard":
        import tap_pipedrive.pages as pages

        pages.OffsetGuard.overlaps = lambda self, start, records: True  # type: ignore[method-assign]
        pages.OffsetGuard.after = lambda self, next_start: next_start  # type: ignore[method-assign]
    for name, size in CASES:
        res = CATALOGUE[name]
        for changing in (False, True):
            with small_emulator(seed=7, sizes={**SIZES, "notes": 600}) as emu:
                config = tap_config(emu, page_size=size)
                if changing:
                    sorted_by_update = _plan_sorts_by_update(emu, res, config, None)
                    _churn(emu, res, res.read_path, Churn(), sorted_by_update=sorted_by_update, after=None)
                before = len(emu.requests.snapshot())
                run = sync(config, streams=[name])
                served = [r for r in emu.requests.snapshot()[before:] if r.path == res.read_path]
                print(f"{variant} {name} rows={len(emu.store.tables[name].rows)} page_size={size} "
                      f"changing={changing}: {len(served)} requests, {run.counts.get(name, 0)} records, "
                      f"exit {run.exit_code}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "guard")
