"""The webhook channel's settings, read from ``ONCALL_WEBHOOK_*`` and checked at startup."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from oncall_hookspecs import plugin_settings

from .guard import AllowList

DEFAULT_TIMEOUT_S = 10.0
KNOWN = ("signing_secret", "timeout_s", "allowed_hosts")


class WebhookSettingsError(ValueError):
    """A setting is malformed; the message names the variable (never a secret's value)."""


@dataclass(frozen=True, slots=True)
class WebhookSettings:
    signing_secret: str = field(repr=False)
    timeout_s: float = DEFAULT_TIMEOUT_S
    allowed_hosts: AllowList = field(default_factory=AllowList)


def load_settings(environ: Mapping[str, str] | None = None) -> tuple[WebhookSettings | None, list[str]]:
    """The settings, or None when no signing secret is set; plus names of unknown variables.

    Raises WebhookSettingsError for a malformed value, so the plugin fails to load with a
    message naming the variable rather than misbehaving at 3 a.m.
    """
    raw = plugin_settings("webhook", environ)
    unknown = sorted("ONCALL_WEBHOOK_" + k.upper() for k in raw if k not in KNOWN)

    timeout_text = raw.get("timeout_s", "").strip()
    timeout = DEFAULT_TIMEOUT_S
    if timeout_text:
        try:
            timeout = float(timeout_text)
        except ValueError:
            raise WebhookSettingsError(
                f"ONCALL_WEBHOOK_TIMEOUT_S must be a number of seconds, got {timeout_text!r}"
            ) from None
        if not math.isfinite(timeout) or timeout <= 0:
            raise WebhookSettingsError(
                f"ONCALL_WEBHOOK_TIMEOUT_S must be a positive number of seconds, got {timeout_text!r}"
            )
    try:
        allow = AllowList.parse(raw.get("allowed_hosts", ""))
    except ValueError as exc:
        raise WebhookSettingsError(str(exc)) from None

    secret = raw.get("signing_secret", "")
    if not secret.strip():
        return None, unknown
    return WebhookSettings(signing_secret=secret, timeout_s=timeout, allowed_hosts=allow), unknown
