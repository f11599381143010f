"""The ntfy channel's settings, read from ``ONCALL_NTFY_*`` and checked at startup."""

from __future__ import annotations

import base64
import ipaddress
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field

from oncall_hookspecs import plugin_settings
from oncall_hookspecs.settings import seconds_setting
from yarl import URL

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 10.0
KNOWN = ("url", "token", "username", "password", "timeout_s")


class NtfySettingsError(ValueError):
    """A setting is malformed; the message names the variable (never a token or password)."""


@dataclass(frozen=True, slots=True)
class NtfySettings:
    url: URL  # the server's base URL; messages are published to "<url>/"
    token: str | None = field(default=None, repr=False)
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    timeout_s: float = DEFAULT_TIMEOUT_S

    def __repr__(self) -> str:  # never the token or the password
        auth = "token" if self.token else f"user {self.username!r}" if self.username else "none"
        return f"NtfySettings(url={str(self.url)!r}, auth={auth}, timeout_s={self.timeout_s:g})"

    @property
    def publish_url(self) -> URL:
        """Where JSON messages are published: the server root (ntfy reads the topic from the body)."""
        path = self.url.path.rstrip("/") + "/"
        return self.url.with_path(path, encoded=False)

    def authorization(self) -> str | None:
        """The ``Authorization`` header: an access token as Bearer, or a user's Basic credentials."""
        if self.token:
            return f"Bearer {self.token}"
        if self.username is not None and self.password is not None:
            pair = f"{self.username}:{self.password}".encode()
            return "Basic " + base64.b64encode(pair).decode("ascii")
        return None


def _server_url(text: str) -> URL:
    try:
        url = URL(text)
    except (TypeError, ValueError):
        raise NtfySettingsError(f"ONCALL_NTFY_URL is not a URL: {text!r}") from None
    if url.scheme not in ("http", "https") or not url.raw_host:
        raise NtfySettingsError(
            f"ONCALL_NTFY_URL must be an http or https URL with a host (e.g. https://ntfy.example.com), got {text!r}"
        )
    if url.user is not None or url.password is not None:
        # the value would end up in logs and `oncall plugins` output; credentials have their own variables
        raise NtfySettingsError(
            "ONCALL_NTFY_URL must not contain credentials: use ONCALL_NTFY_TOKEN or ONCALL_NTFY_USERNAME/PASSWORD"
        )
    if url.query_string or url.fragment:
        raise NtfySettingsError(
            f"ONCALL_NTFY_URL must be the server's base URL, without a query or fragment, got {text!r}"
        )
    try:
        url.port  # noqa: B018  (a malformed port raises here rather than at send time)
    except ValueError:
        raise NtfySettingsError(f"ONCALL_NTFY_URL has an invalid port: {text!r}") from None
    return url


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def load_settings(environ: Mapping[str, str] | None = None) -> tuple[NtfySettings | None, list[str]]:
    """The settings, or None when ``ONCALL_NTFY_URL`` is unset; plus names of unknown variables.

    Raises NtfySettingsError for a malformed or contradictory value, naming the variable.
    """
    raw = plugin_settings("ntfy", environ)
    unknown = sorted("ONCALL_NTFY_" + k.upper() for k in raw if k not in KNOWN)
    url_text = raw.get("url", "").strip()
    if not url_text:
        return None, unknown
    token = raw.get("token", "").strip() or None
    username = raw.get("username", "").strip() or None
    password = raw.get("password", "") or None
    if token and (username or password):
        raise NtfySettingsError(
            "set either ONCALL_NTFY_TOKEN or ONCALL_NTFY_USERNAME/ONCALL_NTFY_PASSWORD, not both"
        )
    if username is not None and password is None:
        raise NtfySettingsError("ONCALL_NTFY_PASSWORD is required when ONCALL_NTFY_USERNAME is set")
    if password is not None and username is None:
        raise NtfySettingsError("ONCALL_NTFY_USERNAME is required when ONCALL_NTFY_PASSWORD is set")
    if username is not None and ":" in username:
        raise NtfySettingsError("ONCALL_NTFY_USERNAME must not contain ':' (Basic authentication cannot carry it)")
    settings = NtfySettings(
        url=_server_url(url_text),
        token=token,
        username=username,
        password=password,
        timeout_s=seconds_setting("ONCALL_NTFY_TIMEOUT_S", raw.get("timeout_s", ""), DEFAULT_TIMEOUT_S, NtfySettingsError),
    )
    if settings.authorization() and settings.url.scheme == "http" and not _is_loopback(settings.url.host or ""):
        log.warning(
            "ntfy credentials go to %s in clear text: use an https ONCALL_NTFY_URL", settings.url.host
        )
    return settings, unknown
