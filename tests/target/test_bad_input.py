"""Every kind of bad input gets a clear, per-record error naming stream, key and field.

``on_error: skip`` sends rejects to the dead-letter file and writes the good records; ``on_error: fail``
stops the run (exit code 1) with a summary. Either way no accepted record is lost.
"""

from __future__ import annotations

from typing import Any

import pytest

from target_pipedrive.writer import RejectedRecordsError
from tests.target.conftest import dead_letters, record, run_cli, run_target, schema, text

DEAL_PROPS: dict[str, Any] = {
    "ext": {"type": "string"},
    "id": {"type": ["integer", "null"]},
    "title": {"type": ["string", "null"]},
    "value": {"type": ["string", "number", "null"]},
    "seats": {"type": ["integer", "null"]},
    "region_25": {"type": ["string", "null"]},
    "stage_id": {"type": ["integer", "null"]},
    "colour": {"type": ["string", "null"]},
}

# (case id, bad record, field named in the error, words in the reason)
CASES: list[tuple[str, dict[str, Any], str | None, str]] = [
    ("missing_required", {"ext": "bad", "value": 5}, "title", "missing required field"),
    ("wrong_type_schema", {"ext": "bad", "title": "T", "seats": "many"}, "seats", "is not of type"),
    ("wrong_type_value", {"ext": "bad", "title": "T", "value": "a lot"}, "value", "expected a number"),
    ("unknown_option", {"ext": "bad", "title": "T", "region_25": "Mars"}, "region_25", "is not an option"),
    ("unknown_field", {"ext": "bad", "title": "T", "colour": "red"}, "colour", "unknown field"),
    ("id_gone", {"ext": "bad", "id": 999, "title": "T"}, "id", "no deals record with id 999"),
    ("pipedrive_400", {"ext": "bad", "title": "T", "stage_id": 4242}, None, "Stage with id 4242 does not exist"),
]
GOOD = {"ext": "good", "title": "Good deal", "value": 10, "region_25": "EMEA"}


def _messages(bad: dict[str, Any]) -> list[dict[str, Any]]:
    return [schema("deals", DEAL_PROPS, ["ext"]), record("deals", GOOD), record("deals", bad)]


@pytest.mark.parametrize(("case", "bad", "field", "reason"), CASES, ids=[c[0] for c in CASES])
def test_skip_sends_reject_to_dead_letter_and_keeps_good_records(emulator, config, case, bad, field, reason):
    cfg = {**config, "on_error": "skip"}
    run = run_target(cfg, *_messages(bad))
    assert run.summary["rejected"] == 1
    assert run.summary["created"] == 1
    assert [d["title"] for d in emulator.store.records("deals")] == ["Good deal"]
    [entry] = dead_letters(cfg)
    assert entry["stream"] == "deals"
    assert entry["key"] == 'ext=["bad"]'
    assert entry["field"] == field
    assert reason in entry["reason"]
    assert entry["record"]["ext"] == "bad"
    if case == "pipedrive_400":
        assert entry["status"] == 400


@pytest.mark.parametrize(("case", "bad", "field", "reason"), CASES, ids=[c[0] for c in CASES])
def test_fail_stops_with_summary_after_writing_good_records(emulator, config, case, bad, field, reason):
    with pytest.raises(RejectedRecordsError) as info:
        run_target(config, *_messages(bad))
    message = str(info.value)
    assert "1 record(s) rejected and on_error is 'fail'" in message
    assert "created 1" in message
    assert [d["title"] for d in emulator.store.records("deals")] == ["Good deal"]


def test_fail_exits_1_with_summary_and_error_naming_stream_key_field(emulator, config, tmp_path):
    out = run_cli(config, tmp_path, text(*_messages(CASES[3][1])))
    assert out.returncode == 1
    assert "stream 'deals' key ext=[\"bad\"] field 'region_25': 'Mars' is not an option" in out.stderr
    assert "rejected 1" in out.stderr
    assert "created 1" in out.stderr


def test_reject_in_a_later_batch_stops_the_run_but_earlier_batches_are_kept(emulator, config):
    cfg = {**config, "batch_size_rows": 2}
    msgs = [schema("deals", DEAL_PROPS, ["ext"])]
    msgs += [record("deals", {"ext": f"d{i}", "title": f"D{i}"}) for i in range(4)]
    msgs += [record("deals", {"ext": "bad", "title": "T", "region_25": "Mars"})]
    msgs += [record("deals", {"ext": f"late{i}", "title": f"L{i}"}) for i in range(4)]
    with pytest.raises(RejectedRecordsError):
        run_target(cfg, *msgs)
    titles = {d["title"] for d in emulator.store.records("deals")}
    assert {"D0", "D1", "D2", "D3"} <= titles
    assert "L3" not in titles  # the run stopped; a rerun (the ledger skips what was written) finishes it
