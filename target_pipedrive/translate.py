"""Columns of an incoming record → the JSON payload Pipedrive's write endpoint expects.

singer-sdk hands sinks Python values (``Decimal``, ``datetime``, ``date``, ``time``), while Pipedrive wants
numbers, ``YYYY-MM-DD`` dates, RFC 3339 timestamps without fractions (v2 and the ISO-speaking v1 resources) or
``YYYY-MM-DD HH:MM:SS`` (classic v1), enum/set option *ids* rather than labels, custom fields under 40-hex
keys (flat at the top level in v1, nested in ``custom_fields`` in v2). All of that is decided here, per
column, from facts read once: the resource's writable fields (``api_fields.json``, generated from the
OpenAPI specs) and the account's custom-field definitions. Any refusal names the field, so the sink can
report stream, key and field.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Literal

from pipedrive_core.catalogue import Resource
from pipedrive_core.fields import (
    DATE_TYPES,
    INTEGER_TYPES,
    NUMBER_TYPES,
    TIME_TYPES,
    FieldDef,
    UnknownOptionError,
    assign_columns,
    flatten_v2,
    nest_v2,
)
from pipedrive_core.values import plain_number

UnknownFields = Literal["error", "drop"]
ColumnNames = Literal["key", "name", "auto"]

#: columns that are never sent: Singer metadata is recognised by prefix
SDC_PREFIX = "_sdc_"


class RecordError(ValueError):
    """A record cannot be written as it is; ``field`` names the column at fault, when there is one."""

    def __init__(self, reason: str, *, field: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.field = field


@dataclass(frozen=True)
class ApiFields:
    """What Pipedrive's write endpoints of one resource accept, from its OpenAPI document."""

    create: Mapping[str, Mapping[str, str]]
    update: Mapping[str, Mapping[str, str]]
    required: tuple[str, ...]
    readable: frozenset[str]

    @property
    def writable(self) -> dict[str, Mapping[str, str]]:
        """Create and update fields together (types agree where both list a field)."""
        return {**self.update, **self.create}


@cache
def _api_fields_data() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(Path(__file__).with_name("api_fields.json").read_text())
    return data


def api_fields(resource: str) -> ApiFields:
    """The write facts of ``resource`` (empty for resources the specs do not describe)."""
    data = _api_fields_data().get(resource) or {}
    return ApiFields(
        create=data.get("create", {}),
        update=data.get("update", {}),
        required=tuple(data.get("required", ())),
        readable=frozenset(data.get("readable", ())),
    )


# --- value formatting ---------------------------------------------------------------------------------


def format_datetime(value: dt.datetime, style: Literal["v1", "iso"]) -> str:
    """UTC, second precision: ``2026-11-20T10:00:00Z`` (v2 rejects fractions) or ``2026-11-20 10:00:00``."""
    if value.tzinfo is not None:
        value = value.astimezone(dt.timezone.utc)
    value = value.replace(microsecond=0, tzinfo=None)
    return value.strftime("%Y-%m-%d %H:%M:%S") if style == "v1" else value.strftime("%Y-%m-%dT%H:%M:%SZ")


def _number(value: Any, column: str) -> int | float:
    number = plain_number(value)
    if number is None:
        raise RecordError(f"expected a number, got {value!r}", field=column)
    return number


def _integer(value: Any, column: str) -> int:
    number = _number(value, column)
    if isinstance(number, float):
        raise RecordError(f"expected an integer, got {value!r}", field=column)
    return number


def _boolean(value: Any, column: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, decimal.Decimal)) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in {"true", "false", "1", "0"}:
        return value.strip().lower() in {"true", "1"}
    raise RecordError(f"expected a boolean, got {value!r}", field=column)


def _date(value: Any, column: str) -> str:
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value.strip()[:10]).isoformat()
        except ValueError:
            pass
    raise RecordError(f"expected a date (YYYY-MM-DD), got {value!r}", field=column)


def _time(value: Any, column: str, *, seconds: bool) -> str:
    if isinstance(value, dt.datetime):
        value = value.time()
    if isinstance(value, dt.time):
        return value.strftime("%H:%M:%S" if seconds else "%H:%M")
    if isinstance(value, str):
        try:
            return _time(dt.time.fromisoformat(value.strip()), column, seconds=seconds)
        except ValueError:
            pass
    raise RecordError(f"expected a time (HH:MM), got {value!r}", field=column)


def jsonable(value: Any, style: Literal["v1", "iso"]) -> Any:  # noqa: PLR0911 - a type dispatch
    """Nested values (objects, lists) with Decimal/datetime/date/time made JSON-ready."""
    if isinstance(value, bool) or value is None or isinstance(value, (int, float, str)):
        return value
    if isinstance(value, decimal.Decimal):
        return int(value) if value == int(value) else float(value)
    if isinstance(value, dt.datetime):
        return format_datetime(value, style)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dt.time):
        return value.strftime("%H:%M:%S")
    if isinstance(value, Mapping):
        return {str(k): jsonable(v, style) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [jsonable(v, style) for v in value]
    return str(value)


def builtin_value(  # noqa: PLR0911 - a type dispatch
    value: Any, spec: Mapping[str, str], column: str, style: Literal["v1", "iso"]
) -> Any:
    """Convert a built-in field's value by the type the OpenAPI document gives it."""
    if value is None:
        return None
    kind, fmt = spec.get("type", "any"), spec.get("format")
    if kind == "integer":
        return _integer(value, column)
    if kind == "number":
        return _number(value, column)
    if kind == "boolean":
        return _boolean(value, column)
    if kind == "string":
        if fmt == "date":
            return _date(value, column)
        if isinstance(value, dt.datetime):
            return format_datetime(value, style)
        if isinstance(value, dt.date):
            return value.isoformat()
        if isinstance(value, dt.time):
            return value.strftime("%H:%M")
        if isinstance(value, decimal.Decimal):
            return str(value)
        if isinstance(value, (Mapping, list)):
            raise RecordError(f"expected a string, got {type(value).__name__}", field=column)
        return value if isinstance(value, str) else str(value)
    return jsonable(value, style)


def _is_option(fdef: FieldDef, label: str) -> bool:
    try:
        fdef.option_id(label)
    except UnknownOptionError:
        return False
    return True


def _split_labels(fdef: FieldDef, text: str) -> list[str]:
    """Split ``"Hot, Cold, wet"`` on commas, keeping labels that themselves contain commas whole."""
    parts = [p.strip() for p in text.split(",")]
    out: list[str] = []
    i = 0
    while i < len(parts):
        for j in range(len(parts), i, -1):
            candidate = ", ".join(parts[i:j])
            if j - i == 1 or _is_option(fdef, candidate):
                out.append(candidate)
                i = j
                break
    return [p for p in out if p]


def _set_values(fdef: FieldDef, value: Any, column: str) -> list[int]:
    if isinstance(value, str):
        items: Iterable[Any] = _split_labels(fdef, value)
    elif isinstance(value, (list, tuple, set)):
        items = value
    else:
        items = [value]
    out: list[int] = []
    for item in items:
        try:
            out.append(fdef.option_id(int(item) if isinstance(item, decimal.Decimal) else item))
        except UnknownOptionError as exc:
            raise RecordError(str(exc), field=column) from None
    return out


def custom_value(  # noqa: PLR0911 - a type dispatch
    fdef: FieldDef, suffix: str | None, value: Any, column: str, style: Literal["v1", "iso"]
) -> Any:
    """Convert a custom field's value (or a companion subfield's) by its ``field_type``."""
    if value is None:
        return None
    ftype = fdef.field_type
    if suffix is not None and suffix != "until":
        return str(value)  # currency, address components
    if ftype == "enum":
        try:
            return fdef.option_id(int(value) if isinstance(value, decimal.Decimal) else value)
        except UnknownOptionError as exc:
            raise RecordError(str(exc), field=column) from None
    if ftype == "set":
        return _set_values(fdef, value, column)
    if ftype in INTEGER_TYPES:  # enum was handled above
        return _integer(value, column)
    if ftype in NUMBER_TYPES:
        return _number(value, column)
    if ftype in DATE_TYPES:
        return _date(value, column)
    if ftype in TIME_TYPES:
        return _time(value, column, seconds=True)
    if isinstance(value, dt.datetime):
        return format_datetime(value, style)
    if isinstance(value, (Mapping, list)):
        raise RecordError(f"expected a text value, got {type(value).__name__}", field=column)
    return str(value) if isinstance(value, decimal.Decimal) else value if isinstance(value, str) else str(value)


# --- custom-field columns -----------------------------------------------------------------------------


@dataclass
class CustomColumns:
    """Which incoming columns are custom fields: by 40-hex key and/or by the tap's readable names.

    Names are assigned with :func:`pipedrive_core.fields.assign_columns`, the same function the tap uses
    with ``custom_field_names: name``, so a column the tap emitted resolves to the same field here.
    """

    fields: Mapping[str, FieldDef]
    reserved: frozenset[str] = frozenset()
    mode: ColumnNames = "auto"
    columns: dict[str, tuple[FieldDef, str | None]] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        custom = [f for f in self.fields.values() if f.is_custom]
        if self.mode in {"key", "auto"}:
            for fdef in custom:
                self._add(fdef.key, fdef)
        if self.mode in {"name", "auto"}:
            names = assign_columns(custom, mode="name", reserved=self.reserved)
            for fdef in custom:
                self._add(names[fdef.key], fdef)

    def _add(self, base: str, fdef: FieldDef) -> None:
        self.columns.setdefault(base, (fdef, None))
        for suffix in fdef.subfields:
            self.columns.setdefault(f"{base}_{suffix}", (fdef, suffix))

    def resolve(self, column: str) -> tuple[FieldDef, str | None] | None:
        """The custom field (and subfield suffix) that ``column`` stands for, if any."""
        return self.columns.get(column)

    def field_for(self, name_or_key: str) -> FieldDef | None:
        """A field by key, column name, or its exact Pipedrive name."""
        hit = self.columns.get(name_or_key)
        if hit and hit[1] is None:
            return hit[0]
        if name_or_key in self.fields:
            return self.fields[name_or_key]
        folded = name_or_key.casefold()
        matches = [f for f in self.fields.values() if f.is_custom and f.name.casefold() == folded]
        return matches[0] if len(matches) == 1 else None


# --- the translator -----------------------------------------------------------------------------------


@dataclass
class Payload:
    """A translated record: built-in fields plus custom fields in flat (v1-style) form."""

    builtin: dict[str, Any]
    custom: dict[str, Any]
    dropped: list[str]

    def render(self, fields: Mapping[str, FieldDef], *, nested: bool) -> dict[str, Any]:
        """The request body: custom values top-level (v1) or in a ``custom_fields`` object (v2)."""
        body = dict(self.builtin)
        if self.custom:
            if nested:
                body["custom_fields"] = {**body.get("custom_fields", {}), **nest_v2(self.custom, fields)}
            else:
                body.update(self.custom)
        return body


class Translator:
    """Translate records of one resource; built once per sink and field-definition refresh."""

    def __init__(
        self,
        resource: Resource,
        *,
        fields: Mapping[str, FieldDef] | None = None,
        unknown_fields: UnknownFields = "error",
        column_names: ColumnNames = "auto",
        ignore: Iterable[str] = (),
    ) -> None:
        self.resource = resource
        self.api = api_fields(resource.name)
        self.fields: Mapping[str, FieldDef] = fields or {}
        self.unknown_fields = unknown_fields
        self.ignore = frozenset(ignore)
        writes = resource.writes
        paths = [p for p in (writes.create_path, writes.update_path) if p] if writes else []
        self.v2 = any(p.startswith("/api/v2") for p in paths)
        self.style: Literal["v1", "iso"] = "iso" if self.v2 or resource.timestamp_style == "iso" else "v1"
        self.writable = self.api.writable
        self.custom_writable = bool(self.fields) and (
            "custom_fields" in self.writable or (not self.v2 and resource.has_custom_fields)
        )
        reserved = frozenset(self.writable) | self.api.readable
        self.custom = CustomColumns(self.fields, reserved, column_names) if self.fields else None
        self.aliases: Mapping[str, str] = resource.list_aliases

    def translate(self, record: Mapping[str, Any]) -> Payload:
        """Translate every present column; raise :class:`RecordError` on the first bad value, or naming *every*
        unknown column at once (fixing them one run at a time would take as many runs)."""
        unknown: list[str] = []
        payload = self._translate(record, unknown)
        if unknown:
            names = ", ".join(repr(c) for c in unknown)
            raise RecordError(
                f"unknown field{'s' if len(unknown) > 1 else ''}: {self.resource.name} has no writable field or "
                f"custom field called {names} (set unknown_fields: drop to ignore such columns, or rename them "
                "with a stream map)",
                field=", ".join(unknown),
            )
        return payload

    def _translate(self, record: Mapping[str, Any], unknown: list[str]) -> Payload:
        builtin: dict[str, Any] = {}
        custom: dict[str, Any] = {}
        dropped: list[str] = []
        for column, value in record.items():
            if column.startswith(SDC_PREFIX) or column in self.ignore:
                continue
            if column in self.aliases:
                target = self.aliases[column]
                if value is not None and target not in record:
                    builtin[target] = [{"value": str(value), "primary": True, "label": "work"}]
                continue
            if column == "custom_fields" and self.v2:
                if value is not None:
                    self._nested_custom(value, custom, dropped, unknown)
                continue
            spec = self.writable.get(column)
            if spec is not None:
                builtin[column] = builtin_value(value, spec, column, self.style)
                continue
            hit = self.custom.resolve(column) if self.custom else None
            if hit is not None:
                fdef, suffix = hit
                if not self.custom_writable:
                    dropped.append(column)
                    continue
                flat_key = fdef.key if suffix is None else f"{fdef.key}_{suffix}"
                custom[flat_key] = custom_value(fdef, suffix, value, column, self.style)
                continue
            if column in self.api.readable:
                dropped.append(column)  # read-only (id, add_time, …): expected in a round trip
                continue
            if self.unknown_fields == "error":
                unknown.append(column)
                continue
            dropped.append(column)
        return Payload(builtin, custom, dropped)

    def _nested_custom(self, value: Any, custom: dict[str, Any], dropped: list[str], unknown: list[str]) -> None:
        if not isinstance(value, Mapping):
            raise RecordError("custom_fields must be an object", field="custom_fields")
        by_key: dict[str, Any] = {}
        for name, item in value.items():
            fdef = self.custom.field_for(str(name)) if self.custom else None
            if fdef is None:
                (unknown if self.unknown_fields == "error" else dropped).append(f"custom_fields.{name}")
                continue
            by_key[fdef.key] = item
        for flat_key, item in flatten_v2(by_key, self.fields).items():
            hit = self.custom.resolve(flat_key) if self.custom else None
            if hit is None:  # pragma: no cover - flatten_v2 only yields known keys and subfields
                continue
            custom[flat_key] = custom_value(hit[0], hit[1], item, f"custom_fields.{flat_key}", self.style)

    def body_field(self, column: str) -> str:
        """The request-body field an incoming column ends up in (``email`` → ``emails``, a custom name → key)."""
        if column in self.aliases:
            return self.aliases[column]
        hit = self.custom.resolve(column) if self.custom and column not in self.writable else None
        if hit is not None:
            return hit[0].key if hit[1] is None else f"{hit[0].key}_{hit[1]}"
        return column

    def body(self, payload: Payload, *, create: bool) -> dict[str, Any]:
        """The request body for a create or an update, checked for required fields on create.

        An update sends only what the record carried; fields the endpoint does not accept for that verb
        (``add_time`` on update, say) are left out rather than refused by Pipedrive.
        """
        allowed = self.api.create if create else self.api.update
        builtin = {k: v for k, v in payload.builtin.items() if not allowed or k in allowed}
        if create:
            # a multipart upload's file part comes from the record's content columns, not from the body
            parts = {k for k, v in self.api.create.items() if v.get("format") == "binary"}
            missing = [f for f in self.api.required if f not in parts and builtin.get(f) in (None, "", [])]
            if missing:
                raise RecordError(
                    f"missing required field{'s' if len(missing) > 1 else ''} for a new {self.resource.name} "
                    f"record: {', '.join(missing)}",
                    field=missing[0],
                )
        custom = payload.custom if self.custom_writable else {}
        return Payload(builtin, custom, payload.dropped).render(self.fields, nested=self.v2)
