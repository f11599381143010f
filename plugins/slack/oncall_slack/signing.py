"""Slack's request signature (``v0``): proof that a button click really came from Slack.

Slack signs each request with the app's signing secret: ``v0=`` + hex HMAC-SHA256 over
``v0:<X-Slack-Request-Timestamp>:<raw body>``. A timestamp more than five minutes away
from now is refused, so a captured request cannot be replayed later.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

TOLERANCE_S = 300
TIMESTAMP_HEADER = "x-slack-request-timestamp"
SIGNATURE_HEADER = "x-slack-signature"


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """The ``X-Slack-Signature`` value Slack would send for ``body`` at ``timestamp``."""
    base = b"v0:" + timestamp.encode("ascii") + b":" + body
    return "v0=" + hmac.new(secret.encode("utf-8"), base, hashlib.sha256).hexdigest()


def signature_problem(secret: str, headers: Mapping[str, str], body: bytes, now: float) -> str | None:
    """Why the request is not a genuine, fresh Slack request; None when it is."""
    lowered = {k.lower(): v for k, v in headers.items()}
    timestamp = lowered.get(TIMESTAMP_HEADER, "").strip()
    given = lowered.get(SIGNATURE_HEADER, "").strip()
    if not timestamp or not given:
        return "missing X-Slack-Signature or X-Slack-Request-Timestamp"
    if not timestamp.isascii() or not timestamp.isdigit():
        return "X-Slack-Request-Timestamp is not a Unix time"
    if abs(now - int(timestamp)) > TOLERANCE_S:
        return "X-Slack-Request-Timestamp is more than 5 minutes from now (stale or replayed)"
    expected = signature(secret, timestamp, body)
    # compare bytes so a non-ASCII header cannot raise, and in constant time
    if not hmac.compare_digest(expected.encode("ascii"), given.encode("utf-8", "replace")):
        return "X-Slack-Signature does not match"
    return None
