"""Hand-edited or foreign state and odd answers (issue 10 §2): each is recovered from, or ends the run with one
clear line that says what to do, the state of the streams already read written; and the run's own report
(issue 13): one summary line per stream, the child streams named once."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from tap_pipedrive.incremental import normalize_timestamp
from tests.reliability.conftest import (
    assert_exact,
    log_tail,
    record_messages,
    rewrite_answers,
    sync,
    tap_config,
)


def _error_lines(log: str) -> list[str]:
    return [line for line in log.splitlines() if "Stopping:" in line]


def _bookmark(state: dict[str, Any], stream: str) -> Any:
    return state.get("bookmarks", {}).get(stream, {}).get("replication_key_value")


# -- foreign bookmarks ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("parallel_streams", [1, 5], ids=["one-after-another", "at-once"])
def test_a_bookmark_that_is_no_time_stops_with_one_line_and_keeps_the_other_streams_state(emu, parallel_streams):
    """One after another, the stream read before the broken one finishes; read at once, the others stop at their
    next page. Either way the last STATE holds for every stream no more than what was written."""
    first = sync(tap_config(emu), streams=["notes", "persons"])
    assert first.exit_code == 0
    state = {"bookmarks": {**first.state["bookmarks"],
                           "persons": {"replication_key": "update_time", "replication_key_value": "garbage"}}}
    emu.clock.advance(3600)
    note = next(iter(emu.store.tables["notes"].rows))
    emu.store.update("notes", note, {"content": "read before the stop"})
    run = sync(tap_config(emu, parallel_streams=parallel_streams), streams=["notes", "persons"], state=state)
    assert run.exit_code == 1
    errors = _error_lines(run.log)
    assert len(errors) == 1, run.log[-3000:]
    assert "persons: the state's bookmark 'garbage' is not a time" in errors[0]
    assert "replication_key_value to an ISO 8601 time" in errors[0]
    assert "Traceback" not in run.log
    changed_at = normalize_timestamp(emu.store.tables["notes"].rows[note].data["update_time"])
    if parallel_streams == 1:  # notes (read first) delivered its change and its new bookmark is in the last STATE
        assert note in run.ids("notes")
        assert _bookmark(run.state, "notes") == changed_at
    elif _bookmark(run.state, "notes") == changed_at:
        assert note in run.ids("notes")
    else:
        assert _bookmark(run.state, "notes") == _bookmark(first.state, "notes")


@pytest.mark.parametrize("spelling", ["epoch_seconds", "epoch_text", "offset_time_zone", "v1_spaces"])
def test_foreign_bookmark_spellings_are_read_as_the_time_they_say(emu, spelling):
    first = sync(tap_config(emu), streams=["persons"])
    bookmark = _bookmark(first.state, "persons")
    moment = normalize_timestamp(bookmark)
    import datetime as dt

    parsed = dt.datetime.fromisoformat(moment.replace("Z", "+00:00"))
    foreign = {
        "epoch_seconds": int(parsed.timestamp()),
        "epoch_text": str(int(parsed.timestamp())),
        "offset_time_zone": parsed.astimezone(dt.timezone(dt.timedelta(hours=2))).isoformat(),
        "v1_spaces": parsed.strftime("%Y-%m-%d %H:%M:%S"),
    }[spelling]
    state = {"bookmarks": {"persons": {"replication_key": "update_time", "replication_key_value": foreign,
                                       "boundary": first.state["bookmarks"]["persons"].get("boundary")}}}
    emu.clock.advance(3600)
    emu.store.update("persons", 2, {"name": "changed"})
    run = sync(tap_config(emu), streams=["persons"], state=state)
    assert run.exit_code == 0, log_tail(run.log)
    assert run.ids("persons") == [2]  # only the change: the bookmark was understood, not ignored
    changed_at = normalize_timestamp(emu.store.tables["persons"].rows[2].data["update_time"])
    assert _bookmark(run.state, "persons") == changed_at


# -- odd answers -----------------------------------------------------------------------------------------------

def test_a_page_out_of_update_time_order_is_recovered_from(emu):
    """The server's second page comes in reverse order: the read goes on, the bookmark is not persisted past
    records not yet emitted while the order is broken, and ends at the newest record."""
    def reverse_second_page(query: dict[str, str], body: dict[str, Any]) -> dict[str, Any] | None:
        if query.get("cursor") and isinstance(body.get("data"), list):
            return {**body, "data": list(reversed(body["data"]))}
        return None

    rewrite_answers(emu, r"^/api/v2/persons$", reverse_second_page)
    run = sync(tap_config(emu), streams=["persons"])
    assert run.exit_code == 0, log_tail(run.log)
    assert_exact(run.messages, emu, ["persons"])
    newest = max(r["update_time"] for r in record_messages(run.messages, "persons") if r["update_time"])
    assert _bookmark(run.state, "persons") == newest
    # a stop at any STATE resumes without a gap: nothing emitted after it is older than its bookmark
    for at, message in enumerate(run.messages):
        bookmark = _bookmark(message["value"], "persons") if message["type"] == "STATE" else None
        if bookmark:
            later = [r["update_time"] for r in record_messages(run.messages[at:], "persons") if r["update_time"]]
            assert all(t >= bookmark for t in later), (bookmark, min(later))


def test_recents_items_that_are_not_objects_are_skipped_with_a_warning(emu, caplog):
    first = sync(tap_config(emu), streams=["notes"])
    emu.clock.advance(3600)
    changed = sorted(emu.store.tables["notes"].rows)[:3]
    for key in changed:
        emu.store.update("notes", key, {"content": "changed"})

    def spoil(query: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
        return {**body, "data": ["not an item", None, 7, *(body.get("data") or [])]}

    rewrite_answers(emu, r"^/v1/recents$", spoil)
    with caplog.at_level(logging.WARNING):
        run = sync(tap_config(emu), streams=["notes"], state=first.state)
    assert run.exit_code == 0, log_tail(run.log)
    assert sorted(run.ids("notes")) == changed
    assert any("skipped 3 /recents entries that are not objects" in r.getMessage() for r in caplog.records)


def test_a_repeating_v2_cursor_stops_with_one_line_and_the_state_of_what_was_read(emu):
    def repeat_cursor(query: dict[str, str], body: dict[str, Any]) -> dict[str, Any] | None:
        cursor = query.get("cursor")
        if cursor:  # the second page points at itself
            return {**body, "additional_data": {**(body.get("additional_data") or {}), "next_cursor": cursor}}
        return None

    rewrite_answers(emu, r"^/api/v2/persons$", repeat_cursor)
    run = sync(tap_config(emu), streams=["notes", "persons"])
    assert run.exit_code == 1
    errors = _error_lines(run.log)
    assert len(errors) == 1 and "persons" in errors[0] and "cursor" in errors[0], run.log[-3000:]
    assert "Traceback" not in run.log
    assert _bookmark(run.state, "notes")  # read before: kept
    assert _bookmark(run.state, "persons")  # the pages read are covered


# -- the run's report ------------------------------------------------------------------------------------------

def test_every_run_ends_with_one_summary_line_per_stream(emu, caplog):
    with caplog.at_level(logging.INFO):
        before = len(emu.requests.snapshot())
        run = sync(tap_config(emu, page_size=20), streams=["notes", "persons"])
    assert run.exit_code == 0
    served = [r.path for r in emu.requests.snapshot()[before:]]
    lines = {r.getMessage().split(":")[0].removeprefix("Summary "): r.getMessage() for r in caplog.records
             if r.getMessage().startswith("Summary ")}
    notes_requests = served.count("/v1/notes")
    persons_requests = served.count("/api/v2/persons")
    assert lines["notes"].startswith(f"Summary notes: {run.counts['notes']} records, {notes_requests} requests, "
                                     f"{20 * notes_requests} tokens, ")
    assert lines["persons"].startswith(f"Summary persons: {run.counts['persons']} records, {persons_requests} "
                                       f"requests, {10 * persons_requests} tokens, ")
    assert "waiting for the rate limit" in lines["persons"]


def test_child_streams_are_named_once_per_run(emu, caplog):
    with caplog.at_level(logging.INFO):
        run = sync(tap_config(emu), streams=["deals", "deal_products"])
    assert run.exit_code == 0
    messages = [r.getMessage() for r in caplog.records]
    assert not any("as child stream to" in m for m in messages)  # singer-sdk's line, once per tap built
    assert sum("Child stream deal_products is read for every deals record" in m for m in messages) == 1


def test_a_typo_in_a_setting_is_named_with_its_likely_meaning(emu, caplog):
    config = tap_config(emu)
    config["apitoken"] = config.pop("api_token")
    config["api_token"] = emu.api_token
    with caplog.at_level(logging.WARNING):
        run = sync(config, streams=["currencies"])
    assert run.exit_code == 0
    assert any("unknown setting 'apitoken' is ignored; did you mean 'api_token'?" in r.getMessage()
               for r in caplog.records)
