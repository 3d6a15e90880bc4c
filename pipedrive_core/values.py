"""Value coercion shared by the tap and the target: numbers, timestamps, dates and times of day.

Pipedrive spells the same kind of value several ways: numbers as JSON numbers or numeric strings,
timestamps as v1 ``YYYY-MM-DD HH:MM:SS`` (UTC, no zone), v2 RFC 3339 ``…Z`` and ``…+00:00``, some with
milliseconds; real accounts also hold impossible values (``0000-00-00``, ``2024-02-30``, ``25:61:00``). One
function per kind gives the one form downstream systems load (RFC 3339 UTC with whole seconds,
``YYYY-MM-DD``, ``HH:MM:SS``), or ``None`` when the value is not one: an impossible date is *no* date, and
a warehouse loader must never fail on it. Digits are ASCII digits: other scripts' digits, which ``\\d`` would
match, are not a date. These functions run once per value of every record, so the usual spellings are decided
by a layout check and the standard library's C parser, or one precompiled regular expression and a cached
calendar check; dates and times of day, which repeat from record to record, are remembered per column set.

:class:`TemporalColumns` applies them to records by the stream's JSON schema (``format: date-time``,
``date``, ``time``), counting what it had to null so the caller can log it once per field.
"""

from __future__ import annotations

import datetime as dt
import decimal
import functools
import logging
import re
from collections.abc import Callable, Mapping
from typing import Any

_UTC = dt.timezone.utc

# -- numbers ------------------------------------------------------------------------------------------


def to_number(value: Any) -> int | float | decimal.Decimal | None:  # noqa: PLR0911 - one branch per input type
    """A finite number from a JSON number or a numeric string, else ``None``.

    Strings become ``Decimal`` (exact: ``"0.10"`` stays ``0.10``); booleans, NaN and infinities are not
    numbers.
    """
    kind = type(value)
    if kind is int:
        return value
    if kind is float:
        return value if value - value == 0.0 else None  # NaN and ±inf give NaN
    if kind is decimal.Decimal:
        return value if value.is_finite() else None
    if kind is str:
        text = value.strip()
        if not text:
            return None
        try:
            number = decimal.Decimal(text)
        except decimal.InvalidOperation:
            return None
        return number if number.is_finite() else None
    if isinstance(value, float):  # a float subclass (the tap's decoder tags tiny floats so)
        return value if value - value == 0.0 else None
    if isinstance(value, int) and not isinstance(value, bool):
        return int(value)
    return None


def digits_int(text: str) -> int | None:
    """The integer spelled by ASCII digits only (an id in a path, a query or a lease); ``None`` otherwise.

    ``str.isdigit`` also accepts superscripts (``"²"``), which ``int`` refuses, and ``int`` reads other scripts'
    digits (``"٣"``), which no id of Pipedrive's is spelled with."""
    return int(text) if text.isascii() and text.isdecimal() else None


def to_int(value: Any) -> int | None:
    """An integer from an id, a whole number, a numeric string or a v1 ``{"value": id}`` object."""
    if type(value) is int:
        return value
    if isinstance(value, Mapping):
        return to_int(value.get("value", value.get("id")))
    if isinstance(value, str) and value.strip().lstrip("-").isdecimal():
        return int(value.strip())
    number = to_number(value)
    if number is None:
        return None
    whole = int(number)
    return whole if whole == number else None


def plain_number(value: Any) -> int | float | None:
    """:func:`to_number` as a JSON-ready ``int`` (whole values) or ``float``; ``None`` when not a number."""
    number = to_number(value)
    if number is None or type(number) is int:
        return number
    whole = int(number)
    return whole if whole == number else float(number)


# -- timestamps, dates, times of day ------------------------------------------------------------------

#: a calendar-plausible date, ``T`` or space, a real time of day, optional fraction and UTC designator
_STAMP = re.compile(
    r"(\d{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01]))[T ]((?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d)(?:\.\d+)?"
    r"(Z|[+-]00:?00)?",
    re.ASCII,
)
_DAY = re.compile(r"(\d{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01]))(?:[T ].*)?", re.DOTALL | re.ASCII)
_CLOCK = re.compile(r"((?:[01]\d|2[0-3]):[0-5]\d)(:[0-5]\d)?(?:\.\d+)?(?:Z|[+-]00:?00)?", re.ASCII)


@functools.lru_cache(maxsize=8192)
def _real_day(day: str) -> bool:
    """Whether a plausible ``YYYY-MM-DD`` is on the calendar (no 30 February, no year 0)."""
    try:
        dt.date.fromisoformat(day)
    except ValueError:
        return False
    return True


def utc_text(moment: dt.datetime) -> str:
    """``YYYY-MM-DDTHH:MM:SSZ`` of a moment (naive: UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=_UTC)
    return moment.astimezone(_UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _canonical_shape(text: str) -> bool:
    """Whether ``text`` is laid out as ``YYYY-MM-DDTHH:MM:SSZ`` (v2's spelling, most timestamps read), before
    its digits are checked. Hour ``24`` is left to the general path, which turns it into the next day where
    the standard library reads it."""
    return (len(text) == 20 and text[19] == "Z" and text[10] == "T" and text[4] == "-" and text[7] == "-"
            and text[13] == ":" and text[16] == ":" and text[11:13] != "24")


def to_datetime(value: Any) -> str | None:  # noqa: PLR0911 - one branch per spelling
    """``YYYY-MM-DDTHH:MM:SSZ`` (UTC, whole seconds) from any Pipedrive timestamp; ``None`` if impossible.

    A value without a zone is UTC (Pipedrive's v1 spelling); another offset is converted; a bare date is
    its midnight.
    """
    if type(value) is str:
        if _canonical_shape(value):
            try:
                dt.datetime.fromisoformat(value)  # C: the calendar and the clock, in a third of the regex's time
            except ValueError:
                return None
            return value
        match = _STAMP.fullmatch(value)
        if match is not None:
            day = match[1]
            if not _real_day(day):
                return None
            if len(value) == 20 and value[10] == "T" and value[19] == "Z":
                return value
            return f"{day}T{match[2]}Z"
        if len(value) == 10:
            return f"{value}T00:00:00Z" if _DAY.fullmatch(value) and _real_day(value) else None
        try:
            return utc_text(dt.datetime.fromisoformat(value.replace("Z", "+00:00")))
        except ValueError:
            return None
    if isinstance(value, dt.datetime):
        return utc_text(value)
    if isinstance(value, dt.date):
        return f"{value.isoformat()}T00:00:00Z"
    return None


def to_date(value: Any) -> str | None:
    """``YYYY-MM-DD`` from a date or a timestamp; ``None`` for an impossible or unreadable one."""
    if type(value) is str:
        match = _DAY.fullmatch(value)
        return match[1] if match is not None and _real_day(match[1]) else None
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return None


def to_time(value: Any) -> str | None:
    """``HH:MM:SS`` from ``HH:MM[:SS]`` (a UTC designator is dropped); ``None`` for an impossible time."""
    if type(value) is str:
        match = _CLOCK.fullmatch(value)
        if match is None:
            return None
        if len(value) == 8:
            return value
        return f"{match[1]}{match[2] or ':00'}"
    if isinstance(value, dt.time):
        return value.strftime("%H:%M:%S")
    return None


def to_utc_time(value: Any) -> str | None:
    """``HH:MM:SSZ``: a time of day Pipedrive gives in UTC, as JSON Schema's ``format: time`` (RFC 3339
    full-time, which needs the offset) wants it; ``None`` for an impossible time."""
    clock = to_time(value)
    return None if clock is None else f"{clock}Z"


Converter = Callable[[Any], Any]

#: JSON-schema ``format`` → the converter that produces exactly that form
BY_FORMAT: Mapping[str, Converter] = {"date-time": to_datetime, "date": to_date, "time": to_utc_time}

#: converters of values from a small domain (days, times of day): many records share each value
_FEW_DISTINCT = frozenset({to_date, to_time, to_utc_time})
_SAME = object()
_UNSEEN = object()


class RememberedConverter:
    """A converter whose answers for text are remembered: a column of dates or times of day holds a few hundred
    distinct values across thousands of records, and a dictionary lookup costs a sixth of a conversion. The
    memory is bounded (forgotten all at once past :attr:`LIMIT` values); an answer equal to its input is given
    back as the input object itself, as the converter does, so callers can tell "unchanged" by identity."""

    __slots__ = ("_convert", "_seen")

    LIMIT = 4096

    def __init__(self, convert: Converter) -> None:
        self._convert = convert
        self._seen: dict[str, Any] = {}

    def __call__(self, value: Any) -> Any:
        if type(value) is not str:
            return self._convert(value)
        answer = self._seen.get(value, _UNSEEN)
        if answer is _UNSEEN:
            answer = self._convert(value)
            seen = self._seen
            if len(seen) >= self.LIMIT:
                seen.clear()
            seen[value] = _SAME if answer == value else answer
            return answer
        return value if answer is _SAME else answer


class TemporalColumns:
    """Puts every ``date-time``/``date``/``time`` column of a schema into its one form, record by record.

    Built once per schema (top-level properties, and those of declared nested objects); ``extra`` adds
    columns the schema declares without a format (with their converter). Values that are not
    a real date or time become ``None``; :meth:`report` logs each column's first such raw value and how many
    there were, once, and forgets them.
    """

    __slots__ = ("_columns", "_nested", "_rejected")

    def __init__(self, schema: Mapping[str, Any], *, skip: frozenset[str] = frozenset(),
                 extra: Mapping[str, Converter] | None = None) -> None:
        props = schema.get("properties") or {}
        columns = tuple(
            (name, BY_FORMAT[prop["format"]]) for name, prop in props.items()
            if name not in skip and isinstance(prop, Mapping) and prop.get("format") in BY_FORMAT
        ) + tuple((name, convert) for name, convert in (extra or {}).items() if name in props and name not in skip)
        remembered: dict[Converter, Converter] = {
            convert: RememberedConverter(convert) for _, convert in columns if convert in _FEW_DISTINCT}
        self._columns: tuple[tuple[str, Converter], ...] = tuple(
            (name, remembered.get(convert, convert)) for name, convert in columns)
        nested = []
        for name, prop in props.items():
            if isinstance(prop, Mapping) and isinstance(prop.get("properties"), Mapping):
                inner = TemporalColumns(prop)
                if inner:
                    nested.append((name, inner))
        self._nested: tuple[tuple[str, TemporalColumns], ...] = tuple(nested)
        #: column → [count, first raw value]
        self._rejected: dict[str, list[Any]] = {}

    def __bool__(self) -> bool:
        return bool(self._columns or self._nested)

    def apply(self, record: dict[str, Any], prefix: str = "") -> None:
        """Rewrite the record's temporal values in place (``None`` where impossible)."""
        for column, convert in self._columns:
            value = record.get(column)
            if value is None:
                continue
            fixed = convert(value)
            if fixed is not value:
                record[column] = fixed
                if fixed is None:
                    self.reject(prefix + column, value)
        for column, inner in self._nested:
            value = record.get(column)
            if type(value) is dict:
                inner.apply(value, f"{prefix}{column}.")
                if inner._rejected:
                    for name, (count, raw) in inner._rejected.items():
                        self.reject(name, raw, count)
                    inner._rejected.clear()

    def reject(self, column: str, raw: Any, count: int = 1) -> None:
        """Count ``count`` impossible values of ``column`` (``raw``: the first, kept if one was seen before)."""
        seen = self._rejected.get(column)
        if seen is None:
            self._rejected[column] = [count, raw]
        else:
            seen[0] += count

    @property
    def rejected(self) -> dict[str, tuple[int, Any]]:
        """Column → (values nulled, the first raw value) since the last :meth:`report`."""
        return {column: (count, raw) for column, (count, raw) in self._rejected.items()}

    def forget_rejected(self) -> None:
        """Forget the counts (they were handed to the process that reports them)."""
        self._rejected.clear()

    def report(self, logger: logging.Logger, stream: str) -> None:
        """Log each column's impossible values once (count and first raw text), then forget them."""
        for column, (count, raw) in sorted(self._rejected.items()):
            logger.warning("%s: %d impossible value%s in %s (first: %r) emitted as null", stream, count,
                           "" if count == 1 else "s", column, raw)
        self._rejected.clear()
