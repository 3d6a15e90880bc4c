"""What the target needs from every writable catalogue row: a writable-field entry generated from the OpenAPI
documents (``api_fields.json``) and a dependency rank (drain order). Adding a writable resource without them
fails here."""

from __future__ import annotations

import pytest

from pipedrive_core.catalogue import CATALOGUE, active
from target_pipedrive.planner import REFERENCES
from target_pipedrive.translate import _api_fields_data

WRITABLE = [r for r in active() if r.writes is not None]


@pytest.mark.parametrize("resource", WRITABLE, ids=[r.name for r in WRITABLE])
def test_every_writable_resource_has_a_rank_and_writable_fields(resource):
    assert resource.write_rank is not None, f"{resource.name}: set write_rank in the catalogue"
    entry = _api_fields_data().get(resource.name)
    assert entry is not None, f"{resource.name}: regenerate api_fields.json (python -m target_pipedrive.gen_api_fields)"
    w = resource.writes
    assert w is not None
    if w.create_path:
        assert entry["create"], f"{resource.name}: no create fields in api_fields.json"
    if w.update_path:
        assert entry["update"], f"{resource.name}: no update fields in api_fields.json"


@pytest.mark.parametrize("resource", WRITABLE, ids=[r.name for r in WRITABLE])
def test_ranks_put_referenced_resources_first(resource):
    """A resource is drained after the resources its reference columns point at (and after its parent)."""
    fields = _api_fields_data().get(resource.name) or {}
    columns = set(fields.get("create") or {}) | set(fields.get("update") or {})
    assert resource.write_rank is not None
    for column in columns:
        target = CATALOGUE.get(REFERENCES.get(column, ""))
        if target is None or target is resource or target.write_rank is None:
            continue
        assert target.write_rank < resource.write_rank, f"{resource.name}.{column} → {target.name}"
    if resource.parent:
        parent = CATALOGUE[resource.parent]
        assert parent.write_rank is not None and parent.write_rank < resource.write_rank


def test_each_reference_column_names_one_resource():
    seen: dict[str, str] = {}
    for res in CATALOGUE.values():
        for column in res.referenced_as:
            assert column not in seen, f"{column} claimed by {seen[column]} and {res.name}"
            seen[column] = res.name
