"""The principal of the call being served (a context variable), and how a principal is named in the audit log."""

from __future__ import annotations

from contextvars import ContextVar

from oncall_hookspecs import Principal

#: who is calling, for the call being served (set by the gRPC access interceptor)
current: ContextVar[Principal | None] = ContextVar("oncall_principal", default=None)

#: the command line: it holds the database, so it is trusted with everything
CLI = Principal(kind="internal", user_id="cli", role="admin", via="cli")


def describe(principal: Principal) -> str:
    """``api_key:3 (bootstrap)``, ``proxy:ann``, ``internal:cli``: how the audit log names a principal."""
    if principal.kind == "api_key" and principal.key_id is not None:
        return f"api_key:{principal.key_id} ({principal.user_id})"
    return f"{principal.kind}:{principal.user_id}"
