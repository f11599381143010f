"""What every gRPC request must be before a servicer sees it, checked once for every method.

PostgreSQL's text and jsonb refuse the NUL character and JSON has no NaN or Infinity; a
Timestamp outside years 1–9999 fits no datetime, and a Duration past ±10,000 years is not a
Duration (protobuf's own bounds). ``check_request`` walks a decoded message and refuses any
of these with INVALID_ARGUMENT naming the field (``steps[0].targets[1].id``,
``labels["env"]``, ``annotations.build.id``); ``undecodable`` names the field of a request
that does not parse at all: text that is not UTF-8, or a Struct nested past the parser's depth.
Limits of a particular domain (how long a heartbeat may wait) stay with that domain.
"""

from __future__ import annotations

import math
import re
from typing import Any

from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

from ..errors import InvalidArgument

MIN_TIMESTAMP_S = -62_135_596_800  # 0001-01-01T00:00:00Z
MAX_TIMESTAMP_S = 253_402_300_799  # 9999-12-31T23:59:59Z
MAX_DURATION_S = 315_576_000_000  # 10,000 years
_MAX_NANOS = 999_999_999

_TIMESTAMP = "google.protobuf.Timestamp"
_DURATION = "google.protobuf.Duration"
_STRUCT = "google.protobuf.Struct"
_LIST = "google.protobuf.ListValue"
_VALUE = "google.protobuf.Value"
_JSON_TYPES = frozenset({_STRUCT, _LIST, _VALUE})

_FLOATS = frozenset({FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT})
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
_SHOWN_KEY = 40  # a key is quoted in an error up to this many characters


def check_request(message: Message) -> None:
    """Raise InvalidArgument naming the first field of ``message`` no servicer may be given."""
    problem = _message_problem(message, "")
    if problem is not None:
        raise InvalidArgument(problem)


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _key(path: str, key: object) -> str:
    """``path`` with a map key or Struct key: ``labels["env"]``, quoted and cut short."""
    text = str(key)
    shown = text[:_SHOWN_KEY].encode("unicode_escape").decode("ascii").replace('"', '\\"')
    return f'{path}["{shown}{"…" if len(text) > _SHOWN_KEY else ""}"]'


def _text_problem(value: str, where: str) -> str | None:
    if "\x00" in value:
        return f"{where} must not contain a NUL character (\\u0000)"
    return None


def _message_problem(message: Message, path: str) -> str | None:
    name = message.DESCRIPTOR.full_name
    if name == _TIMESTAMP:
        return _timestamp_problem(message, path)
    if name == _DURATION:
        return _duration_problem(message, path)
    if name in _JSON_TYPES:
        return _json_problem(message, path)
    for fd, value in message.ListFields():
        where = _join(path, fd.name)
        problem = _field_problem(fd, value, where)
        if problem is not None:
            return problem
    return None


def _field_problem(fd: FieldDescriptor, value: Any, where: str) -> str | None:
    entry = fd.message_type
    if entry is not None and entry.GetOptions().map_entry:
        key_fd, value_fd = entry.fields_by_name["key"], entry.fields_by_name["value"]
        for k in value:
            if key_fd.type == FieldDescriptor.TYPE_STRING and "\x00" in k:
                return f"{where} has a key with a NUL character (\\u0000)"
            problem = _scalar_or_message(value_fd, value[k], _key(where, k))
            if problem is not None:
                return problem
        return None
    if fd.is_repeated:
        for i, item in enumerate(value):
            problem = _scalar_or_message(fd, item, f"{where}[{i}]")
            if problem is not None:
                return problem
        return None
    return _scalar_or_message(fd, value, where)


def _scalar_or_message(fd: FieldDescriptor, value: Any, where: str) -> str | None:
    if fd.type == FieldDescriptor.TYPE_MESSAGE:
        return _message_problem(value, where)
    if fd.type == FieldDescriptor.TYPE_STRING:
        return _text_problem(value, where)
    if fd.type in _FLOATS and not math.isfinite(value):
        return f"{where} must be a finite number (not NaN or Infinity)"
    return None


def _json_problem(message: Any, path: str) -> str | None:
    """A Struct, ListValue or Value, named as the JSON it holds: ``annotations.build.id``."""
    name = message.DESCRIPTOR.full_name
    if name == _STRUCT:
        for k, v in message.fields.items():
            if "\x00" in k:
                return f"{path or 'the object'} has a key with a NUL character (\\u0000)"
            where = _join(path, k) if _NAME.match(k) else _key(path, k)
            problem = _json_problem(v, where)
            if problem is not None:
                return problem
        return None
    if name == _LIST:
        for i, v in enumerate(message.values):
            problem = _json_problem(v, f"{path}[{i}]")
            if problem is not None:
                return problem
        return None
    kind = message.WhichOneof("kind")
    if kind == "number_value" and not math.isfinite(message.number_value):
        return f"{path} must be a finite number: JSON has no NaN or Infinity"
    if kind == "string_value":
        return _text_problem(message.string_value, path)
    if kind in ("struct_value", "list_value"):
        return _json_problem(getattr(message, kind), path)
    return None


def _timestamp_problem(ts: Any, path: str) -> str | None:
    seconds, nanos = ts.seconds, ts.nanos
    if not MIN_TIMESTAMP_S <= seconds <= MAX_TIMESTAMP_S or not 0 <= nanos <= _MAX_NANOS:
        return f"{path} is not a valid timestamp: it must fall between 0001-01-01 and 9999-12-31 (UTC)"
    return None


def _duration_problem(d: Any, path: str) -> str | None:
    seconds, nanos = d.seconds, d.nanos
    if abs(seconds) > MAX_DURATION_S or abs(nanos) > _MAX_NANOS or (seconds < 0 < nanos or nanos < 0 < seconds):
        return f"{path} is not a valid duration: at most {MAX_DURATION_S:,} seconds (10,000 years) either way"
    return None


# --------------------------------------------------------------------------- requests that don't parse


def undecodable(descriptor: Descriptor, data: bytes) -> str:
    """Why ``data`` is not a ``descriptor`` message, naming the field where that can be found.

    Only called once the parser has refused ``data``, so it need not be fast: it reads the wire
    format (tag, length, value) far enough to find a string that is not UTF-8, a field cut off,
    or where nesting passes the parser's depth (the same depth upb counts).
    """
    found = _walk(descriptor, data, "", 1)
    what = f"the request is not a valid {descriptor.full_name}"
    return f"{what}: {found}" if found else f"{what} message"


_PARSER_DEPTH = 100  # upb's default, which the Python protobuf runtime keeps


class _Cut(Exception):
    """The wire data ends inside a field."""


def _varint(data: bytes, i: int) -> tuple[int, int]:
    shift = value = 0
    while True:
        if i >= len(data) or shift > 63:
            raise _Cut
        byte = data[i]
        i += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, i


def _walk(descriptor: Descriptor, data: bytes, path: str, depth: int) -> str | None:
    if depth > _PARSER_DEPTH:
        return (
            f"{path or 'the request'} is nested too deeply: the parser reads {_PARSER_DEPTH} levels of "
            "messages at most (about 30 levels of a JSON object)"
        )
    counts: dict[int, int] = {}
    i = 0
    try:
        while i < len(data):
            tag, i = _varint(data, i)
            number, wire_type = tag >> 3, tag & 7
            fd = descriptor.fields_by_number.get(number)
            where = path
            if fd is not None and descriptor.full_name not in _JSON_TYPES and not descriptor.GetOptions().map_entry:
                where = _join(path, fd.name)
                if fd.is_repeated and not (fd.message_type and fd.message_type.GetOptions().map_entry):
                    where = f"{where}[{counts.get(number, 0)}]"
                counts[number] = counts.get(number, 0) + 1
            if wire_type == 0:
                _, i = _varint(data, i)
            elif wire_type in (1, 5):
                i += 8 if wire_type == 1 else 4
            elif wire_type == 2:
                size, i = _varint(data, i)
                if i + size > len(data):
                    raise _Cut
                chunk, i = data[i : i + size], i + size
                if fd is None:
                    continue
                if fd.type == FieldDescriptor.TYPE_MESSAGE:
                    found = _walk(fd.message_type, chunk, where, depth + 1)
                    if found:
                        return found
                elif fd.type == FieldDescriptor.TYPE_STRING:
                    try:
                        chunk.decode("utf-8")
                    except UnicodeDecodeError:
                        return f"{where or 'a string'} is not UTF-8 text"
            else:
                return f"{where or 'the message'} is malformed (wire type {wire_type})"
        if i > len(data):
            raise _Cut
    except _Cut:
        return f"{path or 'the message'} is cut off"
    return None
