"""The page loop's read-ahead slots: every slot of the run's request budget taken for a page read ahead comes back,
whether the read ends or stops half-way, and nothing of the read is left in flight."""

from __future__ import annotations

from itertools import islice
from typing import Any

import pytest

from pipedrive_core.catalogue import CATALOGUE
from pipedrive_emulator.server import Emulator
from tap_pipedrive import pages
from tap_pipedrive.tap import TapPipedrive
from tests.reliability.conftest import small_emulator, tap_config


def _notes_read(emu: Emulator, **extra: Any) -> tuple[TapPipedrive, pages.PageLoop]:
    tap = TapPipedrive(config=tap_config(emu, page_size=10, burst_limit=400, **extra), parse_env_config=False)
    stream = tap.streams["notes"]
    stream._write_starting_replication_value(None)
    return tap, pages.PageLoop(stream, None, stream.read_plan(None), pages.ReadStats())


@pytest.mark.parametrize("stop_after", [None, 45, 95])
def test_every_budget_slot_taken_for_a_page_read_ahead_comes_back(stop_after: int | None,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pages, "READ_AHEAD_EVERY", 1)
    with small_emulator(sizes={"notes": 200}, latency_ms=20) as emu:
        tap, loop = _notes_read(emu)
        records = loop.records()
        got = list(records if stop_after is None else islice(records, stop_after))
        if stop_after is not None:
            records.close()  # the consumer stops: the run is stopping
        assert loop.stats.read_ahead > 0
        assert tap.request_budget.in_flight == 0
        assert tap.request_budget.pages_waiting == 0
        assert all(f.done() for f in loop.unused) and not loop.beyond
        path = CATALOGUE["notes"].read_path.split("?", 1)[0]
        served = sum(1 for r in emu.requests.snapshot() if r.path == path)
        assert served == loop.stats.requests  # every request counted, those dropped included
        if stop_after is None:
            assert len({r["id"] for r in got}) == 200 == len(got)


def test_max_requests_in_flight_1_reads_nothing_ahead(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pages, "READ_AHEAD_EVERY", 1)
    with small_emulator(sizes={"notes": 200}) as emu:
        _, loop = _notes_read(emu, max_requests_in_flight=1)
        assert len(list(loop.records())) == 200
        assert loop.stats.read_ahead == 0 and loop.stats.end_rereads == 0


def test_the_successor_of_a_full_page_is_what_the_answer_names(monkeypatch: pytest.MonkeyPatch) -> None:
    """The starts read ahead are those the answers then name (none is dropped on a quiet list but past the end)."""
    monkeypatch.setattr(pages, "READ_AHEAD_EVERY", 1)
    with small_emulator(sizes={"notes": 200}, latency_ms=20) as emu:
        _, loop = _notes_read(emu)
        assert len(list(loop.records())) == 200
        assert loop.successor(0) == 9  # ten rows asked one row early
        # the pages read ahead and not used are only those past the end (ten-row pages, one row of overlap)
        past_end = sum(1 for r in emu.requests.snapshot()
                       if r.path == "/v1/notes" and int(r.query.get("start", 0)) >= 200)
        assert loop.stats.read_ahead_unused == past_end > 0
        assert loop.stats.end_rereads == 1
