"""The Slack channel's settings, read from ``ONCALL_SLACK_*`` and checked at startup."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from oncall_hookspecs import plugin_settings
from oncall_hookspecs.settings import seconds_setting

DEFAULT_TIMEOUT_S = 10.0
KNOWN = ("bot_token", "signing_secret", "api_url", "timeout_s")


class SlackSettingsError(ValueError):
    """A setting is missing or malformed; the message names the variable (never a secret's value)."""


@dataclass(frozen=True, slots=True)
class SlackSettings:
    bot_token: str = field(repr=False)
    signing_secret: str = field(repr=False)
    #: the Web API base URL ending in ``/``; None means the SDK's default (Slack itself)
    api_url: str | None = None
    timeout_s: float = DEFAULT_TIMEOUT_S


def load_settings(environ: Mapping[str, str] | None = None) -> tuple[SlackSettings | None, list[str]]:
    """The settings, or None when no bot token is set; plus names of unknown variables.

    Raises SlackSettingsError when the token is set but the rest is missing or malformed,
    so the plugin fails to load with a message naming the variable.
    """
    raw = plugin_settings("slack", environ)
    unknown = sorted("ONCALL_SLACK_" + k.upper() for k in raw if k not in KNOWN)

    token = raw.get("bot_token", "").strip()
    if not token:
        return None, unknown
    if any(ch.isspace() for ch in token):
        raise SlackSettingsError("ONCALL_SLACK_BOT_TOKEN must be a single Slack token (xoxb-…) without spaces")

    secret = raw.get("signing_secret", "").strip()
    if not secret:
        # without it button clicks cannot be told from forgeries, so nobody could act from Slack
        raise SlackSettingsError(
            "ONCALL_SLACK_SIGNING_SECRET is required when ONCALL_SLACK_BOT_TOKEN is set "
            "(the app's Signing Secret, under Basic Information in the Slack app settings)"
        )
    return SlackSettings(
        bot_token=token,
        signing_secret=secret,
        api_url=_api_url(raw.get("api_url", "").strip()),
        timeout_s=_timeout(raw.get("timeout_s", "").strip()),
    ), unknown


def _api_url(text: str) -> str | None:
    if not text:
        return None
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SlackSettingsError(f"ONCALL_SLACK_API_URL must be an http(s) URL such as https://host/api/, got {text!r}")
    return text if text.endswith("/") else text + "/"


def _timeout(text: str) -> float:
    return seconds_setting("ONCALL_SLACK_TIMEOUT_S", text, DEFAULT_TIMEOUT_S, SlackSettingsError)
