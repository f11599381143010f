"""The email channel's settings, read from ``ONCALL_EMAIL_*`` and checked at startup.

Everything that can be checked without the relay is checked here (the sender address, the
port, the CA file, whether plaintext is allowed), so a mistake stops the plugin loading
with a message naming the variable instead of failing every alert email at 3 a.m.
"""

from __future__ import annotations

import ipaddress
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.headerregistry import Address

from oncall_hookspecs import plugin_settings
from oncall_hookspecs.settings import seconds_setting

from .addresses import InvalidAddress, parse_mailbox

DEFAULT_TIMEOUT_S = 30.0
#: submission with STARTTLS (RFC 6409) and submission over implicit TLS (RFC 8314)
DEFAULT_PORTS = {"starttls": 587, "tls": 465, "none": 587}
SECURITY_MODES = ("starttls", "tls", "none")
KNOWN = ("smtp_host", "smtp_port", "from", "username", "password", "security", "ca_file", "timeout_s")


class EmailSettingsError(ValueError):
    """A setting is malformed; the message names the variable (never the password)."""


@dataclass(frozen=True, slots=True)
class EmailSettings:
    host: str
    sender: Address
    port: int = 587
    security: str = "starttls"
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    ca_file: str | None = None
    timeout_s: float = DEFAULT_TIMEOUT_S
    #: built once here, so a broken CA file fails the plugin rather than each send
    tls_context: ssl.SSLContext | None = field(default=None, repr=False, compare=False)


def load_settings(environ: Mapping[str, str] | None = None) -> tuple[EmailSettings | None, list[str]]:
    """The settings, or None when no SMTP host is set; plus names of unknown variables.

    Raises EmailSettingsError for a missing or malformed value that the host needs.
    """
    raw = plugin_settings("email", environ)
    unknown = sorted("ONCALL_EMAIL_" + k.upper() for k in raw if k not in KNOWN)
    host = raw.get("smtp_host", "").strip()
    if not host:
        return None, unknown

    security = raw.get("security", "").strip().lower() or "starttls"
    if security not in SECURITY_MODES:
        raise EmailSettingsError(
            f"ONCALL_EMAIL_SECURITY must be one of starttls, tls, none; got {raw['security']!r}"
        )
    if security == "none" and not _is_loopback(host):
        raise EmailSettingsError(
            f"ONCALL_EMAIL_SECURITY=none sends mail (and any password) unencrypted, so it is only "
            f"allowed for a relay on this machine (localhost, 127.0.0.1, ::1); {host!r} is not one: "
            f"use starttls or tls"
        )

    sender_text = raw.get("from", "").strip()
    if not sender_text:
        raise EmailSettingsError(
            "ONCALL_EMAIL_FROM is required with ONCALL_EMAIL_SMTP_HOST: the sender address, "
            "e.g. 'OnCall <oncall@example.com>'"
        )
    try:
        sender = parse_mailbox(sender_text)
    except InvalidAddress as exc:
        raise EmailSettingsError(f"ONCALL_EMAIL_FROM: {exc}") from None

    username = raw.get("username", "").strip() or None
    password = raw.get("password") or None
    if password is not None and username is None:
        raise EmailSettingsError("ONCALL_EMAIL_PASSWORD is set but ONCALL_EMAIL_USERNAME is not")
    if username is not None and password is None:
        raise EmailSettingsError("ONCALL_EMAIL_USERNAME is set but ONCALL_EMAIL_PASSWORD is not")

    ca_file = raw.get("ca_file", "").strip() or None
    tls_context = None if security == "none" else _tls_context(ca_file)

    return (
        EmailSettings(
            host=host,
            sender=sender,
            port=_port(raw.get("smtp_port", ""), security),
            security=security,
            username=username,
            password=password,
            ca_file=ca_file,
            timeout_s=_timeout(raw.get("timeout_s", "")),
            tls_context=tls_context,
        ),
        unknown,
    )


def _is_loopback(host: str) -> bool:
    if host.lower().rstrip(".") == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _port(text: str, security: str) -> int:
    text = text.strip()
    if not text:
        return DEFAULT_PORTS[security]
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise EmailSettingsError(f"ONCALL_EMAIL_SMTP_PORT must be a port number (1-65535), got {text!r}")
    return int(text)


def _timeout(text: str) -> float:
    return seconds_setting("ONCALL_EMAIL_TIMEOUT_S", text, DEFAULT_TIMEOUT_S, EmailSettingsError)


def _tls_context(ca_file: str | None) -> ssl.SSLContext:
    """The system's trust roots, plus the CA file's: a private relay must not untrust the public ones."""
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    if ca_file is not None:
        try:
            context.load_verify_locations(cafile=ca_file)
        except FileNotFoundError:
            raise EmailSettingsError(f"ONCALL_EMAIL_CA_FILE: no such file: {ca_file!r}") from None
        except (OSError, ssl.SSLError) as exc:
            raise EmailSettingsError(
                f"ONCALL_EMAIL_CA_FILE: {ca_file!r} is not a readable PEM file of CA certificates ({exc})"
            ) from None
    return context
