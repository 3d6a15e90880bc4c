"""The tap's committed stream schemas (``tap_pipedrive/schemas``): what ``scripts/generate_schemas.py`` derives
from Pipedrive's OpenAPI documents, typed as a warehouse expects, and true to the records the tap emits.

The schema-only tests and the record tests run anywhere; the tests that re-run the generator skip when the
documents are not on the machine.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

import jsonschema
import pytest

from pipedrive_core import openapi
from pipedrive_core.catalogue import Resource, active
from pipedrive_emulator.server import Emulator
from tests.tap.conftest import base_config, run_tap

ROOT = Path(__file__).resolve().parents[2]
SCHEMAS = ROOT / "tap_pipedrive" / "schemas"
SPEC_DIR = openapi.default_spec_dir()
needs_specs = pytest.mark.skipif(SPEC_DIR is None, reason="Pipedrive OpenAPI documents not available")
TEMPORAL = ("date-time", "date", "time")
#: names Pipedrive gives its timestamp, date and time-of-day columns
TEMPORAL_NAME = re.compile(r"(_time|_timestamp|^timestamp|_date)$")
SDK_UNMAPPED = "not found in catalog schema"
RESOURCES = active()


def _name(res: Resource) -> str:
    return res.name


def schema_of(name: str) -> dict[str, Any]:
    """A committed schema file."""
    schema: dict[str, Any] = json.loads((SCHEMAS / f"{name}.json").read_text(encoding="utf-8"))
    return schema


def walk(schema: Mapping[str, Any], path: str = "") -> Iterator[tuple[str, Mapping[str, Any]]]:
    """Every property node of a schema, nested objects and array items included, with its dotted path."""
    for key, node in (schema.get("properties") or {}).items():
        here = f"{path}.{key}" if path else key
        yield here, node
        yield from walk(node, here)
        items = node.get("items")
        if isinstance(items, Mapping):
            yield from walk(items, f"{here}[]")


def generator() -> ModuleType:
    """``scripts/generate_schemas.py`` as a module (scripts/ is not a package)."""
    spec = importlib.util.spec_from_file_location("generate_schemas", ROOT / "scripts" / "generate_schemas.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# -- the files --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("res", RESOURCES, ids=_name)
def test_schema_declares_the_key_and_every_property_nullable(res: Resource) -> None:
    schema = schema_of(res.name)
    assert res.key in schema["properties"]
    not_nullable = [path for path, node in walk(schema) if node and "null" not in node.get("type", ["null"])]
    assert not not_nullable


@pytest.mark.parametrize("res", [r for r in RESOURCES if r.replication_key], ids=_name)
def test_incremental_resources_declare_their_update_and_added_times(res: Resource) -> None:
    """Records never updated are found by the time they were added (``added_key``): both columns exist."""
    properties = schema_of(res.name)["properties"]
    assert res.replication_key in properties
    assert properties.get(res.added_key, {}).get("format") == "date-time"


@pytest.mark.parametrize("res", RESOURCES, ids=_name)
def test_timestamp_date_and_time_columns_have_a_format(res: Resource) -> None:
    """Every string column named like a timestamp, date or time of day, nested ones too, is typed."""
    untyped = [
        path for path, node in walk(schema_of(res.name))
        if TEMPORAL_NAME.search(path.rsplit(".", 1)[-1]) and "string" in node.get("type", [])
        and node.get("format") not in TEMPORAL
    ]
    assert not untyped


@pytest.mark.parametrize(("stream", "path", "fmt"), [
    ("deals", "add_time", "date-time"),
    ("deals", "won_time", "date-time"),
    ("deals", "expected_close_date", "date"),
    ("activities", "marked_as_done_time", "date-time"),
    ("activities", "due_date", "date"),
    ("activities", "due_time", "time"),
    ("deal_flow", "timestamp", "date-time"),
    ("users", "created", "date-time"),
    ("users", "last_login", "date-time"),
    ("persons", "birthday", "date"),
    ("goals", "duration.start", "date"),
    ("deal_participants", "person.next_activity_time", "time"),
    ("deal_participants", "person.last_incoming_mail_time", "date-time"),
    ("deal_mail_messages", "data.timestamp", "date-time"),
])
def test_known_temporal_columns(stream: str, path: str, fmt: str) -> None:
    """Columns the issue names, and ones only the documents' examples or descriptions type."""
    nodes = dict(walk(schema_of(stream)))
    assert nodes[path].get("format") == fmt


def test_durations_and_offsets_are_not_times_of_day() -> None:
    """``HH:MM`` values that are not times of day stay plain strings."""
    assert "format" not in schema_of("activities")["properties"]["duration"]
    assert "format" not in schema_of("users")["properties"]["timezone_offset"]


def test_descriptions_come_from_the_documents() -> None:
    deals = schema_of("deals")["properties"]
    assert deals["won_time"]["description"] == "The date and time of changing the deal status as won"
    described = total = 0
    for res in RESOURCES:
        for _, node in walk(schema_of(res.name)):
            total += 1
            described += bool(node.get("description"))
    assert described / total > 0.8, f"{described} of {total} properties described"
    html = [f"{res.name}.{path}" for res in RESOURCES for path, node in walk(schema_of(res.name))
            if re.search(r"<(br|table|tr|td|p)\b", str(node.get("description", "")))]
    assert not html


def test_documented_shapes_fixed_by_the_examples() -> None:
    """The documents' schemas contradict their own example answers here; the records follow the examples."""
    participant = dict(walk(schema_of("deal_participants")))
    assert set(participant["added_by_user_id"]["properties"]) == {
        "id", "name", "email", "has_pic", "pic_hash", "active_flag", "value"}
    relationship = dict(walk(schema_of("organization_relationships")))
    assert "boolean" in relationship["rel_owner_org_id.active_flag"]["type"]
    assert "boolean" in relationship["rel_linked_org_id.active_flag"]["type"]
    # has_pic is 0 in this example and false in others: flags the documents type both ways accept both
    assert set(participant["added_by_user_id.has_pic"]["type"]) == {"boolean", "integer", "null"}
    for stream, column in (("organizations", "address"), ("persons", "postal_address"), ("activities", "location")):
        assert "formatted_address" in schema_of(stream)["properties"][column]["properties"], stream


def test_column_reference_page_is_current() -> None:
    """docs/tap-columns.md lists every stream's columns from the committed schemas (regenerate when stale)."""
    texts = {p.name: p.read_text(encoding="utf-8") for p in SCHEMAS.glob("*.json")}
    page = (ROOT / "docs" / "tap-columns.md").read_text(encoding="utf-8")
    assert page == generator().column_reference(texts)
    assert all(f"## `{res.name}`" in page for res in RESOURCES)


# -- include_fields ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("res", [r for r in RESOURCES if r.include_fields], ids=_name)
def test_include_fields_columns_are_declared_and_typed(res: Resource) -> None:
    props = schema_of(res.name)["properties"]
    for name in res.include_fields:
        assert name in props, name
        assert "include_fields" in props[name]["description"], name
        if name.endswith("_count"):
            assert props[name]["type"] == ["integer", "null"], name
        if name.endswith("_time"):
            assert props[name].get("format") == "date-time", name


@needs_specs
def test_include_fields_are_the_documents_enums() -> None:
    """Every active list whose operation documents an ``include_fields`` enum carries it in the catalogue."""
    assert SPEC_DIR is not None
    resolvers = {v: openapi.Resolver(doc) for v, doc in openapi.load_documents(SPEC_DIR).items()}
    for res in RESOURCES:
        version, path = openapi.split_version(res.read_path)
        operation = resolvers[version].find_operation(path) or {}
        enum: tuple[str, ...] = ()
        for raw in operation.get("parameters") or []:
            parameter = resolvers[version].deref(raw)
            if parameter.get("name") == "include_fields":
                enum = tuple(parameter["schema"].get("enum") or parameter["schema"].get("items", {}).get("enum"))
        assert res.include_fields == enum, res.name


# -- the generator ----------------------------------------------------------------------------------------

@needs_specs
def test_committed_schemas_are_the_generator_output() -> None:
    assert generator().main(["--specs", str(SPEC_DIR), "--out", str(SCHEMAS), "--check"]) == 0


@needs_specs
def test_generator_takes_its_directories_as_arguments_and_is_deterministic(tmp_path: Path) -> None:
    gen = generator()
    (tmp_path / "stale.json").write_text("{}")
    args = ["--specs", str(SPEC_DIR), "--out", str(tmp_path), "--docs", str(tmp_path / "columns.md")]
    assert gen.main(args) == 0
    first = {p.name: p.read_text() for p in tmp_path.glob("*.json")}
    assert "stale.json" not in first
    assert first == {p.name: p.read_text() for p in SCHEMAS.glob("*.json")}
    assert (tmp_path / "columns.md").read_text() == (ROOT / "docs" / "tap-columns.md").read_text()
    assert gen.main([*args, "--check"]) == 0


# -- the records ------------------------------------------------------------------------------------------

def undeclared(value: Any, schema: Mapping[str, Any], path: str = "") -> Iterator[str]:
    """Keys of a record (nested too) that its schema does not declare. An object declared without properties
    is one free-form JSON value: what it holds is not looked into."""
    if isinstance(value, dict):
        props = schema.get("properties")
        if props is None:
            return
        for key, inner in value.items():
            if key not in props:
                yield f"{path}{key}"
            else:
                yield from undeclared(inner, props[key], f"{path}{key}.")
    elif isinstance(value, list):
        items = schema.get("items") or {}
        for inner in value:
            yield from undeclared(inner, items, f"{path}[].")


def sdk_null_object(key: str, value: Any, props: Mapping[str, Any]) -> bool:
    """singer-sdk's flattening writes a null object as the object's own key (``location: null``) although the
    flattened schema declares only its parts (``location__value``, …)."""
    return value is None and any(name.startswith(f"{key}__") for name in props)


#: settings that add or rename columns: labels of option fields, readable custom-field names, file content
COLUMN_SETTINGS = {"resolve_option_labels": True, "custom_field_names": "name", "download_file_content": True}


@pytest.mark.parametrize(("flattening", "settings"), [(False, False), (True, False), (False, True), (True, True)],
                         ids=["nested", "flattened", "nested+settings", "flattened+settings"])
def test_every_emitted_key_is_declared(emulator: Emulator, tmp_path: Path, flattening: bool, settings: bool) -> None:
    """Over every stream of the catalogue: each key of each record, nested too, is in the stream's SCHEMA (the
    seeded emulator has records in every stream and every custom field type), with and without flattening and
    the settings that add columns."""
    extra: dict[str, Any] = {"flattening_enabled": True, "flattening_max_depth": 10} if flattening else {}
    if settings:
        extra.update(COLUMN_SETTINGS, file_content_dir=str(tmp_path))
    result = run_tap(base_config(emulator, **extra))
    assert result.exit_code == 0, result.log[-2000:]
    assert {r.name for r in RESOURCES} <= set(result.records), "a stream emitted nothing: nothing was checked"
    missing: dict[str, set[str]] = {}
    for stream, records in result.records.items():
        schema = result.schemas[stream]
        for record in records:
            keys = {k for k in undeclared(record, schema)
                    if not (flattening and sdk_null_object(k, record.get(k), schema["properties"]))}
            if keys:
                missing.setdefault(stream, set()).update(keys)
    assert not missing
    # Top-level keys the schema lacks never reach a record: singer-sdk drops them with this warning.
    assert not [line for line in result.log.splitlines() if SDK_UNMAPPED in line]


#: the one form the tap emits for each temporal format (RFC 3339, UTC), whatever form Pipedrive sent
EMITTED = {"date-time": "%Y-%m-%dT%H:%M:%SZ", "date": "%Y-%m-%d", "time": "%H:%M:%SZ"}


def emitted_form_checker() -> jsonschema.FormatChecker:
    """A format checker that accepts only the emitted forms (a valid date or time in exactly that spelling)."""
    checker = jsonschema.FormatChecker(formats=())
    for fmt, pattern in EMITTED.items():
        def conforms(value: object, pattern: str = pattern) -> bool:
            if not isinstance(value, str):
                return True
            try:
                return dt.datetime.strptime(value, pattern).strftime(pattern) == value
            except ValueError:
                return False
        checker.checks(fmt)(conforms)
    return checker


@pytest.mark.parametrize("settings", [False, True], ids=["defaults", "settings"])
def test_every_record_matches_its_schema(emulator: Emulator, tmp_path: Path, settings: bool) -> None:
    """Over every stream: each record validates against its SCHEMA (nested too), as a target that validates
    records (target-postgres' default) checks it; every timestamp, date and time of day in its one emitted form."""
    extra: dict[str, Any] = {**COLUMN_SETTINGS, "file_content_dir": str(tmp_path)} if settings else {}
    result = run_tap(base_config(emulator, **extra))
    assert result.exit_code == 0, result.log[-2000:]
    invalid: dict[str, set[str]] = {}
    checked = 0
    for stream, records in result.records.items():
        validator = jsonschema.Draft202012Validator(result.schemas[stream], format_checker=emitted_form_checker())
        for record in records:
            checked += 1
            for error in validator.iter_errors(record):
                where = ".".join(str(p) for p in error.absolute_path if not isinstance(p, int))
                invalid.setdefault(stream, set()).add(f"{where}: {error.message}")
    assert checked and not invalid
