"""The OpenAPI 3.1 document of the REST API, built from the same descriptors as the routes.

Descriptions are the proto comments, read from ``descriptors.binpb`` (a FileDescriptorSet
with source info, written by ``scripts/gen_protos.py``). Schemas follow the proto3 JSON
mapping as ``rest.jsonmap`` reads and writes it: int64 is a string on the way out and a
string or an integer on the way in, enums are names, Timestamps RFC 3339 text, Durations
``"1.5s"``. Request bodies refuse properties their message lacks (``additionalProperties:
false``), as the transcoder does.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from importlib import resources
from typing import Any

from google.protobuf import descriptor_pb2
from google.protobuf.descriptor import Descriptor, EnumDescriptor, FieldDescriptor

from .routes import Route
from .status import HTTP_STATUS

_INT64 = {FieldDescriptor.TYPE_INT64, FieldDescriptor.TYPE_UINT64, FieldDescriptor.TYPE_SINT64,
          FieldDescriptor.TYPE_FIXED64, FieldDescriptor.TYPE_SFIXED64}
_INT32 = {FieldDescriptor.TYPE_INT32, FieldDescriptor.TYPE_UINT32, FieldDescriptor.TYPE_SINT32,
          FieldDescriptor.TYPE_FIXED32, FieldDescriptor.TYPE_SFIXED32}
_WELL_KNOWN: dict[str, dict[str, Any]] = {
    "google.protobuf.Timestamp": {"type": "string", "format": "date-time"},
    "google.protobuf.Duration": {"type": "string", "pattern": r"^-?[0-9]+(\.[0-9]{1,9})?s$",
                                 "description": "A duration in seconds with an s suffix: \"300s\", \"1.5s\"."},
    "google.protobuf.Struct": {"type": "object"},
    "google.protobuf.Value": {},
    "google.protobuf.ListValue": {"type": "array"},
    "google.protobuf.Empty": {"type": "object", "additionalProperties": False},
    "google.protobuf.FieldMask": {"type": "string"},
    "google.protobuf.StringValue": {"type": "string"},
    "google.protobuf.BoolValue": {"type": "boolean"},
    "google.protobuf.Int32Value": {"type": "integer", "format": "int32"},
    "google.protobuf.Int64Value": {"type": ["string", "integer"], "format": "int64"},
    "google.protobuf.DoubleValue": {"type": "number"},
}
_ERROR = {
    "type": "object",
    "properties": {
        "error": {"type": "string", "description": "What kind of failure: invalid_argument, not_found, …"},
        "detail": {"type": "string", "description": "A sentence saying what was wrong."},
    },
    "required": ["error", "detail"],
}


@functools.cache
def comments() -> dict[str, str]:
    """Proto comments by full name (``pkg.Message``, ``pkg.Message.field``, ``pkg.Service.Method``)."""
    data = (resources.files("oncall.rest") / "descriptors.binpb").read_bytes()
    fds = descriptor_pb2.FileDescriptorSet.FromString(data)
    out: dict[str, str] = {}
    for f in fds.file:
        by_path = {tuple(loc.path): loc.leading_comments.strip() for loc in f.source_code_info.location
                   if loc.leading_comments.strip()}
        pkg = f.package

        for i, m in enumerate(f.message_type):
            _walk_message(out, by_path, m, pkg, (4, i))
        for i, e in enumerate(f.enum_type):
            _put(out, f"{pkg}.{e.name}", by_path.get((5, i)))
        for i, s in enumerate(f.service):
            _put(out, f"{pkg}.{s.name}", by_path.get((6, i)))
            for j, meth in enumerate(s.method):
                _put(out, f"{pkg}.{s.name}.{meth.name}", by_path.get((6, i, 2, j)))
    return out


def _walk_message(out: dict[str, str], by_path: dict[tuple[int, ...], str], m: descriptor_pb2.DescriptorProto,
                  prefix: str, path: tuple[int, ...]) -> None:
    name = f"{prefix}.{m.name}"
    _put(out, name, by_path.get(path))
    for i, fd in enumerate(m.field):
        _put(out, f"{name}.{fd.name}", by_path.get((*path, 2, i)))
    for i, nested in enumerate(m.nested_type):
        _walk_message(out, by_path, nested, name, (*path, 3, i))
    for i, e in enumerate(m.enum_type):
        _put(out, f"{name}.{e.name}", by_path.get((*path, 4, i)))


def _put(out: dict[str, str], name: str, text: str | None) -> None:
    if text:
        # proto comments are wrapped at ~90 columns; a description reads as paragraphs
        paragraphs = re.split(r"\n\s*\n", text)
        out[name] = "\n\n".join(" ".join(line.strip() for line in p.splitlines() if line.strip()) for p in paragraphs)


class _Schemas:
    """The components/schemas the document refers to, added as they are first used."""

    def __init__(self) -> None:
        self.components: dict[str, Any] = {}
        self._notes = comments()

    def ref(self, message: Descriptor) -> dict[str, Any]:
        if message.full_name in _WELL_KNOWN:
            return dict(_WELL_KNOWN[message.full_name])
        name = message.full_name
        if name not in self.components:
            self.components[name] = {}  # placeholder first: messages may refer to themselves
            self.components[name] = self.message(message)
        return {"$ref": f"#/components/schemas/{name}"}

    def enum(self, enum: EnumDescriptor) -> dict[str, Any]:
        name = enum.full_name
        if name not in self.components:
            schema: dict[str, Any] = {"type": "string", "enum": [v.name for v in enum.values]}
            if name in self._notes:
                schema["description"] = self._notes[name]
            self.components[name] = schema
        return {"$ref": f"#/components/schemas/{name}"}

    def message(self, message: Descriptor, exclude: Iterable[str] = (), closed: bool = False) -> dict[str, Any]:
        skip = set(exclude)
        props = {fd.name: self.field(fd) for fd in message.fields if fd.name not in skip}
        schema: dict[str, Any] = {"type": "object", "properties": props}
        if closed:
            schema["additionalProperties"] = False
        if message.full_name in self._notes:
            schema["description"] = self._notes[message.full_name]
        return schema

    def field(self, fd: FieldDescriptor) -> dict[str, Any]:
        if fd.message_type is not None and fd.message_type.GetOptions().map_entry:
            value_fd = fd.message_type.fields_by_name["value"]
            schema: dict[str, Any] = {"type": "object", "additionalProperties": self.single(value_fd)}
        elif fd.is_repeated:
            schema = {"type": "array", "items": self.single(fd)}
        else:
            schema = self.single(fd)
        note = self._notes.get(f"{fd.containing_type.full_name}.{fd.name}")
        if note:
            # a $ref with siblings is fine in 3.1 (JSON Schema 2020-12)
            schema["description"] = note
        return schema

    def single(self, fd: FieldDescriptor) -> dict[str, Any]:
        if fd.message_type is not None:
            return self.ref(fd.message_type)
        if fd.enum_type is not None:
            return self.enum(fd.enum_type)
        if fd.type in _INT64:
            return {"type": ["string", "integer"], "format": "int64", "pattern": "^-?[0-9]+$"}
        if fd.type in _INT32:
            return {"type": "integer", "format": "int32"}
        if fd.type in (fd.TYPE_DOUBLE, fd.TYPE_FLOAT):
            return {"type": "number"}
        if fd.type == fd.TYPE_BOOL:
            return {"type": "boolean"}
        if fd.type == fd.TYPE_BYTES:
            return {"type": "string", "contentEncoding": "base64"}
        return {"type": "string"}


def _query_parameters(schemas: _Schemas, message: Descriptor, skip: set[str], prefix: str = "",
                      depth: int = 0) -> list[dict[str, Any]]:
    """The query parameters of a route without a body: every field not in the path,
    nested message fields by dots (two levels deep), maps as ``name[key]``."""
    params: list[dict[str, Any]] = []
    for fd in message.fields:
        name = f"{prefix}{fd.name}"
        if name in skip:
            continue
        note = schemas._notes.get(f"{message.full_name}.{fd.name}")
        if fd.message_type is not None and fd.message_type.GetOptions().map_entry:
            value_fd = fd.message_type.fields_by_name["value"]
            if value_fd.message_type is None:
                params.append(_param(name, {"type": "object", "additionalProperties": schemas.single(value_fd)},
                                     note, style="deepObject"))
            continue
        if fd.message_type is not None and fd.message_type.full_name not in _WELL_KNOWN:
            if not fd.is_repeated and depth < 2:
                params += _query_parameters(schemas, fd.message_type, skip, f"{name}.", depth + 1)
            continue
        if fd.message_type is not None and fd.message_type.full_name in (
            "google.protobuf.Struct", "google.protobuf.Value", "google.protobuf.ListValue",
        ):
            continue
        schema = schemas.field(fd)
        schema.pop("description", None)
        params.append(_param(name, schema, note, explode=fd.is_repeated or None))
    return params


def _param(name: str, schema: dict[str, Any], note: str | None, style: str | None = None,
           explode: bool | None = None) -> dict[str, Any]:
    p: dict[str, Any] = {"name": name, "in": "query", "required": False, "schema": schema}
    if note:
        p["description"] = note
    if style:
        p["style"] = style
        p["explode"] = True
    elif explode:
        p["style"] = "form"
        p["explode"] = True
    return p


#: the HTTP door's own refusals, before a request reaches the transcoder (``http/errors.py``)
_HTTP_ERRORS = {(408, "request_timeout"), (413, "payload_too_large")}


def _errors() -> dict[str, Any]:
    named = {(s, n) for s, n in HTTP_STATUS.values() if s >= 400} | _HTTP_ERRORS
    return {
        str(code): {"description": ", ".join(sorted(n for s, n in named if s == code)),
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
        for code in sorted({s for s, _ in named})
    }


def operation(schemas: _Schemas, route: Route) -> dict[str, Any]:
    method = route.method
    service = method.containing_service
    note = schemas._notes.get(f"{service.full_name}.{method.name}", "")
    op: dict[str, Any] = {
        "operationId": f"{service.name}_{method.name}",
        "tags": [service.name],
        "summary": note.split(". ")[0].rstrip(".") if note else method.name,
        "description": (note + "\n\n" if note else "") + f"gRPC: `{service.full_name}/{method.name}`",
    }
    params: list[dict[str, Any]] = []
    for dotted in route.path_fields:
        owner = route.input
        *parents, leaf = dotted.split(".")
        for name in parents:
            owner = owner.fields_by_name[name].message_type
        fd = owner.fields_by_name[leaf]
        schema = schemas.single(fd)
        if fd.type in _INT64:
            schema = {"type": "integer", "format": "int64"}
        p: dict[str, Any] = {"name": dotted, "in": "path", "required": True, "schema": schema}
        field_note = schemas._notes.get(f"{owner.full_name}.{leaf}")
        if field_note:
            p["description"] = field_note
        params.append(p)
    if route.body:
        op["requestBody"] = {
            "required": False,
            "content": {"application/json": {"schema": schemas.message(
                route.input, exclude={f.split(".")[0] for f in route.path_fields}, closed=True)}},
        }
    else:
        params += _query_parameters(schemas, route.input, set(route.path_fields))
    if route.streaming:
        params.append({"name": "Last-Event-ID", "in": "header", "required": False, "schema": {"type": "string"},
                       "description": "Resume after this event (sent back by an EventSource that reconnects); "
                                      "only a stream whose request has after_event_id resumes."})
    if params:
        op["parameters"] = params
    if route.streaming:
        ok = {"description": f"A stream of Server-Sent Events; each event's data is a "
                             f"{route.output.full_name} as JSON.",
              "content": {"text/event-stream": {"schema": {"type": "string"}}}}
        schemas.ref(route.output)
    else:
        ok = {"description": "OK", "content": {"application/json": {"schema": schemas.ref(route.output)}}}
    op["responses"] = {"200": ok, **_errors()}
    return op


def document(routes: Iterable[Route], version: str = "0.1.0") -> dict[str, Any]:
    """The OpenAPI 3.1 document of ``routes``."""
    schemas = _Schemas()
    paths: dict[str, dict[str, Any]] = {}
    tags: dict[str, str] = {}
    for route in routes:
        paths.setdefault(route.path, {})[route.verb.lower()] = operation(schemas, route)
        service = route.method.containing_service
        tags[service.name] = schemas._notes.get(service.full_name, service.full_name)
    schemas.components["Error"] = _ERROR
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "OnCall REST API",
            "version": version,
            "description": "Generated from the gRPC services' protos (google.api.http options). JSON is the "
                           "proto3 JSON mapping with proto field names; int64 values are strings in responses "
                           "and strings or numbers in requests; enums are names. Errors are "
                           "{\"error\", \"detail\"}.",
        },
        "tags": [{"name": name, "description": text} for name, text in sorted(tags.items())],
        "paths": dict(sorted(paths.items())),
        "components": {"schemas": dict(sorted(schemas.components.items()))},
    }
