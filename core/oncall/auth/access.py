"""The one lock on every door: who is calling (``authenticate``) and whether they may (``allowed``).

``authenticate`` asks the core's API-key authenticator first, then the session cookie's
(``sessions.SessionAuthenticator``, when the server keeps sessions), then each plugin's
authenticator (``register_authenticators``) in order; the first principal wins. A
credential that is ours and wrong (an ``oncall_…`` key unknown, expired or revoked) is
refused outright, without asking the plugins. ``allowed`` asks each plugin's permission
rule (``register_permission_rules``) first, then the principal's role and scopes decide.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from oncall_hookspecs import AuthRequest, Authenticator, PermissionRule, Principal, Refused

from ..clock import SYSTEM_CLOCK, Clock
from ..errors import OnCallError, Unauthenticated
from ..store.database import UNREACHABLE, Pool
from . import credentials, keys, permissions
from .sessions import SessionAuthenticator

log = logging.getLogger(__name__)

BAD_KEY = "the API key is not valid (unknown, expired or revoked)"


def bearer(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer …`` header's value, or None: how every door reads one."""
    if authorization is None:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


class ApiKeyAuthenticator:
    """The core's authenticator: ``Authorization: Bearer oncall_<prefix>_<secret>``.

    A key's last use is written at most once a minute (``credentials.TOUCH_EVERY``), judged by the
    row just read and again in the UPDATE, so a busy key costs one write a minute whichever
    replicas it calls.
    """

    name = "api-key"

    def __init__(self, pool: Pool, clock: Clock = SYSTEM_CLOCK) -> None:
        self._pool = pool
        self.clock = clock

    async def authenticate(self, request: AuthRequest) -> Principal | None:
        token = bearer(request.header("authorization"))
        if token is None or not keys.looks_like_key(token):
            return None
        key = await keys.find(self._pool, token)
        now = self.clock.now()
        if key is None or not key.active(now):
            raise Refused(BAD_KEY)
        if key.last_used_at is None or now - key.last_used_at >= credentials.TOUCH_EVERY:
            await keys.touch(self._pool, key.id, now)  # which checks again, for a replica just as quick
        return key.principal()


class Access:
    """Authenticators and permission rules, in the order they are asked."""

    def __init__(
        self, pool: Pool, authenticators: Iterable[Authenticator] = (), rules: Iterable[PermissionRule] = (),
        clock: Clock = SYSTEM_CLOCK, sessions: SessionAuthenticator | None = None,
    ) -> None:
        self.pool = pool
        self.api_keys = ApiKeyAuthenticator(pool, clock)
        self.sessions = sessions
        if sessions is not None:
            sessions.clock = clock
        self.authenticators: list[Authenticator] = [
            self.api_keys, *([sessions] if sessions is not None else []), *authenticators]
        self.rules = list(rules)

    @property
    def clock(self) -> Clock:
        return self.api_keys.clock

    @clock.setter
    def clock(self, clock: Clock) -> None:
        self.api_keys.clock = clock
        if self.sessions is not None:
            self.sessions.clock = clock

    async def authenticate(self, request: AuthRequest) -> Principal | None:
        """Who sent ``request``, or None; raises Unauthenticated for a credential refused outright."""
        for authenticator in self.authenticators:
            try:
                principal = await authenticator.authenticate(request)
            except Refused as exc:
                raise Unauthenticated(str(exc) or "the credentials were refused") from None
            except OnCallError:
                raise  # a refusal the plugin chose
            except UNREACHABLE:
                raise  # the database is down: UNAVAILABLE, not "no principal"
            except Exception:  # noqa: BLE001 - one plugin's bug denies nothing it wasn't asked for
                log.exception("authenticator %s failed; asking the next one", authenticator.name)
                continue
            if principal is not None:
                return principal
        return None

    def allowed(
        self, principal: Principal, permission: str, resource: str,
        team: str | None | permissions.AnyTeam = None,
    ) -> bool:
        """Whether ``principal`` may do ``permission`` on ``resource``: the first rule with an opinion, else the roles.

        ``team`` is the resource's team: None for a resource of no team (or a call that
        touches no team's resource), where only the role everywhere counts;
        ``permissions.ANY_TEAM`` at the door of a method whose service checks the team itself.
        """
        for rule in self.rules:
            try:
                verdict = rule.permission_allowed(principal, permission, resource)
            except Exception:  # noqa: BLE001 - a failing rule allows nothing
                log.exception("permission rule %s failed; refusing", rule.name)
                return False
            if verdict is not None:
                return bool(verdict)
        return permissions.may(principal, permission, team)
