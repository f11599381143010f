"""Typed reads from a decoded JSON payload for source plugins; every failure is a BadRequest naming the field.

Field names in messages are paths into the payload (``alerts[2].labels.severity``) so the
sender can find the offending value without reading our code.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from .types import Action, BadRequest, InboundRequest

_GO_ZERO_YEAR = 1  # Go's zero time.Time, "0001-01-01T00:00:00Z", means "not set"


def json_body(request: InboundRequest) -> dict[str, Any]:
    """The body as a JSON object; 415 unless the content type is JSON (or not given)."""
    media = request.media_type
    if media and media != "application/json" and not media.endswith("+json"):
        raise BadRequest(
            "unsupported_media_type",
            f"content type {media!r} is not accepted; send application/json",
            status=415,
        )
    return request.json_object()


def json_type(value: Any) -> str:
    """The JSON name of a decoded value's type, for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def at(path: str, name: str | int) -> str:
    """The path of ``name`` inside ``path``."""
    if isinstance(name, int):
        return f"{path}[{name}]"
    return f"{path}.{name}" if path else name


def _wrong(where: str, want: str, value: Any) -> BadRequest:
    return BadRequest("invalid_type", f"'{where}' must be {want}, got {json_type(value)}")


def _missing(where: str) -> BadRequest:
    return BadRequest("missing_field", f"'{where}' is required")


def string(doc: dict[str, Any], name: str, path: str = "", *, required: bool = False) -> str | None:
    """A string field; None when absent (or null). ``required`` also rejects blank strings."""
    value = doc.get(name)
    where = at(path, name)
    if value is None:
        if required:
            raise _missing(where)
        return None
    if not isinstance(value, str):
        raise _wrong(where, "a string", value)
    if required and not value.strip():
        raise BadRequest("missing_field", f"'{where}' is required and must not be blank")
    return value


def integer(doc: dict[str, Any], name: str, path: str = "") -> int | None:
    value = doc.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise _wrong(at(path, name), "an integer", value)
    return value


def obj(doc: dict[str, Any], name: str, path: str = "", *, required: bool = False) -> dict[str, Any] | None:
    value = doc.get(name)
    if value is None:
        if required:
            raise _missing(at(path, name))
        return None
    if not isinstance(value, dict):
        raise _wrong(at(path, name), "an object", value)
    return value


def array(doc: dict[str, Any], name: str, path: str = "", *, required: bool = False) -> list[Any] | None:
    value = doc.get(name)
    if value is None:
        if required:
            raise _missing(at(path, name))
        return None
    if not isinstance(value, list):
        raise _wrong(at(path, name), "an array", value)
    return value


def string_map(doc: dict[str, Any], name: str, path: str = "") -> dict[str, str]:
    """An object whose values are all strings (labels, annotations); {} when absent."""
    value = obj(doc, name, path)
    if not value:
        return {}
    where = at(path, name)
    for k, v in value.items():
        if not isinstance(v, str):
            raise _wrong(at(where, k), "a string", v)
    return value


def timestamp(doc: dict[str, Any], name: str, path: str = "") -> datetime | None:
    """An RFC 3339 / ISO 8601 time; None when absent or Go's zero time. Naive means UTC."""
    raw = string(doc, name, path)
    if not raw:
        return None
    try:
        when = datetime.fromisoformat(raw)
    except ValueError:
        raise BadRequest(
            "invalid_value", f"'{at(path, name)}' is not an RFC 3339 timestamp: {raw!r}"
        ) from None
    if when.year == _GO_ZERO_YEAR:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


# ----------------------------------------------------------------------- Prometheus-style alerts
# Alertmanager and Grafana's unified alerting share these shapes.

#: an alert entry's status and what it asks of OnCall
PROMETHEUS_ACTIONS = {"firing": Action.TRIGGER, "resolved": Action.RESOLVE}


def prometheus_status(doc: dict[str, Any], path: str = "") -> str | None:
    """``status``: 'firing' or 'resolved'; None when absent."""
    value = string(doc, "status", path)
    if value is not None and value not in PROMETHEUS_ACTIONS:
        raise BadRequest(
            "invalid_value", f"'{at(path, 'status')}' must be 'firing' or 'resolved', got {value!r}"
        )
    return value


def labels_key(labels: dict[str, str]) -> str:
    """A stable dedup key from a label set, for entries that carry no fingerprint.

    Alertmanager's own fingerprint is a hash of the label set too, so an alert keeps the
    same key for as long as its labels stay the same, whichever way it is computed.
    """
    # ASCII-escaped, so that any label text (lone surrogates included) hashes
    canonical = json.dumps(sorted(labels.items()), separators=(",", ":"))
    return "labels:" + hashlib.sha256(canonical.encode("ascii")).hexdigest()


def canonical_json(payload: Any) -> bytes:
    """A payload's canonical JSON bytes: sorted keys, compact separators, UTF-8, no NaN.

    The one encoding shared by ``RenderPreview`` and every channel that sends JSON as is
    (the outgoing webhook), so a preview is byte-identical to what the receiver gets, even
    after the payload went through JSONB in the outbox and lost its key order.
    """
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()
