"""OnCall authentication behind an authenticating proxy: the proxy's user and groups headers, trusted only from the proxy.

oauth2-proxy, Pomerium and the like log the person in and pass who they are in headers
(``X-Forwarded-User``, ``X-Forwarded-Groups``). Anyone can send those headers, so they are
believed only from a connection whose peer address is one of ``ONCALL_PROXY_AUTH_TRUSTED_PROXIES``;
from anywhere else this authenticator says nothing (the request needs another credential).
Groups map to roles by ``ONCALL_PROXY_AUTH_ROLES`` (``sre=responder,platform=admin``): the
highest role among the person's groups, else ``ONCALL_PROXY_AUTH_DEFAULT_ROLE`` (default
none: a known person who may do nothing, so PERMISSION_DENIED rather than UNAUTHENTICATED).
A grant ``payments-oncall=editor@payments`` gives the role on team payments' resources
only (the highest per team; one no higher than the role everywhere adds nothing); a person
whose groups grant roles in teams only reads as a viewer everywhere.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from oncall_hookspecs import ROLES, AuthRequest, Authenticator, Principal, hookimpl, plugin_settings

__all__ = ["ProxyAuth", "ProxyAuthSettings", "SettingsError", "load_settings", "register_authenticators"]

log = logging.getLogger(__name__)

_Network = ipaddress.IPv4Network | ipaddress.IPv6Network
_KNOWN = frozenset({"trusted_proxies", "user_header", "groups_header", "roles", "default_role", "groups_separator"})


class SettingsError(ValueError):
    """A setting that can't be used; the message names it."""


@dataclass(frozen=True)
class ProxyAuthSettings:
    trusted_proxies: tuple[_Network, ...]
    user_header: str = "x-forwarded-user"
    groups_header: str = "x-forwarded-groups"
    #: group → role everywhere
    roles: Mapping[str, str] = field(default_factory=dict)
    #: group → (team, role): a role in one team only
    team_roles: Mapping[str, tuple[tuple[str, str], ...]] = field(default_factory=dict)
    default_role: str = ""
    groups_separator: str = ","


def _networks(text: str) -> tuple[_Network, ...]:
    out = []
    for item in (p.strip() for p in text.split(",")):
        if not item:
            continue
        try:
            out.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise SettingsError(f"ONCALL_PROXY_AUTH_TRUSTED_PROXIES: {item!r} is not an address or CIDR") from None
    return tuple(out)


def _roles(text: str) -> tuple[dict[str, str], dict[str, tuple[tuple[str, str], ...]]]:
    everywhere: dict[str, str] = {}
    per_team: dict[str, tuple[tuple[str, str], ...]] = {}
    for item in (p.strip() for p in text.split(",")):
        if not item:
            continue
        group, sep, right = item.rpartition("=")
        role, at, team = (x.strip() for x in right.partition("@"))
        if not sep or not group.strip() or role not in ROLES or (at and not team):
            raise SettingsError(
                f"ONCALL_PROXY_AUTH_ROLES: {item!r} is not <group>=<{'|'.join(ROLES)}> or <group>=<role>@<team>")
        if at:
            per_team[group.strip()] = (*per_team.get(group.strip(), ()), (team, role))
        else:
            everywhere[group.strip()] = role
    return everywhere, per_team


def load_settings(env: Mapping[str, str] | None = None) -> tuple[ProxyAuthSettings | None, list[str]]:
    """The settings (None while no trusted proxy is set) and the unknown setting names."""
    raw = plugin_settings("proxy-auth", env)
    unknown = sorted(k for k in raw if k not in _KNOWN)
    proxies = _networks(raw.get("trusted_proxies", ""))
    if not proxies:
        return None, unknown
    roles, team_roles = _roles(raw.get("roles", ""))
    default_role = raw.get("default_role", "").strip()
    if default_role and default_role not in ROLES:
        raise SettingsError(f"ONCALL_PROXY_AUTH_DEFAULT_ROLE: {default_role!r} is not one of {', '.join(ROLES)}")
    return ProxyAuthSettings(
        trusted_proxies=proxies,
        user_header=(raw.get("user_header") or "X-Forwarded-User").strip().lower(),
        groups_header=(raw.get("groups_header") or "X-Forwarded-Groups").strip().lower(),
        roles=roles,
        team_roles=team_roles,
        default_role=default_role,
        groups_separator=raw.get("groups_separator") or ",",
    ), unknown


class ProxyAuth:
    """The ``authenticate`` of requests that came through a trusted proxy."""

    name = "proxy-auth"

    def __init__(self, settings: ProxyAuthSettings) -> None:
        self.settings = settings

    def trusts(self, peer: str) -> bool:
        try:
            address = ipaddress.ip_address(peer)
        except ValueError:
            return False
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        return any(address in network for network in self.settings.trusted_proxies)

    def role_of(self, groups: list[str]) -> str:
        ranked = [ROLES.index(self.settings.roles[g]) for g in groups if g in self.settings.roles]
        return ROLES[max(ranked)] if ranked else self.settings.default_role

    def team_roles_of(self, groups: list[str], role: str) -> tuple[tuple[str, str], ...]:
        """(team, role) pairs above ``role``, the highest per team, sorted by team."""
        best: dict[str, str] = {}
        for group in groups:
            for team, granted in self.settings.team_roles.get(group, ()):
                if team not in best or ROLES.index(granted) > ROLES.index(best[team]):
                    best[team] = granted
        floor = ROLES.index(role) if role in ROLES else -1
        return tuple(sorted((t, r) for t, r in best.items() if ROLES.index(r) > floor))

    async def authenticate(self, request: AuthRequest) -> Principal | None:
        if not self.trusts(request.peer):
            return None
        user = (request.header(self.settings.user_header) or "").strip()
        if not user:
            return None
        raw = request.header(self.settings.groups_header) or ""
        groups = [g.strip() for g in raw.split(self.settings.groups_separator) if g.strip()]
        role = self.role_of(groups)
        if not role and any(g in self.settings.team_roles for g in groups):
            role = "viewer"  # granted in teams only: reads as a viewer everywhere, as a team's key does
        return Principal(kind="proxy", user_id=user, role=role, team_roles=self.team_roles_of(groups, role),
                         via=self.name)


@hookimpl
def register_authenticators(register: Callable[[Authenticator], None]) -> None:
    settings, unknown = load_settings()
    if unknown:
        log.warning("proxy-auth: ignoring unknown settings %s", ", ".join(unknown))
    if settings is None:
        log.debug("proxy-auth not registered: ONCALL_PROXY_AUTH_TRUSTED_PROXIES is not set")
        return
    register(ProxyAuth(settings))
