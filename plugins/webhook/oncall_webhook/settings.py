"""The webhook channel's settings, read from ``ONCALL_WEBHOOK_*`` and checked at startup.

Every setting has a default, so the channel works with none: unsigned, with a 10 s
timeout, to any destination the guard does not always refuse.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from oncall_hookspecs import plugin_settings

from .guard import PUBLIC_ONLY_VAR, AllowList

DEFAULT_TIMEOUT_S = 10.0
KNOWN = ("signing_secret", "timeout_s", "allowed_hosts", "public_only")

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"", "0", "false", "no", "off"})


class WebhookSettingsError(ValueError):
    """A setting is malformed; the message names the variable (never a secret's value)."""


@dataclass(frozen=True, slots=True)
class WebhookSettings:
    #: the HMAC key; None sends deliveries unsigned
    signing_secret: str | None = field(default=None, repr=False)
    timeout_s: float = DEFAULT_TIMEOUT_S
    allowed_hosts: AllowList = field(default_factory=AllowList)
    #: with an empty allowlist, reach public addresses only (not loopback or private ones)
    public_only: bool = False

    @property
    def signed(self) -> bool:
        return self.signing_secret is not None


def load_settings(environ: Mapping[str, str] | None = None) -> tuple[WebhookSettings, list[str]]:
    """The settings, plus the names of unknown ``ONCALL_WEBHOOK_*`` variables.

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

    public_only_text = raw.get("public_only", "").strip()
    if public_only_text.lower() not in _TRUE | _FALSE:
        raise WebhookSettingsError(f"{PUBLIC_ONLY_VAR} must be true or false, got {public_only_text!r}")

    secret = raw.get("signing_secret", "")
    return (
        WebhookSettings(
            signing_secret=secret if secret.strip() else None,
            timeout_s=timeout,
            allowed_hosts=allow,
            public_only=public_only_text.lower() in _TRUE,
        ),
        unknown,
    )
