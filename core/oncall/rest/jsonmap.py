"""REST ↔ protobuf: a request message from path, query and JSON body; a response as JSON.

The proto3 JSON mapping (``google.protobuf.json_format``) with the proto's field names
(snake_case), enums as names (numbers accepted), int64 written as a string and read from a
string or a number. grpc-gateway's rules for where fields come from: path variables fill
their fields; a route with ``body: "*"`` takes every other field from the JSON body and reads
no query string; a route without a body takes them from the query string, a repeated field
by repeating its name (``?statuses=A&statuses=B``), a nested field by dots (``?a.b=1``), a map
entry as ``?labels[env]=prod``. A field no message has is a 400 naming it, as is a value
that isn't one of the field's type; nothing reaches a servicer then.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import orjson
from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import DecodeError, Message
from google.protobuf.message_factory import GetMessageClass
from multidict import MultiMapping

from ..errors import InvalidArgument
from .routes import Route

# Well-known types whose JSON form is not an object of their fields: never walked into.
_OPAQUE = frozenset({
    "google.protobuf.Timestamp", "google.protobuf.Duration", "google.protobuf.Struct", "google.protobuf.Value",
    "google.protobuf.ListValue", "google.protobuf.FieldMask", "google.protobuf.Any", "google.protobuf.Empty",
    "google.protobuf.DoubleValue", "google.protobuf.FloatValue", "google.protobuf.Int64Value",
    "google.protobuf.UInt64Value", "google.protobuf.Int32Value", "google.protobuf.UInt32Value",
    "google.protobuf.BoolValue", "google.protobuf.StringValue", "google.protobuf.BytesValue",
})
_INTEGER = re.compile(r"-?[0-9]{1,20}")
_INT_BOUNDS = {
    FieldDescriptor.CPPTYPE_INT32: (-(2**31), 2**31 - 1), FieldDescriptor.CPPTYPE_UINT32: (0, 2**32 - 1),
    FieldDescriptor.CPPTYPE_INT64: (-(2**63), 2**63 - 1), FieldDescriptor.CPPTYPE_UINT64: (0, 2**64 - 1),
}
_MAP_KEY = re.compile(r"^([A-Za-z_][A-Za-z0-9_.]*)\[(.*)\]$")

#: HTTP request headers a servicer or interceptor sees as invocation metadata (lower case);
#: also every ``Grpc-Metadata-NAME`` header, as NAME (grpc-gateway's convention)
FORWARDED_HEADERS = ("authorization", "cookie", "x-csrf-token", "user-agent", "x-request-id", "x-forwarded-for")
_GRPC_METADATA = "grpc-metadata-"


def metadata_of(headers: Mapping[str, str]) -> list[tuple[str, str]]:
    """Invocation metadata from an HTTP request's headers (``FORWARDED_HEADERS``, and
    ``Grpc-Metadata-*``; never gRPC's own ``grpc-*`` keys or binary ``-bin`` ones)."""
    out: list[tuple[str, str]] = []
    for name, value in headers.items():
        key = name.lower()
        if key.startswith(_GRPC_METADATA):
            key = key[len(_GRPC_METADATA):]
        elif key not in FORWARDED_HEADERS:
            continue
        if key and not key.startswith("grpc-") and not key.endswith("-bin"):
            out.append((key, value))
    return out


def json_body(body: bytes) -> dict[str, Any]:
    """The body as a JSON object; an empty body is ``{}``. InvalidArgument for anything else."""
    if not body.strip():
        return {}
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidArgument(f"the body is not valid JSON: {exc.msg} (at byte {exc.pos})") from None
    if not isinstance(doc, dict):
        raise InvalidArgument(f"the body must be a JSON object, not {type(doc).__name__}")
    return doc


def _field(message: Descriptor, name: str) -> FieldDescriptor | None:
    """A field by its proto name or its JSON (lowerCamel) name, as json_format accepts both."""
    fd = message.fields_by_name.get(name)
    if fd is not None:
        return fd
    for candidate in message.fields:
        if candidate.json_name == name:
            return candidate
    return None


def _is_map(fd: FieldDescriptor) -> bool:
    return fd.message_type is not None and fd.message_type.GetOptions().map_entry


def unknown_fields(message: Descriptor, doc: Mapping[str, Any], path: str = "") -> list[str]:
    """The keys of ``doc`` (a JSON object for ``message``) that name no field, nested ones
    as ``steps[0].targets[1].kind``; type mismatches are left to json_format."""
    found: list[str] = []
    for key, value in doc.items():
        where = f"{path}.{key}" if path else key
        fd = _field(message, key)
        if fd is None:
            found.append(where)
            continue
        if fd.message_type is None or fd.message_type.full_name in _OPAQUE:
            continue
        if _is_map(fd):
            value_fd = fd.message_type.fields_by_name["value"]
            if isinstance(value, dict) and value_fd.message_type is not None \
                    and value_fd.message_type.full_name not in _OPAQUE:
                for k, v in value.items():
                    if isinstance(v, dict):
                        found += unknown_fields(value_fd.message_type, v, f'{where}["{k}"]')
        elif fd.is_repeated:
            if isinstance(value, list):
                for i, item in enumerate(value):
                    if isinstance(item, dict):
                        found += unknown_fields(fd.message_type, item, f"{where}[{i}]")
        elif isinstance(value, dict):
            found += unknown_fields(fd.message_type, value, where)
    return found


def _set_path(doc: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, leaf = dotted.split(".")
    for name in parents:
        child = doc.get(name)
        if not isinstance(child, dict):
            child = doc[name] = {}
        doc = child
    doc[leaf] = value


def _has_path(doc: Mapping[str, Any], dotted: str) -> bool:
    *parents, leaf = dotted.split(".")
    for name in parents:
        child = doc.get(name)
        if not isinstance(child, Mapping):
            return False
        doc = child
    return leaf in doc


def _scalar(fd: FieldDescriptor, text: str, where: str) -> Any:
    """A query or path string as the JSON value json_format reads for ``fd``."""
    if fd.type == fd.TYPE_BOOL:
        if text in ("true", "1"):
            return True
        if text in ("false", "0"):
            return False
        raise InvalidArgument(f"{where} must be true or false, not {text!r}")
    if fd.type in (fd.TYPE_DOUBLE, fd.TYPE_FLOAT):
        try:
            return float(text)
        except ValueError:
            raise InvalidArgument(f"{where} must be a number, not {text!r}") from None
    bounds = _INT_BOUNDS.get(fd.cpp_type)
    if bounds is not None:
        # ASCII digits only, as grpc-gateway's ParseInt: int() would also take "1_0", " 7", "+7", "٣"
        if not _INTEGER.fullmatch(text):
            raise InvalidArgument(f"{where} must be an integer, not {text[:40]!r}")
        value = int(text)
        if not bounds[0] <= value <= bounds[1]:
            raise InvalidArgument(f"{where} is out of range for its type ({bounds[0]} to {bounds[1]})")
        return value
    return text  # strings, bytes (base64), enums (by name or number), Timestamp/Duration text


def _query_field(message: Descriptor, key: str) -> tuple[list[str], FieldDescriptor]:
    """The field a query key names (``a.b.c``), through singular message fields."""
    names = key.split(".")
    path: list[str] = []
    for i, name in enumerate(names):
        fd = _field(message, name)
        if fd is None:
            raise InvalidArgument(f"unknown query parameter {key!r}: {message.full_name} has no field {name!r}")
        path.append(fd.name)
        if i == len(names) - 1:
            return path, fd
        if fd.message_type is None or fd.is_repeated or fd.message_type.full_name in _OPAQUE:
            raise InvalidArgument(f"unknown query parameter {key!r}: {'.'.join(path)} has no fields to name")
        message = fd.message_type
    raise AssertionError("unreachable")


def query_doc(message: Descriptor, query: MultiMapping[str], skip: frozenset[str]) -> dict[str, Any]:
    """The JSON object the query string stands for (grpc-gateway's rules; see the module's docstring)."""
    doc: dict[str, Any] = {}
    for key in dict.fromkeys(query.keys()):
        values = query.getall(key)
        m = _MAP_KEY.match(key)
        if m is not None:
            path, fd = _query_field(message, m.group(1))
            if not _is_map(fd):
                raise InvalidArgument(f"query parameter {key!r}: {'.'.join(path)} is not a map")
            if len(values) > 1:
                raise InvalidArgument(f"query parameter {key!r} is given {len(values)} times")
            value_fd = fd.message_type.fields_by_name["value"]
            if value_fd.message_type is not None:
                raise InvalidArgument(f"query parameter {key!r}: map values that are messages go in a body")
            entry = _scalar(value_fd, values[0], key)
            parent = doc
            for name in path[:-1]:
                parent = parent.setdefault(name, {})
            parent.setdefault(path[-1], {})[m.group(2)] = entry
            continue
        path, fd = _query_field(message, key)
        dotted = ".".join(path)
        if dotted in skip:
            raise InvalidArgument(f"{dotted} is given in the path; the query must not repeat it")
        if _is_map(fd):
            raise InvalidArgument(f"query parameter {key!r} is a map: give entries as {key}[KEY]=VALUE")
        if fd.message_type is not None and fd.message_type.full_name not in _OPAQUE:
            raise InvalidArgument(f"query parameter {key!r} is a message: give its fields as {key}.FIELD")
        if fd.message_type is not None and fd.message_type.full_name in (
            "google.protobuf.Struct", "google.protobuf.ListValue", "google.protobuf.Value",
        ):
            raise InvalidArgument(f"query parameter {key!r} holds JSON, which goes in a body")
        if fd.is_repeated:
            value: Any = [_scalar(fd, v, key) for v in values]
        else:
            if len(values) > 1:
                raise InvalidArgument(f"query parameter {key!r} is given {len(values)} times but takes one value")
            value = _scalar(fd, values[0], key)
        _set_path(doc, dotted, value)
    return doc


def request_message(route: Route, path_values: Mapping[str, str], query: MultiMapping[str], body: bytes) -> Message:
    """The request message of a REST call; InvalidArgument naming what is wrong with it."""
    descriptor = route.input
    skip = frozenset(route.path_fields)
    if route.body:
        if query:
            raise InvalidArgument(
                f"this route reads its fields from the JSON body, not the query string: {', '.join(sorted(query))}"
            )
        doc = json_body(body)
        unknown = unknown_fields(descriptor, doc)
        if unknown:
            raise InvalidArgument(f"unknown field{'s' if len(unknown) > 1 else ''} in the body: {', '.join(unknown)}")
        for dotted in route.path_fields:  # as the query may not repeat a path field, nor may the body
            if _has_path(doc, dotted):
                raise InvalidArgument(f"{dotted} is given in the path; the body must not repeat it")
    else:
        if body.strip():
            raise InvalidArgument(f"a {route.verb} on this route carries no body; give fields in the query string")
        doc = query_doc(descriptor, query, skip)
    for dotted in route.path_fields:
        *parents, leaf = dotted.split(".")
        owner = descriptor
        for name in parents:
            owner = owner.fields_by_name[name].message_type
        _set_path(doc, dotted, _scalar(owner.fields_by_name[leaf], path_values[dotted], dotted))
    message = GetMessageClass(descriptor)()
    try:
        json_format.ParseDict(doc, message)
    except json_format.ParseError as exc:
        raise InvalidArgument(_parse_detail(str(exc))) from None
    # Through the wire format and back, so the request is exactly what a gRPC client's bytes
    # would decode to, limits included (a Struct nested past the parser's depth is refused).
    try:
        return type(message).FromString(message.SerializeToString())
    except (DecodeError, RecursionError):
        raise InvalidArgument("the request nests deeper than a message may (about 30 levels of JSON objects)") from None


def _parse_detail(text: str) -> str:
    """json_format's sentence, without the type names a client never wrote."""
    text = text.split("\n", 1)[0]
    return re.sub(r' at "[A-Za-z0-9_.\[\]]+"$', "", text) or "the request does not match its message"


def response_json(message: Message) -> dict[str, Any]:
    """A response as its proto3 JSON object: proto field names, enums by name, every field
    without presence written even when it holds its default."""
    out: dict[str, Any] = json_format.MessageToDict(
        message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True,
    )
    return out
