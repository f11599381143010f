"""The Twilio plugin's settings, read from ``ONCALL_TWILIO_*`` and checked at startup."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from oncall_hookspecs import plugin_settings

DEFAULT_TIMEOUT_S = 10.0
REQUIRED = ("account_sid", "auth_token", "from_number")
KNOWN = (*REQUIRED, "api_url", "timeout_s")

_ACCOUNT_SID = re.compile(r"AC[0-9a-fA-F]{32}")
E164 = re.compile(r"\+[1-9][0-9]{1,14}")


class TwilioSettingsError(ValueError):
    """A setting is missing or malformed; the message names the variable (never a secret's value)."""


@dataclass(frozen=True, slots=True)
class TwilioSettings:
    account_sid: str
    auth_token: str = field(repr=False)
    from_number: str
    #: the REST API's base URL; None keeps the SDK's own (``https://api.twilio.com``)
    api_url: str | None = None
    timeout_s: float = DEFAULT_TIMEOUT_S


def _var(key: str) -> str:
    return "ONCALL_TWILIO_" + key.upper()


def load_settings(environ: Mapping[str, str] | None = None) -> tuple[TwilioSettings | None, list[str]]:
    """The settings, or None when none of the three credentials is set; plus unknown variable names.

    Raises TwilioSettingsError when only some credentials are set or a value is malformed,
    so the plugin fails to load with a message naming the variable.
    """
    raw = {k: v.strip() for k, v in plugin_settings("twilio", environ).items()}
    unknown = sorted(_var(k) for k in raw if k not in KNOWN)

    present = [k for k in REQUIRED if raw.get(k)]
    if not present:
        return None, unknown
    missing = [_var(k) for k in REQUIRED if not raw.get(k)]
    if missing:
        raise TwilioSettingsError(
            "ONCALL_TWILIO_ACCOUNT_SID, ONCALL_TWILIO_AUTH_TOKEN and ONCALL_TWILIO_FROM_NUMBER "
            f"must be set together; missing: {', '.join(missing)}"
        )

    sid = raw["account_sid"]
    if not _ACCOUNT_SID.fullmatch(sid):
        raise TwilioSettingsError(
            f"ONCALL_TWILIO_ACCOUNT_SID must be an account SID (AC followed by 32 hex digits), got {sid!r}"
        )
    from_number = raw["from_number"]
    if not E164.fullmatch(from_number):
        raise TwilioSettingsError(
            f"ONCALL_TWILIO_FROM_NUMBER must be an E.164 phone number such as +15005550006, got {from_number!r}"
        )

    api_url = raw.get("api_url") or None
    if api_url is not None:
        parts = urlsplit(api_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise TwilioSettingsError(f"ONCALL_TWILIO_API_URL must be an http(s) URL, got {api_url!r}")
        api_url = api_url.rstrip("/")

    timeout = DEFAULT_TIMEOUT_S
    timeout_text = raw.get("timeout_s", "")
    if timeout_text:
        try:
            timeout = float(timeout_text)
        except ValueError:
            raise TwilioSettingsError(
                f"ONCALL_TWILIO_TIMEOUT_S must be a number of seconds, got {timeout_text!r}"
            ) from None
        if not math.isfinite(timeout) or timeout <= 0:
            raise TwilioSettingsError(
                f"ONCALL_TWILIO_TIMEOUT_S must be a positive number of seconds, got {timeout_text!r}"
            )

    settings = TwilioSettings(
        account_sid=sid,
        auth_token=raw["auth_token"],
        from_number=from_number,
        api_url=api_url,
        timeout_s=timeout,
    )
    return settings, unknown
