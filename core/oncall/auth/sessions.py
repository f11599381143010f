"""Browser sessions: signed session cookies, the rows behind them (SQL for access.sessions), and the session authenticator.

The cookie holds ``<id>.<signature>``: a random session id and its HMAC-SHA256 under the
server's session secret, so a cookie the server did not make is refused without a query.
The table holds only the id's SHA-256. A session ends at its idle timeout (counted from its
last use, which is written at most once a minute), at its absolute lifetime, at logout, or
when the person's role changes (a login granting another role, or the directory giving
another role or no user at all for a password login). The per-session CSRF token is an HMAC
of the session id too, so it is never stored and changes with every login.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import logging
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from http.cookies import CookieError, SimpleCookie
from typing import Any, Protocol

from oncall_hookspecs import AuthRequest, Principal, User
from psycopg.types.json import Jsonb

from ..clock import SYSTEM_CLOCK, Clock
from ..directory.client import Lookup
from ..store.database import Pool
from .session_settings import DEFAULT_IDLE_S, DEFAULT_LIFETIME_S
from .credentials import TOUCH_EVERY
from .credentials import digest as _hash

log = logging.getLogger(__name__)

COOKIE = "oncall_session"
METHODS = ("oidc", "password")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


class Signer:
    """Signs session ids into cookie values and derives each session's CSRF token."""

    def __init__(self, secret: bytes) -> None:
        if len(secret) < 32:
            raise ValueError("the session secret must be at least 32 bytes")
        self._secret = secret

    def __repr__(self) -> str:
        return "Signer(…)"

    def _mac(self, purpose: bytes, session_id: str) -> str:
        return _b64(hmac.new(self._secret, purpose + session_id.encode(), hashlib.sha256).digest())

    def cookie_value(self, session_id: str) -> str:
        return f"{session_id}.{self._mac(b'session:', session_id)}"

    def session_id(self, cookie_value: str) -> str | None:
        """The session id in a cookie value this server signed; None for any other value."""
        session_id, dot, mac = cookie_value.partition(".")
        if not dot or not session_id or len(cookie_value) > 200:
            return None
        if not hmac.compare_digest(mac.encode(), self._mac(b"session:", session_id).encode()):
            return None
        return session_id

    def csrf_token(self, session_id: str) -> str:
        return self._mac(b"csrf:", session_id)

    def csrf_ok(self, session_id: str, token: str | None) -> bool:
        """Whether ``token`` is this session's CSRF token (compared in constant time)."""
        return bool(token) and hmac.compare_digest((token or "").encode(), self.csrf_token(session_id).encode())


def cookie_from_header(header: str | None, name: str = COOKIE) -> str | None:
    """The value of cookie ``name`` in a ``Cookie`` header, or None."""
    if not header:
        return None
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(header)
    except CookieError:
        return None
    morsel = jar.get(name)
    return morsel.value if morsel is not None and morsel.value else None


# --------------------------------------------------------------------------- the secret


async def load_secret(pool: Pool, given: bytes | None) -> bytes:
    """The session secret: the one configured (``ONCALL_SESSION_SECRET``/``_FILE``), else the one in the
    database, made by the first server that asked (every replica then signs with the same)."""
    if given is not None:
        return given
    async with pool.connection() as conn:
        await conn.execute(
            "INSERT INTO access.session_secret (secret) VALUES (%s) ON CONFLICT (only_row) DO NOTHING",
            (secrets.token_bytes(32),),
        )
        cur = await conn.execute("SELECT secret FROM access.session_secret")
        row = await cur.fetchone()
    assert row is not None
    return bytes(row["secret"])


# --------------------------------------------------------------------------- the rows


@dataclass(frozen=True, slots=True)
class Session:
    """One session as stored: never its id."""

    id: int
    user_id: str
    role: str
    #: (team, role) pairs, sorted: higher roles than ``role`` in particular teams
    team_roles: tuple[tuple[str, str], ...]
    method: str
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime
    peer: str
    user_agent: str

    def principal(self) -> Principal:
        return Principal(kind="session", user_id=self.user_id, role=self.role, team_roles=self.team_roles,
                         via="session")


_COLUMNS = "id, user_id, role, team_roles, method, created_at, last_seen_at, expires_at, peer, user_agent"


def _row(row: dict[str, Any]) -> Session:
    return Session(
        id=row["id"], user_id=row["user_id"], role=row["role"],
        team_roles=tuple(sorted((str(t), str(r)) for t, r in row["team_roles"].items())),
        method=row["method"], created_at=row["created_at"], last_seen_at=row["last_seen_at"],
        expires_at=row["expires_at"], peer=row["peer"], user_agent=row["user_agent"],
    )


@dataclass(frozen=True, slots=True)
class Lifetimes:
    """How long a session lives: ``idle_s`` after its last use, ``lifetime_s`` after its start at most."""

    idle_s: float = DEFAULT_IDLE_S
    lifetime_s: float = DEFAULT_LIFETIME_S

    def alive(self, session: Session, now: datetime) -> bool:
        return now < session.expires_at and now < session.last_seen_at + timedelta(seconds=self.idle_s)


class SessionStore:
    """The sessions of one server: made at login, found by cookie, listed, ended."""

    def __init__(self, pool: Pool, signer: Signer, lifetimes: Lifetimes = Lifetimes()) -> None:
        self.pool = pool
        self.signer = signer
        self.lifetimes = lifetimes

    async def create(
        self, *, user_id: str, role: str, team_roles: Mapping[str, str] | None = None, method: str, now: datetime,
        peer: str = "", user_agent: str = "", replacing: str | None = None,
    ) -> tuple[Session, str]:
        """A new session (a new id at every login: no fixation) and its cookie value.

        ``replacing`` is the browser's session cookie before this login: its session ends. A
        login that grants another role or team roles than the person's other sessions hold
        ends those too (a role change counts from the next login). ``team_roles`` maps a team
        to a role held there above ``role``.
        """
        session_id = secrets.token_urlsafe(32)
        teams = Jsonb(dict(team_roles or {}))
        expires = now + timedelta(seconds=self.lifetimes.lifetime_s)
        old = self.signer.session_id(replacing) if replacing else None
        async with self.pool.connection() as conn:
            if old is not None:
                await conn.execute("DELETE FROM access.sessions WHERE id_hash = %s", (_hash(old),))
            await conn.execute(
                """DELETE FROM access.sessions WHERE user_id = %s AND (role <> %s OR team_roles <> %s)""",
                (user_id, role, teams),
            )
            cur = await conn.execute(
                f"""INSERT INTO access.sessions (id_hash, user_id, role, team_roles, method, created_at, last_seen_at,
                                                 expires_at, peer, user_agent)
                    VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING {_COLUMNS}""",
                (_hash(session_id), user_id, role, teams, method, now, now, expires, peer[:100],
                 user_agent[:300]),
            )
            row = await cur.fetchone()
        assert row is not None
        return _row(row), self.signer.cookie_value(session_id)

    async def find(self, cookie_value: str | None) -> tuple[Session, str] | None:
        """The stored session of a cookie value, alive or not, with its id; None for a forged or unknown one."""
        session_id = self.signer.session_id(cookie_value) if cookie_value else None
        if session_id is None:
            return None
        async with self.pool.connection() as conn:
            cur = await conn.execute(f"SELECT {_COLUMNS} FROM access.sessions WHERE id_hash = %s",
                                     (_hash(session_id),))
            row = await cur.fetchone()
        return (_row(row), session_id) if row is not None else None

    async def touch(self, session_id: int, now: datetime) -> bool:
        """Record a use at ``now`` unless one was recorded in the last minute; whether it was written."""
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                "UPDATE access.sessions SET last_seen_at = %s WHERE id = %s AND last_seen_at <= %s",
                (now, session_id, now - TOUCH_EVERY),
            )
            return cur.rowcount == 1

    async def end(self, session_id: int, user_id: str | None = None) -> bool:
        """End one session (only if it is ``user_id``'s, when given); whether there was one."""
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                "DELETE FROM access.sessions WHERE id = %s AND (%s::text IS NULL OR user_id = %s)",
                (session_id, user_id, user_id),
            )
            return cur.rowcount == 1

    async def end_user(self, user_id: str) -> int:
        """End every session of ``user_id`` (removed from the directory, role changed); how many."""
        async with self.pool.connection() as conn:
            cur = await conn.execute("DELETE FROM access.sessions WHERE user_id = %s", (user_id,))
            return cur.rowcount

    async def list_user(self, user_id: str, now: datetime) -> list[Session]:
        """``user_id``'s live sessions, newest first."""
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                f"SELECT {_COLUMNS} FROM access.sessions WHERE user_id = %s ORDER BY id DESC", (user_id,))
            rows = await cur.fetchall()
        return [s for s in map(_row, rows) if self.lifetimes.alive(s, now)]

    async def prune(self, now: datetime) -> int:
        """Delete sessions past their lifetime or idle timeout; how many."""
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                "DELETE FROM access.sessions WHERE expires_at <= %s OR last_seen_at <= %s",
                (now, now - timedelta(seconds=self.lifetimes.idle_s)),
            )
            return cur.rowcount


class UserSource(Protocol):
    """What the authenticator asks about a password login's person: the cached directory."""

    async def user(self, user_id: str) -> Lookup[User | None]: ...


class SessionAuthenticator:
    """The session cookie as a principal (kind ``session``), in the same chain as API keys.

    A forged, unknown or expired cookie is no principal (an expired row is deleted). Once a
    minute, with its last-seen write, a password login's person is asked of the directory:
    gone, or given another role, ends their sessions (a directory that cannot answer ends none).
    """

    name = "session"

    def __init__(self, store: SessionStore, clock: Clock = SYSTEM_CLOCK, directory: UserSource | None = None) -> None:
        self.store = store
        self.clock = clock
        self.directory = directory

    async def session_of(self, request: AuthRequest) -> tuple[Session, str] | None:
        """The live session of the request's cookie and its id, or None."""
        found = await self.store.find(cookie_from_header(request.header("cookie")))
        if found is None:
            return None
        session, session_id = found
        now = self.clock.now()
        if not self.store.lifetimes.alive(session, now):
            await self.store.end(session.id)
            return None
        if now - session.last_seen_at >= TOUCH_EVERY:
            if not await self._still_granted(session):
                return None
            await self.store.touch(session.id, now)
        return session, session_id

    async def _still_granted(self, session: Session) -> bool:
        if session.method != "password" or self.directory is None:
            return True
        lookup = await self.directory.user(session.user_id)
        if not lookup.known or lookup.stale:
            return True  # the directory cannot answer now: an outage ends no session
        user = lookup.value
        if user is None or user.role != session.role:
            ended = await self.store.end_user(session.user_id)
            log.info("ended %d session(s) of %s: %s", ended, session.user_id,
                     "no longer in the directory" if user is None else "the directory gives another role")
            return False
        return True

    async def authenticate(self, request: AuthRequest) -> Principal | None:
        found = await self.session_of(request)
        # the session's id rides on the principal: what serves the call needs no second lookup
        return dataclasses.replace(found[0].principal(), session_id=found[0].id) if found is not None else None
