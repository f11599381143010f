"""The pages' Jinja2 environment (autoescape on, every value escaped), their filters, and the HTML response.

Values come to templates as protobuf messages; the filters here turn timestamps, statuses
and Structs into what a person reads. Every page is answered with a Content-Security-Policy
that allows this site's own scripts, styles and connections and nothing else (no inline
script, no other origin), so even a value that escaped wrongly could run nothing.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jinja2
import orjson
from aiohttp import web
from google.protobuf.json_format import MessageToDict
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

HERE = Path(__file__).parent
STATIC_DIR = HERE / "static"
STATIC_PATH = "/ui/static"

CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")

_STATUS_NAMES = {1: "triggered", 2: "acknowledged", 3: "resolved"}
_ESCALATION_STATES = {1: "active", 2: "held", 3: "stopped", 4: "done"}
_DELIVERY_STATUSES = {1: "queued", 2: "sending", 3: "sent", 4: "delivered", 5: "failed", 6: "retrying",
                      7: "cancelled"}


def status_name(value: int) -> str:
    """An IncidentStatus or AlertStatus number as its word (the two enums number alike)."""
    return _STATUS_NAMES.get(value, "unknown")


def escalation_state(value: int) -> str:
    return _ESCALATION_STATES.get(value, "unknown")


def delivery_status(value: int) -> str:
    return _DELIVERY_STATUSES.get(value, "unknown")


def instant(ts: Timestamp | None) -> datetime | None:
    """A Timestamp as an aware datetime; None when unset (all zero)."""
    if ts is None or (ts.seconds == 0 and ts.nanos == 0):
        return None
    at: datetime = ts.ToDatetime(tzinfo=UTC)
    return at


def iso(ts: Timestamp | None) -> str:
    at = instant(ts)
    return at.isoformat(timespec="seconds") if at is not None else ""


def when(ts: Timestamp | None) -> str:
    """``2026-12-04 18:41 UTC``; the page's script shows it in the reader's zone, relative when recent."""
    at = instant(ts)
    return at.strftime("%Y-%m-%d %H:%M UTC") if at is not None else ""


def plain(value: Any) -> Any:
    """A message (a Struct) as plain Python, for showing its fields."""
    if isinstance(value, Message):
        return MessageToDict(value, preserving_proto_field_name=True)
    return value


def shown(value: Any) -> str:
    """A JSON value as one line of text: strings as they are, anything else as compact JSON."""
    if isinstance(value, str):
        return value
    return orjson.dumps(_whole(value)).decode()


def _whole(value: Any) -> Any:
    """A Struct's numbers are doubles: 6.0 is shown as 6."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    if isinstance(value, dict):
        return {k: _whole(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_whole(v) for v in value]
    return value


def meaningful(value: Any) -> list[tuple[str, Any]]:
    """A dict's items worth showing, sorted: without the empty ones (null, "", [], {}, false)."""
    if not isinstance(value, dict):
        return []
    return sorted((str(k), v) for k, v in value.items()
                  if v is not None and v is not False and v != "" and v != [] and v != {})


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,  # every template, whatever its name
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(status_name=status_name, escalation_state=escalation_state,
                       delivery_status=delivery_status, iso=iso, when=when, plain=plain, shown=shown,
                       meaningful=meaningful)
    env.globals["asset"] = asset
    return env


def _fingerprints() -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()[:12] for p in STATIC_DIR.iterdir() if p.is_file()}


_VERSIONS = _fingerprints()


def asset(name: str) -> str:
    """The URL of a static file, with its content's fingerprint so a browser never keeps a stale one."""
    return f"{STATIC_PATH}/{name}?v={_VERSIONS.get(name, '0')}"


ENV = _environment()


def page(template: str, status: int = 200, **values: Any) -> web.Response:
    """A page rendered from ``template`` with ``values``."""
    text = ENV.get_template(template).render(**values)
    return web.Response(text=text, status=status, content_type="text/html", charset="utf-8", headers={
        "Content-Security-Policy": CSP, "Cache-Control": "no-store", "X-Frame-Options": "DENY",
        "X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin",
    })
