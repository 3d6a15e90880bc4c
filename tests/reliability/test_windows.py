"""Large v2 lists read as update-time windows side by side (:mod:`tap_pipedrive.windows`), generated over every
catalogue resource that takes ``updated_until``.

The emulator answers after 30 ms and the tap may send 400 requests per window, so the request budget allows
several requests in flight and every read below is cut into windows (each test checks that it was, from the
requests' ``updated_since``). Accounting is exact against the emulator's store; every STATE is checked to cover
only written records: every record updated before its bookmark, and those at the bookmark second it names, were
written before it.
"""

from __future__ import annotations

import copy
import signal
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from pipedrive_core.catalogue import Resource, active
from tap_pipedrive.incremental import normalize_timestamp
from tap_pipedrive.inflight import RequestBudget
from tap_pipedrive.windows import WindowedRead
from tests.reliability.conftest import (
    assert_resumed_from_state,
    assert_states_cover_only_written,
    daily_runs,
    held_records,
    latest,
    log_tail,
    signalled_messages,
    signalled_tap,
    small_emulator,
    sync,
    tap_config,
    truth,
)
from tests.reliability.test_offset_under_change import Churn, _assert_disturbed_read, _assert_exact_after, _churn
from tests.tap.conftest import SyncResult

WINDOWED = [pytest.param(r, id=r.name) for r in active() if r.updated_until]
SIZES = {"deals": 240, "persons": 200, "organizations": 160, "activities": 240}
#: ten rows a page: twenty pages or more per list; a generous burst so the budget allows several in flight
WINDOW_SETTINGS: dict[str, Any] = {"page_size": 10, "burst_limit": 400, "reconcile_deletes": []}
LATENCY_MS = 30


def _config(emu: Any, **extra: Any) -> dict[str, Any]:
    return tap_config(emu, **WINDOW_SETTINGS, **extra)


def _windows(emu: Any, res: Resource) -> int:
    """How many windows the reads of ``res``'s main list were cut into: each window after the first asks from its
    own start (``updated_since``), the first one keeps the read's own request."""
    path = res.read_path.split("?", 1)[0]
    return len({r.query["updated_since"] for r in emu.requests.snapshot()
                if r.path == path and "updated_since" in r.query and r.query.get("limit") != "1"}) + 1


def _page_requests(emu: Any, res: Resource) -> int:
    path = res.read_path.split("?", 1)[0]
    return sum(1 for r in emu.requests.snapshot() if r.path == path)


def _held_main(emu: Any, res: Resource) -> dict[str, list[dict[str, Any]]]:
    """The list's records (its live list where it has an archived one) as the emulator holds them."""
    return {res.name: held_records(emu, res.name, _main_list(emu, res))}


def _main_list(emu: Any, res: Resource) -> set[tuple[Any, str | None]]:
    table = emu.store.tables[res.name]
    return {v for v in truth(emu, res.name)
            if not (res.archived_path and table.rows[v[0]].data.get("is_archived"))}


@pytest.mark.parametrize("res", WINDOWED)
def test_a_windowed_full_read_is_exact_and_every_state_covers_only_written_records(res: Resource) -> None:
    with small_emulator(sizes=SIZES, latency_ms=LATENCY_MS) as emu:
        want = _main_list(emu, res)
        held = _held_main(emu, res)
        run = sync(_config(emu), streams=[res.name])
        assert run.exit_code == 0, log_tail(run.log)
        windows = _windows(emu, res)
        assert windows > 2, "the read was not cut into windows"
        assert latest(run.messages, res.name) == truth(emu, res.name)
        ids = [m["record"]["id"] for m in run.messages if m.get("type") == "RECORD" and m["stream"] == res.name]
        assert len(ids) == len(set(ids)), "a record was written twice"
        assert assert_states_cover_only_written(run.messages, held) > 5
        # what the windows cost: every page once, plus about one partly filled page per window and the one
        # question a whole-list read asks before it is cut
        pages = -(-len(want) // WINDOW_SETTINGS["page_size"])
        main = _page_requests(emu, res) - (2 if res.archived_path else 0)  # the archived list: its own reads
        assert main <= pages + windows + 3, (main, pages, windows)


@pytest.mark.parametrize("res", WINDOWED)
def test_a_windowed_read_loses_nothing_while_the_list_changes(res: Resource) -> None:
    """Before every page request: the first row of the list (by update time) is changed and moves to the open
    last window, the second is deleted, a new one is inserted."""
    with small_emulator(sizes=SIZES, latency_ms=LATENCY_MS) as emu:
        config = _config(emu)
        churn = Churn()
        calm = emu.handle
        _churn(emu, res, res.read_path.split("?", 1)[0], churn, sorted_by_update=True, after=None)
        run = sync(config, streams=[res.name])
        assert run.exit_code == 0, log_tail(run.log)
        assert _windows(emu, res) > 2, "the read was not cut into windows"
        _assert_disturbed_read(run, emu, res, churn, rereads_changes=True)
        emu.handle = calm  # type: ignore[method-assign]
        quiet = sync(config, streams=[res.name], state=run.state)
        assert quiet.exit_code == 0, log_tail(quiet.log)
        _assert_exact_after([*run.messages, *quiet.messages], emu, res, churn.deleted)


@pytest.mark.parametrize("res", WINDOWED)
def test_a_windowed_read_stopped_midway_resumes_without_a_gap(res: Resource) -> None:
    """The daily budget runs out in the middle of a windowed read, day after day: each day's STATEs cover only
    written records, and the days together deliver every record."""
    with small_emulator(sizes=SIZES, latency_ms=LATENCY_MS) as probe:
        spent = probe.limiter.spent
        assert sync(_config(probe), streams=[res.name]).exit_code == 0
        full = probe.limiter.spent - spent
    with small_emulator(sizes=SIZES, latency_ms=LATENCY_MS) as emu:
        held = _held_main(emu, res)
        runs = daily_runs(emu, _config(emu), [res.name], full * 2 // 5,
                          each_day=lambda messages: assert_states_cover_only_written(messages, held))
        assert len(runs) >= 2, "the budget never ran out"
        messages = [m for r in runs for m in r.messages]
        assert latest(messages, res.name) == truth(emu, res.name)
        assert_resumed_from_state(runs, [res.name])


def _resumed_with_windows_done(state: Mapping[str, Any], stream: str, bookmark: str,
                               done: list[list[str]]) -> dict[str, Any]:
    """``state`` with the main list's bookmark moved back to ``bookmark`` and ``done`` as its whole windows, as a
    read stopped there would have left it."""
    entry = copy.deepcopy(dict(state["bookmarks"][stream]))
    parts = entry.get("partitions") or [entry]
    main = next(p for p in parts if not (p.get("context") or {}).get("is_archived"))
    main.pop("boundary", None)
    main.update(replication_key_value=bookmark, windows_done=done)
    return {**state, "bookmarks": {**state["bookmarks"], stream: entry}}


@pytest.mark.parametrize("res", WINDOWED)
def test_a_resumed_read_skips_every_whole_window_its_state_names(res: Resource) -> None:
    """A stopped windowed read names the windows above its bookmark it handed out whole; the next run reads the
    stretches between them only, whether the windows touch (one ends where the next begins, as cut windows do) or
    not."""
    with small_emulator(sizes=SIZES, latency_ms=LATENCY_MS) as emu:
        config = _config(emu)
        first = sync(config, streams=[res.name])
        assert first.exit_code == 0, log_tail(first.log)
        want = _main_list(emu, res)
        held = _held_main(emu, res)
        seconds = sorted({t for _, t in want if t is not None})
        bookmark, *edges = (seconds[len(seconds) * n // 8] for n in (1, 2, 4, 5, 6, 7))
        done = [[edges[0], edges[1]], [edges[1], edges[2]], [edges[3], edges[4]]]  # two that touch, one apart
        state = _resumed_with_windows_done(first.state, res.name, bookmark, done)
        again = sync(config, streams=[res.name], state=state)
        assert again.exit_code == 0, log_tail(again.log)
        read = {(m["record"]["id"], normalize_timestamp(m["record"].get("update_time"))) for m in again.messages
                if m.get("type") == "RECORD" and m["stream"] == res.name}
        expected = {(k, t) for k, t in want
                    if t is not None and t >= bookmark and not any(lo <= t < hi for lo, hi in done)}
        assert read & want == expected
        assert_states_cover_only_written([*first.messages, *again.messages], held)


@pytest.mark.parametrize("res", WINDOWED)
def test_an_incremental_read_of_many_changes_is_cut_and_exact(res: Resource) -> None:
    with small_emulator(sizes=SIZES, latency_ms=LATENCY_MS) as emu:
        config = _config(emu)
        first = sync(config, streams=[res.name])
        assert first.exit_code == 0, log_tail(first.log)
        emu.clock.advance(3600)
        keys = list(emu.store.tables[res.name].rows)[::2]
        for key in keys:
            emu.clock.advance(7)
            emu.store.update(res.name, key, {})
        cut_before = _windows(emu, res)
        second = sync(config, streams=[res.name], state=first.state)
        assert second.exit_code == 0, log_tail(second.log)
        assert _windows(emu, res) > cut_before + 1, "the incremental read was not cut into windows"
        changed = {m["record"]["id"] for m in second.messages if m.get("type") == "RECORD"
                   and m["stream"] == res.name}
        live = {k for k in keys if emu.store.tables[res.name].rows[k].deleted_at is None}
        assert live <= changed
        assert latest([*first.messages, *second.messages], res.name) == truth(emu, res.name)


@pytest.mark.parametrize("res", WINDOWED)
def test_a_reader_that_falls_behind_holds_no_more_pages_than_the_request_budget(
        res: Resource, monkeypatch: pytest.MonkeyPatch) -> None:
    """The writer takes longer per page than the server: pages pile up. Pages held (waiting for the reader, or in
    flight) never exceed the budget's size, and each page waits with its parsed records only, its raw answer let
    go; the read stays exact."""
    budgets: list[RequestBudget] = []
    raw_kept: list[int] = []
    budget_init = RequestBudget.__init__
    handed_out = WindowedRead._handed_out
    next_page = WindowedRead._next_page

    def recording_init(self: RequestBudget, *args: Any, **kwargs: Any) -> None:
        budget_init(self, *args, **kwargs)
        budgets.append(self)

    def slow_reader(self: WindowedRead, page: Any) -> None:
        handed_out(self, page)
        time.sleep(2 * LATENCY_MS / 1000)

    def taking(self: WindowedRead) -> Any:
        page = next_page(self)
        if page is not None and page.response is not None:
            raw_kept.append(len(page.response.content or b""))
        return page

    monkeypatch.setattr(RequestBudget, "__init__", recording_init)
    monkeypatch.setattr(WindowedRead, "_handed_out", slow_reader)
    monkeypatch.setattr(WindowedRead, "_next_page", taking)
    with small_emulator(sizes=SIZES, latency_ms=LATENCY_MS) as emu:
        run = sync(_config(emu, max_requests_in_flight=4), streams=[res.name])
        assert run.exit_code == 0, log_tail(run.log)
        assert _windows(emu, res) > 2, "the read was not cut into windows"
        assert latest(run.messages, res.name) == truth(emu, res.name)
    budget = budgets[-1]
    assert budget.peak > 1, "the read never had several requests in flight"
    assert budget.peak_held <= 4, budget.peak_held
    assert raw_kept and not any(raw_kept), "a page waited with its raw answer"


#: CPU a busy reader spends on each page: three round trips of the emulator's latency
BUSY_READER_S = 3 * LATENCY_MS / 1000


@pytest.mark.parametrize("res", WINDOWED)
def test_a_reader_busy_with_its_pages_holds_only_the_pages_it_can_take(res: Resource,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """The writer spends more CPU on a page than a round trip takes: once its pace is known (after a few pages),
    no more pages are held, waiting or in flight, than cover one round trip at that pace (here 1 + ceil(1/3 x 1.5)
    = 2, while the rate limit alone would allow 8). Requests beyond that would only wait as parsed pages, in
    memory; the read stays exact."""
    budgets: list[RequestBudget] = []
    taken = [0]
    held_later: list[int] = []
    budget_init, page_filed, take = RequestBudget.__init__, RequestBudget.page_filed, RequestBudget._take
    handed_out, next_page = WindowedRead._handed_out, WindowedRead._next_page

    def recording_init(self: RequestBudget, *args: Any, **kwargs: Any) -> None:
        budget_init(self, *args, **kwargs)
        budgets.append(self)

    def note_held(self: RequestBudget) -> None:
        if taken[0] >= 3:  # the reader's pace is known
            held_later.append(self.pages_waiting + self.in_flight)

    def filing(self: RequestBudget, count: int = 1) -> None:
        page_filed(self, count)
        note_held(self)

    def taking_slot(self: RequestBudget) -> None:
        take(self)
        note_held(self)

    def busy_reader(self: WindowedRead, page: Any) -> None:
        handed_out(self, page)
        until = time.thread_time() + BUSY_READER_S
        while time.thread_time() < until:
            pass

    def taking(self: WindowedRead) -> Any:
        page = next_page(self)
        taken[0] += page is not None
        return page

    monkeypatch.setattr(RequestBudget, "__init__", recording_init)
    monkeypatch.setattr(RequestBudget, "page_filed", filing)
    monkeypatch.setattr(RequestBudget, "_take", taking_slot)
    monkeypatch.setattr(WindowedRead, "_handed_out", busy_reader)
    monkeypatch.setattr(WindowedRead, "_next_page", taking)
    with small_emulator(sizes=SIZES, latency_ms=LATENCY_MS) as emu:
        run = sync(_config(emu), streams=[res.name])
        assert run.exit_code == 0, log_tail(run.log)
        assert latest(run.messages, res.name) == truth(emu, res.name)
    assert taken[0] >= 10, "too few pages to tell"
    assert held_later, "nothing was held after the reader's pace was known"
    assert max(held_later) <= 3, (max(held_later), budgets[-1].size)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
@pytest.mark.parametrize("res", WINDOWED)
def test_a_windowed_read_signalled_midway_resumes_without_a_gap(res: Resource, sig: signal.Signals,
                                                                 tmp_path: Path) -> None:
    """A real tap process reading windows side by side is stopped (SIGTERM: singer-sdk's handler writes a last
    STATE; SIGKILL: whatever was written last) half-way through the list. Every STATE written covers only written
    records, and a rerun from the last one delivers every record."""
    with small_emulator(sizes=SIZES, latency_ms=LATENCY_MS) as emu:
        want = _main_list(emu, res)
        held = _held_main(emu, res)
        config = _config(emu)
        returncode, lines = signalled_tap(config, [res.name], tmp_path, sig, after=len(want) // 2)
        messages = signalled_messages(sig, returncode, lines)
        assert _windows(emu, res) > 2, "the read was not cut into windows before the signal"
        written = sum(m["type"] == "RECORD" and m["stream"] == res.name for m in messages)
        assert written < len(truth(emu, res.name)), "the signal came after the end"
        assert assert_states_cover_only_written(messages, held) >= 1
        states = [m["value"] for m in messages if m["type"] == "STATE"]
        rerun = sync(config, streams=[res.name], state=states[-1])
        assert rerun.exit_code == 0, log_tail(rerun.log)
        assert latest([*messages, *rerun.messages], res.name) == truth(emu, res.name)
        assert_resumed_from_state([SyncResult(messages), rerun], [res.name])
