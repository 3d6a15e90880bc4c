"""The emulator's answers validate against the response schemas of Pipedrive's OpenAPI documents.

OpenAPI 3.0 ``nullable`` becomes a JSON-schema type union. Pipedrive's documents omit ``nullable`` on many
fields that real answers send as null (``won_time`` of an open deal, ``person_id`` of a deal without a
person, …), so properties listed in ``REAL_NULLS`` may also be null; every other type is checked as
written. Skips when the documents are not on this machine.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Iterator
from typing import Any

import jsonschema
import pytest
import yaml

from pipedrive_core.catalogue import CATALOGUE
from pipedrive_emulator import Emulator
from pipedrive_emulator.fields import ADDRESS_PARTS
from tests.specs import openapi_dir

from .conftest import Client

SPEC_DIR = openapi_dir()
pytestmark = pytest.mark.skipif(SPEC_DIR is None, reason="Pipedrive OpenAPI documents not available")

#: fields that real Pipedrive answers send as null although the spec does not say nullable
REAL_NULLS = frozenset({
    "person_id", "org_id", "stage_change_time", "close_time", "won_time", "lost_time", "first_won_time",
    "expected_close_date", "lost_reason", "origin_id", "channel", "channel_id", "source_lead_id", "arr", "mrr",
    "acv", "probability", "update_time", "deal_id", "lead_id", "project_id", "due_date", "marked_as_done_time",
    "location", "conference_meeting_client", "conference_meeting_url", "conference_meeting_id", "priority",
    "category", "description", "comments", "product_id", "order_nr", "days_to_rotten", "picture_id", "website",
    "linkedin", "industry", "annual_revenue", "employee_count", "address", "next_activity_date",
    "next_activity_time", "next_activity_id", "last_activity_id", "last_activity_date", "label",
    "last_incoming_mail_time", "last_outgoing_mail_time", "person_name", "org_name", "next_activity_subject",
    "next_activity_type", "next_activity_duration", "next_activity_note", "rotten_time", "owner_name",
    "stage_order_nr", "phone", "color", "last_notification_time", "last_notification_user_id",
    "notification_language_id", "calendar_sync_include_context", "update_user_id", "source_timezone",
    "rec_rule", "rec_rule_extension", "rec_master_activity_id", "deal_title", "person_dropbox_bcc",
    "deal_dropbox_bcc", "attendees", "files_count", "pipeline_name", "pipeline_deal_probability", "value",
    "organization_id", "expected_close_date", "end_date", "start_date", "activity_id", "org_id",
    "last_update_user_id", "task_id", "last_updated_by_user_id", "created_by_user_id", "subfields", "options",
    "pic_hash", "icon_url", "parent_role_id", "mail_tracking_status", "snippet_draft",
    "last_message_sent_timestamp", "deal_status", "draft", "remove_time", "http_auth_user",
    "http_auth_password", "remove_reason", "last_delivery_time", "last_http_status", "filter_code",
    "temporary_flag", "last_used_time", "custom_view_id", "archive_time", "health_status", "parent_task_id",
    "billing_frequency_cycles", "billing_start_date", "product_variation_id", "direct_cost", "note",
    "duration_unit", "person", "organization", "public_description", "currency", "creator_user_id",
    "user_id", "owner_id", "overhead_cost", "code", "unit", "add_time", "due_time", "duration", "next_cursor",
    "reference_type", "reference_id", "rotten_days", "formatted_address",
    *ADDRESS_PARTS, *(f"address_{p}" for p in ADDRESS_PARTS), *(f"location_{p}" for p in ADDRESS_PARTS),
})
#: field types of the document's top-level field_type enum that its per-item enum leaves out; the emulator
#: serves them (built-in status/stage fields, custom int and varchar_options fields)
EXTRA_FIELD_TYPES = ("varchar_options", "int", "status", "stage", "boolean", "price_list", "deal", "lead",
                     "people", "org", "user", "visible_to")


@functools.cache
def _spec(name: str) -> dict[str, Any]:
    assert SPEC_DIR is not None
    with (SPEC_DIR / name).open() as handle:
        return yaml.load(handle, Loader=yaml.CSafeLoader)


def _convert(spec: dict[str, Any], node: Any, prop: str | None = None, depth: int = 0) -> Any:
    if depth > 40:
        return {}
    if isinstance(node, list):
        return [_convert(spec, n, None, depth + 1) for n in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        target: Any = spec
        for part in node["$ref"].lstrip("#/").split("/"):
            target = target[part]
        return _convert(spec, target, prop, depth + 1)
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in ("example", "examples", "description", "nullable", "discriminator", "format", "readOnly",
                   "writeOnly", "deprecated") or key.startswith("x-"):
            continue
        if key == "properties":
            out[key] = {k: _convert(spec, v, k, depth + 1) for k, v in value.items()}
        elif key in ("items", "additionalProperties") and isinstance(value, dict):
            out[key] = _convert(spec, value, None, depth + 1)
        elif key in ("allOf", "anyOf", "oneOf"):
            out[key] = [_convert(spec, v, prop, depth + 1) for v in value]
        elif key == "enum" and "varchar_auto" in value:
            out[key] = [*value, *EXTRA_FIELD_TYPES]
        else:
            out[key] = copy.deepcopy(value)
    if node.get("nullable") or (prop in REAL_NULLS):
        if "type" in out:
            out["type"] = [out["type"], "null"] if isinstance(out["type"], str) else [*out["type"], "null"]
            if "enum" in out:
                out["enum"] = [*out["enum"], None]
        elif any(k in out for k in ("allOf", "anyOf", "oneOf")):
            out = {"anyOf": [out, {"type": "null"}]}
    return out


def _response_schema(spec_name: str, path: str, method: str = "get") -> dict[str, Any]:
    spec = _spec(spec_name)
    response = spec["paths"][path][method]["responses"]
    ok = response.get("200") or response.get("201")
    schema = ok["content"]["application/json"]["schema"]
    return _convert(spec, schema)


def _validate(body: Any, schema: dict[str, Any]) -> None:
    jsonschema.validate(body, schema)


@pytest.fixture(scope="module")
def legacy_client() -> Iterator[Client]:
    with Emulator(seed=5, scale=0.3, v1_sunset=False) as emu:
        yield Client(emu)


V2_CASES = [
    ("/deals", "/api/v2/deals?limit=50"),
    ("/deals", "/api/v2/deals?status=open,won,lost,deleted&limit=100"),
    ("/deals/{id}", "/api/v2/deals/2"),
    ("/deals/archived", "/api/v2/deals/archived"),
    ("/persons", "/api/v2/persons?limit=50"),
    ("/persons/{id}", "/api/v2/persons/1"),
    ("/organizations", "/api/v2/organizations?limit=50"),
    ("/activities", "/api/v2/activities?limit=50"),
    ("/products", "/api/v2/products"),
    ("/pipelines", "/api/v2/pipelines"),
    ("/stages", "/api/v2/stages"),
    ("/deals/{id}/products", "/api/v2/deals/{deal_with_products}/products"),
    ("/deals/{id}/followers", "/api/v2/deals/1/followers"),
    ("/dealFields", "/api/v2/dealFields?limit=100"),
    ("/personFields", "/api/v2/personFields?limit=100"),
    ("/deals/search", "/api/v2/deals/search?term=deal&limit=20"),
    ("/persons/search", "/api/v2/persons/search?term=an&limit=20"),
    ("/organizations/search", "/api/v2/organizations/search?term=an&limit=20"),
    ("/itemSearch", "/api/v2/itemSearch?term=an&limit=20"),
    ("/projects", "/api/v2/projects"),
    ("/tasks", "/api/v2/tasks"),
    *((f"/{name}", f"/api/v2/{name}?limit=100&include_fields={','.join(CATALOGUE[name].include_fields)}")
      for name in ("deals", "persons", "organizations", "activities")),
    ("/deals/products", "/api/v2/deals/products?deal_ids={deals_1_100}&limit=500"),
    ("/deals/installments", "/api/v2/deals/installments?deal_ids={deals_1_100}&limit=500"),
    ("/products/{id}/variations", "/api/v2/products/{product_with_variations}/variations"),
]
V1_CASES = [
    ("/notes", "/v1/notes?limit=100"),
    ("/files", "/v1/files"),
    ("/filters", "/v1/filters"),
    ("/activityTypes", "/v1/activityTypes"),
    ("/callLogs", "/v1/callLogs"),
    ("/currencies", "/v1/currencies"),
    ("/leads", "/v1/leads"),
    ("/leadLabels", "/v1/leadLabels"),
    ("/leadSources", "/v1/leadSources"),
    ("/users", "/v1/users"),
    ("/roles", "/v1/roles"),
    ("/legacyTeams", "/v1/legacyTeams"),
    ("/webhooks", "/v1/webhooks"),
    ("/recents", "/v1/recents?since_timestamp=2026-11-01 00:00:00&limit=200"),
    ("/dealFields", "/v1/dealFields?limit=500"),
    ("/personFields", "/v1/personFields?limit=500"),
    ("/deals/{id}/flow", "/v1/deals/1/flow"),
    ("/deals/{id}/participants", "/v1/deals/{deal_with_participants}/participants"),
    ("/mailbox/mailThreads", "/v1/mailbox/mailThreads?folder=inbox"),
    ("/mailbox/mailThreads/{id}/mailMessages", "/v1/mailbox/mailThreads/1/mailMessages"),
    ("/organizationRelationships", "/v1/organizationRelationships?org_id={org_with_relationship}"),
    ("/leads/archived", "/v1/leads/archived"),
    ("/leads", "/v1/leads?updated_since=2026-01-01T00:00:00Z"),
    ("/permissionSets", "/v1/permissionSets"),
    ("/permissionSets/{id}", "/v1/permissionSets/{permission_set}"),
    ("/permissionSets/{id}/assignments", "/v1/permissionSets/{permission_set}/assignments"),
    ("/goals/{id}/results", "/v1/goals/{goal}/results?period.start=2026-01-01&period.end=2026-12-31"),
    ("/deals/{id}/changelog", "/v1/deals/{deal_with_changelog}/changelog"),
    ("/persons/{id}/changelog", "/v1/persons/{person_with_changelog}/changelog"),
    ("/organizations/{id}/changelog", "/v1/organizations/{org_with_changelog}/changelog"),
    ("/users/find", "/v1/users/find?term=a"),
]
LEGACY_CASES = [
    ("/deals", "/v1/deals?limit=100"),
    ("/deals/{id}", "/v1/deals/1"),
    ("/persons", "/v1/persons?limit=100"),
    ("/organizations", "/v1/organizations?limit=100"),
    ("/activities", "/v1/activities?limit=100"),
    ("/products", "/v1/products"),
    ("/pipelines", "/v1/pipelines"),
    ("/stages", "/v1/stages"),
    ("/deals/{id}/products", "/v1/deals/{deal_with_products}/products"),
]


def _fill(path: str, emu: Emulator) -> str:
    store = emu.store
    return path.format(
        deal_with_products=next(r.parent for r in store.tables["deal_products"]),
        deal_with_participants=next(r.parent for r in store.tables["deal_participants"]),
        org_with_relationship=next(r.parent for r in store.tables["organization_relationships"]),
        deals_1_100=",".join(str(i) for i in range(1, 101)),
        product_with_variations=next(r.parent for r in store.tables["product_variations"]),
        permission_set=next(r.parent for r in store.tables["permission_set_assignments"]),
        goal=next(r.key for r in store.tables["goals"]),
        deal_with_changelog=next(r.parent for r in store.tables["deal_changelog"]),
        person_with_changelog=next(r.parent for r in store.tables["person_changelog"]),
        org_with_changelog=next(r.parent for r in store.tables["organization_changelog"]),
    )


@pytest.mark.parametrize(("spec_path", "url"), V2_CASES, ids=[c[1] for c in V2_CASES])
def test_v2_answers_match_spec(legacy_client: Client, spec_path: str, url: str):
    body = legacy_client.ok("GET", _fill(url, legacy_client.emu))
    _validate(body, _response_schema("openapi-v2.yaml", spec_path))


@pytest.mark.parametrize(("spec_path", "url"), V1_CASES, ids=[c[1] for c in V1_CASES])
def test_v1_answers_match_spec(legacy_client: Client, spec_path: str, url: str):
    body = legacy_client.ok("GET", _fill(url, legacy_client.emu))
    _validate(body, _response_schema("openapi-v1.yaml", spec_path))


@pytest.mark.parametrize(("spec_path", "url"), LEGACY_CASES, ids=[c[1] for c in LEGACY_CASES])
def test_legacy_v1_answers_match_2026_01_spec(legacy_client: Client, spec_path: str, url: str):
    body = legacy_client.ok("GET", _fill(url, legacy_client.emu))
    _validate(body, _response_schema("openapi-v1-2026-01-full.yaml", spec_path))
