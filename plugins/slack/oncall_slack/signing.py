"""Slack's request signature (``v0``): proof that a button click really came from Slack.

Slack signs each request with the app's signing secret: ``v0=`` + hex HMAC-SHA256 over
``v0:<X-Slack-Request-Timestamp>:<raw body>``. A timestamp more than five minutes away
from now is refused, so a captured request cannot be replayed later; within those minutes
the channel refuses a request it has seen before (through ``ChannelHost.first_seen``).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

TOLERANCE_S = 300
TIMESTAMP_HEADER = "x-slack-request-timestamp"
SIGNATURE_HEADER = "x-slack-signature"
#: a Unix time in seconds has 10 digits until the year 2286; more cannot be within the window,
#: and parsing thousands of digits fails (int() refuses over 4,300; float arithmetic overflows)
_MAX_TIMESTAMP_DIGITS = 12


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """The ``X-Slack-Signature`` value Slack would send for ``body`` at ``timestamp``."""
    base = b"v0:" + timestamp.encode("ascii") + b":" + body
    return "v0=" + hmac.new(secret.encode("utf-8"), base, hashlib.sha256).hexdigest()


def request_signature(headers: Mapping[str, str]) -> str:
    """The ``X-Slack-Signature`` a request carries ("" when none): it names the exact request."""
    return _header(headers, SIGNATURE_HEADER)


def _header(headers: Mapping[str, str], name: str) -> str:
    # any mapping: a case-insensitive one, or a plain dict as a test builds it
    return next((v for k, v in headers.items() if k.lower() == name), "").strip()


def signature_problem(secret: str, headers: Mapping[str, str], body: bytes, now: float) -> str | None:
    """Why the request is not a genuine, fresh Slack request; None when it is."""
    timestamp = _header(headers, TIMESTAMP_HEADER)
    given = request_signature(headers)
    if not timestamp or not given:
        return "missing X-Slack-Signature or X-Slack-Request-Timestamp"
    if not (timestamp.isascii() and timestamp.isdigit()) or len(timestamp) > _MAX_TIMESTAMP_DIGITS:
        return "X-Slack-Request-Timestamp is not a Unix time"
    if abs(now - int(timestamp)) > TOLERANCE_S:
        return "X-Slack-Request-Timestamp is more than 5 minutes from now (stale or replayed)"
    expected = signature(secret, timestamp, body)
    # compare bytes so a non-ASCII header cannot raise, and in constant time
    if not hmac.compare_digest(expected.encode("ascii"), given.encode("utf-8", "replace")):
        return "X-Slack-Signature does not match"
    return None
