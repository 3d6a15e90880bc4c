"""Tap fault matrix: every transient failure Pipedrive (or Cloudflare in front of it) produces, injected
mid-stream into a full and into an incremental sync, must end with exactly the emulator's records.

Each case injects its fault twice on every list the matrix accounts for (in a full sync after the first
page, so a read is interrupted in the middle; in an incremental one on the first request, the changes
being a page or less), then checks the de-duplicated output against the emulator's store.
"""

from __future__ import annotations

import copy
import time
from typing import Any

import pytest

from pipedrive_emulator.server import Emulator
from tests.reliability.conftest import (
    MATRIX_STREAMS,
    assert_exact,
    competing_client,
    duplicates,
    log_tail,
    sync,
    tap_config,
)

FULL_PATHS = (r"^/api/v2/deals$", r"^/v1/notes$", r"^/api/v2/persons$", r"^/api/v2/deals/products$")
INCREMENTAL_PATHS = (r"^/api/v2/deals$", r"^/v1/recents$", r"^/api/v2/persons$", r"^/api/v2/deals/products$")

#: a 429 costs a whole 2 s rate-limit window and a timeout a whole request timeout: fewer of those
SLOW = {"count": 1, "paths": 2}
TIMEOUT = {"count": 1, "delay": 0.8}
#: (case id, fault kind, rule options): all retried transparently by the HTTP layer
TRANSIENT: list[tuple[str, str, dict[str, Any]]] = [
    ("http500", "500", {}),
    ("http502", "502", {}),
    ("http503", "503", {}),
    ("http524", "524", {}),
    ("http429_with_headers", "429", {"headers": True, **SLOW}),
    ("http429_without_headers", "429", {"headers": False, **SLOW}),
    ("read_timeout_late_answer", "timeout", {"then": "answer", **TIMEOUT}),
    ("read_timeout_then_hangup", "timeout", {"then": "drop", **TIMEOUT}),
    ("connection_dropped_mid_body", "drop", {}),
    ("malformed_json", "malformed", {}),
    ("null_body", "nullbody", {}),
]


def _inject(emu: Emulator, kind: str, options: dict[str, Any], paths: tuple[str, ...], *, after: int) -> int:
    """Add the fault on each path (``after`` requests to it succeed first); returns how often it must fire."""
    rule = {"after": after, "count": 2, "method": "GET", **options}
    chosen = paths[: rule.pop("paths", len(paths))]
    for path in chosen:
        emu.faults.add(kind, path=path, **rule)
    return len(chosen) * int(rule["count"])


def _config(emu: Emulator, kind: str) -> dict[str, Any]:
    # a stalled answer (0.8 s) must outlast the request timeout
    return tap_config(emu, request_timeout=0.5) if kind == "timeout" else tap_config(emu)


def change_data(emu: Emulator) -> dict[str, set[Any]]:
    """An hour later: update records spread over every page, and add new ones. Returns the changed ids."""
    emu.clock.advance(3600)
    changed: dict[str, set[Any]] = {}
    for stream, field_name in (("deals", "title"), ("persons", "name"), ("notes", "content")):
        rows = sorted(k for k, r in emu.store.tables[stream].rows.items() if r.deleted_at is None)
        picks = rows[:: max(1, len(rows) // 5)][:5]
        for key in picks:
            emu.store.update(stream, key, {field_name: f"changed {stream} {key}"})
        template = copy.deepcopy(emu.store.tables[stream].rows[rows[0]].data)
        template.pop("id", None)
        template["is_archived"] = False
        template[field_name] = f"new {stream}"
        new = emu.store.insert(stream, template)
        changed[stream] = {*picks, new["id"]}
    return changed


@pytest.mark.parametrize(("case", "kind", "options"), TRANSIENT, ids=[c[0] for c in TRANSIENT])
def test_full_sync_rides_out_transient_faults(emu, case, kind, options):
    expected = _inject(emu, kind, options, FULL_PATHS, after=1)
    result = sync(_config(emu, kind), streams=MATRIX_STREAMS)
    assert result.exit_code == 0, log_tail(result.log)
    assert emu.faults.fired(kind) == expected, f"{case}: the faults did not all fire"
    assert_exact(result.messages, emu)
    for stream in MATRIX_STREAMS:
        assert duplicates(result.messages, stream) == {}, stream
    assert "Traceback" not in result.log


@pytest.mark.parametrize(("case", "kind", "options"), TRANSIENT, ids=[c[0] for c in TRANSIENT])
def test_incremental_sync_rides_out_transient_faults(emu, case, kind, options):
    first = sync(tap_config(emu), streams=MATRIX_STREAMS)
    assert first.exit_code == 0, log_tail(first.log)
    changed = change_data(emu)
    expected = _inject(emu, kind, options, INCREMENTAL_PATHS, after=0)
    second = sync(_config(emu, kind), streams=MATRIX_STREAMS, state=first.state)
    assert second.exit_code == 0, log_tail(second.log)
    assert emu.faults.fired(kind) == expected, f"{case}: the faults did not all fire"
    assert_exact(first.messages + second.messages, emu)
    # the incremental run read exactly the changes: nothing re-sent, nothing skipped
    for stream in ("deals", "persons", "notes"):
        assert sorted(r["id"] for r in second.records[stream]) == sorted(changed[stream]), stream


def test_burst_limit_429_storm_with_rate_limit_headers():
    """Another integration spends the same burst window (Pipedrive's limit is per user), so the tap meets
    real 429s with x-ratelimit-* headers: it waits for the announced reset each time and loses nothing."""
    with Emulator(seed=7, sizes={"deals": 40, "persons": 30, "notes": 30}, custom_fields_per_entity=4,
                  burst=10) as emu:
        with competing_client(emu):
            result = sync(tap_config(emu, page_size=10), streams=("deals", "persons", "notes"))
        assert result.exit_code == 0, log_tail(result.log)
        tap_429s = [r for r in emu.requests if r.status == 429 and r.path != "/api/v2/pipelines"]
        assert tap_429s, "the storm did not reach the tap"
        assert_exact(result.messages, emu, ("deals", "persons", "notes"))


def test_cloudflare_html_403_stops_cleanly_and_the_rerun_completes(emu):
    """Cloudflare's HTML 403 means "stop hammering": the tap stops with one clear line and a resumable state;
    the next run (block lifted) delivers the rest."""
    emu.faults.add("html403", path=r"^/api/v2/persons$", after=2, count=1)
    first = sync(tap_config(emu), streams=MATRIX_STREAMS)
    assert first.exit_code == 1
    assert "Cloudflare blocked the client" in first.log
    assert "Traceback" not in first.log
    assert first.state
    second = sync(tap_config(emu), streams=MATRIX_STREAMS, state=first.state)
    assert second.exit_code == 0, log_tail(second.log)
    assert_exact(first.messages + second.messages, emu)


def test_sub_second_request_timeout_is_honoured(emu):
    """request_timeout is a number: 0.5 s must mean half a second (it used to become int(0.5) = 0, which
    urllib3 refused with a traceback on the first request)."""
    emu.faults.add("timeout", path=r"^/api/v2/persons$", count=1, delay=0.8)
    started = time.monotonic()
    result = sync(tap_config(emu, request_timeout=0.5), streams=["persons"])
    assert result.exit_code == 0, log_tail(result.log)
    assert "no answer within 0.5s" in result.log
    assert time.monotonic() - started < 10
    assert_exact(result.messages, emu, ["persons"])


def test_a_product_added_to_an_unchanged_deal_is_read_by_the_next_incremental_run(emu):
    """Pipedrive does not document that adding a product changes the deal: the incremental run re-reads every
    deal's products through the bulk route, so the product arrives although its deal did not change."""
    config = tap_config(emu, refresh_bulk_children=True)
    first = sync(config, streams=["deals", "deal_products"])
    assert first.exit_code == 0
    emu.clock.advance(3600)
    products = emu.store.tables["deal_products"]
    template = dict(next(iter(products.rows.values())).data)
    with_products = {p.parent for p in products.rows.values()}
    deal = next(k for k, r in emu.store.tables["deals"].rows.items()
                if r.deleted_at is None and not r.data.get("is_archived") and k not in with_products)
    template.pop("id", None)
    template["deal_id"] = deal
    added = emu.store.insert("deal_products", template, parent=deal)["id"]
    second = sync(config, streams=["deals", "deal_products"], state=first.state)
    assert second.exit_code == 0, log_tail(second.log)
    assert second.counts["deals"] == 0  # no deal changed
    assert added in second.ids("deal_products")
    assert_exact([*first.messages, *second.messages], emu, ["deals", "deal_products"])
    emu.store.insert("deal_products", {**template, "id": None}, parent=deal)
    off = sync(tap_config(emu), streams=["deals", "deal_products"], state=second.state)
    assert off.counts.get("deal_products", 0) == 0  # by default only the changed deals' products are read
