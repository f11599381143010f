"""The webhook signature: the exact body bytes, and an HMAC-SHA256 over timestamp and body.

Senders and receivers share this module so both sides agree on the bytes that are signed.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Any

from oncall_hookspecs.payload import canonical_json

SIGNATURE_VERSION = "v1"


def encode_body(payload: Any) -> bytes:
    """The bytes that are sent and signed: the payload's canonical JSON (``canonical_json``),
    which is also what ``RenderPreview`` shows, so the preview is byte-identical."""
    return canonical_json(payload)


def _as_bytes(value: str | bytes) -> bytes:
    return value.encode("utf-8") if isinstance(value, str) else value


def sign(secret: str | bytes, timestamp: int, body: bytes) -> str:
    """The ``X-OnCall-Signature`` value: ``v1=<hex HMAC-SHA256 over "<timestamp>.<body>">``."""
    mac = hmac.new(_as_bytes(secret), f"{timestamp}.".encode("ascii") + body, hashlib.sha256)
    return f"{SIGNATURE_VERSION}={mac.hexdigest()}"


def verify_signature(
    secret: str | bytes,
    timestamp: str | int,
    body: str | bytes,
    header: str,
    tolerance_s: float = 300,
    now: float | None = None,
) -> bool:
    """True when ``header`` signs ``body`` at ``timestamp`` and the timestamp is recent.

    ``timestamp`` is the ``X-OnCall-Timestamp`` header, ``header`` the
    ``X-OnCall-Signature`` header (several comma-separated ``v1=`` values are accepted, so
    a secret can be rotated). A timestamp further than ``tolerance_s`` from ``now`` (either
    way) fails, which makes a captured request useless for replay once it is old.
    """
    try:
        ts = int(str(timestamp).strip())
    except ValueError:
        return False
    current = time.time() if now is None else now
    if abs(current - ts) > tolerance_s:
        return False
    expected = sign(secret, ts, _as_bytes(body)).encode("ascii")
    matched = False
    for candidate in header.split(","):
        # compare every candidate, constant-time, so timing reveals nothing about which matched
        if hmac.compare_digest(expected, candidate.strip().encode("utf-8", "replace")):
            matched = True
    return matched
