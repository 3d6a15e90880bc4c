#!/usr/bin/env python
"""Derive compact JSON schemas of every active catalogue resource from Pipedrive's OpenAPI specs.

Usage: ``python scripts/generate_schemas.py [--specs DIR] [--check]``

For each resource of :func:`pipedrive_core.catalogue.active` the list operation of its read path (v1 or v2
spec) gives the record schema: ``$ref`` and ``allOf`` are resolved, ``oneOf``/``anyOf`` merged, OpenAPI's
``nullable`` becomes a JSON-schema type union, every property is made nullable (Pipedrive leaves almost
anything empty), and descriptions, examples and enums are dropped so the files stay small and stable. Custom
fields are not part of these files; the tap adds them at discovery from the ``*Fields`` endpoints.

The output goes to ``tap_pipedrive/schemas/<stream>.json`` and is committed; ``--check`` fails when a file
is out of date (used by the tests when the specs are available).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipedrive_core.catalogue import Resource, active  # noqa: E402

DEFAULT_SPECS = Path("/work/shared/pipedrive-openapi")
OUT_DIR = ROOT / "tap_pipedrive" / "schemas"
MAX_DEPTH = 4
KEEP_FORMATS = {"date-time", "date"}

#: Where the record list sits inside ``data`` when it is not ``data`` itself.
DATA_PATH: dict[str, tuple[str, ...]] = {"goals": ("goals",)}

#: Properties every record of a stream gets from the tap itself (not from the API).
EXTRA_PROPERTIES: dict[str, dict[str, Any]] = {
    "deals": {"is_archived": {"type": ["boolean", "null"]}, "archive_time": {"type": ["string", "null"]}},
    "mail_threads": {"folder": {"type": ["string", "null"]}},
}

#: Schemas for lists whose item schema the spec leaves out (plain id lists, free-form flow items).
OVERRIDES: dict[str, dict[str, Any]] = {
    "deal_permitted_users": {"type": "object", "properties": {"user_id": {"type": ["integer", "null"]}}},
}


def load(path: Path) -> dict[str, Any]:
    """Parse a YAML spec (C loader when available: the v1 spec is large)."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with path.open(encoding="utf-8") as handle:
        return yaml.load(handle, Loader=loader)  # noqa: S506 - safe loader


class Resolver:
    """Resolve ``$ref``/``allOf``/``oneOf``/``anyOf``/``nullable`` into a compact, all-nullable schema."""

    def __init__(self, spec: Mapping[str, Any]) -> None:
        self.spec = spec

    def deref(self, node: Mapping[str, Any]) -> Mapping[str, Any]:
        """Follow ``$ref`` chains to the referenced node."""
        seen = 0
        while "$ref" in node and seen < 20:
            target: Any = self.spec
            for part in node["$ref"].lstrip("#/").split("/"):
                target = target[part]
            node = target
            seen += 1
        return node

    def merge(self, node: Mapping[str, Any]) -> dict[str, Any]:
        """One flat node out of ``allOf`` (all parts) and ``oneOf``/``anyOf`` (union of parts)."""
        node = self.deref(node)
        parts = [self.merge(p) for p in node.get("allOf", [])]
        parts += [self.merge(p) for p in node.get("oneOf", []) + node.get("anyOf", [])]
        out: dict[str, Any] = {k: v for k, v in node.items() if k not in {"allOf", "oneOf", "anyOf"}}
        for part in parts:
            props = part.get("properties")
            if props:
                out.setdefault("properties", {})
                for name, value in props.items():
                    out["properties"].setdefault(name, value)
            for key in ("type", "items", "format", "nullable"):
                if key in part and key not in out:
                    out[key] = part[key]
            if part.get("nullable"):
                out["nullable"] = True
        if "properties" in out and "type" not in out:
            out["type"] = "object"
        return out

    def compact(self, node: Mapping[str, Any], depth: int = 0) -> dict[str, Any]:
        """A JSON schema with a nullable type and no documentation."""
        node = self.merge(node)
        kind = node.get("type")
        if kind is None:
            return {}  # anything
        if kind == "object" or "properties" in node:
            props = node.get("properties") or {}
            if depth >= MAX_DEPTH or not props:
                return {"type": ["object", "null"]}
            return {
                "type": ["object", "null"],
                "properties": {name: self.compact(value, depth + 1) for name, value in props.items()},
            }
        if kind == "array":
            items = node.get("items") or {}
            out: dict[str, Any] = {"type": ["array", "null"]}
            item_schema = self.compact(items, depth + 1) if items else {}
            if item_schema:
                out["items"] = item_schema
            return out
        types = [kind] if isinstance(kind, str) else list(kind)
        if "null" not in types:
            types.append("null")
        out = {"type": types}
        if node.get("format") in KEEP_FORMATS and kind == "string":
            out["format"] = node["format"]
        return out


def spec_path(resource: Resource) -> str:
    """The read path as the spec writes it: no version prefix, no query, any ``{placeholder}``."""
    path = resource.read_path.split("?", 1)[0]
    return re.sub(r"^/(v1|api/v2)", "", path)


def find_operation(spec: Mapping[str, Any], path: str) -> Mapping[str, Any] | None:
    """The GET operation of ``path`` (placeholders match any placeholder name)."""
    pattern = re.compile("^" + re.sub(r"\\\{[^}]+\\\}", r"\\{[^}]+\\}", re.escape(path)) + "$")
    for candidate, item in spec.get("paths", {}).items():
        if pattern.match(candidate) and "get" in item:
            return item["get"]
    return None


def record_schema(resource: Resource, spec: Mapping[str, Any]) -> dict[str, Any]:
    """The compact schema of one record of ``resource``'s list answer."""
    if resource.name in OVERRIDES:
        body: dict[str, Any] = json.loads(json.dumps(OVERRIDES[resource.name]))
        body["type"] = ["object", "null"]
        return body
    operation = find_operation(spec, spec_path(resource))
    if operation is None:
        msg = f"{resource.name}: GET {spec_path(resource)} not found in the v{resource.read_version} spec"
        raise SystemExit(msg)
    resolver = Resolver(spec)
    content = operation["responses"]["200"]["content"]["application/json"]["schema"]
    data = resolver.merge(content).get("properties", {}).get("data", {})
    data = resolver.merge(data)
    for step in DATA_PATH.get(resource.name, ()):
        data = resolver.merge(data["properties"][step])
    items = resolver.merge(data["items"]) if data.get("type") == "array" and "items" in data else data
    return resolver.compact(items)


def finish(resource: Resource, schema: dict[str, Any]) -> dict[str, Any]:
    """Top-level shape: object with properties; key and replication key always present and typed."""
    props: dict[str, Any] = dict(schema.get("properties") or {})
    key_type = "integer" if resource.key_type == "integer" else "string"
    props[resource.key] = {"type": [key_type, "null"]}
    if resource.replication_key:
        props[resource.replication_key] = {"type": ["string", "null"], "format": "date-time"}
    if resource.parent_key:
        column = resource.parent_key if resource.parent_key != resource.key else f"followed_{resource.parent_key}"
        props[column] = {"type": ["integer", "null"]}
    if resource.has_custom_fields:
        props.pop("custom_fields", None)  # flattened into columns by the tap
    props.update(EXTRA_PROPERTIES.get(resource.name, {}))
    return {"type": "object", "properties": dict(sorted(props.items()))}


def generate(specs: Path) -> dict[str, str]:
    """File name → JSON text for every active resource."""
    loaded = {1: load(specs / "openapi-v1.yaml"), 2: load(specs / "openapi-v2.yaml")}
    schemas = {r.name: finish(r, record_schema(r, loaded[r.read_version])) for r in active()}
    # Every *Fields answer has the same shape, but the spec documents each one partially: use the union.
    fields_names = [r.name for r in active() if r.fields_of]
    union: dict[str, Any] = {}
    for name in fields_names:
        for prop, schema in schemas[name]["properties"].items():
            union.setdefault(prop, schema)
    for name in fields_names:
        schemas[name]["properties"] = dict(sorted(union.items()))
    return {f"{name}.json": json.dumps(schema, indent=1) + "\n" for name, schema in schemas.items()}


def main(argv: list[str] | None = None) -> int:
    """Write (or ``--check``) the schema files."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--specs", type=Path, default=DEFAULT_SPECS, help="directory of the OpenAPI YAML files")
    parser.add_argument("--check", action="store_true", help="fail if a committed file differs")
    args = parser.parse_args(argv)
    files = generate(args.specs)
    stale = [name for name, text in files.items()
             if not (OUT_DIR / name).exists() or (OUT_DIR / name).read_text(encoding="utf-8") != text]
    if args.check:
        for name in stale:
            print(f"out of date: tap_pipedrive/schemas/{name}", file=sys.stderr)
        return 1 if stale else 0
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (OUT_DIR / name).write_text(text, encoding="utf-8")
    for old in OUT_DIR.glob("*.json"):
        if old.name not in files:
            old.unlink()
    print(f"wrote {len(files)} schemas, {len(stale)} changed")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
