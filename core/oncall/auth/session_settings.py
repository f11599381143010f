"""Session settings read from the environment: the defaults and the cookie-signing secret (no imports of the core, so config can read them)."""

from __future__ import annotations

from pathlib import Path

#: a session ends this long after its last use (ONCALL_SESSION_IDLE_TIMEOUT_S)
DEFAULT_IDLE_S = 12 * 3600.0
#: and this long after its login at the latest (ONCALL_SESSION_LIFETIME_S)
DEFAULT_LIFETIME_S = 30 * 24 * 3600.0
MIN_SECRET_CHARS = 32


def secret_from_env(value: str | None, path: str | None) -> bytes | None:
    """``ONCALL_SESSION_SECRET`` or ``ONCALL_SESSION_SECRET_FILE`` (at least 32 characters), or None.

    The messages never hold the secret."""
    if value and path:
        raise SystemExit("set ONCALL_SESSION_SECRET or ONCALL_SESSION_SECRET_FILE, not both")
    if path:
        try:
            value = Path(path).read_text().strip()
        except OSError as exc:
            raise SystemExit(f"ONCALL_SESSION_SECRET_FILE: cannot read {path!r} ({type(exc).__name__})") from None
    if not value:
        return None
    if len(value) < MIN_SECRET_CHARS:
        raise SystemExit(f"the session secret (ONCALL_SESSION_SECRET/_FILE) must be at least {MIN_SECRET_CHARS} "
                         f"characters")
    return value.encode()
