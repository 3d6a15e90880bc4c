"""Safety of the target (issue 11): companies behind one host, the ledger's location, the delete flag,
deletes of missing ids, deletes after a create of unknown outcome, BATCH files, settings naming missing
columns, dry runs that write nothing."""

from __future__ import annotations

import datetime as dt
import decimal
import json
import logging
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from pipedrive_core.catalogue import CATALOGUE
from pipedrive_emulator.server import Emulator
from target_pipedrive.ledger import Ledger, LedgerError, account_key
from target_pipedrive.planner import delete_requested, key_string, payload_hash
from target_pipedrive.sinks import BatchFileRefusedError
from target_pipedrive.target import StreamMappingError
from target_pipedrive.translate import RecordError, Translator
from tests.target.conftest import REPO, cli_env, dead_letters, empty_sizes, record, run_target, schema

PROPS: dict[str, Any] = {
    "ext": {"type": "string"},
    "name": {"type": ["string", "null"]},
    "email": {"type": ["string", "null"]},
    "deleted": {},
}


def _people(n: int, prefix: str = "p") -> list[dict[str, Any]]:
    return [{"ext": f"{prefix}{i}", "name": f"Person {prefix}{i}", "email": f"{prefix}{i}@example.com"}
            for i in range(n)]


def _writes(emu: Emulator) -> list[tuple[str, str]]:
    return [(r.method, r.path) for r in emu.requests if r.method in {"POST", "PUT", "PATCH", "DELETE"}]


# -- the delete flag -------------------------------------------------------------------------------------

@pytest.mark.parametrize("value", [True, 1, "1", "true", "TRUE", "t", "yes", "Y", "on", dt.datetime(2026, 1, 1),
                                   dt.date(2026, 1, 1), "2026-11-30T10:00:00Z", "2026-11-30 10:00:00",
                                   "2026-11-30", decimal.Decimal(1)])
def test_delete_flag_timestamps_and_true_like_values_delete(value):
    assert delete_requested(value, "deleted") is True


@pytest.mark.parametrize("value", [None, False, 0, 0.0, decimal.Decimal("0.0"), "", "  ", "f", "F", "false",
                                   "no", "N", "n", "off", "0", "0.0", "-0"])
def test_delete_flag_false_like_zero_and_empty_values_do_not_delete(value):
    assert delete_requested(value, "deleted") is False


@pytest.mark.parametrize("value", ["maybe", "deleted", 2, -1, 0.5, "2026-13-45", [1], {"a": 1}])
def test_delete_flag_anything_else_rejects_the_record(value):
    with pytest.raises(RecordError, match="delete flag") as info:
        delete_requested(value, "deleted")
    assert info.value.field == "deleted"


def test_false_like_flags_keep_records_and_an_unreadable_flag_rejects_only_its_record(emulator, config):
    """``"f"``, ``"no"``, ``"N"``, ``"0.0"`` used to delete (anything not in a short falsy list deleted)."""
    cfg = {**config, "delete_flag_field": "deleted", "on_error": "skip"}
    people = _people(6)
    run_target(cfg, schema("persons", PROPS, ["ext"]), [record("persons", p) for p in people])
    flags = ["f", "no", "N", "0.0", "maybe", "2026-11-30T10:00:00Z"]
    run = run_target(cfg, schema("persons", PROPS, ["ext"]),
                     [record("persons", {**p, "deleted": f}) for p, f in zip(people, flags, strict=True)])
    assert run.summary["deleted"] == 1
    assert run.summary["rejected"] == 1
    names = sorted(p["name"] for p in emulator.store.records("persons"))
    assert names == [p["name"] for p in people[:5]]
    [letter] = dead_letters(cfg)
    assert letter["field"] == "deleted"
    assert "'maybe'" in letter["reason"]


# -- deletes ------------------------------------------------------------------------------------------------

def test_delete_of_an_id_pipedrive_no_longer_has_counts_as_already_gone(emulator, config):
    people = _people(2)
    run_target(config, schema("persons", PROPS, ["ext"]), [record("persons", p) for p in people])
    first = next(p for p in emulator.store.records("persons") if p["name"] == people[0]["name"])
    emulator.store.delete("persons", first["id"], hard=True)  # someone deleted it in Pipedrive
    gone = {**people[0], "_sdc_deleted_at": "2026-11-30T10:00:00Z"}
    deleted = {**people[1], "_sdc_deleted_at": "2026-11-30T10:00:00Z"}
    props = {**PROPS, "_sdc_deleted_at": {"type": ["string", "null"]}}
    run = run_target(config, schema("persons", props, ["ext"]), record("persons", gone), record("persons", deleted))
    assert run.summary["deleted"] == 1
    assert run.summary["already_gone"] == 1
    assert emulator.store.records("persons") == []
    check = Ledger(config["ledger_url"], account=account_key(emulator.url, 1))
    assert check.count("persons") == 0
    check.close()


def test_delete_after_a_create_of_unknown_outcome_deletes_the_record(emulator, config):
    """A run died after its POST reached Pipedrive (intent journaled, id never recorded); the source row is
    then deleted. The delete used to say "never written by this target" and the record stayed forever."""
    ledger = Ledger(config["ledger_url"], account=account_key(emulator.url, 1))
    body = {"name": "Person p0", "emails": [{"value": "p0@example.com", "primary": True, "label": "work"}]}
    ledger.begin_create("persons", key_string(["p0"]), body, payload_hash(body))
    emulator.store.insert("persons", {"name": "Person p0", "emails": body["emails"]})
    ledger.close()
    props = {**PROPS, "_sdc_deleted_at": {"type": ["string", "null"]}}
    gone = {**_people(1)[0], "_sdc_deleted_at": "2026-11-30T10:00:00Z"}
    run = run_target(config, schema("persons", props, ["ext"]), record("persons", gone))
    assert run.summary["deleted"] == 1
    assert emulator.store.records("persons") == []
    check = Ledger(config["ledger_url"], account=account_key(emulator.url, 1))
    assert check.pending_keys("persons") == set()
    check.close()


# -- companies behind one host ---------------------------------------------------------------------------

def test_another_company_behind_the_same_host_gets_its_own_ledger_rows(emulator, config):
    """Sandbox and production share api.pipedrive.com. Keyed by host, the second company's run "skipped
    unchanged" (the first company's hashes) or overwrote its unrelated records with the same ids."""
    people = _people(3)
    run_target(config, schema("persons", PROPS, ["ext"]), [record("persons", p) for p in people])
    ids = sorted(p["id"] for p in emulator.store.records("persons"))
    # the same host now answers for another company whose records happen to carry the same ids
    emulator.store.company_id = 2  # type: ignore[attr-defined]
    for pid in ids:
        emulator.store.update("persons", pid, {"name": f"Someone else {pid}"})
    run = run_target(config, schema("persons", PROPS, ["ext"]), [record("persons", p) for p in people])
    assert run.summary["created"] == 3
    assert run.summary["updated"] == run.summary["skipped_unchanged"] == 0
    theirs = sorted(p["name"] for p in emulator.store.records("persons") if p["id"] in ids)
    assert theirs == [f"Someone else {pid}" for pid in ids]  # untouched


def _legacy_rows(config: dict[str, Any], host: str, pid: str) -> None:
    """What versions keyed by host alone left in the ledger."""
    engine = sa.create_engine(config["ledger_url"])
    Ledger(config["ledger_url"], account=host).close()  # creates the tables
    with engine.begin() as conn:
        conn.execute(sa.text(
            "INSERT INTO tp_map (account, resource, source_key, pipedrive_id, payload_hash, updated_at) "
            "VALUES (:a, 'persons', :k, :p, 'old-hash', '2026-01-01 00:00:00')"
        ), {"a": host, "k": key_string(["p0"]), "p": pid})
    engine.dispose()


def test_host_keyed_rows_of_another_company_stop_the_run_before_any_write(emulator, config):
    _legacy_rows(config, emulator.url, "987654")  # an id this company does not have
    with pytest.raises(LedgerError, match="belong to another company"):
        run_target(config, schema("persons", PROPS, ["ext"]), [record("persons", p) for p in _people(2)])
    assert _writes(emulator) == []
    assert emulator.store.records("persons") == []


def test_host_keyed_rows_of_this_company_are_adopted(emulator, config):
    created = emulator.store.insert("persons", {"name": "Person p0"})
    _legacy_rows(config, emulator.url, str(created["id"]))
    run = run_target(config, schema("persons", PROPS, ["ext"]), [record("persons", p) for p in _people(2)])
    assert run.summary["updated"] == 1  # p0 is the adopted mapping: updated, not created again
    assert run.summary["created"] == 1
    assert len(emulator.store.records("persons")) == 2
    check = Ledger(config["ledger_url"], account=account_key(emulator.url, 1))
    assert check.count("persons") == 2
    assert check.legacy_count(emulator.url) == 0
    check.close()


# -- where the ledger lives -----------------------------------------------------------------------------

def test_default_ledger_is_in_the_user_data_directory_and_logged(emulator, config, tmp_path, monkeypatch, caplog):
    """The default used to be a relative path: a run from another directory started a fresh, empty ledger."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)
    cfg = {k: v for k, v in config.items() if k != "ledger_url"}
    with caplog.at_level(logging.INFO):
        run_target(cfg, schema("persons", PROPS, ["ext"]), [record("persons", p) for p in _people(1)])
    path = tmp_path / "data" / "target-pipedrive" / "ledger.sqlite"
    assert path.exists()
    assert not list(tmp_path.glob("*.sqlite"))
    assert any("ledger in use" in r.getMessage() and str(path) in r.getMessage() for r in caplog.records)


def test_a_new_empty_ledger_meeting_an_account_with_records_warns_loudly(tmp_path, caplog):
    with Emulator(seed=1, sizes=empty_sizes(persons=4)) as emu:
        cfg = {"api_token": emu.api_token, "api_url": emu.url, "ledger_url": f"sqlite:///{tmp_path / 'new.sqlite'}",
               "dead_letter_path": str(tmp_path / "dead.jsonl")}
        with caplog.at_level(logging.WARNING):
            run_target(cfg, schema("persons", PROPS, ["ext"]), [record("persons", p) for p in _people(1)])
    warnings = [r.getMessage() for r in caplog.records if "LEDGER IS EMPTY" in r.getMessage()]
    assert warnings
    assert "persons" in warnings[0]


def test_missing_postgresql_driver_names_the_extra(tmp_path):
    """A plain install has no psycopg: the ledger used to fail with a long traceback."""
    code = (
        "import sys; sys.modules['psycopg'] = None\n"
        "from target_pipedrive.ledger import Ledger, LedgerError\n"
        "try:\n    Ledger('postgresql+psycopg://postgres@127.0.0.1:5432/test', account='x')\n"
        "except LedgerError as exc:\n    print(exc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, env=cli_env(),
                         timeout=60, check=True)
    assert "pip install 'pipedrive-singer[postgres]'" in out.stdout
    assert "Traceback" not in out.stderr


# -- BATCH messages ------------------------------------------------------------------------------------

def _batch(url: str) -> dict[str, Any]:
    return {"type": "BATCH", "stream": "persons", "encoding": {"format": "jsonl", "compression": "none"},
            "manifest": [url]}


def test_batch_message_naming_a_file_outside_the_configured_storage_is_refused(emulator, config, tmp_path):
    secret = tmp_path / "secret.jsonl"
    secret.write_text(json.dumps({"ext": "s1", "name": "From a file nobody configured"}) + "\n")
    storage = tmp_path / "batches"
    storage.mkdir()
    for cfg in (config, {**config, "batch_config": {"encoding": {"format": "jsonl"},
                                                    "storage": {"root": storage.as_uri()}}}):
        with pytest.raises(BatchFileRefusedError, match="BATCH message refused"):
            run_target(cfg, schema("persons", PROPS, ["ext"]), _batch(secret.as_uri()))
        with pytest.raises(BatchFileRefusedError):
            run_target(cfg, schema("persons", PROPS, ["ext"]), _batch("file:///etc/passwd"))
    assert emulator.store.records("persons") == []


def test_batch_files_in_the_configured_storage_are_written(emulator, config, tmp_path):
    storage = tmp_path / "batches"
    storage.mkdir()
    batch = storage / "persons-1.jsonl"
    batch.write_text("".join(json.dumps(p) + "\n" for p in _people(3)))
    cfg = {**config, "batch_config": {"encoding": {"format": "jsonl"}, "storage": {"root": storage.as_uri()}}}
    run = run_target(cfg, schema("persons", PROPS, ["ext"]), _batch(batch.as_uri()))
    assert run.summary["created"] == 3


# -- settings naming columns the stream does not have ------------------------------------------------------

@pytest.mark.parametrize("setting", [{"match_on": {"persons": ["emial"]}}, {"source_key": {"persons": ["extid"]}},
                                     {"references": {"persons": {"org_ext": "organizations"}}}])
def test_settings_naming_a_missing_column_stop_before_anything_is_written(emulator, config, setting):
    """A typo in match_on or source_key used to mean "no match, no key": every rerun created duplicates."""
    cfg = {**config, **setting}
    with pytest.raises(StreamMappingError, match="does not have"):
        run_target(cfg, schema("persons", PROPS, ["ext"]), [record("persons", p) for p in _people(3)])
    assert _writes(emulator) == []


# -- dry run -------------------------------------------------------------------------------------------------

def test_dry_run_writes_nothing_anywhere(emulator, config):
    """Dry runs used to append rejects to the dead-letter file; nothing may be written: no Pipedrive write, no
    ledger row, no dead letter."""
    cfg = {**config, "dry_run": True, "on_error": "skip"}
    rows = [*_people(3), {"ext": "bad", "name": "Bad", "favourite_colour": "red", "shoe_size": 9}]
    props = {**PROPS, "favourite_colour": {}, "shoe_size": {}}
    run = run_target(cfg, schema("persons", props, ["ext"]), [record("persons", p) for p in rows])
    assert run.summary["created"] == 3
    assert run.summary["rejected"] == 1
    assert _writes(emulator) == []
    assert not Path(cfg["dead_letter_path"]).exists()
    engine = sa.create_engine(cfg["ledger_url"])
    with engine.connect() as conn:
        for table in ("tp_map", "tp_journal"):
            assert conn.execute(sa.text(f"SELECT COUNT(*) FROM {table}")).scalar_one() == 0
    engine.dispose()


def test_every_unknown_field_of_a_rejected_record_is_listed(emulator, config):
    cfg = {**config, "on_error": "skip"}
    row = {"ext": "x1", "name": "X", "favourite_colour": "red", "shoe_size": 9, "pet": "cat"}
    props = {**PROPS, "favourite_colour": {}, "shoe_size": {}, "pet": {}}
    run_target(cfg, schema("persons", props, ["ext"]), record("persons", row))
    [letter] = dead_letters(cfg)
    for column in ("favourite_colour", "shoe_size", "pet"):
        assert repr(column) in letter["reason"]


def test_an_unknown_setting_is_warned_about_with_the_likely_name(emulator, config, caplog):
    cfg = {**config, "ledger_ur": "sqlite:////tmp/typo.sqlite"}
    with caplog.at_level(logging.WARNING):
        run_target(cfg, schema("persons", PROPS, ["ext"]), record("persons", _people(1)[0]))
    assert "unknown setting 'ledger_ur' is ignored; did you mean 'ledger_url'?" in caplog.text


def test_every_unknown_custom_field_in_a_custom_fields_object_is_listed():
    translator = Translator(CATALOGUE["persons"])
    with pytest.raises(RecordError) as info:
        translator.translate({"name": "A", "shoe": 1, "custom_fields": {"nope": 1, "nada": 2}})
    for name in ("'shoe'", "'custom_fields.nope'", "'custom_fields.nada'"):
        assert name in info.value.reason
