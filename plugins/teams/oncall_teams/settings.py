"""The Teams channel's settings, read from ``ONCALL_TEAMS_*`` and checked at startup.

A Workflows webhook URL carries its own signature (``sig=``): whoever has it can post to
the channel. So the URLs are held out of ``repr``, and no message here ever quotes one.
"""

from __future__ import annotations

import ipaddress
import re
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field

from oncall_hookspecs import plugin_settings
from oncall_hookspecs.settings import seconds_setting
from yarl import URL

DEFAULT_TIMEOUT_S = 10.0
KNOWN = ("webhooks", "allow_url_destinations", "timeout_s", "ca_file")
WEBHOOKS_VAR = "ONCALL_TEAMS_WEBHOOKS"
ALLOW_URLS_VAR = "ONCALL_TEAMS_ALLOW_URL_DESTINATIONS"
TIMEOUT_VAR = "ONCALL_TEAMS_TIMEOUT_S"
CA_FILE_VAR = "ONCALL_TEAMS_CA_FILE"

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"", "0", "false", "no", "off"})


class TeamsSettingsError(ValueError):
    """A setting is malformed; the message names the variable (never a webhook URL)."""


@dataclass(frozen=True, slots=True)
class TeamsSettings:
    #: webhook name → Workflows URL (a secret)
    webhooks: Mapping[str, URL] = field(default_factory=dict, repr=False)
    allow_url_destinations: bool = False
    timeout_s: float = DEFAULT_TIMEOUT_S
    #: extra trust roots (a private CA in front of a proxy, and tests), added to the system's
    ca_file: str | None = None

    def ssl_context(self) -> ssl.SSLContext | None:
        if self.ca_file is None:
            return None
        return _tls_context(self.ca_file)

    def __repr__(self) -> str:  # names only: the URLs are credentials
        return (
            f"TeamsSettings(webhooks={sorted(self.webhooks)!r}, "
            f"allow_url_destinations={self.allow_url_destinations}, timeout_s={self.timeout_s:g})"
        )


def webhook_url(text: str) -> URL | None:
    """``text`` as the URL of a Workflows webhook, or None unless it is an https URL with a host.

    Plain http is refused — the URL's signature would cross the network readable by anyone
    on the path — except to a loopback address (a local relay or test endpoint), where
    nothing crosses a network. The URL is kept exactly as Microsoft wrote it (``encoded=True``), so the
    signed query is sent byte for byte.
    """
    if not text or any(c.isspace() for c in text):
        return None
    try:
        url = URL(text, encoded=True)
    except (TypeError, ValueError):
        return None
    if not url.raw_host or url.user is not None or url.fragment:
        return None
    if url.scheme.lower() != "https" and not (url.scheme.lower() == "http" and _loopback(url.raw_host)):
        return None
    try:
        url.port  # noqa: B018  (a malformed port raises here rather than at send time)
    except ValueError:
        return None
    return url


def parse_webhooks(raw: str) -> dict[str, URL]:
    """``ops=https://…,dba=https://…`` → {name: URL}; TeamsSettingsError naming the entry, not its URL."""
    webhooks: dict[str, URL] = {}
    for index, entry in enumerate(raw.split(","), 1):
        entry = entry.strip()
        if not entry:
            continue
        name, sep, value = entry.partition("=")
        name = name.strip()
        if not sep or not _NAME.match(name):
            # what precedes '=' may be a pasted URL: say where, never what
            raise TeamsSettingsError(
                f"{WEBHOOKS_VAR}: entry {index} is not name=URL; a name is 1-64 letters, digits, "
                "'.', '_' or '-' (e.g. ops=https://…)"
            )
        if name in webhooks:
            raise TeamsSettingsError(f"{WEBHOOKS_VAR}: the name {name!r} is given twice")
        url = webhook_url(value.strip())
        if url is None:
            raise TeamsSettingsError(
                f"{WEBHOOKS_VAR}: the URL for {name!r} must be an https URL with a host "
                "(the Workflows 'HTTP POST URL'; commas in it must be written %2C)"
            )
        webhooks[name] = url
    return webhooks


def _flag(variable: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise TeamsSettingsError(f"{variable} must be true or false, got {raw!r}")


def load_settings(environ: Mapping[str, str] | None = None) -> tuple[TeamsSettings | None, list[str]]:
    """The settings, or None when there is nowhere to post; plus names of unknown variables.

    Raises TeamsSettingsError for a malformed value, so the plugin fails to load with a
    message naming the variable rather than failing every delivery later.
    """
    raw = plugin_settings("teams", environ)
    unknown = sorted("ONCALL_TEAMS_" + k.upper() for k in raw if k not in KNOWN)
    settings = TeamsSettings(
        webhooks=parse_webhooks(raw.get("webhooks", "")),
        allow_url_destinations=_flag(ALLOW_URLS_VAR, raw.get("allow_url_destinations", "")),
        timeout_s=seconds_setting(TIMEOUT_VAR, raw.get("timeout_s", ""), DEFAULT_TIMEOUT_S, TeamsSettingsError),
        ca_file=raw.get("ca_file", "").strip() or None,
    )
    if settings.ca_file is not None:
        _tls_context(settings.ca_file)  # fail at startup, naming the variable, not at the first page
    if not settings.webhooks and not settings.allow_url_destinations:
        return None, unknown
    return settings, unknown


def _tls_context(ca_file: str) -> ssl.SSLContext:
    context = ssl.create_default_context()
    try:
        context.load_verify_locations(cafile=ca_file)
    except FileNotFoundError:
        raise TeamsSettingsError(f"{CA_FILE_VAR}: no such file: {ca_file!r}") from None
    except (ssl.SSLError, OSError) as exc:
        raise TeamsSettingsError(f"{CA_FILE_VAR}: {ca_file!r} is not a readable PEM file of CA certificates ({exc})") from None
    return context


def _loopback(host: str) -> bool:
    if host.lower().rstrip(".") == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
