"""Regenerate ``api_fields.json`` from Pipedrive's OpenAPI documents.

The target must know, per resource, which columns Pipedrive accepts on create and on update (with their JSON
types, so a ``Decimal`` becomes an integer or a number and a ``datetime`` the right string), which are
required on create, and which are read-only (returned by reads, e.g. ``add_time``) so that a round trip from
tap-pipedrive drops them silently while a column Pipedrive has never heard of is reported. Reading these facts
from the vendor's specs, once, keeps them exact; the JSON file is committed so the target needs no spec at run
time.

Usage: ``python -m target_pipedrive.gen_api_fields [/path/to/pipedrive-openapi]`` (default: see
:func:`pipedrive_core.openapi.default_spec_dir`).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pipedrive_core.catalogue import RESOURCES, Resource
from pipedrive_core.openapi import Resolver, load_documents, require_spec_dir, split_version

OUT = Path(__file__).with_name("api_fields.json")


def _properties(resolver: Resolver, schema: Any) -> tuple[dict[str, dict[str, Any]], set[str]]:
    merged = resolver.merge(schema)
    props = {name: dict(resolver.deref(prop)) for name, prop in (merged.get("properties") or {}).items()}
    return props, set(merged.get("required") or [])


def _type_of(resolver: Resolver, prop: Any) -> dict[str, str]:
    prop = resolver.deref(prop)
    if "type" not in prop:
        for combinator in ("allOf", "oneOf", "anyOf"):
            if prop.get(combinator):
                return _type_of(resolver, prop[combinator][0])
    out = {"type": str(prop.get("type", "any"))}
    if prop.get("format"):
        out["format"] = str(prop["format"])
    return out


def _operation(specs: Mapping[int, Resolver], path: str, method: str) -> tuple[Mapping[str, Any] | None, Resolver]:
    version, rel = split_version(path)
    resolver = specs[version]
    return resolver.find_operation(rel, method), resolver


def _body_fields(specs: Mapping[int, Resolver], path: str | None, method: str) -> tuple[dict, list[str]]:
    if not path:
        return {}, []
    op, resolver = _operation(specs, path, method)
    if not op or "requestBody" not in op:
        return {}, []
    schema = resolver.json_body(op["requestBody"])
    if schema is None:
        return {}, []
    props, required = _properties(resolver, schema)
    return {k: _type_of(resolver, v) for k, v in sorted(props.items())}, sorted(required & set(props))


def _readable(specs: Mapping[int, Resolver], res: Resource) -> list[str]:
    names: set[str] = set()
    for path in (res.v2_path, res.v1_path):
        if not path:
            continue
        for candidate in (f"{path}/{{id}}", path):
            op, resolver = _operation(specs, candidate, "GET")
            if not op:
                continue
            schema = resolver.json_body((op.get("responses") or {}).get("200") or {})
            if schema is None:
                continue
            props, _ = _properties(resolver, schema)
            data = resolver.deref(props.get("data", {}))
            if data.get("type") == "array":
                data = resolver.deref(data.get("items", {}))
            data_props, _ = _properties(resolver, data)
            names |= set(data_props)
            break
    return sorted(names)


def generate(spec_dir: Path) -> dict[str, Any]:
    """Build the per-resource field facts from the specs in ``spec_dir``."""
    specs = {version: Resolver(document) for version, document in load_documents(spec_dir).items()}
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
    spec_dir = require_spec_dir(sys.argv[1] if len(sys.argv) > 1 else None)
    OUT.write_text(json.dumps(generate(spec_dir), indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
