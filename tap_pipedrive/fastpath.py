"""The lean per-record path: singer-sdk's output, byte for byte, at a fraction of the CPU per record.

singer-sdk 0.54.9 (``Stream._generate_record_messages`` and ``SimpleSingerWriter``) walks every property
through ``_conform_primitive_property`` (three ``isinstance`` chains and a schema test per value), copies
the record in ``pop_deselected_record_properties`` even when nothing is deselected, serializes with
``simplejson`` and flushes stdout after every message. For records that come straight from a JSON decoder
the same output is produced here much more cheaply:

* **decoding** (:func:`fast_json_loads`): msgspec, with the standard library for what it refuses (``NaN``,
  floats beyond the double range); the values are the same, floats below 1e-4 tagged (:class:`TinyFloat`).
* **conforming** (``TYPE_CONFORMANCE_LEVEL = ROOT_ONLY``): for JSON values the SDK's walk only drops
  properties the schema lacks (with its warning) and turns 0/1 into booleans in boolean-only columns; both
  are done here from per-schema facts computed once, in place. Anything unusual (a ``datetime``, a
  ``Decimal`` that is not finite, an odd schema) takes :func:`conform_root_only`, the SDK's own decisions.
* **deselection**: nothing to do when no property is deselected (the usual catalog); only top-level keys to
  pop when only top-level properties are; the SDK's walk otherwise.
* **stream maps**: with any stream map or flattening configured the SDK's own method runs unchanged.
* **serialization** (:func:`encode_record`): orjson, whose bytes equal ``serialize_json``'s for the usual
  values; where they would not (non-ASCII text is escaped here as simplejson does, a DEL character, tagged
  floats below 1e-4 that Python spells with a two-digit exponent, integers beyond 64 bits, ``datetime`` objects)
  the standard library's C encoder or the SDK's ``serialize_json`` writes the record instead.
* **stdout** (:class:`FastSingerWriter`): RECORD lines are collected into 64 KB writes on the binary
  buffer and flushed before every other message (STATE, SCHEMA, …), so a STATE never reaches the target
  before the records it covers.

The schema-driven timestamp/date/time normalisation (:func:`normalize_temporal`, :func:`report_temporal`)
runs on both paths, in ``post_process``. ``tests/tap/test_fastpath.py`` compares every message of real tap
runs with the SDK's default path, and the encoder with ``serialize_json`` on generated values.
"""

from __future__ import annotations

import atexit
import datetime
import decimal
import json
import re
import sys
import threading
import time
import weakref
from collections.abc import Generator
from dataclasses import dataclass
from typing import Any, Final, cast

import msgspec
import orjson
from singer_sdk import singerlib as singer
from singer_sdk.helpers.conform import TypeConformanceLevel
from singer_sdk.io_base import SingerWriter
from singer_sdk.mapper import SameRecordTransform
from singer_sdk.singerlib.json import serialize_json

from pipedrive_core.values import TemporalColumns
from tap_pipedrive.sdk_compat import (
    _conform_primitive_property,
    _conform_record_data_types,
    _is_exclusive_boolean_type,
    _warn_unmapped_properties,
    is_object_type,
    is_uniform_list,
    pop_deselected_record_properties,
    utc_now,
)

_MISSING = object()


# -- decoding -------------------------------------------------------------------------------------------------


class TinyFloat(float):
    """A float below 1e-4 in magnitude, as decoded. Python spells it ``1e-05``/``2.5e-07``, orjson
    ``0.00001``/``2.5e-7``; orjson refuses this subclass, so :func:`encode_record` leaves a record holding one to
    the exact path. Tagging the few such floats as they are decoded costs one call per float, where searching
    every encoded record for them read every byte twice."""

    __slots__ = ()


def _float(text: str) -> float:
    value = float(text)
    return TinyFloat(value) if value and -1e-4 < value < 1e-4 else value


_DECODE = msgspec.json.Decoder(float_hook=_float).decode


def fast_json_loads(data: bytes | str) -> Any:
    """``json.loads`` at msgspec's speed (integers of any size kept exact, unlike orjson's floats); the
    standard library for what msgspec refuses (``NaN``, a float beyond the double range). Floats below 1e-4 come
    back as :class:`TinyFloat` (the same values)."""
    try:
        return _DECODE(data)
    except msgspec.DecodeError:
        return json.loads(data, parse_float=_float)


# -- rows encoded elsewhere -----------------------------------------------------------------------------------


class _EncodedKey:
    """The type of :data:`ENCODED`, :data:`NULLED` and :data:`BOOKMARK_VALUE`: hashable and not a string, so never a
    property of a decoded record."""

    __slots__ = ("_name",)

    def __init__(self, name: str) -> None:
        self._name = name

    def __repr__(self) -> str:
        return self._name

    def __reduce__(self) -> str:
        return self._name  # unpickled as this module's instance of that name


#: where a decoded row carries the bytes a worker process encoded for it (:mod:`tap_pipedrive.record_processes`)
ENCODED: Final = _EncodedKey("ENCODED")
#: where such a row carries the values its worker nulled as impossible (column → (count, first raw value))
NULLED: Final = _EncodedKey("NULLED")
#: where such a row carries its replication-key value as its worker normalized it, when that differs from the value
#: received (which the row keeps, for the reads that page by it)
BOOKMARK_VALUE: Final = _EncodedKey("BOOKMARK_VALUE")
_REJECTED_LOCK = threading.Lock()


def take_rejected(stream: Any) -> dict[str, tuple[int, Any]]:
    """The values this process nulled as impossible for ``stream`` since the last call, forgotten here."""
    cached = getattr(stream, "_fast_temporal", None)
    if cached is None:
        return {}
    rejected = cached[1].rejected
    cached[1].forget_rejected()
    return rejected


def add_rejected(stream: Any, rejected: dict[str, tuple[int, Any]]) -> None:
    """Count values another process nulled for ``stream`` as if they were nulled here."""
    if rejected:
        columns = _temporal(stream)
        with _REJECTED_LOCK:
            for column, (count, raw) in rejected.items():
                columns.reject(column, raw, count)


# -- conforming -----------------------------------------------------------------------------------------------


class SchemaPlan:
    """Per-schema facts the SDK recomputes for every value."""

    __slots__ = ("extra_ok", "keys", "lists", "objects", "odd", "props", "xbool", "xbool_order")

    def __init__(self, schema: dict[str, Any]) -> None:
        self.props: dict[str, Any] = schema.get("properties") or {}
        self.keys = frozenset(self.props)
        self.extra_ok = bool(schema.get("additionalProperties"))
        xbool: list[str] = []
        lists: set[str] = set()
        objects: set[str] = set()
        odd: set[str] = set()
        for key, prop in self.props.items():
            try:
                if _is_exclusive_boolean_type(prop):
                    xbool.append(key)
                if is_uniform_list(prop):
                    lists.add(key)
                if is_object_type(prop) and "properties" in prop:
                    objects.add(key)
            except Exception:  # odd schema: such keys take the SDK's own path per value
                odd.add(key)
        self.xbool_order = tuple(xbool)
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


def conform_in_place(record: dict[str, Any], plan: SchemaPlan) -> tuple[dict[str, Any], list[str]]:
    """What :func:`conform_root_only` does to JSON values, done in place: unknown properties dropped,
    0/1 made booleans in boolean-only columns. Values of other types are left for :func:`encode_record` to
    refuse, which sends the record down the exact path."""
    unmapped: list[str] = []
    if not plan.extra_ok and not record.keys() <= plan.keys:
        unmapped = [key for key in record if key not in plan.keys]
        for key in unmapped:
            del record[key]
    for key in plan.xbool_order:
        value = record.get(key)
        if value is not None and type(value) is not bool:
            record[key] = value != 0
    return record, unmapped


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


# -- timestamps, dates, times -------------------------------------------------------------------------------


def _temporal(stream: Any) -> TemporalColumns:
    schema = stream.schema
    cached = getattr(stream, "_fast_temporal", None)
    if cached is not None and cached[0] is schema:
        return cached[1]
    rk = stream.replication_key
    plan = getattr(stream, "plan", None)
    columns = TemporalColumns(schema, skip=frozenset({rk}) if rk else frozenset(),
                              extra=plan.time_columns() if plan is not None else None)
    if cached is not None:  # a new schema: keep counting what the old one's columns rejected
        for column, (count, raw) in cached[1].rejected.items():
            columns.reject(column, raw, count)
    stream._fast_temporal = (schema, columns)
    return columns


def normalize_temporal(stream: Any, record: dict[str, Any]) -> None:
    """Every ``format: date-time|date|time`` column of the stream's schema in its one form (RFC 3339 UTC,
    ``YYYY-MM-DD``, ``HH:MM:SSZ``; custom wall-clock times ``HH:MM:SS``), ``None`` for impossible values
    (counted for :func:`report_temporal`).
    The replication key is left to the bookmark logic, which normalizes it first."""
    columns = _temporal(stream)
    if columns:
        columns.apply(record)


def report_temporal(stream: Any) -> None:
    """Log, once per column, the impossible values the stream's read emitted as null (count, first raw)."""
    cached = getattr(stream, "_fast_temporal", None)
    if cached is not None:
        cached[1].report(stream.logger, stream.name)


# -- serialization ------------------------------------------------------------------------------------------

_ORJSON_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_SUBCLASS | orjson.OPT_PASSTHROUGH_DATACLASS
_NOT_SIMPLEJSON_ASCII = re.compile("[^\x00-\x7e]")


class _NotPlainJSONError(TypeError):
    pass


def _orjson_default(obj: Any) -> Any:
    if type(obj) is decimal.Decimal and obj.is_finite():
        return orjson.Fragment(str(obj))  # simplejson's use_decimal writes str(Decimal)
    raise _NotPlainJSONError


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code < 0x10000:
        return f"\\u{code:04x}"
    code -= 0x10000
    return f"\\u{0xD800 | (code >> 10):04x}\\u{0xDC00 | (code & 0x3FF):04x}"


def encode_record(record: Any) -> bytes | None:
    """``serialize_json(record)`` as bytes, from orjson; ``None`` when the exact path must write it (a
    :class:`TinyFloat`, which orjson spells unlike Python). Every float of a record comes from
    :func:`fast_json_loads`; a float below 1e-4 from anywhere else would be written as orjson spells it, the same
    number in other digits.

    orjson writes non-ASCII text as UTF-8 where simplejson escapes it (``ensure_ascii``): such output is
    escaped afterwards the same way (``\\u00e9``, surrogate pairs above the BMP, ``\\u007f``).
    """
    try:
        body = orjson.dumps(record, default=_orjson_default, option=_ORJSON_OPTIONS)
    except TypeError:  # orjson.JSONEncodeError: odd types, integers beyond 64 bits, lone surrogates
        return None
    if not body.isascii() or b"\x7f" in body:
        return _NOT_SIMPLEJSON_ASCII.sub(_escape, body.decode()).encode()
    return body


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


#: how :func:`extracted_tail` begins and ends, around the extraction time
_TAIL_HEAD, _TAIL_END = b',"time_extracted":"', b'"}\n'
#: (second since the epoch, ``,"time_extracted":"YYYY-MM-DDTHH:MM:SS``) of the last :func:`extracted_tail`
_SECOND: tuple[int, bytes] = (0, b"")


def extracted_tail() -> bytes:
    """The end of a RECORD line extracted now: ``,"time_extracted":"…"}`` and the newline, spelled as
    ``utc_now().isoformat()`` spells it (microseconds unless zero, ``+00:00``), in a third of its time: the text up
    to the second is made once a second."""
    global _SECOND  # noqa: PLW0603 - swapped whole, so threads never see half of it
    ns = time.time_ns()
    second, micro = ns // 1_000_000_000, ns // 1000 % 1_000_000
    cached = _SECOND
    if cached[0] != second:
        text = datetime.datetime.fromtimestamp(second, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
        cached = _SECOND = (second, _TAIL_HEAD + text.encode())
    if micro:
        return b"%s.%06d+00:00%s" % (cached[1], micro, _TAIL_END)
    return cached[1] + b"+00:00" + _TAIL_END


@dataclass(slots=True)
class EncodedRecordMessage(singer.RecordMessage):
    """A RECORD whose ``record`` is already encoded (``encoded``, by :func:`encode_record`) and whose extraction
    time is the end of its line (``tail``, by :func:`extracted_tail`); ``time_extracted`` stays ``None`` until
    :meth:`to_dict` needs it."""

    encoded: bytes = b""
    tail: bytes = b""

    def __post_init__(self) -> None:
        self.type = singer.SingerMessageType.RECORD

    def to_dict(self) -> dict[str, Any]:
        """The message as singer-sdk's ``RecordMessage.to_dict`` gives it (``record`` as encoded)."""
        stamp = self.tail[len(_TAIL_HEAD) : -len(_TAIL_END)].decode()
        return singer.RecordMessage(stream=self.stream, record=fast_json_loads(self.encoded), version=self.version,
                                    time_extracted=datetime.datetime.fromisoformat(stamp)).to_dict()


def encode_fast(stream: Any, record: dict[str, Any]) -> bytes | None:
    """The encoded record of ``stream``'s RECORD message for ``record`` (deselected and unknown properties
    dropped, conformed in place), or ``None`` where only the exact path writes it as the SDK does."""
    mode, top = _selection(stream)
    if mode == "top":
        for key in top & record.keys():
            del record[key]
    elif mode == "sdk":
        pop_deselected_record_properties(record, stream.schema, stream.mask)
    plan = _schema_plan(stream, stream.effective_schema)
    if plan.odd:
        record, unmapped = conform_root_only(record, plan)
    else:
        record, unmapped = conform_in_place(record, plan)
    if unmapped:
        _warn_unmapped_properties(stream.name, tuple(unmapped), stream.logger)
    return encode_record(record)


def fast_record_messages(stream: Any, record: dict[str, Any]) -> Generator[singer.RecordMessage, None, None]:
    """``Stream._generate_record_messages`` (singer-sdk 0.54.9) for a stream without maps, ROOT_ONLY; a record
    encoded by a worker process (:mod:`tap_pipedrive.record_processes`) is written as it was encoded."""
    alias = stream.stream_maps[0].stream_alias
    encoded = cast("dict[Any, Any]", record).pop(ENCODED, None)
    if encoded is None:
        encoded = encode_fast(stream, record)
    if encoded is None:
        record, _ = conform_root_only(record, _schema_plan(stream, stream.effective_schema))
        yield singer.RecordMessage(stream=alias, record=record, version=stream._stream_version,
                                   time_extracted=utc_now())
        return
    yield EncodedRecordMessage(stream=alias, record=record, version=stream._stream_version, encoded=encoded,
                               tail=extracted_tail())


# -- writing --------------------------------------------------------------------------------------------------

#: RECORD lines are written in chunks of about this many bytes
_CHUNK = 1 << 16
#: every live writer, flushed at exit (a run ends with STATE, which flushes; this covers any other end)
_WRITERS: weakref.WeakSet[FastSingerWriter] = weakref.WeakSet()


@atexit.register
def _flush_at_exit() -> None:
    for writer in list(_WRITERS):
        writer.flush()


def forget_pending_records() -> None:
    """Drop the RECORD lines every writer has queued, unwritten (a forked worker's copies of the tap's)."""
    for writer in list(_WRITERS):
        with writer._lock:
            writer._pending.clear()


class FastSingerWriter(SingerWriter):
    """``SimpleSingerWriter`` with orjson-encoded RECORDs, written in chunks; flushed before any other message."""

    def __init__(self) -> None:
        super().__init__()
        self._pending = bytearray()
        #: per (stream, version): the line up to the record, and what follows it before the extraction time
        self._heads: dict[tuple[str, int | None], tuple[bytes, bytes]] = {}
        #: whole lines only: a parallel sync (``parallel_streams``) writes from several threads
        self._lock = threading.RLock()
        _WRITERS.add(self)

    def serialize_message(self, message: Any) -> str:
        """One message as the SDK's JSON text."""
        return fast_serialize(message.to_dict())

    def write_message(self, message: Any) -> None:
        """Queue a RECORD (written once 64 KB are queued); write and flush anything else at once."""
        with self._lock:
            self._write(message)

    def _write(self, message: Any) -> None:
        pending = self._pending
        if type(message) is EncodedRecordMessage:
            key = (message.stream, message.version)
            head = self._heads.get(key)
            if head is None:
                head = self._heads[key] = (
                    b'{"type":"RECORD","stream":' + fast_serialize(message.stream).encode() + b',"record":',
                    b"" if message.version is None else b',"version":%d' % message.version,
                )
            # one append per line: a signal handler, which runs between two statements of the thread it
            # interrupts and writes a STATE through this writer, never finds half a line queued
            pending += b"".join((head[0], message.encoded, head[1], message.tail))
        else:
            pending += (self.format_message(message) + "\n").encode()
            if not isinstance(message, singer.RecordMessage):
                self.flush()
                return
        if len(pending) >= _CHUNK:
            self.flush()

    def flush(self) -> None:
        """Write what is queued (after anything written to ``sys.stdout`` as text) and flush stdout."""
        with self._lock:
            out = sys.stdout
            if self._pending:
                out.flush()
                binary = getattr(out, "buffer", None)
                if binary is None:
                    out.write(self._pending.decode())
                else:
                    binary.write(self._pending)
                self._pending.clear()
            out.flush()
