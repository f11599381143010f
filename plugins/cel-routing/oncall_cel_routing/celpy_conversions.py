"""CEL's conversions (``int``, ``uint``, ``double``, ``duration``, ``timestamp``, ``string``, ``bool``) for cel-python.

celpy converts with Python's own parsers, which accept more than CEL does: ``int("1_0")``
and ``double("1_0")`` (underscores), digits of any script (``int("١")``), ``int("0x10")``,
``duration("1d")`` (days), and any date pendulum can read (``timestamp("2024-01-01 00:00:00Z")``,
``timestamp("2024-01-01")``). Here each conversion accepts what cel-expr, the official
implementation, accepts:

- ``int`` / ``uint``: ASCII decimal digits with an optional sign (``+`` for uint; no ``-``),
  surrounded by optional ASCII whitespace, within range;
- ``double``: a decimal or hexadecimal floating-point number, ``inf``, ``infinity`` or
  ``nan`` (any case, optional sign), surrounded by optional ASCII whitespace;
- ``duration``: Go's duration syntax (``1h30m``, ``1.5s``, ``-300ms``, ``0``); units ``h``,
  ``m``, ``s``, ``ms``, ``us``, ``ns``; no days; at most 10,000 years either way;
- ``timestamp``: an RFC 3339 date-time (``2024-01-01T00:00:00Z``, ``…T00:00:00.5+01:00``;
  ``t`` and ``z`` may be lower case), from year 1 to 9999 in UTC.

``string()`` writes a double with its shortest digits, ``%g``-style (``string(1.0)`` is
``"1"``, ``string(1e6)`` ``"1e+06"``), a bool as ``true`` / ``false``, and a timestamp in
UTC with its fraction (``…T00:00:00.500Z``) and a duration in seconds (``1.500s``), as
cel-expr does.

``bool()`` takes a bool or ``true``/``false`` spelt ``1``, ``t``, ``true``, ``TRUE``, ``True``
(and the like for false); ``double(true)``, ``duration(1)``, ``string(null)`` and
``string()`` of a list or a map are errors, as in CEL (celpy converted them).

Other argument types go to celpy's own conversion. Durations and timestamps keep
microseconds (celpy's resolution): finer digits are dropped.
"""

from __future__ import annotations

import datetime
import decimal
import functools
import math
import re
from collections.abc import Callable
from typing import Any

from celpy import celtypes
from celpy.evaluation import CELEvalError

_WHITESPACE = " \t\n\v\f\r"
_INT64 = (-(2**63), 2**63 - 1)
_UINT64_MAX = 2**64 - 1

_INTEGER = re.compile(r"[+-]?[0-9]+", re.ASCII)
_UNSIGNED = re.compile(r"\+?[0-9]+", re.ASCII)
_DECIMAL = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?", re.ASCII)
_HEXADECIMAL = re.compile(
    r"[+-]?0[xX](?:[0-9a-fA-F]+(?:\.[0-9a-fA-F]*)?|\.[0-9a-fA-F]+)(?:[pP][+-]?[0-9]+)?", re.ASCII
)
_SPECIAL = re.compile(r"[+-]?(?:inf|infinity|nan)", re.ASCII | re.IGNORECASE)

# Go's ParseDuration: [-+]?([0-9]*(\.[0-9]*)?[a-z]+)+, or a lone 0
_DURATION_PART = re.compile(r"([0-9]*)(?:\.([0-9]*))?(ns|us|ms|s|m|h)", re.ASCII)
_NANOS_PER_UNIT = {
    "ns": 1,
    "us": 1_000,
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60 * 1_000_000_000,
    "h": 3600 * 1_000_000_000,
}
_MAX_DURATION_SECONDS = 315_576_000_000  # 10,000 years, as CEL's google.protobuf.Duration

_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:([Zz])|([+-])(\d{2}):(\d{2}))",
    re.ASCII,
)
_MIN_TIMESTAMP = datetime.datetime(1, 1, 1, tzinfo=datetime.UTC)
_MAX_TIMESTAMP = datetime.datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=datetime.UTC)


class ConversionError(ValueError):
    """A string that is not a value of the wanted type."""


def _failing_as_cel(convert: Callable[[Any], Any]) -> Callable[[Any], Any]:
    # a CELEvalError is a CEL error with our words; celpy would word a ValueError "overflow"
    @functools.wraps(convert)
    def wrapped(value: Any) -> Any:
        try:
            return convert(value)
        except ConversionError as exc:
            return CELEvalError(str(exc))

    return wrapped


@_failing_as_cel
def to_int(value: Any) -> Any:
    """CEL ``int(x)``."""
    if isinstance(value, str):
        text = value.strip(_WHITESPACE)
        if not _INTEGER.fullmatch(text):
            raise ConversionError(f"cannot convert string {str(value)!r} to int")
        number = int(text)
        if not _INT64[0] <= number <= _INT64[1]:
            raise ConversionError(f"cannot convert string {str(value)!r} to int: out of range")
        return celtypes.IntType(number)
    return celtypes.IntType(value)


@_failing_as_cel
def to_uint(value: Any) -> Any:
    """CEL ``uint(x)``."""
    if isinstance(value, str):
        text = value.strip(_WHITESPACE)
        if not _UNSIGNED.fullmatch(text):
            raise ConversionError(f"cannot convert string {str(value)!r} to uint")
        number = int(text)
        if number > _UINT64_MAX:
            raise ConversionError(f"cannot convert string {str(value)!r} to uint: out of range")
        return celtypes.UintType(number)
    return celtypes.UintType(value)


@_failing_as_cel
def to_double(value: Any) -> Any:
    """CEL ``double(x)``."""
    if isinstance(value, str):
        text = value.strip(_WHITESPACE)
        if _DECIMAL.fullmatch(text) or _SPECIAL.fullmatch(text):
            return celtypes.DoubleType(float(text))
        if _HEXADECIMAL.fullmatch(text):
            return celtypes.DoubleType(float.fromhex(text))
        raise ConversionError(f"cannot convert string {str(value)!r} to double")
    if isinstance(value, (bool, celtypes.BoolType)) or not isinstance(value, (int, float)):
        raise _no_overload("double", value)
    return celtypes.DoubleType(value)


def parse_duration(text: str) -> datetime.timedelta:
    """A Go duration string as a timedelta (whole microseconds, truncated toward zero)."""
    body = text
    negative = body[:1] == "-"
    if body[:1] in ("+", "-"):
        body = body[1:]
    if body == "0":
        return datetime.timedelta(0)
    if not body:
        raise ConversionError(f"invalid duration {text!r}")
    nanos = 0
    pos = 0
    while pos < len(body):
        m = _DURATION_PART.match(body, pos)
        if m is None or (not m.group(1) and not m.group(2)):
            raise ConversionError(f"invalid duration {text!r}: write e.g. 1h30m, 90s, 1.5s or 300ms")
        whole, fraction, unit = m.group(1) or "0", m.group(2) or "", m.group(3)
        if int(whole) > _INT64[1]:
            raise ConversionError(f"invalid duration {text!r}: out of range")
        scale = _NANOS_PER_UNIT[unit]
        nanos += int(whole) * scale
        if fraction:
            nanos += int(fraction) * scale // 10 ** len(fraction)
        pos = m.end()
    if nanos > _MAX_DURATION_SECONDS * 1_000_000_000:
        raise ConversionError(f"duration {text!r} is out of range (at most 10,000 years)")
    micros = nanos // 1000
    return datetime.timedelta(microseconds=-micros if negative else micros)


def parse_timestamp(text: str) -> datetime.datetime:
    """An RFC 3339 date-time as an aware datetime in UTC (whole microseconds)."""
    m = _RFC3339.fullmatch(text)
    if m is None:
        raise ConversionError(
            f"invalid timestamp {text!r}: write RFC 3339, e.g. 2024-01-01T00:00:00Z or 2024-01-01T00:00:00+01:00"
        )
    year, month, day, hour, minute, second = (int(g) for g in m.group(1, 2, 3, 4, 5, 6))
    micros = int((m.group(7) or "0")[:6].ljust(6, "0"))
    offset = datetime.timedelta(0)
    if m.group(9):
        hours, minutes = int(m.group(10)), int(m.group(11))
        if hours > 23 or minutes > 59:
            raise ConversionError(f"invalid timestamp {text!r}: the offset is out of range")
        offset = datetime.timedelta(hours=hours, minutes=minutes) * (-1 if m.group(9) == "-" else 1)
    try:
        local = datetime.datetime(year, month, day, hour, minute, second, micros)
    except ValueError as exc:
        raise ConversionError(f"invalid timestamp {text!r}: {exc}") from None
    try:
        utc = (local - offset).replace(tzinfo=datetime.UTC)
    except OverflowError:
        raise ConversionError(f"timestamp {text!r} is out of range") from None
    if not _MIN_TIMESTAMP <= utc <= _MAX_TIMESTAMP:
        raise ConversionError(f"timestamp {text!r} is out of range")
    return utc


@_failing_as_cel
def to_duration(value: Any) -> Any:
    """CEL ``duration(x)``."""
    if isinstance(value, str):
        return celtypes.DurationType(parse_duration(str(value)))
    if not isinstance(value, datetime.timedelta):
        raise _no_overload("duration", value)
    return celtypes.DurationType(value)


@_failing_as_cel
def to_timestamp(value: Any) -> Any:
    """CEL ``timestamp(x)``."""
    if isinstance(value, str):
        return celtypes.TimestampType(parse_timestamp(str(value)))
    if isinstance(value, int) and _kind_is_int(value):
        try:
            moment = datetime.datetime.fromtimestamp(int(value), datetime.UTC)
        except (OverflowError, OSError, ValueError):
            raise ConversionError(f"timestamp({int(value)}) is out of range") from None
        return celtypes.TimestampType(moment)
    return celtypes.TimestampType(value)


def _kind_is_int(value: Any) -> bool:
    return not isinstance(value, (bool, celtypes.BoolType))


def format_double(value: float) -> str:
    """A double as CEL's ``string()`` writes it: the shortest digits, ``%g``-style exponents."""
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if value == 0:
        return "-0" if math.copysign(1.0, value) < 0 else "0"
    shortest = decimal.Decimal(repr(value))
    exponent = shortest.adjusted()
    if -4 <= exponent < 6:
        text = format(shortest, "f")
        return text.rstrip("0").rstrip(".") if "." in text else text
    sign, digits, _ = shortest.as_tuple()
    mantissa = "".join(map(str, digits)).rstrip("0") or "0"
    mantissa = mantissa[0] + ("." + mantissa[1:] if len(mantissa) > 1 else "")
    return f"{'-' if sign else ''}{mantissa}e{'-' if exponent < 0 else '+'}{abs(exponent):02d}"


def format_timestamp(value: datetime.datetime) -> str:
    """A timestamp as CEL's ``string()`` writes it: RFC 3339 in UTC, fractions in 3 or 6 digits."""
    utc = value.astimezone(datetime.UTC)
    text = f"{utc.year:04d}-{utc.month:02d}-{utc.day:02d}T{utc.hour:02d}:{utc.minute:02d}:{utc.second:02d}"
    return text + _fraction(utc.microsecond) + "Z"


def format_duration(value: datetime.timedelta) -> str:
    """A duration as CEL's ``string()`` writes it: seconds, fractions in 3 or 6 digits (``-1.500s``)."""
    micros = (value.days * 86400 + value.seconds) * 1_000_000 + value.microseconds
    sign = "-" if micros < 0 else ""
    seconds, rest = divmod(abs(micros), 1_000_000)
    return f"{sign}{seconds}{_fraction(rest)}s"


def _fraction(micros: int) -> str:
    if not micros:
        return ""
    digits = f"{micros:06d}"
    return "." + (digits[:3] if digits.endswith("000") else digits)


_TRUE = frozenset({"1", "t", "true", "TRUE", "True"})
_FALSE = frozenset({"0", "f", "false", "FALSE", "False"})


def _no_overload(name: str, value: Any) -> ConversionError:
    kind = "null_type" if value is None else type(value).__name__.removesuffix("Type").lower()
    return ConversionError(f"no such overload: {name}({kind})")


@_failing_as_cel
def to_bool(value: Any) -> Any:
    """CEL ``bool(x)``: a bool, or a string spelling one."""
    if isinstance(value, (bool, celtypes.BoolType)):
        return celtypes.BoolType(bool(value))
    if isinstance(value, str):
        if value in _TRUE or value in _FALSE:
            return celtypes.BoolType(value in _TRUE)
        raise ConversionError(f"cannot convert string {str(value)!r} to bool")
    raise _no_overload("bool", value)


@_failing_as_cel
def to_string(value: Any) -> Any:
    """CEL ``string(x)``."""
    if value is None or isinstance(value, (list, dict)):
        raise _no_overload("string", value)
    if isinstance(value, (bool, celtypes.BoolType)):
        return celtypes.StringType("true" if value else "false")
    if isinstance(value, float):
        return celtypes.StringType(format_double(float(value)))
    if isinstance(value, datetime.datetime):
        return celtypes.StringType(format_timestamp(value))
    if isinstance(value, datetime.timedelta):
        return celtypes.StringType(format_duration(value))
    return celtypes.StringType(value)


#: the conversions by CEL name, for the engine's function table
CONVERSIONS: dict[str, Any] = {
    "int": to_int,
    "uint": to_uint,
    "double": to_double,
    "duration": to_duration,
    "timestamp": to_timestamp,
    "string": to_string,
    "bool": to_bool,
}

#: what the conversion names mean as type names (``type(x) == int``) once the functions are replaced
TYPE_NAMES: dict[str, Any] = {
    "int": celtypes.IntType,
    "uint": celtypes.UintType,
    "double": celtypes.DoubleType,
    "duration": celtypes.DurationType,
    "timestamp": celtypes.TimestampType,
    "string": celtypes.StringType,
    "bool": celtypes.BoolType,
}
