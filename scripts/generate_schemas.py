#!/usr/bin/env python
"""Derive the JSON schemas of every active catalogue resource from Pipedrive's OpenAPI documents.

Usage: ``python scripts/generate_schemas.py [--specs DIR] [--out DIR] [--docs FILE] [--check]``

For each resource of :func:`pipedrive_core.catalogue.active` the list operation of its read path (v1 or v2
document) gives the record schema: ``$ref`` and ``allOf`` are resolved, ``oneOf``/``anyOf`` merged
(:mod:`pipedrive_core.openapi`) and every property made nullable (Pipedrive leaves almost anything empty).
What the documents say beside the types is kept:

* **descriptions** of every property (HTML and line breaks flattened), so ``--discover`` explains columns;
* **temporal formats** ``date-time``, ``date`` and ``time`` (of day), decided by :func:`temporal_format` from
  the documented format, the documented example value, the description and the field name;
* **the documented example answer**, which is closer to what Pipedrive sends than the schema beside it: keys
  the example shows and a documented object leaves out are added, and an object whose schema shares no key
  with its example (``deal_participants.added_by_user_id`` is documented as a whole ``GetUserResponse``
  envelope) takes the example's shape. Objects documented without properties stay free-form (one JSON value);
* **address objects** get every address part (:data:`pipedrive_core.fields.ADDRESS_PARTS`), as the documents'
  address field definitions list them (their record schemas leave out ``formatted_address``);
* **``include_fields`` columns** (catalogue ``Resource.include_fields``) are typed from the record schema, else
  the same column of the legacy v1 list (2026-01 document), else the first same-named property anywhere in the
  documents, else by name (``*_count``/``*_id`` integer, ``*_time`` date-time, anything else string).

* **columns the tap or singer-sdk add**, from the catalogue row: the parent id column of a child, the
  ``parent_params`` columns (typed like the parent's values), partition keys (``folder``, ``is_archived``) and
  the file content columns of a row with ``download_path``.

Custom fields are not part of these files; the tap adds them at discovery from the ``*Fields`` endpoints.
The same run writes ``docs/tap-columns.md``, the column reference (type, format, description of every column).
The output is committed; ``--check`` fails when a file is out of date (a test runs it when the documents are
on the machine). The run is deterministic: same documents, same files.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipedrive_core import openapi  # noqa: E402
from pipedrive_core.catalogue import Resource, active, get  # noqa: E402
from pipedrive_core.fields import ADDRESS_PARTS  # noqa: E402
from tap_pipedrive import parent_params  # noqa: E402
from tap_pipedrive.file_content import CONTENT_PROPERTIES  # noqa: E402

DEFAULT_OUT = ROOT / "tap_pipedrive" / "schemas"
DEFAULT_DOC = ROOT / "docs" / "tap-columns.md"
#: the 2026-01 v1 document still describes the legacy v1 entity lists (counts, mail times, …)
LEGACY_V1_FILE = "openapi-v1-2026-01-full.yaml"
MAX_DEPTH = 6
TEMPORAL_FORMATS = ("date-time", "date", "time")

INCLUDE_FIELDS_NOTE = "Sent only when requested with include_fields (the tap requests it unless narrowed)."

_DATE_TIME_VALUE = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$")
_DATE_VALUE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_TIME_VALUE = re.compile(r"^\d{2}:\d{2}(:\d{2})?$")
_DATE_TIME_TEXT = re.compile(r"\bdate and time\b|\bISO 8601\b|YYYY-MM-DD[ T]HH|\btimestamp\b", re.IGNORECASE)
_DATE_TEXT = re.compile(r"YYYY-MM-DD|\bdate of\b|\b(start|end|due|close) date\b", re.IGNORECASE)
_DATE_TIME_NAME = re.compile(r"(_time|_timestamp|^timestamp|_at)$")


class DocumentedResolver(openapi.Resolver):
    """The shared resolver, keeping a combinator part's ``description`` and ``example`` when the node has none
    (Pipedrive often describes a property inside its ``allOf``)."""

    def merge(self, node: Any) -> dict[str, Any]:
        """:meth:`openapi.Resolver.merge` plus the first part's description and example."""
        out = super().merge(node)
        if "description" in out and "example" in out:
            return out
        raw = self.deref(node)
        for part in [*raw.get("allOf", []), *raw.get("oneOf", []), *raw.get("anyOf", [])]:
            merged = self.merge(part)
            for key in ("description", "example"):
                if key in merged and key not in out:
                    out[key] = merged[key]
        return out


# -- what the documents say beside the types ---------------------------------------------------------------

def clean_text(text: Any) -> str:
    """A description as one line of plain text: HTML tags and line breaks of the documents removed, paragraphs
    joined as sentences."""
    if not isinstance(text, str):
        return ""
    text = re.sub(r"<br\s*/?>|</(td|th|tr)>", " ", text)
    text = re.sub(r"<[^>]+>", "", text)
    return join_sentences(*re.split(r"\n\s*\n", text))


def join_sentences(*parts: str) -> str:
    """Texts joined into one line, each ending as a sentence (a full stop added where none is)."""
    out = []
    for raw in parts:
        part = " ".join(raw.split())
        if part:
            out.append(part if part[-1] in ".!?:)" or len(parts) == 1 else f"{part}.")
    return " ".join(out)


def temporal_format(name: str, node: Mapping[str, Any], example: Any, siblings: frozenset[str]) -> str | None:
    """``date-time``, ``date``, ``time`` (of day) or ``None`` for a string property.

    In order: the documented ``format``; the documented example value (``2021-01-01T00:00:00Z``,
    ``2020-09-25 09:21:55``, ``2021-01-01``, ``15:00:00``); the description ("date and time", "ISO 8601",
    "YYYY-MM-DD", "date of"); the name (``*_time``, ``*_timestamp``, ``*_at``, ``*_date``). A ``<x>_time``
    beside a ``<x>_date`` is a time of day (Pipedrive splits ``due_date``/``due_time``); an ``HH:MM`` value
    elsewhere is a duration, not a time of day.
    """
    documented = node.get("format")
    time_of_day = name.endswith("_time") and f"{name[:-5]}_date" in siblings
    decisions = (
        str(documented) if documented in TEMPORAL_FORMATS else None,
        _value_format(example, time_of_day=time_of_day),
        "time" if time_of_day else None,
        _text_format(clean_text(node.get("description"))),
        _name_format(name),
    )
    return next((d for d in decisions if d is not None), "") or None


def _value_format(example: Any, *, time_of_day: bool) -> str | None:
    """The format an example value shows; ``""`` for an ``HH:MM`` that is not a time of day (a duration)."""
    if not isinstance(example, str):
        return None
    if _DATE_TIME_VALUE.match(example):
        return "date-time"
    if _DATE_VALUE.match(example):
        return "date"
    if _TIME_VALUE.match(example):
        return "time" if time_of_day else ""
    return None


def _text_format(description: str) -> str | None:
    if _DATE_TIME_TEXT.search(description):
        return "date-time"
    if _DATE_TEXT.search(description) and "time" not in description.lower():
        return "date"
    return None


def _name_format(name: str) -> str | None:
    if _DATE_TIME_NAME.search(name):
        return "date-time"
    return "date" if name.endswith("_date") else None


def _nullable(kind: Any) -> list[str]:
    types = [kind] if isinstance(kind, str) else list(kind)
    return types if "null" in types else [*types, "null"]


def by_name(name: str, example: Any = None, siblings: frozenset[str] = frozenset()) -> dict[str, Any]:
    """The schema a Pipedrive column name implies when nothing else documents it."""
    if name.endswith(("_count", "_id")) and not isinstance(example, str):
        return {"type": ["integer", "null"]}
    if name.startswith("is_") or name.endswith("_flag"):
        return {"type": ["boolean", "null"]}
    out: dict[str, Any] = {"type": ["string", "null"]}
    fmt = temporal_format(name, {}, example, siblings)
    if fmt:
        out["format"] = fmt
    return out


_SCALAR_TYPES = {bool: "boolean", int: "integer", float: "number"}


def from_example(name: str, value: Any, siblings: frozenset[str] = frozenset(),
                 mixed: frozenset[str] = frozenset()) -> dict[str, Any]:
    """A schema for a key only the documented example shows, from its example value (or its name).

    ``mixed`` names the flags the documents type as boolean in one place and as a number in another
    (``has_pic`` is ``0``/``1`` in some answers and ``true``/``false`` in others): such a key accepts both.
    """
    scalar = _SCALAR_TYPES.get(type(value))
    if scalar is not None:
        both = scalar != "number" and name in mixed
        return {"type": ["boolean", "integer", "null"] if both else [scalar, "null"]}
    if isinstance(value, dict):
        keys = frozenset(value)
        props = {k: from_example(k, v, keys, mixed) for k, v in value.items()}
        return {"type": ["object", "null"], "properties": props} if props else {"type": ["object", "null"]}
    if isinstance(value, list):
        item = example_object(value)
        if item is None:
            item = next((v for v in value if v is not None), None)
        return {"type": ["array", "null"],
                **({"items": from_example(name, item, mixed=mixed)} if item is not None else {})}
    return by_name(name, value, siblings)


def example_object(example: Any) -> dict[str, Any] | None:
    """One example object: the example itself, or every key of a list of examples (first non-null value)."""
    if isinstance(example, dict):
        return example
    if not isinstance(example, list):
        return None
    out: dict[str, Any] = {}
    for item in example:
        if isinstance(item, dict):
            for key, value in item.items():
                if out.get(key) is None:
                    out[key] = value
    return out or None


# -- compact, documented schemas -------------------------------------------------------------------------

class Compactor:
    """One document's nodes as compact, nullable, described JSON schemas, checked against their examples."""

    def __init__(self, resolver: openapi.Resolver, mixed: frozenset[str] = frozenset()) -> None:
        self.resolver = resolver
        self.mixed = mixed

    def compact(self, node: Mapping[str, Any], example: Any = None, *, name: str = "", depth: int = 0,
                siblings: frozenset[str] = frozenset()) -> dict[str, Any]:
        """The schema of ``node`` (its documented ``example`` beside it), ``name`` being its property name."""
        node = self.resolver.merge(node)
        if example is None:
            example = node.get("example")
        kind = node.get("type")
        if kind == "object" or "properties" in node:
            out = self._object(node, example, depth)
        elif kind == "array":
            out = self._array(node, example, name, depth)
        elif kind is None:
            out = from_example(name, example, siblings, self.mixed) if example is not None else {}
        else:
            out = {"type": _nullable(kind)}
            fmt = temporal_format(name, node, example, siblings) if "string" in out["type"] else None
            if fmt:
                out["format"] = fmt
        description = clean_text(node.get("description"))
        if description and out:
            out["description"] = description
        return out

    def _object(self, node: Mapping[str, Any], example: Any, depth: int) -> dict[str, Any]:
        props: dict[str, Any] = dict(node.get("properties") or {})
        if not props or depth >= MAX_DEPTH:
            return {"type": ["object", "null"]}  # documented as free-form: one JSON value, whatever it holds
        sample = example_object(example) or {}
        if sample and not set(sample) & set(props):
            props = {}  # the documented schema is something else (a response envelope): trust the example
        if set(props) & set(ADDRESS_PARTS):
            # An address carries every address part (the address field definitions list formatted_address).
            props.update({part: {"type": "string"} for part in (*ADDRESS_PARTS, "value") if part not in props})
        names = frozenset(props) | frozenset(sample)
        out = {
            key: self.compact(value, sample.get(key), name=key, depth=depth + 1, siblings=names)
            for key, value in props.items()
        }
        for key, value in sample.items():
            if key not in out:
                out[key] = from_example(key, value, names, self.mixed)
        return {"type": ["object", "null"], "properties": out}

    def _array(self, node: Mapping[str, Any], example: Any, name: str, depth: int) -> dict[str, Any]:
        items = node.get("items") or {}
        out: dict[str, Any] = {"type": ["array", "null"]}
        item_example = example_object(example)
        if item_example is None and isinstance(example, list) and example:
            item_example = example[0]
        item_schema = self.compact(items, item_example, name=name, depth=depth + 1) if items else {}
        if not item_schema and item_example is not None:
            item_schema = from_example(name, item_example, mixed=self.mixed)
        if item_schema:
            out["items"] = item_schema
        return out


# -- the documents' list operations ----------------------------------------------------------------------

def record_node(resource: Resource, resolver: openapi.Resolver, path: str) -> tuple[dict[str, Any], Any] | None:
    """The schema node of one record of the list answer at ``path`` (no version prefix), with the documented
    example record."""
    operation = resolver.find_operation(path)
    if operation is None:
        return None
    content = operation["responses"]["200"]["content"]["application/json"]
    data = resolver.merge(resolver.merge(content["schema"]).get("properties", {}).get("data", {}))
    example = content.get("example")
    example = example.get("data") if isinstance(example, dict) else None
    if resource.records_path:  # the list sits inside ``data`` (goals: ``data.goals``)
        data = resolver.merge(data["properties"][resource.records_path])
        example = example.get(resource.records_path) if isinstance(example, dict) else None
    if data.get("type") == "array" and "items" in data:
        return resolver.merge(data["items"]), example_object(example)
    return data, example_object(example)


def properties(resolver: openapi.Resolver) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """Every property of every request and response body of the document (paths in sorted order)."""

    def walk(node: Any, depth: int) -> Iterator[tuple[str, Mapping[str, Any]]]:
        if depth > 12 or not isinstance(node, Mapping):
            return
        node = resolver.merge(node)
        for key, value in (node.get("properties") or {}).items():
            if isinstance(value, Mapping):
                yield key, value
                yield from walk(value, depth + 1)
        yield from walk(node.get("items"), depth + 1)

    paths = resolver.spec.get("paths") or {}
    for path in sorted(paths):
        for method in sorted(paths[path]):
            operation = paths[path][method]
            if not isinstance(operation, Mapping):
                continue
            for body in [operation.get("requestBody") or {}, *(operation.get("responses") or {}).values()]:
                yield from walk(resolver.json_body(body), 0)


def property_index(resolver: openapi.Resolver) -> dict[str, Mapping[str, Any]]:
    """Property name → the first property of that name in the document."""
    index: dict[str, Mapping[str, Any]] = {}
    for key, value in properties(resolver):
        index.setdefault(key, value)
    return index


def mixed_flags(resolvers: Sequence[openapi.Resolver]) -> frozenset[str]:
    """Names the documents type as boolean somewhere and as integer or number elsewhere."""
    kinds: dict[str, set[str]] = {}
    for resolver in resolvers:
        for key, value in properties(resolver):
            kind = resolver.merge(value).get("type")
            if isinstance(kind, str):
                kinds.setdefault(key, set()).add(kind)
    return frozenset(k for k, seen in kinds.items() if "boolean" in seen and seen & {"integer", "number"})


def partition_columns(resource: Resource) -> dict[str, Any]:
    """The keys of a read's partition context, which singer-sdk writes into every record that lacks them: the
    catalogue's ``partitions`` (mail threads' ``folder``) and ``is_archived`` of a resource read from its live
    and archived lists (``archived_path``)."""
    out: dict[str, Any] = {}
    for part in resource.partitions:
        for key, value in part.items():
            out[key] = {**from_example(key, value), "description": f"The {key} of the read's partition."}
    if resource.archived_path:
        out["is_archived"] = {"type": ["boolean", "null"], "description": "Whether the record is archived."}
    return out


def parent_param_columns(resource: Resource, parent: Mapping[str, Any]) -> dict[str, Any]:
    """The columns the tap adds from the parent's values a read was made with (catalogue ``parent_params``:
    goal results get ``period_start``/``period_end`` from the goal's ``duration.start``/``duration.end``),
    typed like those values in the parent's schema."""
    out: dict[str, Any] = {}
    for param, path in resource.parent_params.items():
        node: Mapping[str, Any] = parent
        for part in path.split("."):
            node = (node.get("properties") or {}).get(part) or {}
        described = f"The {resource.parent} record's {path} this record was read for (added by the tap)."
        out[parent_params.column(param)] = {**node, "description": described}
    return out


class Generator:
    """Every active resource's schema from the documents in one directory."""

    def __init__(self, spec_dir: Path) -> None:
        self.resolvers = {v: DocumentedResolver(doc) for v, doc in openapi.load_documents(spec_dir).items()}
        legacy = spec_dir / LEGACY_V1_FILE
        self.legacy = DocumentedResolver(openapi.load(legacy)) if legacy.is_file() else None
        self._indexes: dict[int, dict[str, Mapping[str, Any]]] = {}
        documents = [*self.resolvers.values(), *([self.legacy] if self.legacy else [])]
        self.mixed = mixed_flags(documents)

    def index(self, version: int) -> dict[str, Mapping[str, Any]]:
        """The property index of one document (built on first use)."""
        if version not in self._indexes:
            self._indexes[version] = property_index(self.resolvers[version])
        return self._indexes[version]

    def record_schema(self, resource: Resource) -> dict[str, Any]:
        """The compact schema of one record of ``resource``'s list answer."""
        version, path = openapi.split_version(resource.read_path)
        resolver = self.resolvers[version]
        found = record_node(resource, resolver, path)
        if found is None:
            raise SystemExit(f"{resource.name}: GET {path} not found in the v{version} document")
        node, example = found
        if not node.get("type") and not node.get("properties") and example is None:
            # Items the documents leave undescribed are plain values (deal permitted users: user ids); the tap
            # reads each as a record holding only its key.
            plain = "One value of the list (Pipedrive lists plain values)."
            return {"properties": {resource.key: {"description": plain}}}
        return Compactor(resolver, self.mixed).compact(node, example)

    def include_field(self, resource: Resource, name: str) -> dict[str, Any]:
        """The schema of an ``include_fields`` column the record schema leaves out."""
        candidates: list[tuple[openapi.Resolver, Mapping[str, Any]]] = []
        if self.legacy is not None and resource.v1_path:
            legacy = record_node(resource, self.legacy, openapi.split_version(resource.v1_path)[1])
            if legacy is not None and name in (legacy[0].get("properties") or {}):
                candidates.append((self.legacy, legacy[0]["properties"][name]))
        for version in (resource.read_version, 3 - resource.read_version):
            if name in self.index(version):
                candidates.append((self.resolvers[version], self.index(version)[name]))
        for resolver, node in candidates:
            schema = Compactor(resolver, self.mixed).compact(node, name=name, depth=MAX_DEPTH - 1)
            if schema:
                return schema
        return by_name(name)

    def finish(self, resource: Resource, schema: dict[str, Any], done: Mapping[str, Any]) -> dict[str, Any]:
        """Top level: key, replication key, parent columns and include_fields columns present and typed
        (``done``: the finished schemas so far, parents included)."""
        props: dict[str, Any] = dict(schema.get("properties") or {})
        props.update(parent_param_columns(resource, done.get(str(resource.parent), {})))
        key_type = "integer" if resource.key_type == "integer" else "string"
        props[resource.key] = {**props.get(resource.key, {}), "type": [key_type, "null"]}
        if key_type != "string":
            props[resource.key].pop("format", None)
        if resource.replication_key:
            props[resource.replication_key] = {
                **props.get(resource.replication_key, {}), "type": ["string", "null"], "format": "date-time",
            }
        if resource.parent_key:
            column = resource.parent_key if resource.parent_key != resource.key else f"followed_{resource.parent_key}"
            parent = f"The ID of the {resource.parent} record this one was read under (added by the tap)."
            parent_type = "integer" if get(str(resource.parent)).key_type == "integer" else "string"
            props[column] = {"type": [parent_type, "null"], "description": parent}
        if resource.has_custom_fields:
            props.pop("custom_fields", None)  # flattened into columns by the tap
        for name, column_schema in partition_columns(resource).items():
            props.setdefault(name, column_schema)
        if resource.download_path:  # the file content columns (download_file_content)
            props.update({name: dict(column_schema) for name, column_schema in CONTENT_PROPERTIES.items()})
        for name in resource.include_fields:
            included: dict[str, Any] = props.get(name) or self.include_field(resource, name)
            description = str(included.get("description", ""))
            if "include_fields" not in description:
                description = join_sentences(description, INCLUDE_FIELDS_NOTE)
            props[name] = {**included, "description": description}
        return {"type": "object", "properties": dict(sorted(props.items()))}

    def generate(self) -> dict[str, str]:
        """File name → JSON text for every active resource."""
        schemas: dict[str, dict[str, Any]] = {}
        for res in sorted(active(), key=lambda r: r.parent is not None):  # parents first
            schemas[res.name] = self.finish(res, self.record_schema(res), schemas)
        # Every *Fields answer has the same shape, but the documents describe each one partially: use the union.
        fields_names = [r.name for r in active() if r.fields_of]
        union: dict[str, Any] = {}
        for name in fields_names:
            for prop, schema in schemas[name]["properties"].items():
                union.setdefault(prop, schema)
        for name in fields_names:
            schemas[name]["properties"] = dict(sorted(union.items()))
        return {f"{name}.json": json.dumps(schema, indent=1, ensure_ascii=False) + "\n"
                for name, schema in schemas.items()}


def generate(spec_dir: Path) -> dict[str, str]:
    """File name → JSON text for every active resource, from the documents in ``spec_dir``."""
    return Generator(spec_dir).generate()


def _columns(schema: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Mapping[str, Any]]]:
    for name, node in (schema.get("properties") or {}).items():
        yield f"{prefix}{name}", node
        yield from _columns(node, f"{prefix}{name}.")
        if isinstance(node.get("items"), Mapping):
            yield from _columns(node["items"], f"{prefix}{name}[].")


def _kind(node: Mapping[str, Any]) -> str:
    kinds = [k for k in node.get("type", []) if k != "null"] or ["any"]
    fmt = f" ({node['format']})" if node.get("format") else ""
    return " \\| ".join(kinds) + fmt


def column_reference(schema_texts: Mapping[str, str]) -> str:
    """The Markdown reference of every stream's base columns, from the schema files (file name → JSON text)."""
    lines = [
        "# tap-pipedrive: columns of every stream",
        "",
        "Generated by `python scripts/generate_schemas.py` from the committed schemas (`tap_pipedrive/schemas`),",
        "with Pipedrive's own descriptions; a test fails when it is stale. Every column may be null. Nested",
        "properties are listed as `object.property` (`list[].property` for lists of objects). Custom-field",
        "columns are added per account at discovery (docs/tap.md, \"Custom fields\"); the search streams and",
        "`deleted_records` have the fixed columns docs/tap.md lists.",
    ]
    for res in active():
        text = schema_texts.get(f"{res.name}.json")
        if text is None:
            continue
        lines += ["", f"## `{res.name}`", "", "| column | type | description |", "|---|---|---|"]
        for path, node in _columns(json.loads(text)):
            description = str(node.get("description", "")).replace("|", "\\|")
            lines.append(f"| `{path}` | {_kind(node)} | {description} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Write (or ``--check``) the schema files."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--specs", type=Path, default=None,
                        help=f"directory of the OpenAPI YAML files (default: ${openapi.ENV_VAR}, else "
                        "shared/pipedrive-openapi beside or above the repository)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="directory of the schema files")
    parser.add_argument("--docs", type=Path, default=DEFAULT_DOC, help="the column reference page to write")
    parser.add_argument("--check", action="store_true", help="fail if a file in --out (or --docs) differs")
    args = parser.parse_args(argv)
    out: Path = args.out
    files = generate(openapi.require_spec_dir(args.specs))
    stale = [name for name, text in files.items()
             if not (out / name).exists() or (out / name).read_text(encoding="utf-8") != text]
    extra = sorted(p.name for p in out.glob("*.json") if p.name not in files) if out.is_dir() else []
    doc: Path = args.docs
    reference = column_reference(files)
    doc_stale = not doc.exists() or doc.read_text(encoding="utf-8") != reference
    if args.check:
        for path in [*(out / n for n in [*stale, *extra]), *([doc] if doc_stale else [])]:
            print(f"out of date: {path}", file=sys.stderr)
        return 1 if stale or extra or doc_stale else 0
    out.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (out / name).write_text(text, encoding="utf-8")
    for name in extra:
        (out / name).unlink()
    doc.write_text(reference, encoding="utf-8")
    print(f"wrote {len(files)} schemas, {len(stale)} changed, {len(extra)} removed; {doc.name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
