"""What a Slack Web API answer means for a delivery: done, try again later, or give up.

Slack answers most failures with HTTP 200 and ``{"ok": false, "error": "<code>"}``; rate
limits come as HTTP 429 with ``Retry-After``. Only codes that describe a passing condition
are retried: everything else (``channel_not_found``, ``invalid_auth``, ``not_in_channel`` …)
will fail the same way next time and needs a person to fix the destination or the app.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from oncall_hookspecs import DeliveryResult
from oncall_hookspecs.settings import parse_retry_after

#: ``error`` codes that may succeed on a later try
RETRYABLE_ERRORS = frozenset(
    {"ratelimited", "rate_limited", "internal_error", "fatal_error", "service_unavailable", "request_timeout",
     "team_added_to_org"}
)


def posted(data: Mapping[str, Any], destination: str) -> DeliveryResult:
    """A successful ``chat.postMessage``: the provider id is ``<channel id>:<ts>``.

    For a user id destination Slack answers with the DM's channel id (``D…``), which is
    what ``chat.update`` needs later.
    """
    channel = str(data.get("channel") or destination)
    ts = str(data.get("ts") or "")
    text = f"Slack ok: posted to {channel} at {ts}"
    if data.get("warning"):
        text += f" (warning: {data['warning']})"
    return DeliveryResult(ok=True, delivered=True, provider_id=f"{channel}:{ts}", response=text)


def failed(status: int | None, headers: Mapping[str, str], data: Any) -> DeliveryResult:
    """Classify a failed call from its HTTP status, headers and (parsed, if JSON) body."""
    error = data.get("error") if isinstance(data, Mapping) else None
    text = describe(status, data)
    retry_after = _retry_after(headers)
    if status == 429 or error in RETRYABLE_ERRORS:
        return DeliveryResult(ok=False, retry_after=retry_after, response=text)
    if status is not None and (status >= 500 or (200 <= status < 300 and not error)):
        # a 2xx without Slack's JSON is a proxy or gateway in the way: worth another try
        return DeliveryResult(ok=False, retry_after=retry_after, response=text)
    return DeliveryResult(ok=False, permanent=True, response=text)


def describe(status: int | None, data: Any) -> str:
    """A short, secret-free sentence about Slack's answer, for the alert's timeline."""
    parts = [f"HTTP {status}" if status is not None else "no HTTP status"]
    if isinstance(data, Mapping):
        error = data.get("error")
        parts.append(f"Slack error {error}" if error else "no Slack error code")
        if data.get("needed"):
            parts.append(f"needed scope {data['needed']}")
        messages = (data.get("response_metadata") or {}).get("messages") if isinstance(
            data.get("response_metadata"), Mapping) else None
        if messages:
            parts.append("; ".join(str(m) for m in messages[:3])[:300])
    elif isinstance(data, (str, bytes)) and data:
        body = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
        parts.append(body.strip()[:200])
    return ": ".join(parts)


def _retry_after(headers: Mapping[str, str]) -> float | None:
    """``Retry-After`` in seconds: delta-seconds or an HTTP date (a proxy in front of Slack sends either)."""
    value = next((v for k, v in (headers or {}).items() if k.lower() == "retry-after"), None)
    return parse_retry_after(value, time.time())
