"""The catalogue's read facts of issue 12 agree with Pipedrive's OpenAPI documents, for every row that has them:
bulk paths and their id limit, archived paths and whether they take ``updated_since``, parent parameters,
plan restrictions, download and find paths. A row with a wrong fact fails here, before the emulator or the
tap rely on it."""

from __future__ import annotations

import functools
import re
from typing import Any

import pytest
import yaml

from pipedrive_core.catalogue import Resource, active
from tests.specs import openapi_dir

SPECS = openapi_dir()
pytestmark = pytest.mark.skipif(SPECS is None, reason="Pipedrive OpenAPI documents not available")


@functools.cache
def _doc(version: int) -> dict[str, Any]:
    assert SPECS is not None
    name = "openapi-v2.yaml" if version == 2 else "openapi-v1.yaml"
    return yaml.load((SPECS / name).read_text(), Loader=yaml.CSafeLoader)


def _operation(path: str) -> dict[str, Any]:
    """The GET operation of a catalogue path (version from its prefix, placeholders by position)."""
    version = 2 if path.startswith("/api/v2/") else 1
    bare = re.sub(r"^/(v1|api/v2)", "", path.split("?", 1)[0])
    wanted = re.sub(r"\{[^}]+\}", "{}", bare)
    for candidate, item in _doc(version)["paths"].items():
        if re.sub(r"\{[^}]+\}", "{}", candidate) == wanted and "get" in item:
            return item["get"]
    raise AssertionError(f"GET {path} is not in the v{version} document")


def _params(operation: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {p["name"]: p for p in operation.get("parameters", []) if "name" in p}


def _rows(field: str) -> list[Resource]:
    return [r for r in active() if getattr(r, field)]


@pytest.mark.parametrize("res", _rows("bulk_path"), ids=lambda r: r.name)
def test_bulk_paths_take_the_parent_ids_up_to_the_documented_maximum(res: Resource) -> None:
    param = _params(_operation(res.bulk_path or ""))[res.bulk_param]
    assert param["required"] and param["schema"]["type"] == "array"
    assert f"maximum of {res.bulk_max}" in param["description"]


@pytest.mark.parametrize("res", _rows("archived_path"), ids=lambda r: r.name)
def test_archived_paths_exist_and_say_whether_they_take_updated_since(res: Resource) -> None:
    archived = _params(_operation(res.archived_path or ""))
    main = _params(_operation(res.read_path))
    assert ("updated_since" in archived) is res.archived_updated_since
    if res.replication.value == "updated_since":
        assert "updated_since" in main


@pytest.mark.parametrize("res", _rows("parent_params"), ids=lambda r: r.name)
def test_parent_params_are_the_required_query_parameters(res: Resource) -> None:
    params = _params(_operation(res.read_path))
    required = {n for n, p in params.items() if p.get("required") and p.get("in") == "query"}
    assert required == set(res.parent_params)


@pytest.mark.parametrize("res", _rows("min_plan"), ids=lambda r: r.name)
def test_plan_restrictions_are_documented(res: Resource) -> None:
    path = res.bulk_path or res.read_path
    assert f"{(res.min_plan or '').capitalize()} and above" in _operation(path)["description"]


@pytest.mark.parametrize("field", ["download_path", "find_path"])
def test_download_and_find_paths_exist(field: str) -> None:
    rows = _rows(field)
    assert rows
    for res in rows:
        _operation(getattr(res, field))
