"""API keys: ``oncall_<prefix>_<secret>``, made, listed, revoked and looked up (SQL for access.api_keys).

The prefix finds the row; the key is stored only as its SHA-256 (a key is 256 bits of
randomness, so a fast hash is a safe one). A key is valid until it expires or is revoked;
its last use is written at most once a minute.
"""

from __future__ import annotations

import hmac
import re
import secrets
import string
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from oncall_hookspecs import ROLES, Principal

from ..errors import InvalidArgument, NotFound, PermissionDenied
from .credentials import TOUCH_EVERY
from .credentials import digest as _hash
from ..store.database import Pool
from . import permissions, teams

PREFIX_BYTES = 4  # 8 hex characters: enough to find a row, never enough to guess a key
SECRET_LENGTH = 43  # base62: about 256 bits
_ALPHABET = string.ascii_letters + string.digits
_FORMAT = re.compile(r"^oncall_([0-9a-f]{8})_([A-Za-z0-9]{43})$")


@dataclass(slots=True, frozen=True)
class ApiKey:
    """One key as stored: never its secret."""

    id: int
    name: str
    prefix: str
    role: str
    team_id: str | None
    scopes: tuple[str, ...]
    created_by: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None

    def active(self, now: datetime) -> bool:
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)

    def principal(self) -> Principal:
        """A key of no team holds its role everywhere; a key for team T reads as a viewer everywhere and
        holds its role on T's resources only."""
        if self.team_id:
            return Principal(kind="api_key", user_id=self.name, role="viewer", team_roles=((self.team_id, self.role),),
                             scopes=self.scopes, key_id=self.id, via="api-key")
        return Principal(kind="api_key", user_id=self.name, role=self.role, scopes=self.scopes, key_id=self.id,
                         via="api-key")


def _row(row: dict[str, Any]) -> ApiKey:
    return ApiKey(
        id=row["id"], name=row["name"], prefix=row["prefix"], role=row["role"], team_id=row["team_id"],
        scopes=tuple(row["scopes"]), created_by=row["created_by"], created_at=row["created_at"],
        expires_at=row["expires_at"], revoked_at=row["revoked_at"], last_used_at=row["last_used_at"],
    )


_COLUMNS = """id, name, prefix, role, team_id, scopes, created_by, created_at, expires_at, revoked_at,
              last_used_at"""


def parse(token: str) -> str | None:
    """The prefix of a well-formed key, else None."""
    m = _FORMAT.match(token)
    return m.group(1) if m else None


def looks_like_key(token: str) -> bool:
    """Whether ``token`` is meant as one of our keys (its ``oncall_`` mark), well-formed or not."""
    return token.startswith("oncall_")


def check_grant(
    creator: Principal, role: str, team_id: str | None, scopes: Sequence[str], expires_at: datetime | None,
    now: datetime,
) -> tuple[str, ...]:
    """The new key's scopes, checked: a key never exceeds its creator (role, scopes, team).

    The creator's role that counts is the one it holds where the key will act: in the key's
    team (its role everywhere or its role in that team, the higher), or everywhere for a
    key of no team. A key made by a team's key is for one of that key's teams.
    Raises InvalidArgument for a malformed grant and PermissionDenied for one above the creator.
    """
    if role not in ROLES:
        raise InvalidArgument(f"unknown role {role!r} (roles: {', '.join(ROLES)})")
    wanted = tuple(sorted(set(scopes)))
    outside = [s for s in wanted if s not in permissions.of_role(role)]
    if outside:
        raise InvalidArgument(f"scope {outside[0]!r} is not a permission of the role {role!r}")
    if expires_at is not None and expires_at <= now:
        raise InvalidArgument("expires_at must be in the future")
    held = creator.role_in(team_id)
    if permissions.rank(role) > permissions.rank(held):
        where = f" in team {team_id}" if team_id else ""
        raise PermissionDenied(
            f"a key may not exceed its creator's role: {held or 'no role'}{where} may not grant {role}")
    if creator.scopes:
        # a narrowed creator makes keys at most as narrow: the same scopes, or fewer
        effective = wanted or tuple(sorted(permissions.of_role(role)))
        beyond = [s for s in effective if s not in creator.scopes]
        if beyond:
            raise PermissionDenied(f"a key may not exceed its creator's scopes: {beyond[0]!r} is not one of them")
        wanted = effective
    if creator.kind == "api_key" and creator.team_roles and team_id not in creator.teams:
        raise PermissionDenied("a key made by a team's key must be for that team")
    return wanted


async def create(
    pool: Pool, *, name: str, role: str, created_by: Principal, created_by_name: str, now: datetime,
    team_id: str | None = None, scopes: Sequence[str] = (), expires_at: datetime | None = None,
) -> tuple[ApiKey, str]:
    """Make a key for ``created_by`` (never above it); return it and the key itself, shown only this once."""
    if not name.strip():
        raise InvalidArgument("a key needs a name")
    if team_id:
        teams.check_id(team_id, "team_id")
    granted = check_grant(created_by, role, team_id or None, scopes, expires_at, now)
    prefix = secrets.token_hex(PREFIX_BYTES)
    token = f"oncall_{prefix}_{''.join(secrets.choice(_ALPHABET) for _ in range(SECRET_LENGTH))}"
    async with pool.connection() as conn:
        if team_id:
            await teams.require_team(conn, team_id)
        cur = await conn.execute(
            f"""INSERT INTO access.api_keys (name, prefix, secret_hash, role, team_id, scopes, created_by,
                                            created_at, expires_at)
                VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING {_COLUMNS}""",
            (name.strip(), prefix, _hash(token), role, team_id or None, list(granted), created_by_name, now,
             expires_at),
        )
        row = await cur.fetchone()
    assert row is not None
    return _row(row), token


async def find(pool: Pool, token: str) -> ApiKey | None:
    """The key ``token`` is, active or not; None for a malformed or unknown key or a wrong secret."""
    prefix = parse(token)
    if prefix is None:
        return None
    async with pool.connection() as conn:
        cur = await conn.execute(
            f"SELECT {_COLUMNS}, secret_hash FROM access.api_keys WHERE prefix = %s", (prefix,)
        )
        row = await cur.fetchone()
    if row is None or not hmac.compare_digest(bytes(row["secret_hash"]), _hash(token)):
        return None
    return _row(row)


async def touch(pool: Pool, key_id: int, now: datetime) -> bool:
    """Record a use of the key at ``now`` unless one was recorded in the last minute; whether it was written."""
    async with pool.connection() as conn:
        cur = await conn.execute(
            """UPDATE access.api_keys SET last_used_at = %s
               WHERE id = %s AND (last_used_at IS NULL OR last_used_at <= %s)""",
            (now, key_id, now - TOUCH_EVERY),
        )
        return cur.rowcount == 1


async def list_keys(pool: Pool, now: datetime, include_inactive: bool = False) -> list[ApiKey]:
    """Keys, newest first: the active ones, or all."""
    async with pool.connection() as conn:
        cur = await conn.execute(f"SELECT {_COLUMNS} FROM access.api_keys ORDER BY id DESC")
        rows = await cur.fetchall()
    keys = [_row(r) for r in rows]
    return keys if include_inactive else [k for k in keys if k.active(now)]


async def revoke(pool: Pool, key_id: int, now: datetime, check: Callable[[ApiKey], None] | None = None) -> ApiKey:
    """Revoke a key (a revoked key stays revoked as it was); ``check`` may refuse the key found, before anything is written."""
    async with pool.connection() as conn, conn.transaction():
        if check is not None:
            cur = await conn.execute(f"SELECT {_COLUMNS} FROM access.api_keys WHERE id = %s FOR UPDATE", (key_id,))
            found = await cur.fetchone()
            if found is None:
                raise NotFound(f"no API key {key_id}")
            check(_row(found))
        cur = await conn.execute(
            f"""UPDATE access.api_keys SET revoked_at = coalesce(revoked_at, %s) WHERE id = %s
                RETURNING {_COLUMNS}""",
            (now, key_id),
        )
        row = await cur.fetchone()
    if row is None:
        raise NotFound(f"no API key {key_id}")
    return _row(row)


async def has_active_admin(pool: Pool, now: datetime) -> bool:
    """Whether some admin key is valid now: the serve banner tells how to make one when not."""
    async with pool.connection() as conn:
        cur = await conn.execute(
            """SELECT 1 FROM access.api_keys WHERE role = 'admin' AND revoked_at IS NULL
                 AND (expires_at IS NULL OR expires_at > %s) LIMIT 1""",
            (now,),
        )
        return await cur.fetchone() is not None
