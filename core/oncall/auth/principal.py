"""The principal of the call being served (a context variable), and how a principal is named in the audit log."""

from __future__ import annotations

from contextvars import ContextVar

from oncall_hookspecs import Principal

from ..errors import PermissionDenied

#: who is calling, for the call being served (set by the gRPC access interceptor)
current: ContextVar[Principal | None] = ContextVar("oncall_principal", default=None)

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
