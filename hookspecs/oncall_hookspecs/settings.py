"""Small readers shared by plugins: their settings and their providers' answers.

Each plugin names its own error type, so a bad value fails that plugin's load with a
message naming the variable, and the rest of the server carries on.
"""

from __future__ import annotations

import email.utils
import math
from datetime import UTC


def seconds_setting(variable: str, raw: str | None, default: float, error: type[Exception] = ValueError) -> float:
    """A positive, finite number of seconds from ``raw`` (``default`` when empty)."""
    text = (raw or "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        raise error(f"{variable} must be a number of seconds, got {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise error(f"{variable} must be a positive number of seconds, got {text!r}")
    return value


def parse_retry_after(value: str | None, now: float) -> float | None:
    """``Retry-After`` in seconds from ``now``: delta-seconds or an HTTP-date; None if absent or bad."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - now)
