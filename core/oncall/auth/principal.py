"""The principal of the call being served (a context variable), and how a principal is named in the audit log."""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar

from oncall_hookspecs import Principal

from ..errors import PermissionDenied
from . import permissions

#: who is calling, for the call being served (set by the gRPC access interceptor)
current: ContextVar[Principal | None] = ContextVar("oncall_principal", default=None)

#: how the call being served decides a permission on a team's resource: the server's
#: ``Access.allowed`` (plugin rules first), set with ``current``; unset, the roles alone decide
Decide = Callable[[Principal, str, str, str | None], bool]
deciding: ContextVar[Decide | None] = ContextVar("oncall_deciding", default=None)

#: the command line: it holds the database, so it is trusted with everything
CLI = Principal(kind="internal", user_id="cli", role="admin", via="cli")


def describe(principal: Principal) -> str:
    """``api_key:3 (bootstrap)``, ``proxy:ann``, ``internal:cli``: how the audit log names a principal."""
    if principal.kind == "api_key" and principal.key_id is not None:
        return f"api_key:{principal.key_id} ({principal.user_id})"
    return f"{principal.kind}:{principal.user_id}"


#: principals that are one person, who acts as themself
PEOPLE = frozenset({"session", "proxy"})


def acting_user(requested: str) -> str:
    """Who an action of the call being served is credited to (an acknowledgement, a note, a silence).

    A person (a browser session, a trusted proxy's user) acts as themself: the request may
    leave the user empty or name them, and naming anyone else is PermissionDenied. A key
    acts for whoever the request names (a chat bot acknowledging for the person who typed
    the command; the audit log names the key) and must name someone, as the command line
    (trusted) must.
    """
    principal = current.get()
    requested = requested.strip()
    if principal is None or principal.kind == "internal":
        return requested
    if principal.kind in PEOPLE:
        if requested and requested != principal.user_id:
            raise PermissionDenied(f"{principal.user_id} acts as themself, not as {requested!r}")
        return principal.user_id
    return requested


def _roles_only(principal: Principal, permission: str, resource: str, team: str | None) -> bool:
    return permissions.may(principal, permission, team)


def require(permission: str, resource: str, *teams: str | None) -> None:
    """Refuse (PermissionDenied) unless the caller may ``permission`` on ``resource`` in each of ``teams``.

    Asked by a service where a team's resource is created, changed, deleted or acted on,
    before anything is written: ``teams`` are the resource's team as stored and, for a
    change, the team it is given (a move needs the role in both); None is "no team", which
    needs the role everywhere. No teams given: as one resource of no team. The command line,
    the server itself, and work done outside any call (no principal) are trusted.
    """
    principal = current.get()
    if principal is None or principal.kind == "internal":
        return
    decide = deciding.get() or _roles_only
    for team in dict.fromkeys(teams or (None,)):
        named = f"teams/{team}/{resource}" if team else resource
        if not decide(principal, permission, named, team):
            why = "" if team else " (a resource of no team needs the role everywhere)"
            raise PermissionDenied(
                f"{describe(principal)} ({permissions.describe_roles(principal)}) may not {permission} on "
                f"{named}{why}")


def allows(permission: str, team: str | None, resource: str = "") -> bool:
    """Whether the caller may ``permission`` on a resource of ``team`` (what ``require`` asks, as a yes or no)."""
    try:
        require(permission, resource or permission.partition(":")[0], team)
    except PermissionDenied:
        return False
    return True


def my_teams() -> tuple[str, ...]:
    """The caller's teams (those it holds a role in): the "my teams" of a list request; none outside a call."""
    principal = current.get()
    return principal.teams if principal is not None else ()
