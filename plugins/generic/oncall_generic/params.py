"""Reads the generic API's parameters from the query string and a JSON, form or multipart body.

GoAlert reads them with Go's ``FormValue`` (body over query, first value of a name) and,
for ``application/json``, decodes the body over them with ``encoding/json`` (whose field
names match case-insensitively). Senders written against GoAlert rely on all of that.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from email import policy
from email.parser import BytesParser
from typing import Any
from urllib.parse import parse_qsl

from oncall_hookspecs import BadRequest, InboundRequest

NAMES = ("summary", "details", "action", "dedup", "severity", "token", "integrationKey")
_BY_LOWER = {name.lower(): name for name in (*NAMES, "meta")}


@dataclass(slots=True)
class Params:
    """The parameters of one call: ``values`` by name (strings), ``meta`` merged."""

    values: dict[str, str] = field(default_factory=dict)
    meta: dict[str, str] = field(default_factory=dict)


def read_params(request: InboundRequest) -> Params:
    params = Params(values={k: v for k, v in request.query.items() if k in NAMES})
    for pair in request.query_all.get("meta") or ([request.query["meta"]] if "meta" in request.query else []):
        _add_meta_pair(params.meta, pair)
    if not request.body.strip():
        return params
    media = request.media_type
    if (
        media == "application/json"
        or media.endswith("+json")
        or (not media and request.body.lstrip()[:1] == b"{")
    ):
        _read_json(request, params)
    elif media in ("application/x-www-form-urlencoded", ""):
        _read_pairs(_urlencoded(request), params)
    elif media == "multipart/form-data":
        _read_pairs(_multipart(request), params)
    elif media == "text/plain":
        pass  # GoAlert ignores such a body too; the parameters are in the query string
    else:
        raise BadRequest(
            "unsupported_media_type",
            f"content type {media!r} is not accepted; send JSON, a form, or query parameters",
            status=415,
        )
    return params


def _add_meta_pair(meta: dict[str, str], pair: str) -> None:
    key, sep, value = pair.partition("=")
    if not sep or not key:
        raise BadRequest("invalid_value", f"'meta' must be KEY=VALUE, got {pair!r}")
    meta[key] = value


def _read_pairs(pairs: list[tuple[str, str]], params: Params) -> None:
    body: dict[str, str] = {}
    for name, value in pairs:
        if name == "meta":
            _add_meta_pair(params.meta, value)
        elif name in NAMES:
            body.setdefault(name, value)  # the first value of a name, as Go's FormValue
    params.values.update(body)


def _urlencoded(request: InboundRequest) -> list[tuple[str, str]]:
    try:
        text = request.body.decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest("invalid_encoding", "the form body is not UTF-8") from None
    return parse_qsl(text, keep_blank_values=True)


def _multipart(request: InboundRequest) -> list[tuple[str, str]]:
    head = f"Content-Type: {request.content_type}\r\n\r\n".encode("latin-1", "replace")
    message = BytesParser(policy=policy.HTTP).parsebytes(head + request.body)
    if not message.is_multipart():
        raise BadRequest("invalid_form", "the multipart body could not be read; check its boundary")
    pairs: list[tuple[str, str]] = []
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str) or part.get_filename():
            continue  # uploaded files are not parameters
        data = part.get_payload(decode=True)
        if not isinstance(data, bytes):
            data = b""  # a nested multipart has no payload of its own
        try:
            pairs.append((name, data.decode(part.get_content_charset() or "utf-8")))
        except (UnicodeDecodeError, LookupError):
            raise BadRequest("invalid_encoding", f"form field {name!r} is not UTF-8") from None
    return pairs


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    names: dict[type, str] = {list: "array", dict: "object"}
    return names.get(type(value), type(value).__name__)


def _read_json(request: InboundRequest, params: Params) -> None:
    doc = request.json_object()
    # Exact names first, so that {"summary": …} beats {"Summary": …} as in Go.
    for key in sorted(doc, key=lambda k: k in _BY_LOWER.values()):
        name = _BY_LOWER.get(key.lower())
        value = doc[key]
        if name is None or value is None:
            continue
        if name == "meta":
            if not isinstance(value, dict):
                raise BadRequest("invalid_type", f"'meta' must be an object, got {_json_type(value)}")
            for k, v in value.items():
                if not isinstance(v, str):
                    raise BadRequest("invalid_type", f"'meta.{k}' must be a string, got {_json_type(v)}")
                params.meta[k] = v
            continue
        if not isinstance(value, str):
            raise BadRequest("invalid_type", f"'{name}' must be a string, got {_json_type(value)}")
        params.values[name] = value
