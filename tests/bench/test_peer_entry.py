"""The peer's entry shim widens the peer's stale schema entries, and nothing else about the schema.

The first tests run on fake streams in the project's venv; the last one runs the real peer's schema building and
``singer.Transformer`` in ``benchmarks/.peer-venv`` and is skipped when that virtualenv is missing.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from benchmarks.peer import PEER_ENTRY, peer_installed, peer_python
from benchmarks.peer_entry import patch_stale_schemas, widen_schema


def test_widen_schema_adds_the_documented_type_and_keeps_the_peers() -> None:
    monetary = {"type": ["null", "object"], "properties": {"value": {"type": ["null", "number"]}}}
    schema = {"properties": {"annual_revenue": monetary, "name": {"type": "string"}, "raw": {}}}

    widen_schema(schema, {"annual_revenue": ("integer",), "name": ("integer",), "raw": ("integer",),
                          "absent": ("integer",)})

    assert schema["properties"]["annual_revenue"] == {
        "type": ["null", "object", "integer"], "properties": {"value": {"type": ["null", "number"]}}}
    assert schema["properties"]["name"] == {"type": ["string", "integer"]}
    assert schema["properties"]["raw"] == {}, "a property without a type already accepts anything"
    assert "absent" not in schema["properties"], "a field the peer does not declare stays undeclared"


def test_widen_schema_does_not_repeat_a_type_already_there() -> None:
    schema = {"properties": {"n": {"type": ["null", "integer"]}}}
    assert widen_schema(schema, {"n": ("integer",)})["properties"]["n"]["type"] == ["null", "integer"]


class FakeStream:
    """Builds its schema like the peer's streams: once, into ``schema_cache``, counting the builds."""

    schema = "organizations"
    schema_cache: dict[str, Any] | None = None
    builds = 0

    def get_schema(self) -> dict[str, Any]:
        if not self.schema_cache:
            type(self).builds += 1
            self.schema_cache = {"properties": {"annual_revenue": {"type": ["null", "object"]}}}
        return self.schema_cache


def test_patched_stream_widens_once_and_then_serves_its_cache() -> None:
    class Organizations(FakeStream):
        """Patched here, so FakeStream itself stays unpatched."""

    stream = Organizations()
    patch_stale_schemas([stream], {"organizations": {"annual_revenue": ("integer",)}})

    first = stream.get_schema()
    assert first["properties"]["annual_revenue"]["type"] == ["null", "object", "integer"]
    assert stream.get_schema() is first
    assert Organizations.builds == 1


def test_patch_of_a_stream_the_peer_lacks_fails_loudly() -> None:
    with pytest.raises(RuntimeError, match="no stream 'deals'"):
        patch_stale_schemas([FakeStream()], {"deals": {"value": ("number",)}})


# Runs in the peer's venv: the real OrganizationsStream builds its schema from a GET /v1/organizationFields page
# (served by a stub tap) and singer.Transformer checks a record against it, before and after the patch.
PEER_SCRIPT = """
import json, sys
sys.path.insert(0, sys.argv[1])
import singer
from singer.transform import SchemaMismatch
from tap_pipedrive.streams import OrganizationsStream
from tap_pipedrive.tap import PipedriveTap
import peer_entry

FIELDS = {"success": True, "data": [{"key": "annual_revenue", "field_type": "monetary"}],
          "additional_data": {"pagination": {"more_items_in_collection": False}}}

class Response:
    status_code = 200
    def json(self):
        return FIELDS

class StubTap:
    def execute_request(self, endpoint, api_version, params=None):
        return Response()

def read(value):
    stream = OrganizationsStream()
    stream.tap = StubTap()
    try:
        return singer.Transformer().transform({"id": 1, "annual_revenue": value}, stream.get_schema())["annual_revenue"]
    except SchemaMismatch:
        return "mismatch"

out = {"unpatched_int": read(21800000)}
peer_entry.patch_stale_schemas(PipedriveTap.streams, peer_entry.WIDENED_TYPES)
out.update(patched_int=read(21800000), patched_null=read(None),
           patched_object=read({"value": 5, "currency": "EUR"}))
print(json.dumps(out))
"""


@pytest.mark.timeout(60)
def test_real_peer_reads_documented_annual_revenue_only_with_the_patch() -> None:
    if not peer_installed():
        pytest.skip("benchmarks/.peer-venv is missing (python -m benchmarks.peer)")
    proc = subprocess.run([str(peer_python()), "-I", "-c", PEER_SCRIPT, str(Path(PEER_ENTRY).parent)],
                          capture_output=True, text=True, timeout=50, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]

    out = json.loads(proc.stdout)
    assert out["unpatched_int"] == "mismatch", "the peer's own schema rejects the documented integer"
    assert out["patched_int"] == 21800000
    assert out["patched_null"] is None
    assert out["patched_object"] == {"value": 5.0, "currency": "EUR"}, "what the peer accepted before still passes"
    assert "organizations.annual_revenue +integer" in proc.stderr
