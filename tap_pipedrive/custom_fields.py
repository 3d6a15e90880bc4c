"""Custom fields of a stream: typed schema columns and the per-record normalisation to them.

The definitions come from the ``*Fields`` endpoints (:mod:`pipedrive_core.fields`); the column of each
field is its 40-hex key (``custom_field_names: key``) or a stable snake_case name (``name``). v1 records
(top-level keys plus companion subfields) and v2 records (a nested ``custom_fields`` object) end up with the
same flat, typed columns. A :class:`CustomFieldPlan` is built once per stream, so the per-record work is a
loop over that stream's custom fields with precomputed converters.

Rule for fields added after discovery: a custom key found in a record but unknown to the plan is logged once
per stream and dropped; it becomes a column at the next discovery (every Meltano run of an ``-e`` plugin,
or ``meltano run --refresh-catalog``). A sync never fails because of it.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pipedrive_core.fields import (
    INTEGER_TYPES,
    NUMBER_TYPES,
    OPTION_TYPES,
    TIME_TYPES,
    FieldDef,
    assign_columns,
    flat_schema,
    is_custom_key,
    label_suffix,
    split_v2,
)
from pipedrive_core.values import to_int, to_number, to_time

__all__ = ["CustomFieldPlan", "converter_for", "to_id_list", "to_int", "to_number", "to_text"]

Converter = Callable[[Any], Any]

def to_id_list(value: Any) -> list[int] | None:
    """Option or entity ids of a ``set`` field: v1 sends ``"1,2"``, v2 a list."""
    if value is None or value == "":
        return None
    items: Iterable[Any]
    if isinstance(value, str):
        items = value.split(",")
    elif isinstance(value, list | tuple):
        items = value
    else:
        items = (value,)
    ids = [to_int(item) for item in items]
    return [i for i in ids if i is not None]


def to_text(value: Any) -> str | None:
    """A string; containers (unexpected shapes) are kept as JSON text rather than lost."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, dict | list):
        return json.dumps(value, default=str, separators=(",", ":"))
    return str(value)


def describe(key: str, suffix: str = "") -> str:
    """The ``description`` of a custom column: it names the field key (stable across renames)."""
    part = f" ({suffix.lstrip('_')})" if suffix else ""
    return f"Pipedrive custom field {key}{part}"


def converter_for(field_type: str) -> Converter:
    """The converter for a field's main value, matching :func:`pipedrive_core.fields.value_schema`.

    Dates and times of day stay text here: the stream's schema-driven pass
    (:class:`pipedrive_core.values.TemporalColumns`) puts every ``date``/``time`` column, built-in or custom,
    into its one form and counts the impossible values it nulls.
    """
    if field_type in INTEGER_TYPES:
        return to_int
    if field_type in NUMBER_TYPES:
        return to_number
    if field_type == "set":
        return to_id_list
    return to_text


def _json_type(prop: Any) -> str | None:
    """The non-null JSON type of a schema property."""
    kinds = prop.get("type") if isinstance(prop, Mapping) else None
    if isinstance(kinds, str):
        return kinds
    return next((k for k in kinds or () if k != "null"), None)


#: converters that make a value fit a catalog column of that JSON type
_BY_JSON_TYPE: Mapping[str, Converter] = {"integer": to_int, "number": to_number, "string": to_text,
                                          "array": to_id_list}


class _Never:
    """A type no value has: the converter runs for every value."""


#: converter → the value type it returns unchanged (so the per-value call can be skipped)
_UNCHANGED: Mapping[Converter, type] = {to_text: str, to_int: int, to_number: int}


@dataclass(frozen=True)
class _Planned:
    key: str
    column: str
    convert: Converter
    #: (flat source key, column, converter) of each companion subfield
    subfields: tuple[tuple[str, str, Converter], ...]
    #: option id → label, when labels are resolved for an enum/set field
    labels: Mapping[int, str] | None
    multi: bool
    #: the option-label column (used when ``labels`` are resolved)
    label_column: str

    @property
    def v2_subfields(self) -> tuple[tuple[str, str, Converter], ...]:
        """(suffix, column, converter) of each companion subfield: where a v2 object's parts go."""
        start = len(self.key) + 1
        return tuple((src[start:], column, convert) for src, column, convert in self.subfields)


@dataclass
class CustomFieldPlan:
    """How one stream turns custom values into typed columns."""

    fields: Mapping[str, FieldDef]
    columns: Mapping[str, str]
    resolve_labels: bool = False
    logger: logging.Logger = field(default_factory=lambda: logging.getLogger("tap-pipedrive"))
    stream_name: str = ""
    _planned: tuple[_Planned, ...] = field(init=False, repr=False)
    _known: frozenset[str] = field(init=False, repr=False)
    _warned: set[str] = field(init=False, repr=False, default_factory=set)
    #: (the ``_planned`` it was built from, :meth:`_v2_steps`' answer)
    _steps: tuple[Any, Any] | None = field(init=False, repr=False, default=None)

    def __post_init__(self) -> None:
        planned = []
        for key, column in self.columns.items():
            fdef = self.fields[key]
            main = converter_for(fdef.field_type)
            subs = tuple(
                (f"{key}_{s}", f"{column}_{s}", main if s == "until" else to_text) for s in fdef.subfields
            )
            labels = None
            if self.resolve_labels and fdef.field_type in OPTION_TYPES:
                labels = {o.id: o.label for o in fdef.options}
            planned.append(_Planned(key, column, main, subs, labels, fdef.field_type == "set",
                                    column + (label_suffix(fdef.field_type) or "")))
        self._planned = tuple(planned)
        self._known = frozenset(self.columns)

    @classmethod
    def build(
        cls,
        fields: Mapping[str, FieldDef],
        *,
        mode: str,
        reserved: Iterable[str],
        previous: Mapping[str, str] | None = None,
        resolve_labels: bool = False,
        stream_name: str = "",
        logger: logging.Logger | None = None,
    ) -> CustomFieldPlan:
        """Assign columns (see :func:`pipedrive_core.fields.assign_columns`) and plan the conversion."""
        columns = assign_columns(fields.values(), mode="name" if mode == "name" else "key",
                                 reserved=reserved, previous=previous)
        return cls(fields, columns, resolve_labels, logger or logging.getLogger("tap-pipedrive"), stream_name)

    def schema_properties(self) -> dict[str, dict[str, Any]]:
        """JSON-schema properties of every custom column (labels included when resolved)."""
        props: dict[str, dict[str, Any]] = {}
        for plan in self._planned:
            fdef = self.fields[plan.key]
            for flat_key, schema in flat_schema(fdef).items():
                suffix = flat_key[len(plan.key):]
                column = {**schema, "description": describe(plan.key, suffix)}
                if column.get("format") == "time":
                    # JSON Schema's "time" is RFC 3339 full-time, with an offset; a custom time field is a wall-
                    # clock time whose zone the API does not give: a plain HH:MM:SS string (see time_columns)
                    del column["format"]
                props[plan.column + suffix] = column
            if plan.labels is not None:
                suffix = label_suffix(fdef.field_type) or ""
                label_schema: dict[str, Any] = (
                    {"type": ["array", "null"], "items": {"type": "string"}} if plan.multi
                    else {"type": ["string", "null"]}
                )
                props[plan.column + suffix] = {**label_schema, "description": describe(plan.key, suffix)}
        return props

    def time_columns(self) -> dict[str, Converter]:
        """Custom time-of-day columns (declared without a format) → :func:`pipedrive_core.values.to_time`, so
        the stream's temporal pass writes them ``HH:MM:SS`` and nulls impossible times."""
        out: dict[str, Converter] = {}
        for plan in self._planned:
            if self.fields[plan.key].field_type in TIME_TYPES:
                out[plan.column] = to_time
                out.update((column, to_time) for _, column, _ in plan.subfields)
        return out

    def rename_catalog_properties(self, properties: Mapping[str, Any]) -> dict[str, Any]:
        """Catalog properties with custom columns renamed to this plan's columns.

        Meltano discovers without state, so after a field rename its catalog names the new column while
        the state keeps the old one. Custom columns carry their field key in ``description``, which lets
        the sync put the state's (stable) column names back before any SCHEMA or RECORD is written.
        """
        wanted = {schema["description"]: column for column, schema in self.schema_properties().items()}
        renamed: dict[str, Any] = {}
        for name, schema in properties.items():
            described = schema.get("description") if isinstance(schema, Mapping) else None
            renamed[wanted.get(described, name) if described else name] = schema
        return renamed

    def restricted_to(self, properties: Mapping[str, Any]) -> CustomFieldPlan:
        """The plan for an input catalog's ``properties`` (possibly discovered earlier): fields whose column is
        not in it are left out, and a field whose type changed since (a number field turned text) is converted
        to the catalog's type, so a value that no longer fits becomes null instead of breaking the schema."""
        present = set(properties)
        columns = {k: c for k, c in self.columns.items() if c in present}
        plan = self
        if len(columns) != len(self.columns):
            plan = CustomFieldPlan({k: self.fields[k] for k in columns}, columns, self.resolve_labels, self.logger,
                                   self.stream_name)
        current = plan.schema_properties()
        planned = []
        for item in plan._planned:
            want, have = _json_type(properties.get(item.column)), _json_type(current.get(item.column))
            convert = _BY_JSON_TYPE.get(want or "")
            if convert is not None and want != have:
                self.logger.warning(
                    "%s: custom field %s is %s in the catalog but %s in Pipedrive now (its type changed); values "
                    "are converted to %s, null where they do not fit, until the next discovery",
                    self.stream_name, item.key, want, have, want,
                )
                planned.append(dataclasses.replace(item, convert=convert))
            else:
                planned.append(item)
        if tuple(planned) != plan._planned:
            plan = dataclasses.replace(plan)
            plan._planned = tuple(planned)
        return plan

    # -- per record -------------------------------------------------------------------------------
    def apply_v2(self, record: dict[str, Any]) -> dict[str, Any]:
        """Move a v2 record's ``custom_fields`` object into typed top-level columns.

        One pass over the plan's fields, straight from the nested object (no intermediate flat dict); the
        columns come out in the same order as :meth:`apply_v1`'s: subfields, main column, labels.
        """
        nested = record.pop("custom_fields", None) or {}
        if not nested.keys() <= self._known:
            for key in nested:
                if key not in self._known:
                    self._unknown(key)
        get = nested.get
        for plan, field_type, subfields, plain in self._v2_steps():
            raw = get(plan.key)
            if type(raw) is dict:
                raw, parts = split_v2(raw, field_type)
                for suffix, column, convert in subfields:
                    record[column] = convert(parts.get(suffix))
            else:
                for _, column, _ in subfields:
                    record[column] = None
            if raw is None or type(raw) is plain:  # already what the converter would return
                value = record[plan.column] = raw
            else:
                value = record[plan.column] = plan.convert(raw)
            if plan.labels is not None:
                self._label(record, plan, value)
        return record

    def _v2_steps(self) -> tuple[tuple[_Planned, str, tuple[tuple[str, str, Converter], ...], type], ...]:
        """(field, its type, its subfields by suffix, the value type its converter returns unchanged) per
        planned field, rebuilt when the plan changes."""
        steps = self._steps
        if steps is None or steps[0] is not self._planned:
            steps = self._steps = (
                self._planned,
                tuple((p, self.fields[p.key].field_type, p.v2_subfields, _UNCHANGED.get(p.convert, _Never))
                      for p in self._planned),
            )
        return steps[1]

    def apply_v1(self, record: dict[str, Any]) -> dict[str, Any]:
        """Move a v1 record's top-level custom keys (and subfields) to typed columns."""
        for key in [k for k in record if len(k) >= 40 and k[:40] not in self._known]:
            if is_custom_key(key[:40]):
                record.pop(key)
                self._unknown(key[:40])
        self._fill(record, record, pop=True)
        return record

    def _fill(self, record: dict[str, Any], source: dict[str, Any], *, pop: bool) -> None:
        take = source.pop if pop else source.get
        for plan in self._planned:
            value = plan.convert(take(plan.key, None))
            for src, column, convert in plan.subfields:
                record[column] = convert(take(src, None))
            record[plan.column] = value
            if plan.labels is not None:
                self._label(record, plan, value)

    @staticmethod
    def _label(record: dict[str, Any], plan: _Planned, value: Any) -> None:
        labels = plan.labels or {}
        if plan.multi:
            record[plan.label_column] = None if value is None else [labels.get(i, str(i)) for i in value]
        else:
            record[plan.label_column] = None if value is None else labels.get(value)

    def _unknown(self, key: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            self.logger.warning(
                "%s: custom field %s is not in the discovered schema (added after discovery); its values are "
                "skipped until the next discovery (meltano run --refresh-catalog, or tap --discover)",
                self.stream_name, key,
            )
