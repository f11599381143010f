"""The roles and their ``resource:action`` permissions: viewer ⊂ responder ⊂ editor ⊂ admin."""

from __future__ import annotations

from oncall_hookspecs import ROLES, Principal

#: what a viewer may do: read everything but contact details (who is reached, and where), and
#: list and end their own sessions
VIEWER: frozenset[str] = frozenset({
    "alerts:read", "incidents:read", "escalations:read", "policies:read", "rules:read",
    "schedules:read", "templates:read", "silences:read", "heartbeats:read",
    "grouping_rules:read", "calendar_tokens:read", "integrations:read", "teams:read",
    # their own browser sessions, listed and ended
    "sessions:read", "sessions:write",
})

#: a responder also acknowledges, resolves, escalates, adds notes and creates overrides:
#: what may be done at 3 a.m. without rewriting policies
RESPONDER: frozenset[str] = VIEWER | {
    "contacts:read", "alerts:create", "alerts:ack", "alerts:resolve", "alerts:escalate", "alerts:note",
    "incidents:ack", "incidents:resolve", "incidents:escalate", "incidents:note", "incidents:merge",
    "overrides:write", "calendar_tokens:write",
}

#: an editor also changes rules, policies, schedules, templates, silences, heartbeats, grouping rules
EDITOR: frozenset[str] = RESPONDER | {
    "rules:write", "policies:write", "schedules:write", "templates:write", "silences:write",
    "heartbeats:write", "grouping_rules:write", "notifications:send",
}

#: an admin also manages integrations, keys, ticket providers and settings, and reads the audit log
ADMIN: frozenset[str] = EDITOR | {
    "integrations:write", "api_keys:read", "api_keys:write", "ticket_providers:write", "settings:write",
    "audit:read", "teams:write",
}

BY_ROLE: dict[str, frozenset[str]] = {"viewer": VIEWER, "responder": RESPONDER, "editor": EDITOR, "admin": ADMIN}
assert tuple(BY_ROLE) == ROLES

#: every permission there is
ALL: frozenset[str] = ADMIN

#: actions that only read: a call needing one of these changes nothing and is not audited
READ_ACTIONS = frozenset({"read"})


def of_role(role: str) -> frozenset[str]:
    """The permissions of ``role`` (none for a role that is not one)."""
    return BY_ROLE.get(role, frozenset())


class AnyTeam:
    def __repr__(self) -> str:
        return "ANY_TEAM"


#: "some team": at the door, before the resource (so its team) is known, a role held in any
#: one team admits the call; the service then asks again with the resource's team
ANY_TEAM = AnyTeam()


def may(principal: Principal, permission: str, team: str | None | AnyTeam) -> bool:
    """Whether the principal's roles and scopes grant ``permission`` on a resource of ``team``.

    The role everywhere counts for every resource; a team role only for that team's
    (``team`` None: a resource of no team; ``ANY_TEAM``: any of the principal's teams).
    A scoped principal may do only its scopes, wherever.
    """
    if principal.scopes and permission not in principal.scopes:
        return False
    if permission in of_role(principal.role):
        return True
    if isinstance(team, AnyTeam):
        return any(permission in of_role(role) for _, role in principal.team_roles)
    return team is not None and permission in of_role(principal.role_in(team))


def describe_roles(principal: Principal) -> str:
    """``editor``, ``viewer, editor@payments``, ``no role``: a principal's roles, for a refusal."""
    held = [principal.role or "no role", *(f"{role}@{team}" for team, role in principal.team_roles)]
    return ", ".join(held)


def rank(role: str) -> int:
    """0 for viewer … 3 for admin; -1 for no role."""
    return ROLES.index(role) if role in ROLES else -1


def changes_state(permission: str) -> bool:
    """Whether a call needing ``permission`` may change something (and so is audited)."""
    return permission.partition(":")[2] not in READ_ACTIONS
