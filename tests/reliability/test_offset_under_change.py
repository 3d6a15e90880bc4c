"""Lists that change while the tap pages through them (issue 10 §1), generated over the catalogue.

For every top-level list stream that has more than one page (v1 ``start``/``limit`` lists and v2 cursor lists),
full and incremental: before every page request after the first, the emulator updates the first row of the
order being read (in a list sorted by update time it moves to the end), deletes the second one and inserts a
new row. Every row before the offset therefore shifts, which made an offset reader skip rows for good.

Accounting is exact (records de-duplicated by key, the latest emission winning):

* the disturbed run itself delivers every row that existed for the whole read; only rows inserted during the
  read may be missing, only rows deleted during it may be extra, and a row changed during the read may come in
  its older version only where the list is not sorted by update time (an unsorted list does not move a changed
  row, so the read does not meet it again; the next run does);
* after one more (quiet) run, the union of the runs equals the emulator's data: every record in its latest
  version, nothing missing; extra only what was deleted.

The request count of each disturbed read is checked too: the guard of offset lists asks each page one row early
and steps back one page per detected shift, never more than that.
"""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import pytest

from pipedrive_core.catalogue import Pagination, Replication, Resource, active
from pipedrive_emulator.server import Emulator
from tap_pipedrive import pages
from tap_pipedrive.reconcile import RECONCILABLE
from tests.reliability.conftest import (
    latest,
    log_tail,
    read_ahead,
    read_ahead_logged,
    small_emulator,
    sync,
    tap_config,
    truth,
)
from tests.tap.conftest import SyncResult

#: top-level lists with a row order that can move under a reader (one-answer lists cannot)
PAGED = tuple(r for r in active() if r.parent is None and not r.fields_of and r.pagination is not Pagination.NONE)
INCREMENTAL = tuple(r for r in PAGED if r.replication in {Replication.RECENTS, Replication.UPDATED_SINCE})
#: enough rows in every paged list for several pages of at least six rows
SIZES = {"deals": 90, "persons": 70, "organizations": 40, "activities": 40, "products": 40, "notes": 60, "leads": 40,
         "files": 40, "call_logs": 40, "mail_threads": 40, "projects": 30, "tasks": 40, "roles": 30}
CASES = [pytest.param(r, "full", id=f"{r.name}-full") for r in PAGED] + [
    pytest.param(r, "incremental", id=f"{r.name}-incremental") for r in INCREMENTAL]
#: the reads paged by offset (incremental reads of /recents lists page /v1/recents by offset too)
READ_AHEAD_CASES = [case for case in CASES if case.values[0].pagination is Pagination.OFFSET]


@dataclass
class Churn:
    """What the emulator changed while the tap read (keys), and how many requests it served the read."""

    updated: set[Any] = field(default_factory=set)
    deleted: set[Any] = field(default_factory=set)
    inserted: set[Any] = field(default_factory=set)
    requests: int = 0


def _new_key(res: Resource, emu: Emulator) -> Any:
    table = emu.store.tables[res.name]
    if res.key_type == "uuid":
        return str(uuid.uuid4())
    if res.key_type == "string":
        return f"churn-{table.next_id()}"
    return table.next_id()


def _read_order(emu: Emulator, res: Resource, sorted_by_update: bool, after: int | None) -> list[Any]:
    """Keys of live rows in the order the read meets them."""
    rows = [r for r in emu.store.tables[res.name].rows.values() if r.deleted_at is None
            and not (res.archived_path and r.data.get("is_archived"))]  # the main list, not the archived one
    if after is not None:
        rows = [r for r in rows if r.ut is not None and r.ut > after]
    if sorted_by_update:
        rows.sort(key=lambda r: (-1 if r.ut is None else r.ut, r.seq))
    else:
        rows.sort(key=lambda r: r.key if isinstance(r.key, int) else r.seq)
    return [r.key for r in rows]


def _churn(emu: Emulator, res: Resource, path: str, churn: Churn, *, sorted_by_update: bool,
           after: int | None) -> None:
    """Before every request of ``path`` after the first: update row 1, delete row 2, insert a row."""
    original = emu.handle
    lock = threading.Lock()

    def handle(method: str, target: str, headers: dict[str, str], raw: bytes) -> Any:
        parts = urlsplit(target)
        if parts.path == path and "add_time" not in parts.query:  # not the never-updated records' pass
            with lock:
                churn.requests += 1
                if churn.requests > 1:
                    _change(emu, res, churn, sorted_by_update=sorted_by_update, after=after)
        return original(method, target, headers, raw)

    emu.handle = handle  # type: ignore[method-assign]


def _change(emu: Emulator, res: Resource, churn: Churn, *, sorted_by_update: bool, after: int | None) -> None:
    store = emu.store
    emu.clock.advance(5)
    order = [k for k in _read_order(emu, res, sorted_by_update, after) if k not in churn.inserted]
    if order:
        store.update(res.name, order[0], {})
        churn.updated.add(order[0])
    if len(order) > 1:
        store.delete(res.name, order[1])
        churn.deleted.add(order[1])
    template = dict(store.tables[res.name].rows[order[0]].data) if order else None
    if template is not None:
        template.pop("id", None)
        template[res.key] = key = _new_key(res, emu)
        parent = store.tables[res.name].rows[order[0]].parent
        store.insert(res.name, template, parent=parent)
        churn.inserted.add(key)


def _page_size(emu: Emulator, res: Resource) -> int:
    """About five pages, and never fewer than six rows a page: the churn moves the list by two rows a request,
    which a reader with smaller pages could never outrun."""
    return max(6, min(res.page_limit, len(emu.store.tables[res.name].rows) // 5))


def _versions(messages: list[dict[str, Any]], emu: Emulator, res: Resource) -> tuple[dict[Any, Any], dict[Any, Any]]:
    got = dict(latest(messages, res.name))
    want = dict(truth(emu, res.name))
    return got, want


def _plan_sorts_by_update(emu: Emulator, res: Resource, config: dict[str, Any], state: dict[str, Any] | None) -> bool:
    from tap_pipedrive.tap import TapPipedrive

    stream = TapPipedrive(config=config, state=state or {}, parse_env_config=False).streams[res.name]
    stream._write_starting_replication_value(None)
    plan = stream.read_plan({"is_archived": False} if res.archived_path else (
        dict(res.partitions[0]) if res.partitions else None))
    return plan.mode == "recents" or "update_time" in str(plan.params.get("sort", "")) or (
        plan.params.get("sort_by") == "update_time")


def _assert_disturbed_read(run: SyncResult, emu: Emulator, res: Resource, churn: Churn, *,
                           rereads_changes: bool, before: list[dict[str, Any]] | None = None) -> None:
    got, want = _versions([*(before or []), *run.messages], emu, res)
    missing = set(want) - set(got) - churn.inserted
    extra = set(got) - set(want) - churn.deleted
    stale = {k for k in set(got) & set(want) if got[k] != want[k]}
    if not rereads_changes:
        stale -= churn.updated
    assert not missing, f"{res.name}: rows that existed for the whole read are missing: {sorted(missing, key=str)[:5]}"
    assert not extra, f"{res.name}: rows emitted that never existed: {sorted(extra, key=str)[:5]}"
    assert not stale, f"{res.name}: rows in an older version than the emulator's: {sorted(stale, key=str)[:5]}"


def _assert_exact_after(messages: list[dict[str, Any]], emu: Emulator, res: Resource, deleted: set[Any]) -> None:
    got, want = _versions(messages, emu, res)
    wrong = {k for k in want if got.get(k) != want[k]}
    extra = set(got) - set(want) - deleted
    assert not wrong, f"{res.name}: missing or stale after a quiet rerun: {sorted(wrong, key=str)[:5]}"
    assert not extra, f"{res.name}: emitted rows that never existed: {sorted(extra, key=str)[:5]}"


@pytest.mark.parametrize(("res", "mode"), CASES)
def test_a_list_changing_between_page_requests_loses_nothing(res: Resource, mode: str) -> None:
    _read_a_changing_list(res, mode)


@pytest.mark.parametrize(("res", "mode"), READ_AHEAD_CASES)
def test_an_offset_list_read_ahead_while_it_changes_loses_nothing(res: Resource, mode: str,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """The same, with offset pages read ahead from the first page on (one more page in flight per page read): pages
    are served out of order, pages past the end are asked, and the last page may be served before others."""
    monkeypatch.setattr(pages, "READ_AHEAD_EVERY", 1)
    with read_ahead_logged():
        run = _read_a_changing_list(res, mode)
    assert read_ahead(run.log, res.name) > 0, f"{res.name}: no page was read ahead"


def _read_a_changing_list(res: Resource, mode: str) -> SyncResult:
    """A read of ``res`` disturbed before every page request, then a quiet one, accounted exactly; the disturbed
    run."""
    with small_emulator(seed=7, sizes=SIZES) as emu:
        if len(emu.store.tables[res.name].rows) < 2 * _page_size(emu, res):
            pytest.skip(f"{res.name}: the account holds a fixed few rows, one page")
        config = tap_config(emu, page_size=_page_size(emu, res), reconcile_deletes=[])
        before: list[dict[str, Any]] = []
        state: dict[str, Any] | None = None
        after: int | None = None
        path = res.read_path.split("?", 1)[0]
        if mode == "incremental":
            first = sync(config, streams=[res.name])
            assert first.exit_code == 0, log_tail(first.log)
            before, state = first.messages, first.state
            after = max(r.ut or 0 for r in emu.store.tables[res.name].rows.values())
            emu.clock.advance(60)
            for key in _read_order(emu, res, True, None)[: 4 * _page_size(emu, res)]:
                emu.clock.advance(1)
                emu.store.update(res.name, key, {})  # enough changes for several incremental pages
            if res.replication is Replication.RECENTS:
                path = "/v1/recents"
        sorted_by_update = _plan_sorts_by_update(emu, res, config, state)
        churn = Churn()
        calm = emu.handle
        _churn(emu, res, path, churn, sorted_by_update=sorted_by_update, after=after)
        run = sync(config, streams=[res.name], state=state)
        assert run.exit_code == 0, log_tail(run.log)
        assert churn.requests >= 3, f"{res.name}: the read must span several pages ({churn.requests} requests)"
        _assert_disturbed_read(run, emu, res, churn, rereads_changes=sorted_by_update, before=before)
        emu.handle = calm  # type: ignore[method-assign] # the account is quiet again
        quiet = sync(config, streams=[res.name], state=run.state)
        assert quiet.exit_code == 0, log_tail(quiet.log)
        _assert_exact_after([*before, *run.messages, *quiet.messages], emu, res, churn.deleted)
        return run


def _deleted_reports(messages: list[dict[str, Any]], stream: str) -> list[str]:
    return [m["record"]["id"] for m in messages if m.get("type") == "RECORD"
            and m.get("stream") == "deleted_records" and m["record"].get("stream") == stream]


RECONCILED = [pytest.param(r, id=r.name) for r in PAGED if r.name in RECONCILABLE]


@pytest.mark.parametrize("res", RECONCILED)
def test_deletions_are_reported_only_for_records_really_gone_while_the_ids_pass_meets_a_moving_list(
        res: Resource) -> None:
    """``reconcile_deletes``: rows deleted before the run are reported; rows deleted, updated or inserted while
    the ids pass pages are never reported as deleted unless they really are gone."""
    with small_emulator(seed=7, sizes=SIZES) as emu:
        config = tap_config(emu, page_size=_page_size(emu, res), reconcile_deletes=[res.name])
        first = sync(config, streams=[res.name, "deleted_records"])
        assert first.exit_code == 0, log_tail(first.log)
        assert not _deleted_reports(first.messages, res.name)  # the first pass only records the ids
        emu.clock.advance(60)
        gone_before = _read_order(emu, res, False, None)[5:8]
        for key in gone_before:
            emu.store.delete(res.name, key)
        churn = Churn()
        calm = emu.handle
        _churn(emu, res, res.read_path.split("?", 1)[0], churn, sorted_by_update=False, after=None)
        second = sync(config, streams=["deleted_records"], state=first.state)
        assert second.exit_code == 0, log_tail(second.log)
        emu.handle = calm  # type: ignore[method-assign]
        reported = {str(k) for k in _deleted_reports(second.messages, res.name)}
        really_gone = {str(k) for k in [*gone_before, *churn.deleted]}
        assert {str(k) for k in gone_before} <= reported
        assert reported <= really_gone, f"{res.name}: reported as deleted but alive: {sorted(reported - really_gone)}"
        third = sync(config, streams=["deleted_records"], state=second.state)
        later = {str(k) for k in _deleted_reports(third.messages, res.name)}
        assert reported | later == really_gone  # the rows deleted during the second pass, one run later


def _offset_children() -> list[Any]:
    from pipedrive_emulator.derived import DERIVED

    return [pytest.param(r, id=r.name) for r in active()
            if r.parent is not None and r.pagination is Pagination.OFFSET and r.name not in DERIVED and r.key == "id"]


@pytest.mark.parametrize("res", _offset_children())
def test_a_child_list_changing_between_page_requests_loses_nothing(res: Resource) -> None:
    """A per-parent v1 list (participants, mail messages, flow, …) with several pages for one parent, changed
    before every page request: every child that existed for the whole read is delivered."""
    with small_emulator(seed=7, sizes=SIZES) as emu:
        store = emu.store
        table = store.tables[res.name]
        if not table.rows:
            pytest.skip(f"{res.name}: the emulator holds no such child to copy")
        template_row = next(iter(table.rows.values()))
        parent = template_row.parent
        for _ in range(30):
            data = {k: v for k, v in template_row.data.items() if k not in {"id", "add_time", "update_time"}}
            data["id"] = key = table.next_id()
            if isinstance(data.get("data"), dict):  # flow and mail items wrap the object, which has the id
                data["data"] = {**data["data"], "id": key}
            store.insert(res.name, data, parent=parent)
        children = [r for r in table.rows.values() if r.parent == parent]
        path = res.read_path.split("?", 1)[0].replace("{parent_id}", str(parent))
        churn = Churn()
        original = emu.handle
        lock = threading.Lock()

        def handle(method: str, target: str, headers: dict[str, str], raw: bytes) -> Any:
            if urlsplit(target).path == path:
                with lock:
                    churn.requests += 1
                    live = [r.key for r in table.rows.values() if r.parent == parent and r.key not in churn.inserted]
                    if churn.requests > 1 and len(live) > 1:
                        emu.clock.advance(5)
                        store.update(res.name, live[0], {})
                        churn.updated.add(live[0])
                        store.delete(res.name, live[1])
                        churn.deleted.add(live[1])
            return original(method, target, headers, raw)

        emu.handle = handle  # type: ignore[method-assign]
        config = tap_config(emu, page_size=6)
        run = sync(config, streams=[res.parent or "", res.name])
        assert run.exit_code == 0, log_tail(run.log)
        assert churn.requests >= 3, f"{res.name}: the read must span several pages ({churn.requests} requests)"
        got = {r["id"] for r in run.records[res.name] if r.get(res.parent_key or "") == parent
               or r.get(f"followed_{res.parent_key}") == parent}
        existed = {r.key for r in children} - churn.deleted
        assert existed <= got, f"{res.name}: children of {parent} missing: {sorted(existed - got, key=str)[:5]}"

