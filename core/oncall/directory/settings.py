"""Checks for the settings of directory plugins that dial or serve the contract (kneutral, local).

Kept apart from the gRPC client so a command line can read its settings without loading gRPC.
"""

from __future__ import annotations


class SettingsError(ValueError):
    """A directory plugin's setting is malformed; the message names the variable and the fix."""


def target_setting(name: str, raw: str) -> str:
    """A gRPC target: ``host:port`` (``[v6]:port``), or a gRPC URI (``dns:///host:port``, ``unix:/path``)."""
    value = raw.strip()
    if value and not any(c.isspace() for c in value):
        if value.startswith(("dns:", "unix:", "unix-abstract:", "ipv4:", "ipv6:")):
            return value
        host, sep, port = value.rpartition(":")
        if sep and host and port.isdigit() and int(port) <= 65535:
            return value
    raise SettingsError(f"{name} must be host:port (directory.example.com:443) or a gRPC URI "
                        f"(dns:///directory.example.com:443), got {raw!r}")


def seconds_setting(name: str, raw: str | None, default: float) -> float:
    """A positive number of seconds; ``default`` when unset or empty."""
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a number of seconds, got {raw!r}") from None
    if not 0 < value <= 600:
        raise SettingsError(f"{name} must be more than 0 and at most 600 seconds, got {raw!r}")
    return value


def is_loopback(target: str) -> bool:
    host = target.rpartition(":")[0].strip("[]") if ":" in target else target
    return host in ("127.0.0.1", "localhost", "::1") or host.startswith("127.")
