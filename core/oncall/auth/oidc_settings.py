"""OIDC login settings from ``ONCALL_OIDC_*`` environment variables, read once into a typed object.

Unset ``ONCALL_OIDC_ISSUER`` means no OIDC login (``from_env`` returns None). A malformed
value stops the start with a message naming the variable, as ``oncall.config`` does; the
client secret is never part of a message or a ``repr``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from .group_roles import GroupGrant, GroupMapping, MappingError, parse_grants, parse_group_list, parse_role

#: the claims that may name the user, so the name matches the directory's user ids
USER_CLAIMS = ("sub", "email", "preferred_username")
#: how OnCall authenticates itself at the token endpoint
AUTH_METHODS = ("client_secret_basic", "client_secret_post", "none")
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


def is_secure_url(url: str) -> bool:
    """https, or http to a loopback address (a provider on the same machine, the test fake)."""
    parts = urlsplit(url)
    if not parts.hostname:
        return False
    if parts.scheme == "https":
        return True
    return parts.scheme == "http" and (parts.hostname in LOOPBACK_HOSTS or parts.hostname.startswith("127."))


@dataclass(frozen=True)
class OidcSettings:
    """One OpenID provider and how its logins map to OnCall roles."""

    issuer: str
    client_id: str
    client_secret: str | None = field(default=None, repr=False)
    auth_method: str = "client_secret_basic"
    scopes: tuple[str, ...] = ("openid", "email", "profile")
    # the claim whose value is the OnCall user id (sub | email | preferred_username)
    user_claim: str = "sub"
    # the claim that lists the person's groups; a dotted path reaches into an object
    # (Keycloak's realm_access.roles) when no claim has the dotted name itself
    groups_claim: str = "groups"
    mapping: GroupMapping = field(default_factory=GroupMapping)
    # clock skew allowed between OnCall and the provider, for exp, iat and nbf
    leeway_s: float = 60.0
    timeout_s: float = 10.0
    discovery_ttl_s: float = 3600.0
    jwks_ttl_s: float = 3600.0
    # an ID token signed with an unknown kid fetches the JWKS again at most this often
    jwks_refresh_min_s: float = 60.0
    # how long a started login may wait for its callback
    login_ttl_s: float = 600.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> OidcSettings | None:
        env = os.environ if env is None else env
        issuer = (env.get("ONCALL_OIDC_ISSUER") or "").strip()
        if not issuer:
            return None
        # the issuer is compared exactly with the discovery document's and the tokens' iss
        if not is_secure_url(issuer) or urlsplit(issuer).query or urlsplit(issuer).fragment:
            raise SystemExit(f"ONCALL_OIDC_ISSUER must be an https URL with no query or fragment "
                             f"(http only to a loopback address), got {issuer!r}")
        client_id = (env.get("ONCALL_OIDC_CLIENT_ID") or "").strip()
        if not client_id:
            raise SystemExit("ONCALL_OIDC_CLIENT_ID is required when ONCALL_OIDC_ISSUER is set")
        secret = _secret(env)
        auth_method = (env.get("ONCALL_OIDC_AUTH_METHOD") or "client_secret_basic").strip()
        if auth_method not in AUTH_METHODS:
            raise SystemExit(f"ONCALL_OIDC_AUTH_METHOD must be one of {', '.join(AUTH_METHODS)}, got {auth_method!r}")
        if auth_method != "none" and secret is None:
            raise SystemExit(f"ONCALL_OIDC_CLIENT_SECRET or ONCALL_OIDC_CLIENT_SECRET_FILE is required with "
                             f"ONCALL_OIDC_AUTH_METHOD={auth_method} (or set it to none for a public client)")
        user_claim = (env.get("ONCALL_OIDC_USER_CLAIM") or "sub").strip()
        if user_claim not in USER_CLAIMS:
            raise SystemExit(f"ONCALL_OIDC_USER_CLAIM must be one of {', '.join(USER_CLAIMS)}, got {user_claim!r}")
        scopes = tuple(dict.fromkeys(["openid", *(env.get("ONCALL_OIDC_SCOPES") or "email profile").split()]))
        try:
            mapping = GroupMapping(
                grants=_grants(env),
                allowed_groups=parse_group_list(env.get("ONCALL_OIDC_ALLOWED_GROUPS", "")),
                default_role=(parse_role("ONCALL_OIDC_DEFAULT_ROLE", env["ONCALL_OIDC_DEFAULT_ROLE"])
                              if (env.get("ONCALL_OIDC_DEFAULT_ROLE") or "").strip() else None),
            )
        except MappingError as exc:
            raise SystemExit(str(exc)) from None
        return cls(
            issuer=issuer,
            client_id=client_id,
            client_secret=secret,
            auth_method=auth_method,
            scopes=scopes,
            user_claim=user_claim,
            groups_claim=(env.get("ONCALL_OIDC_GROUPS_CLAIM") or "groups").strip(),
            mapping=mapping,
            leeway_s=_seconds(env, "ONCALL_OIDC_LEEWAY_S", 60.0, zero_ok=True),
            timeout_s=_seconds(env, "ONCALL_OIDC_TIMEOUT_S", 10.0),
            discovery_ttl_s=_seconds(env, "ONCALL_OIDC_DISCOVERY_TTL_S", 3600.0),
            jwks_ttl_s=_seconds(env, "ONCALL_OIDC_JWKS_TTL_S", 3600.0),
            jwks_refresh_min_s=_seconds(env, "ONCALL_OIDC_JWKS_REFRESH_MIN_S", 60.0),
            login_ttl_s=_seconds(env, "ONCALL_OIDC_LOGIN_TTL_S", 600.0),
        )


def _secret(env: Mapping[str, str]) -> str | None:
    value = env.get("ONCALL_OIDC_CLIENT_SECRET") or None
    path = env.get("ONCALL_OIDC_CLIENT_SECRET_FILE") or None
    if value is not None and path is not None:
        raise SystemExit("set ONCALL_OIDC_CLIENT_SECRET or ONCALL_OIDC_CLIENT_SECRET_FILE, not both")
    if path is None:
        return value
    try:
        # a file written by a secret manager usually ends in a newline that is not part of it
        text = Path(path).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise SystemExit(f"ONCALL_OIDC_CLIENT_SECRET_FILE: cannot read {path!r} ({type(exc).__name__})") from None
    if not text:
        raise SystemExit(f"ONCALL_OIDC_CLIENT_SECRET_FILE: {path!r} is empty")
    return text


def _grants(env: Mapping[str, str]) -> tuple[GroupGrant, ...]:
    """``ONCALL_OIDC_GROUP_ROLES`` (comma-separated) and ``ONCALL_OIDC_GROUP_ROLES_FILE`` (one
    entry a line, ``#`` comments; for group names that hold commas, such as LDAP DNs)."""
    grants = parse_grants("ONCALL_OIDC_GROUP_ROLES", (env.get("ONCALL_OIDC_GROUP_ROLES") or "").split(","))
    path = env.get("ONCALL_OIDC_GROUP_ROLES_FILE")
    if path:
        try:
            lines = Path(path).read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise SystemExit(f"ONCALL_OIDC_GROUP_ROLES_FILE: cannot read {path!r} ({type(exc).__name__})") from None
        grants += parse_grants(f"ONCALL_OIDC_GROUP_ROLES_FILE ({path})", lines)
    return grants


def _seconds(env: Mapping[str, str], name: str, default: float, zero_ok: bool = False) -> float:
    raw = (env.get(name) or "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and (value > 0 or (zero_ok and value == 0))):
        raise SystemExit(f"{name} must be a {'non-negative' if zero_ok else 'positive'} number of seconds, got {raw!r}")
    return value
