"""OIDC logins waiting for their callback, in PostgreSQL (SQL for access.pending_logins), so any replica can finish one.

A row is keyed by the SHA-256 of the login's ``state``; ``take`` deletes it and returns it
in one statement, so a replayed callback finds nothing. A login older than ``ttl_s`` is never
handed out, and ``put`` deletes such leftovers as it goes. The nonce and PKCE verifier are
kept as they are for the few minutes a login waits: they are one-time values, useless once
the login is finished or expired.
"""

from __future__ import annotations

from datetime import timedelta

from ..clock import SYSTEM_CLOCK, Clock
from ..store.database import Pool
from .credentials import digest as _hash
from .oidc import LoginStart


class PgPendingLogins:
    """A ``PendingLogins`` (``auth.oidc``) kept in ``access.pending_logins``."""

    def __init__(self, pool: Pool, clock: Clock = SYSTEM_CLOCK, ttl_s: float = 600.0) -> None:
        self._pool = pool
        self.clock = clock
        self._ttl = timedelta(seconds=ttl_s)

    async def put(self, login: LoginStart) -> None:
        async with self._pool.connection() as conn:
            await conn.execute("DELETE FROM access.pending_logins WHERE created_at < %s",
                               (self.clock.now() - self._ttl,))
            await conn.execute(
                """INSERT INTO access.pending_logins (state_hash, nonce, code_verifier, redirect_uri, return_to,
                                                      binding, created_at)
                   VALUES (%s, %s, %s, %s, %s, %s, %s)""",
                (_hash(login.state), login.nonce, login.code_verifier, login.redirect_uri, login.return_to,
                 login.binding, login.created_at),
            )

    async def take(self, state: str) -> LoginStart | None:
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                """DELETE FROM access.pending_logins WHERE state_hash = %s
                   RETURNING nonce, code_verifier, redirect_uri, return_to, binding, created_at""",
                (_hash(state),),
            )
            row = await cur.fetchone()
        if row is None or row["created_at"] < self.clock.now() - self._ttl:
            return None
        return LoginStart(
            state=state, nonce=row["nonce"], code_verifier=row["code_verifier"], redirect_uri=row["redirect_uri"],
            authorize_url="", created_at=row["created_at"], return_to=row["return_to"], binding=row["binding"],
        )

    async def count(self) -> int:
        async with self._pool.connection() as conn:
            cur = await conn.execute("SELECT count(*) AS n FROM access.pending_logins")
            row = await cur.fetchone()
        return int(row["n"]) if row is not None else 0
