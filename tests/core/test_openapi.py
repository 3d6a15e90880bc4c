"""The one OpenAPI reader the generators share: spec directory as an argument, ``$ref``/combinator resolution."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipedrive_core import openapi
from pipedrive_core.openapi import Resolver, default_spec_dir, require_spec_dir, split_version

REPO = Path(__file__).resolve().parents[2]

DOC = {
    "paths": {
        "/deals/{id}": {"get": {"operationId": "getDeal"}, "patch": {"operationId": "updateDeal"}},
        "/deals": {"get": {"operationId": "getDeals"}},
    },
    "components": {
        "schemas": {
            "Base": {"type": "object", "required": ["id"], "properties": {"id": {"type": "integer"}}},
            "Named": {"$ref": "#/components/schemas/Base2"},
            "Base2": {"properties": {"name": {"type": "string", "nullable": True}}, "required": ["name"]},
            "Deal": {"allOf": [{"$ref": "#/components/schemas/Base"}, {"$ref": "#/components/schemas/Named"}],
                     "properties": {"id": {"type": "string"}}},
            "Either": {"oneOf": [{"type": "object", "required": ["x"], "properties": {"x": {"type": "integer"}}},
                                 {"type": "object", "properties": {"y": {"type": "integer"}}}]},
            "Loop": {"$ref": "#/components/schemas/Loop"},
        }
    },
}


def test_merge_resolves_refs_all_of_and_one_of_with_the_node_winning():
    resolver = Resolver(DOC)
    deal = resolver.merge({"$ref": "#/components/schemas/Deal"})
    assert deal["type"] == "object"
    assert deal["properties"]["id"] == {"type": "string"}  # the node's own property wins over allOf's
    assert deal["properties"]["name"]["nullable"] is True
    assert deal["required"] == ["id", "name"]  # allOf requirements are required
    either = resolver.merge({"$ref": "#/components/schemas/Either"})
    assert set(either["properties"]) == {"x", "y"}
    assert "required" not in either  # a oneOf branch's requirement is not the whole's


def test_deref_stops_on_a_reference_cycle_and_on_non_objects():
    resolver = Resolver(DOC)
    assert resolver.deref({"$ref": "#/components/schemas/Loop"}) == {"$ref": "#/components/schemas/Loop"}
    assert resolver.deref(None) == {}
    assert resolver.deref([1]) == {}


def test_find_operation_ignores_placeholder_names_and_queries():
    resolver = Resolver(DOC)
    assert resolver.find_operation("/deals/{deal_id}") == {"operationId": "getDeal"}
    assert resolver.find_operation("/deals/{x}", "PATCH") == {"operationId": "updateDeal"}
    assert resolver.find_operation("/deals?status=open") == {"operationId": "getDeals"}
    assert resolver.find_operation("/deals", "delete") is None
    assert split_version("/api/v2/deals/{id}") == (2, "/deals/{id}")
    assert split_version("/v1/notes") == (1, "/notes")


def test_spec_dir_comes_from_the_argument_the_environment_or_beside_the_repo(tmp_path, monkeypatch):
    monkeypatch.delenv(openapi.ENV_VAR, raising=False)
    shared = tmp_path / "shared" / "pipedrive-openapi"
    shared.mkdir(parents=True)
    (shared / "openapi-v2.yaml").write_text("openapi: 3.0.0\n")
    checkout = tmp_path / "clones" / "repo"
    checkout.mkdir(parents=True)
    assert default_spec_dir(checkout) == shared  # found above the checkout, wherever it lives
    monkeypatch.setenv(openapi.ENV_VAR, str(shared))
    assert default_spec_dir(Path("/")) == shared
    assert require_spec_dir(str(shared)) == shared
    with pytest.raises(SystemExit, match="not found"):
        require_spec_dir(tmp_path / "empty")


def test_no_source_file_hard_codes_an_absolute_spec_directory():
    offenders = []
    for package in ("pipedrive_core", "tap_pipedrive", "target_pipedrive", "pipedrive_emulator", "scripts"):
        for path in (REPO / package).rglob("*.py"):
            if '"/work/' in path.read_text(encoding="utf-8"):
                offenders.append(str(path.relative_to(REPO)))
    assert offenders == []
