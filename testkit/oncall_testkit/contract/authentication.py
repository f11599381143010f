"""The authentication contract: an authenticator says who sent a request, or None, and never fails otherwise.

``await check_authenticator(authenticator, recognised=[...])`` asks it about requests no
authenticator could vouch for (no headers; stray headers from an address no one trusts)
and expects None (or, for a credential of its own kind that is wrong, ``Refused``), then
about each ``recognised`` request and expects a well-formed :class:`Principal`. Each call
must return within the deadline. ``check_permission_rule(rule)`` expects True, False or None.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Iterable

from oncall_hookspecs import ROLES, AuthRequest, Authenticator, PermissionRule, Principal, Refused

from ..registration import ContractViolation, check_shape
from ..requests import auth_request

DEADLINE_S = 10.0

#: requests no authenticator may take for anyone
ANONYMOUS: tuple[AuthRequest, ...] = (
    auth_request({}),
    auth_request({}, peer=""),
    auth_request({}, transport="http", target="/api/v1/whoami"),
    auth_request({"X-Forwarded-User": "mallory", "X-Forwarded-Groups": "admins"}, peer="203.0.113.9"),
    auth_request({"Authorization": "Bearer not-a-key"}, peer="203.0.113.9"),
    auth_request({"Authorization": "Basic bWFsbG9yeTpodW50ZXIy"}, peer="203.0.113.9"),
    auth_request({"Cookie": "session=forged"}, peer="203.0.113.9", transport="http"),
)


async def _ask(authenticator: Authenticator, request: AuthRequest) -> Principal | None:
    try:
        return await asyncio.wait_for(authenticator.authenticate(request), DEADLINE_S)
    except TimeoutError:
        raise ContractViolation(f"authenticate({request!r:.200}) did not return within {DEADLINE_S:g} s") from None


def check_principal(principal: object, where: str) -> Principal:
    """``principal`` is a well-formed Principal; raises ContractViolation naming ``where`` otherwise."""
    if not isinstance(principal, Principal):
        raise ContractViolation(f"{where} must return a Principal or None, got {principal!r:.100}")
    if not principal.kind or not principal.user_id:
        raise ContractViolation(f"{where}: a Principal needs a kind and a user_id, got {principal!r:.200}")
    if principal.role not in (*ROLES, ""):
        raise ContractViolation(f"{where}: role must be one of {', '.join(ROLES)} or '', got {principal.role!r}")
    value = principal.scopes
    if not isinstance(value, tuple) or not all(isinstance(v, str) and v for v in value):
        raise ContractViolation(f"{where}: scopes must be a tuple of non-empty strings, got {value!r:.100}")
    pairs = principal.team_roles
    if not isinstance(pairs, tuple) or not all(
        isinstance(p, tuple) and len(p) == 2 and isinstance(p[0], str) and p[0] and p[1] in ROLES for p in pairs
    ):
        raise ContractViolation(f"{where}: team_roles must be a tuple of (team, role) pairs, got {pairs!r:.100}")
    if len({t for t, _ in pairs}) != len(pairs) or list(pairs) != sorted(pairs):
        raise ContractViolation(f"{where}: team_roles must hold one pair per team, sorted, got {pairs!r:.100}")
    return principal


async def check_authenticator(
    authenticator: Authenticator, recognised: Iterable[AuthRequest] = (),
) -> list[Principal]:
    """Run the authentication contract; return the principals of ``recognised``."""
    check_shape("authenticators", Authenticator, authenticator)
    if not inspect.iscoroutinefunction(authenticator.authenticate):
        raise ContractViolation("authenticate must be a coroutine function (async def): the core awaits it")
    for request in ANONYMOUS:
        try:
            found = await _ask(authenticator, request)
        except Refused:
            continue  # its own kind of credential, and wrong: allowed
        except ContractViolation:
            raise
        except Exception as exc:
            raise ContractViolation(
                f"authenticate({request!r:.200}) raised {type(exc).__name__}: return None for a request "
                "that is not yours, or raise Refused for a credential of yours that is wrong") from exc
        if found is not None:
            raise ContractViolation(f"authenticate vouched for an anonymous request {request!r:.200}: {found!r:.200}")
    principals = []
    for request in recognised:
        try:
            found = await _ask(authenticator, request)
        except ContractViolation:
            raise
        except Exception as exc:
            raise ContractViolation(f"authenticate({request!r:.200}) raised {type(exc).__name__}: {exc}") from exc
        if found is None:
            raise ContractViolation(f"authenticate did not recognise {request!r:.200}")
        principals.append(check_principal(found, "authenticate"))
    return principals


def check_permission_rule(rule: PermissionRule, principals: Iterable[Principal] = ()) -> None:
    """``permission_allowed`` answers True, False or None, at once, for every role and a few permissions."""
    check_shape("permission_rules", PermissionRule, rule)
    if inspect.iscoroutinefunction(rule.permission_allowed):
        raise ContractViolation("permission_allowed must be a plain function: it is asked on every call, without I/O")
    everyone = [*(Principal(kind="api_key", user_id=f"k-{r}", role=r) for r in (*ROLES, "")), *principals]
    for principal in everyone:
        for action, resource in (("alerts:read", "alerts"), ("policies:write", "policies/3"), ("api_keys:write", "api_keys")):
            verdict = rule.permission_allowed(principal, action, resource)
            if verdict not in (True, False, None):
                raise ContractViolation(f"permission_allowed must return True, False or None, got {verdict!r:.100}")
