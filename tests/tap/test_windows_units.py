"""Units of the windowed reads: the request budget, the windows' cuts and watermark, and the catalogue facts."""

from __future__ import annotations

import math
from typing import Any

import pytest

from pipedrive_core import openapi
from pipedrive_core.catalogue import Pagination, Replication, active
from tap_pipedrive.incremental import WINDOWS_STATE_KEY, BookmarkKeeper, epoch_seconds, from_epoch_seconds
from tap_pipedrive.inflight import (
    DERIVED_MAX,
    LATENCY_SAMPLES,
    MARGIN,
    READER_MARGIN,
    READER_SAMPLES,
    RequestBudget,
    limiter_rate,
)
from tap_pipedrive.windows import Watermark, Window, _joined


def test_the_budget_is_rate_times_latency_with_a_margin_and_follows_the_fastest_recent_answers() -> None:
    budget = RequestBudget(limiter_rate(lambda: 79, 2.05))
    for elapsed in (0.15, 0.9, 0.2):  # a slow answer (a busy server) does not raise the count in flight
        budget.acquire()
        budget.release(elapsed)
    assert budget.latency == 0.15
    assert budget.size == math.ceil(79 / 2.05 * 0.15 * MARGIN)
    for _ in range(LATENCY_SAMPLES):
        budget.acquire()
        budget.release(0.3)
    assert budget.latency == 0.3  # the old fast answers have left the window
    assert RequestBudget(limiter_rate(lambda: None, 2.05)).size >= 1  # unknown burst: the smallest plan's
    assert RequestBudget(lambda: 10_000.0).size == DERIVED_MAX
    assert RequestBudget(lambda: 10_000.0, cap=3).size == 3


def test_the_budget_keeps_no_more_in_flight_than_the_readers_take_in_a_round_trip() -> None:
    """Little's law on the readers' side: they take one page per (median) CPU time per page, so latency / that
    time pages (with a margin, plus one) cover a round trip; the rate limit's figure still caps it."""
    budget = RequestBudget(lambda: 10_000.0)
    budget.acquire()
    budget.release(0.02)  # a round trip of 20 ms
    assert budget.readers_take is None and budget.size == DERIVED_MAX  # the readers' pace is not known yet
    for cpu in (0.04, 0.04, 3.0):  # a page of 40 ms twice, one outlier (a long checkpoint)
        budget.page_read(cpu)
    assert budget.readers_take == 1 + math.ceil(0.02 / 0.04 * READER_MARGIN)
    assert budget.size == budget.readers_take
    for _ in range(READER_SAMPLES):
        budget.page_read(0.0005)  # light pages now (a list of small records): the readers take more
    assert budget.readers_take == 1 + math.ceil(0.02 / 0.0005 * READER_MARGIN)
    assert budget.size == DERIVED_MAX  # the rate limit's figure is the lower one again
    assert RequestBudget(lambda: 10_000.0, cap=2).size == 2


def test_the_budget_hands_out_no_more_slots_than_its_size() -> None:
    budget = RequestBudget(lambda: 10.0, cap=2)
    assert budget.try_acquire() and budget.try_acquire()
    assert not budget.try_acquire()
    assert not budget.acquire(stop=lambda: True)  # a caller that gives up gets no slot
    budget.release(None)
    assert budget.try_acquire()
    assert budget.peak == 2


def test_pages_waiting_for_any_reader_count_against_the_room_of_every_read() -> None:
    budget = RequestBudget(lambda: 10.0, cap=4)
    assert budget.room(extra=2)
    budget.page_filed()  # another read's page, not taken yet
    assert budget.room(extra=2)
    budget.page_filed()
    assert not budget.room(extra=2)  # two pages wait for their readers: the readers bound the run
    budget.page_filed(-2)
    assert budget.room(extra=2)


def test_a_page_waiting_for_its_reader_takes_the_place_of_a_request() -> None:
    budget = RequestBudget(lambda: 10.0, cap=4)
    assert budget.try_acquire() and budget.try_acquire() and budget.try_acquire()
    assert budget.room(extra=2)  # three in flight, nothing waiting: the size (4) is not reached
    budget.page_filed()  # a fourth page waits although only one fewer than ``extra`` do
    assert not budget.room(extra=2)  # 3 in flight + 1 waiting: every further page would only be held
    budget.release(None)  # an answer came (untimed, so the size stays 4)
    assert budget.room(extra=2)
    assert budget.peak_held == 4


def _records(*seconds: int, start_id: int = 1) -> list[dict[str, Any]]:
    return [{"id": start_id + i, "update_time": from_epoch_seconds(s)} for i, s in enumerate(seconds)]


def test_a_window_cut_after_it_started_drops_what_its_pages_bring_past_the_cut() -> None:
    window = Window(100, None, None)
    window.started = True
    assert window.file(_records(100, 150), "update_time") == _records(100, 150)
    upper = window.cut(200)
    assert (upper.lo, upper.hi, upper.query_hi) == (200, None, None)
    assert window.query_hi is None  # its requests keep asking as before; the cut is applied to what comes back
    kept = window.file(_records(180, 199, 200, 260, start_id=10), "update_time")
    assert [r["id"] for r in kept] == [10, 11]
    fresh = Window(300, 400, 400)
    fresh.cut(350)
    assert fresh.query_hi == 350  # not started: it just asks for less


def test_a_page_going_back_in_time_marks_the_window_misordered() -> None:
    window = Window(0, None, None)
    window.file(_records(50, 60), "update_time")
    assert not window.misordered
    window.file(_records(40, 70, start_id=5), "update_time")
    assert window.misordered


def test_the_watermark_is_the_newest_record_below_the_lowest_unfinished_window_and_names_whole_windows_above(
) -> None:
    import threading

    from tap_pipedrive.windows import WindowedRead

    read = WindowedRead.__new__(WindowedRead)
    read._cond = threading.Condition()
    read.now = 10_000
    first, second, third = Window(100, 200, 200), Window(200, 300, 300), Window(300, None, None)
    read.windows = [first, second, third]
    assert read.watermark() == Watermark()  # nothing handed out: the state as the read found it
    second.started = second.done = True
    assert read.watermark() == Watermark(done=((200, 300),))
    first.handed_out(_records(120, 150, 150, start_id=7), "update_time", "id")
    assert read.watermark() == Watermark(from_epoch_seconds(150), frozenset({8, 9}), done=((200, 300),))
    first.started = first.done = True
    # the windows below the third are finished: the newest record they handed out is the bookmark
    assert read.watermark() == Watermark(from_epoch_seconds(150), frozenset({8, 9}))
    third.handed_out(_records(320, start_id=20), "update_time", "id")
    assert read.watermark() == Watermark(from_epoch_seconds(320), frozenset({20}))
    third.done = True
    assert read.watermark() == Watermark(complete=True)
    third.misordered = True
    assert read.watermark().frozen


def test_the_keeper_writes_the_watermark_and_keeps_singer_sdks_bookmark_at_it() -> None:
    state: dict[str, Any] = {"replication_key_value": from_epoch_seconds(50)}
    keeper = BookmarkKeeper(state, start=from_epoch_seconds(50), floor=from_epoch_seconds(50), key="id")
    marks = [Watermark(from_epoch_seconds(120), frozenset({4}), done=((200, 300),))]
    keeper.follow(lambda: marks[-1])
    keeper.admit(9, from_epoch_seconds(250))
    state["replication_key_value"] = from_epoch_seconds(250)  # what singer-sdk writes for the record it just wrote
    keeper.hold()
    assert state["replication_key_value"] == from_epoch_seconds(50)  # nothing covered yet beyond the start
    keeper.checkpoint()
    assert state["replication_key_value"] == from_epoch_seconds(120)
    assert state["boundary"] == {"second": from_epoch_seconds(120), "ids": [4]}
    assert state[WINDOWS_STATE_KEY] == [[from_epoch_seconds(200), from_epoch_seconds(300)]]
    state["replication_key_value"] = from_epoch_seconds(250)
    keeper.hold()
    assert state["replication_key_value"] == from_epoch_seconds(120)
    marks.append(Watermark(complete=True))
    keeper.checkpoint()
    keeper.finish()
    assert state["replication_key_value"] == from_epoch_seconds(250)
    assert WINDOWS_STATE_KEY not in state


def test_a_resumed_read_gets_the_whole_windows_of_its_state_to_skip() -> None:
    state = {"replication_key_value": from_epoch_seconds(50),
             WINDOWS_STATE_KEY: [[from_epoch_seconds(200), from_epoch_seconds(300)], ["x", 1]]}
    keeper = BookmarkKeeper(state, start=from_epoch_seconds(50), floor=from_epoch_seconds(50), key="id")
    assert keeper.windows_done == [(200, 300)]
    assert WINDOWS_STATE_KEY not in state  # a read that is not windowed simply reads them again


def test_epoch_seconds_round_trip() -> None:
    assert from_epoch_seconds(epoch_seconds("2026-11-30 08:00:00") or 0) == "2026-11-30T08:00:00Z"
    assert epoch_seconds(None) is None


def test_updated_until_in_the_catalogue_is_what_the_openapi_documents_say() -> None:
    """Every v2 list read incrementally takes ``updated_until`` exactly when the catalogue says so (the tap cuts
    only those lists into windows)."""
    spec_dir = openapi.default_spec_dir()
    if spec_dir is None:
        pytest.skip("Pipedrive OpenAPI documents not available")
    resolver = openapi.Resolver(openapi.load_documents(spec_dir)[2])
    checked = 0
    for res in active():
        if res.read_version != 2 or res.replication is not Replication.UPDATED_SINCE or res.parent:
            continue
        for path in filter(None, (res.read_path, res.archived_path if res.archived_updated_since else None)):
            operation = resolver.find_operation(openapi.split_version(path)[1])
            assert operation is not None, path
            names = {resolver.deref(p).get("name") for p in operation.get("parameters", [])}
            assert ("updated_until" in names) is res.updated_until, path
            checked += 1
        assert res.pagination is Pagination.CURSOR or not res.updated_until
    assert checked >= 5


def test_whole_windows_of_a_state_that_touch_or_overlap_are_skipped_as_one() -> None:
    assert _joined([(50, 60), (10, 20), (20, 30), (25, 40)]) == [(10, 40), (50, 60)]
    assert _joined([(10, 20), (21, 30)]) == [(10, 20), (21, 30)]
    assert _joined([]) == []


def test_finished_windows_do_not_stop_a_read_from_cutting_what_is_left() -> None:
    """Near its end a read has many finished windows and a few long chains left; while slots idle, those chains are
    still cut (the cap counts the windows being read, not those done, and the total stays bounded)."""
    from tap_pipedrive.windows import MAX_WINDOWS, WINDOWS_PER_SLOT

    read = _bare_read(now=100_000)
    finished, last = _handed_out_and_open(20)  # more than WINDOWS_PER_SLOT * 8 handed out whole
    read.windows = [*finished, last]
    assert len(read.windows) > WINDOWS_PER_SLOT * read.budget.size
    upper = read._cut()
    assert upper is not None and upper.lo is not None and upper.lo > 2_099
    assert read.windows[-1] is upper
    read.windows = [*finished * (MAX_WINDOWS // len(finished) + 1), last][-MAX_WINDOWS:]
    assert read._cut() is None  # the state's list of whole windows stays bounded


def test_windows_beyond_two_per_slot_carry_four_pages_each_on_average() -> None:
    """Each window ends in a partly filled page: once a read has more windows than two per request slot, it cuts
    again only while its windows carry four pages each on average (fetched and still expected), so the windows
    add at most about an eighth to its requests."""
    from tap_pipedrive.windows import PAGES_PER_WINDOW, WINDOWS_PER_SLOT

    read = _bare_read(now=3_000)
    finished, last = _handed_out_and_open(20)  # twenty small windows handed out whole: one page each
    read.windows = [*finished, last]
    expected_pages = last.expected(read.now, read._density()) / 500
    assert expected_pages >= 4  # worth a cut by itself
    assert (21 + expected_pages) / PAGES_PER_WINDOW < len(read.windows) > WINDOWS_PER_SLOT * 8
    assert read._cut() is None
    read.now = 100_000  # far more still expected in the open window: the windows carry enough again
    assert read._cut() is not None


def _handed_out_and_open(count: int) -> tuple[list[Window], Window]:
    """``count`` windows of 100 s handed out whole, one page of 500 records each, and the open window above them,
    which has fetched one full page of the next 100 s."""
    finished = []
    for lo in range(0, count * 100, 100):
        window = Window(lo, lo + 100, lo + 100, started=True, done=True)
        window.dated = window.fetched = 500
        window.first, window.last = lo, lo + 99
        finished.append(window)
    top = count * 100
    last = Window(top, None, None, started=True)
    last.dated, last.first, last.last, last.fetched, last.more = 500, top, top + 99, 500, True
    return finished, last


def _bare_read(now: int) -> Any:
    """A windowed read with only what cutting looks at: its clock, page size and a budget of eight slots."""
    import threading
    from types import SimpleNamespace

    from tap_pipedrive.windows import WindowedRead

    read = WindowedRead.__new__(WindowedRead)
    read._cond = threading.Condition()
    read.now = now
    read.plan = SimpleNamespace(page_limit=500)
    read.budget = RequestBudget(lambda: 10.0, cap=8)
    return read
