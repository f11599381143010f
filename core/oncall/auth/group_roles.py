"""Groups → roles and teams: what a person's identity-provider groups grant them, decided afresh at every login.

A mapping is a list of grants, ``group = role`` (everywhere) or ``group = role@team`` (one
team only). ``evaluate`` is a pure function of the groups a login carries and the mapping:
the highest role wins, everywhere and per team, and a role given everywhere counts in every
team too. When allowed groups are configured, a person in none of them is refused.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from types import MappingProxyType

from oncall_hookspecs import ROLES

from ..errors import PermissionDenied


class Role(str, Enum):
    """The contract's four roles (``oncall_hookspecs.ROLES``), lowest first, for the mapping's
    ordering; each may do what the ones below it may. A ``Role`` is equal to its name as a
    plain string (``Role.ADMIN == "admin"``), which is how roles are spelt elsewhere."""

    VIEWER = "viewer"
    RESPONDER = "responder"
    EDITOR = "editor"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return _RANK[self]


_RANK = {role: n for n, role in enumerate(Role)}
if tuple(_RANK) != ROLES:  # one list of roles: the contract's, in its order
    raise ImportError(f"group_roles.Role {tuple(_RANK)} differs from oncall_hookspecs.ROLES {ROLES}")


def highest(roles: Iterable[Role | None]) -> Role | None:
    """The highest of ``roles`` (``None`` entries ignored); ``None`` when there is none."""
    present = [r for r in roles if r is not None]
    return max(present, key=_RANK.__getitem__) if present else None


class MappingError(ValueError):
    """A group mapping setting is malformed; the message names the variable and the entry."""


class NotAllowed(PermissionDenied):
    """The person is in none of the allowed groups."""


@dataclass(frozen=True)
class GroupGrant:
    """Members of ``group`` get ``role``, everywhere (``team`` None) or in ``team`` only."""

    group: str
    role: Role
    team: str | None = None


@dataclass(frozen=True)
class GroupMapping:
    """The grants, the allowed groups (empty: anyone the provider vouches for) and the role of
    a person whose groups grant nothing (``None``: no role)."""

    grants: tuple[GroupGrant, ...] = ()
    allowed_groups: frozenset[str] = frozenset()
    default_role: Role | None = None


@dataclass(frozen=True)
class Grants:
    """What one login grants: a role everywhere, and higher roles in particular teams."""

    role: Role | None
    team_roles: Mapping[str, Role] = field(default_factory=lambda: MappingProxyType({}))

    def role_in(self, team: str | None) -> Role | None:
        """The role that counts in ``team`` (``None``: outside any team)."""
        if team is None:
            return self.role
        return highest((self.role, self.team_roles.get(team)))

    @property
    def is_empty(self) -> bool:
        """True when the login grants no role anywhere (the caller decides whether that may log in)."""
        return self.role is None and not self.team_roles


def evaluate(groups: Iterable[str], mapping: GroupMapping) -> Grants:
    """The grants of a person in ``groups``; raises ``NotAllowed`` when allowed groups are set
    and the person is in none of them. Group names compare exactly (case and all)."""
    member = frozenset(groups)
    if mapping.allowed_groups and not (member & mapping.allowed_groups):
        raise NotAllowed("your account is not in a group allowed to sign in to OnCall")
    everywhere: list[Role | None] = [mapping.default_role]
    per_team: dict[str, list[Role | None]] = {}
    for grant in mapping.grants:
        if grant.group not in member:
            continue
        if grant.team is None:
            everywhere.append(grant.role)
        else:
            per_team.setdefault(grant.team, []).append(grant.role)
    role = highest(everywhere)
    teams: dict[str, Role] = {}
    for team, roles in per_team.items():
        best = highest(roles)
        # a team grant no higher than the role everywhere adds nothing
        if best is not None and (role is None or best.rank > role.rank):
            teams[team] = best
    return Grants(role, MappingProxyType(teams))


def parse_role(name: str, raw: str) -> Role:
    """``viewer``, ``responder``, ``editor`` or ``admin`` (any case)."""
    try:
        return Role(raw.strip().lower())
    except ValueError:
        raise MappingError(f"{name}: {raw.strip()!r} is not a role (viewer, responder, editor or admin)") from None


def parse_grants(name: str, entries: Iterable[str]) -> tuple[GroupGrant, ...]:
    """Grants from entries ``group=role`` or ``group=role@team``. The role is what follows the
    last ``=``, so a group may itself hold ``=`` (an LDAP DN: ``cn=sre,ou=groups=editor``)."""
    grants: list[GroupGrant] = []
    for entry in entries:
        entry = entry.strip()
        if not entry or entry.startswith("#"):
            continue
        group, sep, right = entry.rpartition("=")
        role_text, at, team = right.partition("@")
        if not sep or not group.strip() or (at and not team.strip()):
            raise MappingError(f"{name}: {entry!r} is not <group>=<role> or <group>=<role>@<team>")
        grants.append(GroupGrant(group.strip(), parse_role(name, role_text), team.strip() if at else None))
    return tuple(grants)


def parse_group_list(text: str) -> frozenset[str]:
    """A comma-separated list of group names."""
    return frozenset(g.strip() for g in text.split(",") if g.strip())
