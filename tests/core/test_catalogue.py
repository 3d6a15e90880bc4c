"""The catalogue agrees with Pipedrive's own OpenAPI documents and with itself."""

from __future__ import annotations

import re
from functools import cache

import pytest
import yaml

from pipedrive_core import catalogue
from pipedrive_core.catalogue import CATALOGUE, RESOURCES, Pagination, Replication, UpdateMethod
from tests.specs import openapi_dir

SPECS = openapi_dir()
needs_specs = pytest.mark.skipif(SPECS is None, reason="Pipedrive OpenAPI specs not present")


@cache
def spec_paths(name: str) -> dict[str, set[str]]:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    assert SPECS is not None
    doc = yaml.load((SPECS / name).read_text(), Loader=loader)
    return {path: {m.upper() for m in ops if m in {"get", "post", "put", "patch", "delete"}}
            for path, ops in doc["paths"].items()}


def _spec_form(path: str, prefix: str) -> str:
    """'/api/v2/deals/{parent_id}/products' -> '/deals/{}/products' for comparison with the spec."""
    path = path.split("?", 1)[0].removeprefix(prefix)
    return re.sub(r"\{[^}]+\}", "{}", path)


def _lookup(paths: dict[str, set[str]]) -> dict[str, set[str]]:
    return {re.sub(r"\{[^}]+\}", "{}", p): m for p, m in paths.items()}


def test_names_are_unique_snake_case():
    names = [r.name for r in RESOURCES]
    assert len(names) == len(set(names))
    assert all(re.fullmatch(r"[a-z][a-z0-9_]*", n) for n in names)


def test_every_cozyroc_resource_is_covered():
    cozyroc = {
        "activities", "activity_types", "call_logs", "currencies", "deals", "deal_fields", "files", "filters",
        "goals", "leads", "lead_labels", "lead_sources", "mail_threads", "notes", "note_fields",
        "activity_fields", "organizations", "organization_fields", "organization_relationships", "persons",
        "person_fields", "pipelines", "products", "product_fields", "roles", "stages", "subscriptions", "teams",
        "users", "webhooks", "projects", "tasks", "deal_products", "deal_participants", "deal_flow",
        "deal_followers", "deal_mail_messages", "deal_permitted_users", "deal_persons", "mail_thread_messages",
    }
    assert cozyroc <= set(CATALOGUE)


def test_references_resolve():
    for res in RESOURCES:
        if res.parent:
            assert res.parent in CATALOGUE, res.name
            assert res.parent_key and res.replication is Replication.PARENT
        if res.fields_resource:
            assert CATALOGUE[res.fields_resource].fields_of is not None
        if res.replication in {Replication.RECENTS, Replication.UPDATED_SINCE}:
            assert res.replication_key, res.name
        if res.replication is Replication.RECENTS:
            assert res.recents_item, res.name


def test_v1_sunset_resources_read_and_write_through_v2():
    for res in RESOURCES:
        if res.v1_sunset:
            assert res.read_version == 2 and res.v2_path
            assert res.writes and res.writes.update_method is UpdateMethod.PATCH
            assert all(p.startswith("/api/v2/") for p in (res.writes.create_path, res.writes.update_path) if p)


def test_bulk_deletes_only_where_pipedrive_still_has_them():
    bulk = {r.name for r in RESOURCES if r.writes and r.writes.bulk_delete_path}
    assert bulk == {"filters", "deal_fields", "person_fields", "organization_fields", "product_fields",
                    "deal_products"}
    assert CATALOGUE["deal_products"].writes.bulk_delete_max == 100  # type: ignore[union-attr]
    assert CATALOGUE["filters"].writes.bulk_delete_max == 1000  # type: ignore[union-attr]


def test_lead_ids_are_uuids_and_updated_with_patch():
    leads = CATALOGUE["leads"]
    assert leads.key_type == "uuid"
    assert leads.writes and leads.writes.update_method is UpdateMethod.PATCH


def test_retired_resources_are_kept_but_inactive():
    retired = {r.name for r in RESOURCES if r.retired}
    assert {"subscriptions", "deal_persons"} <= retired
    assert not retired & {r.name for r in catalogue.active()}
    with pytest.raises(KeyError, match="known resources"):
        catalogue.get("no_such_thing")


@needs_specs
def test_read_paths_exist_in_the_current_specs():
    v1 = _lookup(spec_paths("openapi-v1.yaml"))
    v2 = _lookup(spec_paths("openapi-v2.yaml"))
    for res in catalogue.active():
        if res.read_version == 2:
            assert "GET" in v2.get(_spec_form(res.read_path, "/api/v2"), set()), res.name
        else:
            assert "GET" in v1.get(_spec_form(res.read_path, "/v1"), set()), res.name


@needs_specs
def test_write_paths_exist_with_their_verbs():
    v1 = _lookup(spec_paths("openapi-v1.yaml"))
    v2 = _lookup(spec_paths("openapi-v2.yaml"))
    for res in catalogue.active():
        w = res.writes
        if w is None:
            continue
        for path, verb in ((w.create_path, "POST"), (w.update_path, w.update_method.value),
                           (w.delete_path, "DELETE"), (w.bulk_delete_path, "DELETE")):
            if path is None:
                continue
            table, prefix = (v2, "/api/v2") if path.startswith("/api/v2") else (v1, "/v1")
            assert verb in table.get(_spec_form(path, prefix), set()), f"{res.name}: {verb} {path}"


@needs_specs
def test_sunset_v1_paths_are_gone_from_the_current_v1_spec_but_were_in_2026_01():
    now = _lookup(spec_paths("openapi-v1.yaml"))
    legacy = _lookup(spec_paths("openapi-v1-2026-01-full.yaml"))
    for res in RESOURCES:
        if res.v1_sunset and res.v1_path:
            form = _spec_form(res.v1_path, "/v1")
            assert form not in now, res.name
            assert "GET" in legacy.get(form, set()), res.name
    persons_of_deal = _spec_form(CATALOGUE["deal_persons"].read_path, "/v1")
    assert persons_of_deal not in now and persons_of_deal in legacy


def test_pagination_limits_follow_pipedrive():
    assert CATALOGUE["files"].page_limit == 100
    assert CATALOGUE["call_logs"].page_limit == 50
    assert all(r.page_limit <= 500 for r in RESOURCES)
    assert all(r.pagination is Pagination.CURSOR for r in RESOURCES if r.read_version == 2)
