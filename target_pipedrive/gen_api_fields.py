"""Regenerate ``api_fields.json`` from Pipedrive's OpenAPI documents.

The target must know, per resource, which columns Pipedrive accepts on create and on update (with their JSON
types, so a ``Decimal`` becomes an integer or a number and a ``datetime`` the right string), which are
required on create, and which are read-only (returned by reads, e.g. ``add_time``) so that a round trip from
tap-pipedrive drops them silently while a column Pipedrive has never heard of is reported. Reading these facts
from the vendor's specs, once, keeps them exact; the JSON file is committed so the target needs no spec at run
time.

Usage: ``python -m target_pipedrive.gen_api_fields [/path/to/pipedrive-openapi]``
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import yaml

from pipedrive_core.catalogue import RESOURCES, Resource

OUT = Path(__file__).with_name("api_fields.json")
DEFAULT_SPEC_DIR = Path("/work/shared/pipedrive-openapi")


def _resolve(spec: dict[str, Any], schema: Any) -> dict[str, Any]:
    if not isinstance(schema, dict):
        return {}
    if "$ref" in schema:
        node: Any = spec
        for part in schema["$ref"].lstrip("#/").split("/"):
            node = node[part]
        return _resolve(spec, node)
    return schema


def _properties(spec: dict[str, Any], schema: Any) -> tuple[dict[str, dict[str, Any]], set[str]]:
    schema = _resolve(spec, schema)
    props: dict[str, dict[str, Any]] = {}
    required: set[str] = set(schema.get("required") or [])
    for combinator in ("allOf", "oneOf", "anyOf"):
        for sub in schema.get(combinator, []):
            sub_props, sub_required = _properties(spec, sub)
            props.update(sub_props)
            if combinator == "allOf":
                required |= sub_required
    for name, prop in (schema.get("properties") or {}).items():
        props[name] = _resolve(spec, prop)
    return props, required


def _type_of(spec: dict[str, Any], prop: dict[str, Any]) -> dict[str, str]:
    prop = _resolve(spec, prop)
    if "type" not in prop:
        for combinator in ("allOf", "oneOf", "anyOf"):
            if prop.get(combinator):
                return _type_of(spec, prop[combinator][0])
    out = {"type": str(prop.get("type", "any"))}
    if prop.get("format"):
        out["format"] = str(prop["format"])
    return out


def _operation(specs: dict[str, dict[str, Any]], path: str, method: str) -> tuple[dict[str, Any] | None, dict]:
    version, rel = ("v2", path[len("/api/v2") :]) if path.startswith("/api/v2") else ("v1", path[len("/v1") :])
    spec = specs[version]
    shape = re.sub(r"\{[^}]+\}", "{}", rel.split("?")[0])
    for candidate, item in spec["paths"].items():
        if re.sub(r"\{[^}]+\}", "{}", candidate) == shape:
            return item.get(method.lower()), spec
    return None, spec


def _body_fields(specs: dict[str, dict[str, Any]], path: str | None, method: str) -> tuple[dict, list[str]]:
    if not path:
        return {}, []
    op, spec = _operation(specs, path, method)
    if not op or "requestBody" not in op:
        return {}, []
    content = _resolve(spec, op["requestBody"]).get("content", {})
    if not content:
        return {}, []
    props, required = _properties(spec, next(iter(content.values())).get("schema"))
    return {k: _type_of(spec, v) for k, v in sorted(props.items())}, sorted(required & set(props))


def _readable(specs: dict[str, dict[str, Any]], res: Resource) -> list[str]:
    names: set[str] = set()
    for path in (res.v2_path, res.v1_path):
        if not path:
            continue
        for candidate in (f"{path}/{{id}}", path):
            op, spec = _operation(specs, candidate, "GET")
            if not op:
                continue
            ok = (op.get("responses") or {}).get("200") or {}
            content = _resolve(spec, ok).get("content", {})
            if not content:
                continue
            props, _ = _properties(spec, next(iter(content.values())).get("schema"))
            data = _resolve(spec, props.get("data", {}))
            if data.get("type") == "array":
                data = _resolve(spec, data.get("items", {}))
            data_props, _ = _properties(spec, data)
            names |= set(data_props)
            break
    return sorted(names)


def generate(spec_dir: Path) -> dict[str, Any]:
    """Build the per-resource field facts from the specs in ``spec_dir``."""
    specs = {
        "v1": yaml.safe_load((spec_dir / "openapi-v1.yaml").read_text()),
        "v2": yaml.safe_load((spec_dir / "openapi-v2.yaml").read_text()),
    }
    out: dict[str, Any] = {}
    for res in RESOURCES:
        if res.writes is None or res.retired:
            continue
        create, required = _body_fields(specs, res.writes.create_path, "POST")
        update, _ = _body_fields(specs, res.writes.update_path, res.writes.update_method.value)
        out[res.name] = {
            "create": create,
            "update": update,
            "required": required,
            "readable": _readable(specs, res),
        }
    return out


def main() -> None:
    """Write ``api_fields.json``."""
    spec_dir = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_SPEC_DIR
    OUT.write_text(json.dumps(generate(spec_dir), indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
