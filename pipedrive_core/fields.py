"""Custom fields: their definitions (from the ``*Fields`` endpoints), their JSON-schema types, the column
names the tap emits and the target accepts, and the conversion between v1's flat keys and v2's nested
``custom_fields`` object.

One model serves both directions so that what the tap writes the target can read back:

* v1 records carry a custom value under its 40-hex key plus companion subfield keys
  (``<key>_currency``, ``<key>_until``, ``<key>_locality``, …);
* v2 records nest ``custom_fields[<key>]`` with objects for the composite types
  (monetary ``{value, currency}``, address ``{value, <components>}``, ranges ``{value, until}``; ``{start, end}``
  is accepted on read too).

The *flat* form (v1's) is the common currency: v2 records are flattened on read, and unflattened for v2
writes. Column names are the flat keys (``custom_field_names: key``) or stable snake_case names derived
from field names (``name``), with subfield suffixes kept.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

CUSTOM_KEY_RE = re.compile(r"^[0-9a-f]{40}$")

ADDRESS_PARTS: tuple[str, ...] = (
    "subpremise",
    "street_number",
    "route",
    "sublocality",
    "locality",
    "admin_area_level_1",
    "admin_area_level_2",
    "country",
    "postal_code",
    "formatted_address",
)

# Field types by the JSON type of their main value. The one table of the tap, the target and the docs; the
# emulator models Pipedrive's behaviour per type on its own, on purpose, as an independent cross-check.
#: main value is an integer (an id, a count, an option id)
INTEGER_TYPES = frozenset({"int", "user", "org", "people", "enum", "stage", "visible_to"})
#: main value is a decimal number
NUMBER_TYPES = frozenset({"double", "monetary"})
#: main value is a ``YYYY-MM-DD`` date
DATE_TYPES = frozenset({"date", "daterange"})
#: main value is an ``HH:MM:SS`` time
TIME_TYPES = frozenset({"time", "timerange"})
#: a ``{value, until}`` range (v2) / main key plus ``_until`` (v1)
RANGE_TYPES = frozenset({"daterange", "timerange"})
#: values are option ids of the field's ``options``
OPTION_TYPES = frozenset({"enum", "set"})
#: custom field types Pipedrive's ``/search`` endpoints can match (``fields=custom_fields``)
SEARCHABLE_TYPES = frozenset({"varchar", "varchar_auto", "text", "double", "monetary", "phone", "address"})

#: companion subfield suffixes of v1 records, per field_type
SUBFIELDS: Mapping[str, tuple[str, ...]] = {
    "monetary": ("currency",),
    "daterange": ("until",),
    "timerange": ("until",),
    "address": ADDRESS_PARTS,
}

ColumnMode = Literal["key", "name"]


class UnknownOptionError(ValueError):
    """A value names no option of an enum/set field."""


def is_custom_key(key: str) -> bool:
    """Whether ``key`` is a custom field's 40-hex key (built-in fields have readable keys)."""
    return bool(CUSTOM_KEY_RE.match(key))


@dataclass(frozen=True)
class FieldOption:
    """One option of an enum or set field."""

    id: int
    label: str


@dataclass(frozen=True)
class FieldDef:
    """One field definition from ``GET /v1/<entity>Fields`` or ``/api/v2/<entity>Fields``."""

    id: int
    key: str
    name: str
    field_type: str
    options: tuple[FieldOption, ...] = ()
    edit_flag: bool = True
    mandatory: bool = False

    @property
    def is_custom(self) -> bool:
        """Whether this is a user-defined custom field (40-hex key)."""
        return is_custom_key(self.key)

    @property
    def subfields(self) -> tuple[str, ...]:
        """Companion subfield suffixes of the flat (v1) form."""
        return SUBFIELDS.get(self.field_type, ())

    @classmethod
    def from_api(cls, record: Mapping[str, Any]) -> FieldDef:
        """Parse a v1 (``key``/``name``) or v2 (``field_code``/``field_name``) field record."""
        options = tuple(
            FieldOption(int(o["id"]), str(o.get("label", "")))
            for o in (record.get("options") or [])
            if isinstance(o, Mapping) and o.get("id") is not None and str(o["id"]).lstrip("-").isdecimal()
        )
        return cls(
            id=int(record.get("id") or 0),
            key=str(record.get("key") or record.get("field_code")),
            name=str(record.get("name") or record.get("field_name") or ""),
            field_type=str(record.get("field_type") or "varchar"),
            options=options,
            edit_flag=bool(record.get("edit_flag", record.get("is_custom_field", True))),
            mandatory=bool(record.get("mandatory_flag", False)),
        )

    def option_id(self, value: Any) -> int:
        """The option id for ``value`` (an id, a numeric string, or a label, case-insensitive)."""
        if isinstance(value, bool):
            raise UnknownOptionError(f"{value!r} is not an option of field {self.name!r}")
        if isinstance(value, int) or (isinstance(value, str) and value.strip().isdecimal()):
            wanted = int(value)
            if any(o.id == wanted for o in self.options):
                return wanted
        if isinstance(value, str):
            folded = value.strip().casefold()
            for option in self.options:
                if option.label.strip().casefold() == folded:
                    return option.id
        labels = ", ".join(repr(o.label) for o in self.options) or "none"
        raise UnknownOptionError(f"{value!r} is not an option of field {self.name!r} (options: {labels})")


def parse_fields(records: Iterable[Mapping[str, Any]]) -> dict[str, FieldDef]:
    """Field definitions keyed by field key."""
    parsed = (FieldDef.from_api(r) for r in records)
    return {f.key: f for f in parsed}


_NULLABLE = ("null",)


def _typed(*types: str, fmt: str | None = None) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": [*types, *_NULLABLE]}
    if fmt:
        schema["format"] = fmt
    return schema


def value_schema(field: FieldDef) -> dict[str, Any]:
    """JSON schema of a field's main value in the flat form."""
    ftype = field.field_type
    if ftype in INTEGER_TYPES:
        return _typed("integer")
    if ftype in NUMBER_TYPES:
        return _typed("number")
    if ftype in DATE_TYPES:
        return _typed("string", fmt="date")
    if ftype in TIME_TYPES:
        return _typed("string", fmt="time")
    if ftype == "set":
        return {"type": ["array", "null"], "items": {"type": "integer"}}
    return _typed("string")


def subfield_schema(field: FieldDef, suffix: str) -> dict[str, Any]:
    """JSON schema of a companion subfield (``until`` keeps the main value's type)."""
    if suffix == "until":
        return value_schema(field)
    return _typed("string")


def flat_schema(field: FieldDef) -> dict[str, dict[str, Any]]:
    """Flat key → JSON schema for a field and its subfields."""
    out = {field.key: value_schema(field)}
    for suffix in field.subfields:
        out[f"{field.key}_{suffix}"] = subfield_schema(field, suffix)
    return out


def snake_case(name: str) -> str:
    """A lowercase ASCII identifier from a field name (``"Deal Size (€)"`` → ``deal_size``)."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    ascii_name = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", ascii_name)
    snake = re.sub(r"[^0-9a-zA-Z]+", "_", ascii_name).strip("_").lower()
    if not snake:
        snake = "field"
    if snake[0].isdigit():
        snake = f"f_{snake}"
    return snake


def label_suffix(field_type: str) -> str | None:
    """The suffix of the option-label column of an enum (``_label``) or set (``_labels``) field."""
    return {"enum": "_label", "set": "_labels"}.get(field_type)


def columns_of(field: FieldDef, base: str) -> tuple[str, ...]:
    """Every column a field occupies when its base column is ``base``: the value, its companion subfields and
    its option-label column (reserved whether or not labels are resolved, so names do not depend on that
    setting)."""
    label = label_suffix(field.field_type)
    return (base, *(f"{base}_{s}" for s in field.subfields), *((base + label,) if label else ()))


def assign_columns(
    fields: Iterable[FieldDef],
    *,
    mode: ColumnMode,
    reserved: Iterable[str] = (),
    previous: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Map each custom field key to its base column name; every column of every field (see :func:`columns_of`)
    is distinct from every other and from the built-in columns (``reserved``).

    ``key`` mode keeps the 40-hex key. ``name`` mode derives snake_case names; a name shared by several fields,
    or any of whose columns is already taken (a built-in column, another field's column or companion column,
    such as a field named "Budget currency" beside a monetary "Budget"), gets the field id as suffix
    (``region_12``), and a counter after that in the rare case the suffixed name is taken too. Assignments in
    ``previous`` (kept in state by the tap) win while they stay collision-free, so a renamed field keeps its
    column and downstream tables do not break. Fields are processed in id order (then key order), so the result
    does not depend on the API's ordering.
    """
    custom = sorted({f.key: f for f in fields if f.is_custom}.values(), key=lambda f: (f.id, f.key))
    if mode == "key":
        return {f.key: f.key for f in custom}
    taken: set[str] = set(reserved)
    result: dict[str, str] = {}

    def free(field: FieldDef, base: str) -> bool:
        cols = columns_of(field, base)
        return len(set(cols)) == len(cols) and not taken.intersection(cols)

    def claim(field: FieldDef, base: str) -> None:
        result[field.key] = base
        taken.update(columns_of(field, base))

    for field in custom:
        kept = (previous or {}).get(field.key)
        if kept and free(field, kept):
            claim(field, kept)
    names = [snake_case(f.name) for f in custom]
    for field, name in zip(custom, names, strict=True):
        if field.key in result:
            continue
        if names.count(name) == 1 and free(field, name):
            claim(field, name)
            continue
        base, n = f"{name}_{field.id}", 1
        while not free(field, base):
            n += 1
            base = f"{name}_{field.id}_{n}"
        claim(field, base)
    return result


_NO_PARTS: Mapping[str, Any] = {}


def split_v2(value: Any, field_type: str | None) -> tuple[Any, Mapping[str, Any]]:
    """One v2 custom value → (its main value, its companion subfield values by suffix).

    Composite values are objects: ranges ``{value, until}`` (or ``{start, end}``), monetary
    ``{value, currency}``, addresses ``{value, <components>}``; the field type decides, and the object's
    keys do when the type is unknown. Plain values have no subfields.
    """
    if type(value) is not dict and not isinstance(value, Mapping):  # decoded JSON: skip the ABC check
        return value, _NO_PARTS
    if field_type in RANGE_TYPES or "until" in value or ("start" in value and "end" in value):
        return value.get("value", value.get("start")), {"until": value.get("until", value.get("end"))}
    if field_type == "monetary" or "currency" in value:
        return value.get("value"), {"currency": value.get("currency")}
    if field_type == "address" or "formatted_address" in value:
        return value.get("value"), {part: value.get(part) for part in ADDRESS_PARTS}
    return value.get("value", value), _NO_PARTS


def flatten_v2(custom_fields: Mapping[str, Any] | None, fields: Mapping[str, FieldDef]) -> dict[str, Any]:
    """v2 ``custom_fields`` object → flat (v1-style) keys, subfields included."""
    flat: dict[str, Any] = {}
    for key, value in (custom_fields or {}).items():
        field = fields.get(key)
        main, parts = split_v2(value, field.field_type if field else None)
        flat[key] = main
        for suffix, part in parts.items():
            flat[f"{key}_{suffix}"] = part
    return flat


def nest_v2(flat: Mapping[str, Any], fields: Mapping[str, FieldDef]) -> dict[str, Any]:
    """Flat (v1-style) custom keys → a v2 ``custom_fields`` object; keys that are not custom are ignored."""
    nested: dict[str, Any] = {}
    for key, field in fields.items():
        if not field.is_custom:
            continue
        present = key in flat or any(f"{key}_{s}" in flat for s in field.subfields)
        if not present:
            continue
        value = flat.get(key)
        if field.field_type == "monetary":
            nested[key] = None if value is None else {"value": value, "currency": flat.get(f"{key}_currency")}
        elif field.field_type in RANGE_TYPES:
            nested[key] = None if value is None else {"value": value, "until": flat.get(f"{key}_until")}
        elif field.field_type == "address":
            if value is None:
                nested[key] = None
            else:
                parts = {p: flat[f"{key}_{p}"] for p in ADDRESS_PARTS if f"{key}_{p}" in flat}
                nested[key] = {"value": value, **parts}
        else:
            nested[key] = value
    return nested
