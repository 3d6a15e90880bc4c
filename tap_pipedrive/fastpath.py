"""The per-record fast path: singer-sdk's output, byte for byte, at about half the CPU per record.

singer-sdk 0.54.9 (``Stream._generate_record_messages`` and ``SimpleSingerWriter``) walks every property
through ``_conform_primitive_property`` (three ``isinstance`` chains and a schema test per value), copies
the record in ``pop_deselected_record_properties`` even when nothing is deselected, serializes with
``simplejson`` and flushes stdout after every message. For records that come straight from ``json.loads``
the same output is produced here much more cheaply:

* **conforming** (``TYPE_CONFORMANCE_LEVEL = ROOT_ONLY``): the per-property decisions depend only on the
  schema, so they are computed once per stream (exclusive-boolean, uniform-list, object-with-properties
  keys); ``str``/``int``/``None``/``bool`` values and lists/objects of the matching schema pass straight
  through, anything else goes to the SDK's own ``_conform_primitive_property``. Unknown properties are
  dropped with the SDK's warning, as before.
* **deselection**: nothing to do when no property is deselected (the usual catalog); only top-level keys to
  pop when only top-level properties are; the SDK's walk otherwise.
* **stream maps**: with any stream map or flattening configured the SDK's own method runs unchanged.
* **serialization** (:class:`FastSingerWriter`): the standard library's C encoder (same separators, same
  ``default``), falling back to the SDK's ``serialize_json`` for anything it cannot encode identically
  (``Decimal``, NaN/inf).
* **stdout**: flushed after every non-RECORD message (STATE, SCHEMA, …) instead of after every record, so a
  STATE never reaches the target before the records it covers.

``tests/tap/test_fastpath.py`` compares every message of real tap runs with the SDK's default path.
"""

from __future__ import annotations

import datetime
import json
import sys
from collections.abc import Generator
from typing import Any

from singer_sdk import singerlib as singer
from singer_sdk.helpers._catalog import pop_deselected_record_properties
from singer_sdk.helpers._typing import (
    _conform_primitive_property,
    _conform_record_data_types,
    _is_exclusive_boolean_type,
    _warn_unmapped_properties,
    is_object_type,
    is_uniform_list,
)
from singer_sdk.helpers._util import utc_now
from singer_sdk.helpers.conform import TypeConformanceLevel
from singer_sdk.io_base import SingerWriter
from singer_sdk.mapper import SameRecordTransform
from singer_sdk.singerlib.json import serialize_json

_MISSING = object()


class SchemaPlan:
    """Per-schema facts the SDK recomputes for every value."""

    __slots__ = ("extra_ok", "lists", "objects", "odd", "props", "xbool")

    def __init__(self, schema: dict[str, Any]) -> None:
        self.props: dict[str, Any] = schema.get("properties") or {}
        self.extra_ok = bool(schema.get("additionalProperties"))
        xbool: set[str] = set()
        lists: set[str] = set()
        objects: set[str] = set()
        odd: set[str] = set()
        for key, prop in self.props.items():
            try:
                if _is_exclusive_boolean_type(prop):
                    xbool.add(key)
                if is_uniform_list(prop):
                    lists.add(key)
                if is_object_type(prop) and "properties" in prop:
                    objects.add(key)
            except Exception:  # odd schema: such keys take the SDK's own path per value
                odd.add(key)
        self.xbool, self.lists, self.objects, self.odd = (
            frozenset(xbool), frozenset(lists), frozenset(objects), frozenset(odd)
        )


def conform_root_only(record: dict[str, Any], plan: SchemaPlan) -> tuple[dict[str, Any], list[str]]:
    """The SDK's ``_conform_record_data_types`` at ``ROOT_ONLY``, with the schema tests precomputed."""
    props, xbool = plan.props, plan.xbool
    out: dict[str, Any] = {}
    unmapped: list[str] = []
    for key, value in record.items():
        schema = props.get(key, _MISSING)
        if schema is _MISSING:
            if plan.extra_ok:
                out[key] = value
            else:
                unmapped.append(key)
            continue
        if key in plan.odd:
            out.update(_conform_record_data_types({key: value}, {"properties": {key: schema}},
                                                  TypeConformanceLevel.ROOT_ONLY, None)[0])
            continue
        kind = type(value)
        if value is None or kind is str or kind is int or kind is bool:
            out[key] = (value != 0) if (key in xbool and value is not None) else value
        elif (kind is list and key in plan.lists) or (kind is dict and key in plan.objects):
            out[key] = value
        else:
            out[key] = _conform_primitive_property(value, schema)
    return out, unmapped


def _selection(stream: Any) -> tuple[str, frozenset[str]]:
    """``("none", ∅)``, ``("top", keys)`` or ``("sdk", ∅)``: how much deselection work a record needs."""
    mask = stream.mask
    cached = getattr(stream, "_fast_selection", None)
    if cached is not None and cached[0] is mask:
        return cached[1]
    off = [bc for bc, selected in mask.items() if not selected]
    if not off:
        answer: tuple[str, frozenset[str]] = ("none", frozenset())
    elif all(len(bc) == 2 and bc[0] == "properties" for bc in off):
        answer = ("top", frozenset(bc[1] for bc in off))
    else:
        answer = ("sdk", frozenset())
    stream._fast_selection = (mask, answer)
    return answer


def _schema_plan(stream: Any, schema: dict[str, Any]) -> SchemaPlan:
    cached = getattr(stream, "_fast_schema_plan", None)
    if cached is not None and cached[0] is schema:
        return cached[1]
    plan = SchemaPlan(schema)
    stream._fast_schema_plan = (schema, plan)
    return plan


def uses_plain_maps(stream: Any) -> bool:
    """Whether the stream's only map is the SDK's pass-through (no stream maps, no flattening)."""
    maps = stream.stream_maps
    return (len(maps) == 1 and type(maps[0]) is SameRecordTransform
            and not getattr(maps[0], "flattening_enabled", False))


def fast_record_messages(stream: Any, record: dict[str, Any]) -> Generator[singer.RecordMessage, None, None]:
    """``Stream._generate_record_messages`` (singer-sdk 0.54.9) for a stream without maps, ROOT_ONLY."""
    mode, top = _selection(stream)
    if mode == "top":
        for key in top & record.keys():
            del record[key]
    elif mode == "sdk":
        pop_deselected_record_properties(record, stream.schema, stream.mask)
    record, unmapped = conform_root_only(record, _schema_plan(stream, stream.effective_schema))
    if unmapped:
        _warn_unmapped_properties(stream.name, tuple(unmapped), stream.logger)
    stream_map = stream.stream_maps[0]
    mapped_record = stream_map.transform(record)
    if mapped_record is not None:
        yield singer.RecordMessage(
            stream=stream_map.stream_alias,
            record=mapped_record,
            version=stream._stream_version,
            time_extracted=utc_now(),
        )


class _NotPlainJSONError(TypeError):
    pass


def _default(obj: Any) -> Any:
    if isinstance(obj, datetime.datetime):
        return obj.isoformat(sep="T")
    if not isinstance(obj, datetime.date | datetime.time):
        raise _NotPlainJSONError  # Decimal and friends: let simplejson do it exactly as the SDK does
    return str(obj)


_ENCODE = json.JSONEncoder(separators=(",", ":"), default=_default, allow_nan=False).encode


def fast_serialize(obj: Any) -> str:
    """``serialize_json`` output, from the C encoder where that gives the same text."""
    try:
        return _ENCODE(obj)
    except (_NotPlainJSONError, ValueError):
        return serialize_json(obj)


class FastSingerWriter(SingerWriter):
    """``SimpleSingerWriter`` with the C encoder and a flush only after non-RECORD messages."""

    def serialize_message(self, message: Any) -> str:
        """One message as the SDK's JSON text."""
        return fast_serialize(message.to_dict())

    def write_message(self, message: Any) -> None:
        """Write a message; flush unless it is a RECORD (the next STATE/SCHEMA/end of run flushes it)."""
        sys.stdout.write(self.format_message(message) + "\n")
        if not isinstance(message, singer.RecordMessage):
            sys.stdout.flush()
