"""Reading Pipedrive's OpenAPI documents: where they are, loading them, resolving ``$ref`` and combinators.

Used by the generators only (``scripts/generate_schemas.py`` for the tap's schemas,
``target_pipedrive.gen_api_fields`` for the target's writable fields); nothing that runs a sync imports it, so
PyYAML stays a generator-only dependency (imported when a document is loaded).

The documents are not vendored in the repository. Every generator takes their directory as an argument;
:func:`default_spec_dir` only supplies a default: ``$PIPEDRIVE_OPENAPI_DIR``, else the first
``shared/pipedrive-openapi`` directory found beside or above the repository.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

ENV_VAR = "PIPEDRIVE_OPENAPI_DIR"
#: file names of the documents inside the spec directory, per API version
DOCUMENTS = {1: "openapi-v1.yaml", 2: "openapi-v2.yaml"}
_REPO = Path(__file__).resolve().parent.parent
#: how many ``$ref`` hops one lookup follows (Pipedrive's documents need a handful; a cycle must not hang)
MAX_REF_HOPS = 20


def default_spec_dir(start: Path = _REPO) -> Path | None:
    """``$PIPEDRIVE_OPENAPI_DIR``, else ``shared/pipedrive-openapi`` in ``start`` or the nearest parent that has
    one (a checkout beside the shared documents); ``None`` when there is none."""
    env = os.environ.get(ENV_VAR)
    candidates = [Path(env)] if env else []
    candidates += [p / "shared" / "pipedrive-openapi" for p in (start, *start.parents)]
    return next((c for c in candidates if (c / DOCUMENTS[2]).is_file()), None)


def require_spec_dir(spec_dir: Path | str | None) -> Path:
    """``spec_dir``, or the default; a clear error when neither holds the documents."""
    found = Path(spec_dir) if spec_dir else default_spec_dir()
    if found is None or not (found / DOCUMENTS[2]).is_file():
        where = f"{found}" if found else f"${ENV_VAR} or a shared/pipedrive-openapi directory above the repository"
        raise SystemExit(f"Pipedrive's OpenAPI documents ({', '.join(DOCUMENTS.values())}) not found in {where}; "
                         "pass their directory")
    return found


def load(path: Path) -> dict[str, Any]:
    """Parse one YAML document (C loader when available: the v1 document is large)."""
    import yaml  # noqa: PLC0415 - generator-only dependency

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with path.open(encoding="utf-8") as handle:
        return yaml.load(handle, Loader=loader)  # noqa: S506 - a safe loader


def load_documents(spec_dir: Path) -> dict[int, dict[str, Any]]:
    """API version → parsed document."""
    return {version: load(spec_dir / name) for version, name in DOCUMENTS.items()}


def _shape(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "{}", path.split("?", 1)[0])


class Resolver:
    """``$ref`` lookups and ``allOf``/``oneOf``/``anyOf`` merging within one document."""

    def __init__(self, spec: Mapping[str, Any]) -> None:
        self.spec = spec

    def deref(self, node: Any) -> Mapping[str, Any]:
        """Follow ``$ref`` chains to the referenced node (``{}`` for anything that is not an object)."""
        hops = 0
        while isinstance(node, Mapping) and "$ref" in node and hops < MAX_REF_HOPS:
            target: Any = self.spec
            for part in str(node["$ref"]).lstrip("#/").split("/"):
                target = target[part]
            node = target
            hops += 1
        return node if isinstance(node, Mapping) else {}

    def merge(self, node: Any) -> dict[str, Any]:
        """One flat node out of ``allOf`` (all parts) and ``oneOf``/``anyOf`` (union of parts).

        The node's own keys win; among the parts the first one that has a property or a type gives it.
        ``required`` is the node's plus every ``allOf`` part's (a ``oneOf`` part's requirement is optional).
        """
        node = self.deref(node)
        all_of = [self.merge(p) for p in node.get("allOf", [])]
        any_of = [self.merge(p) for p in [*node.get("oneOf", []), *node.get("anyOf", [])]]
        out: dict[str, Any] = {k: v for k, v in node.items() if k not in {"allOf", "oneOf", "anyOf"}}
        required = set(node.get("required") or [])
        for part in all_of + any_of:
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
        for part in all_of:
            required |= set(part.get("required") or [])
        if required:
            out["required"] = sorted(required)
        if "properties" in out and "type" not in out:
            out["type"] = "object"
        return out

    def find_operation(self, path: str, method: str = "get") -> Mapping[str, Any] | None:
        """The operation of ``path`` (as the document writes it, without the version prefix); placeholder
        names do not matter (``/deals/{id}`` matches ``/deals/{deal_id}``)."""
        shape = _shape(path)
        for candidate, item in (self.spec.get("paths") or {}).items():
            if _shape(candidate) == shape and isinstance(item, Mapping) and method.lower() in item:
                return item[method.lower()]
        return None

    def json_body(self, node: Any) -> Mapping[str, Any] | None:
        """The JSON schema of a request body or response (first content type), ``None`` without one."""
        content = self.deref(node).get("content") or {}
        if not content:
            return None
        return next(iter(content.values())).get("schema")


def split_version(path: str) -> tuple[int, str]:
    """``/api/v2/deals`` → ``(2, "/deals")``; ``/v1/notes`` → ``(1, "/notes")`` (the document's own paths)."""
    if path.startswith("/api/v2"):
        return 2, path[len("/api/v2"):]
    return 1, re.sub(r"^/v1", "", path)
