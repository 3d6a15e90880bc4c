"""Unit tests: translation per field type, planner identities, ledger idempotency."""

from __future__ import annotations

import datetime as dt
import decimal
import threading

import pytest

from pipedrive_core.catalogue import CATALOGUE
from pipedrive_core.fields import FieldDef, FieldOption
from target_pipedrive.ledger import Ledger
from target_pipedrive.planner import StreamPlan, key_string, payload_hash
from target_pipedrive.translate import RecordError, Translator

REGION = FieldDef(1, "a" * 40, "Region", "enum", (FieldOption(7, "EMEA"), FieldOption(8, "APAC")))
TAGS = FieldDef(2, "b" * 40, "Tags", "set", (FieldOption(11, "Hot"), FieldOption(12, "Cold, wet")))
BUDGET = FieldDef(3, "c" * 40, "Budget", "monetary")
WHEN = FieldDef(4, "d" * 40, "Renewal date", "date")
SEATS = FieldDef(5, "e" * 40, "Seats", "int")
CALL = FieldDef(6, "f" * 40, "Call time", "time")
TITLE = FieldDef(9, "title", "Title", "varchar", edit_flag=False)
FIELDS = {f.key: f for f in (REGION, TAGS, BUDGET, WHEN, SEATS, CALL, TITLE)}


def deals(**kw) -> Translator:
    return Translator(CATALOGUE["deals"], fields=FIELDS, **kw)


def test_v2_custom_fields_by_name_with_labels_dates_and_decimals():
    t = deals()
    payload = t.translate(
        {
            "title": "T",
            "value": decimal.Decimal("10.50"),
            "region": "emea",
            "tags": "Hot, Cold, wet",
            "budget": decimal.Decimal(100),
            "budget_currency": "EUR",
            "renewal_date": dt.date(2027, 1, 2),
            "seats": decimal.Decimal("3"),
            "call_time": dt.time(9, 5),
            "expected_close_date": dt.datetime(2027, 5, 6, 7),
        }
    )
    body = t.body(payload, create=True)
    assert body["value"] == 10.5
    assert body["expected_close_date"] == "2027-05-06"
    assert body["custom_fields"] == {
        REGION.key: 7,
        TAGS.key: [11, 12],
        BUDGET.key: {"value": 100, "currency": "EUR"},
        WHEN.key: "2027-01-02",
        SEATS.key: 3,
        CALL.key: "09:05:00",
    }


def test_custom_fields_by_key_and_nested_object_are_accepted():
    t = deals(column_names="key")
    body = t.body(t.translate({"title": "T", REGION.key: 8, "custom_fields": {"Tags": ["Hot"]}}), create=True)
    assert body["custom_fields"] == {REGION.key: 8, TAGS.key: [11]}


def test_v1_leads_get_flat_custom_keys_and_iso_timestamps():
    t = Translator(CATALOGUE["leads"], fields=FIELDS)
    body = t.body(t.translate({"title": "L", "region": "APAC", "budget": 5, "budget_currency": "USD"}), create=True)
    assert body == {"title": "L", REGION.key: 8, BUDGET.key: 5, f"{BUDGET.key}_currency": "USD"}


def test_v1_notes_timestamps_use_space_format():
    t = Translator(CATALOGUE["notes"])
    moment = dt.datetime(2026, 1, 2, 3, 4, 5, 999, tzinfo=dt.timezone.utc)
    assert t.body(t.translate({"content": "x", "add_time": moment}), create=True)["add_time"] == "2026-01-02 03:04:05"


@pytest.mark.parametrize(
    ("record", "field", "words"),
    [
        ({"title": "T", "region": "Mars"}, "region", "not an option"),
        ({"title": "T", "tags": ["Hot", "Lukewarm"]}, "tags", "not an option"),
        ({"title": "T", "seats": "x"}, "seats", "expected a number"),
        ({"title": "T", "seats": 2.5}, "seats", "expected an integer"),
        ({"title": "T", "renewal_date": "soon"}, "renewal_date", "expected a date"),
        ({"title": "T", "probability": "high"}, "probability", "expected a number"),
        ({"title": "T", "shoe_size": 9}, "shoe_size", "unknown field"),
    ],
)
def test_bad_values_name_the_field(record, field, words):
    with pytest.raises(RecordError) as info:
        deals().translate(record)
    assert info.value.field == field
    assert words in info.value.reason


def test_unknown_fields_drop_and_read_only_fields_are_ignored():
    payload = deals(unknown_fields="drop").translate(
        {"title": "T", "shoe_size": 9, "add_time": "x", "update_time": "y"}
    )
    assert payload.builtin == {"title": "T"}
    assert set(payload.dropped) == {"shoe_size", "add_time", "update_time"}


def test_update_body_carries_only_present_fields_and_create_checks_required():
    t = deals()
    assert t.body(t.translate({"value": 5}), create=False) == {"value": 5}
    with pytest.raises(RecordError, match="missing required field") as info:
        t.body(t.translate({"value": 5}), create=True)
    assert info.value.field == "title"


def test_persons_email_column_becomes_emails_list():
    t = Translator(CATALOGUE["persons"])
    body = t.body(t.translate({"name": "A", "email": "a@b.c"}), create=True)
    assert body["emails"] == [{"value": "a@b.c", "primary": True, "label": "work"}]
    assert t.body_field("email") == "emails"


def test_planner_identity_and_delete_flag():
    plan = StreamPlan("contacts", CATALOGUE["persons"], source_key=("ext",))
    assert plan.identity({"ext": "a-1"}).ledger_key == '["a-1"]'
    assert plan.identity({"id": 5}).pipedrive_id == "5"  # no source key but a Pipedrive id: an update
    with pytest.raises(RecordError, match="source key column 'ext' is empty"):
        plan.identity({"name": "x"})
    assert plan.is_delete({"_sdc_deleted_at": "2026-01-01T00:00:00Z"})
    assert not plan.is_delete({"_sdc_deleted_at": None})
    flagged = StreamPlan("contacts", CATALOGUE["persons"], delete_flag="removed")
    assert flagged.is_delete({"removed": True})
    assert not flagged.is_delete({"removed": "false"})


def test_key_string_and_hash_are_stable():
    assert key_string([decimal.Decimal("5"), "x"]) == '[5,"x"]'
    assert payload_hash({"a": 1, "b": [1, 2]}) == payload_hash({"b": [1, 2], "a": 1})
    assert payload_hash({"a": 1}) != payload_hash({"a": 2})


def test_ledger_map_journal_and_accounts(tmp_path):
    url = f"sqlite:///{tmp_path / 'l.sqlite'}"
    ledger = Ledger(url, account="https://acme.example")
    marker = ledger.begin_create("persons", "[1]", {"name": "A"}, "h1")
    intent = ledger.pending("persons", "[1]")
    assert intent is not None
    assert (intent.marker, intent.payload, intent.payload_hash) == (marker, {"name": "A"}, "h1")
    ledger.record("persons", "[1]", "42", "h1")
    assert ledger.pending("persons", "[1]") is None
    assert ledger.lookup("persons", "[1]").pipedrive_id == "42"
    assert ledger.is_mapped("persons", "42")
    ledger.record("persons", "[1]", "42", "h2")
    assert ledger.count("persons") == 1
    assert ledger.lookup_many("persons", ["[1]", "[2]"])["[1]"].payload_hash == "h2"
    other = Ledger(url, account="https://other.example")
    assert other.lookup("persons", "[1]") is None  # mappings never leak across destination accounts
    ledger.forget_id("persons", "42")
    assert ledger.lookup("persons", "[1]") is None
    ledger.close()
    other.close()


def test_ledger_survives_concurrent_writers(tmp_path):
    ledger = Ledger(f"sqlite:///{tmp_path / 'l.sqlite'}", account="a")

    def work(n: int) -> None:
        for i in range(25):
            key = f"[{n * 100 + i}]"
            ledger.begin_create("deals", key, {"n": i}, "h")
            ledger.record("deals", key, str(n * 100 + i), "h")

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert ledger.count("deals") == 200
    assert ledger.pending_keys("deals") == set()
    ledger.close()
