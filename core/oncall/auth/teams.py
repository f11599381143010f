"""Teams (SQL for access.teams): made, listed, renamed and deleted; what a team's id may be; what uses a team.

A team's id is a slug (``payments``) that grants (``ops=editor@payments``), keys
(``--team payments``) and resources (``team_id``) name it by. Integrations, escalation
policies, schedules, routing rules, grouping rules, templates and API keys may belong to
one; a team something belongs to can't be deleted (FAILED_PRECONDITION naming what).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..errors import FailedPrecondition, InvalidArgument, NotFound
from ..store.database import Conn, Pool, fetch_one
from ..store.errors import violations

TEAM_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
MAX_NAME = 200

#: what a resource refers to an unknown team with, as a foreign-key violation (store.errors.violations)
UNKNOWN_TEAM = "no such team (oncall teams list)"

#: the tables whose rows may belong to a team, and how a refusal names them
_USERS: tuple[tuple[str, str], ...] = (
    ("alerting.integrations", "integration"),
    ("alerting.escalation_policies", "escalation policy"),
    ("alerting.schedules", "schedule"),
    ("alerting.routing_rules", "routing rule"),
    ("alerting.grouping_rules", "grouping rule"),
    ("notification.templates", "template"),
)


class Unchanged:
    """An update that leaves a resource in its team (``UNCHANGED``)."""

    def __repr__(self) -> str:
        return "UNCHANGED"


#: what an update that names no team gives: the resource stays in its team
UNCHANGED = Unchanged()


def after(stored: str | None, given: str | None | Unchanged) -> str | None:
    """The team a resource is in after an update: the one given, or the one it had."""
    return stored if isinstance(given, Unchanged) else given


@dataclass(frozen=True, slots=True)
class Team:
    id: str
    name: str
    created_at: datetime


def _row(row: dict[str, Any]) -> Team:
    return Team(id=row["id"], name=row["name"], created_at=row["created_at"])


def check_id(team_id: str, field: str = "id") -> str:
    """``team_id`` when it is a slug; InvalidArgument otherwise."""
    if not TEAM_SLUG.match(team_id):
        raise InvalidArgument(
            f"{field} {team_id[:80]!r} is not a team id: 1 to 63 lower-case letters, digits and '-', "
            "starting with a letter or digit")
    return team_id


def team_of(value: str, field: str = "team_id") -> str | None:
    """A request's team field: None when empty (no team), else the slug, checked."""
    return check_id(value, field) if value else None


def _name(name: str) -> str:
    name = name.strip()
    if not name:
        raise InvalidArgument("a team needs a name")
    if len(name) > MAX_NAME:
        raise InvalidArgument(f"a team's name is at most {MAX_NAME} characters")
    return name


def param(only: tuple[str, ...] | None) -> list[str] | None:
    """A list's team filter as a ``text[]`` parameter (None: no filter): ``%s::text[] IS NULL OR team_id = ANY(%s::text[])``."""
    return None if only is None else list(only)


def in_teams(team_id: str | None, only: tuple[str, ...] | None) -> bool:
    """Whether a resource of ``team_id`` passes a list's team filter (None: no filter)."""
    return only is None or (team_id is not None and team_id in only)


async def require_team(conn: Conn, team_id: str) -> None:
    """NotFound unless team ``team_id`` exists (a resource or key may name only a team that does)."""
    cur = await conn.execute("SELECT 1 FROM access.teams WHERE id = %s", (team_id,))
    if await cur.fetchone() is None:
        raise NotFound(f"no team {team_id!r} (oncall teams list)")


async def create(pool: Pool, team_id: str, name: str, now: datetime) -> Team:
    check_id(team_id)
    async with pool.connection() as conn:
        with violations(unique=f"a team {team_id!r} exists already"):
            cur = await conn.execute(
                "INSERT INTO access.teams (id, name, created_at) VALUES (%s, %s, %s) RETURNING id, name, created_at",
                (team_id, _name(name or team_id), now),
            )
        return _row(await fetch_one(cur))


async def get(pool: Pool, team_id: str) -> Team:
    async with pool.connection() as conn:
        cur = await conn.execute("SELECT id, name, created_at FROM access.teams WHERE id = %s", (team_id,))
        row = await cur.fetchone()
    if row is None:
        raise NotFound(f"no team {team_id!r}")
    return _row(row)


async def list_teams(pool: Pool, only: tuple[str, ...] | None = None) -> list[Team]:
    """Every team by id, or only the teams ``only`` names."""
    async with pool.connection() as conn:
        cur = await conn.execute(
            """SELECT id, name, created_at FROM access.teams
               WHERE %s::text[] IS NULL OR id = ANY(%s::text[]) ORDER BY id""",
            (None if only is None else list(only), None if only is None else list(only)),
        )
        return [_row(r) for r in await cur.fetchall()]


async def rename(pool: Pool, team_id: str, name: str) -> Team:
    async with pool.connection() as conn:
        cur = await conn.execute(
            "UPDATE access.teams SET name = %s WHERE id = %s RETURNING id, name, created_at", (_name(name), team_id))
        row = await cur.fetchone()
    if row is None:
        raise NotFound(f"no team {team_id!r}")
    return _row(row)


async def delete(pool: Pool, team_id: str, now: datetime) -> None:
    """Delete a team nothing belongs to; FailedPrecondition naming what does, else.

    Deleted templates and keys no longer valid (revoked, expired) don't hold a team: they
    lose it with the team. The team's row is locked first, so nothing joins it meanwhile.
    """
    async with pool.connection() as conn, conn.transaction():
        cur = await conn.execute("SELECT id FROM access.teams WHERE id = %s FOR UPDATE", (team_id,))
        if await cur.fetchone() is None:
            raise NotFound(f"no team {team_id!r}")
        used: list[str] = []
        for table, noun in _USERS:
            live = "AND deleted_at IS NULL" if table == "notification.templates" else ""
            cur = await conn.execute(
                f"SELECT id::text FROM {table} WHERE team_id = %s {live} ORDER BY id LIMIT 6",  # noqa: S608 - our names
                (team_id,))
            ids = [r["id"] for r in await cur.fetchall()]
            if ids:
                shown = ", ".join(ids[:5]) + (", …" if len(ids) > 5 else "")
                used.append(f"{noun} {shown}")
        cur = await conn.execute(
            """SELECT id::text FROM access.api_keys WHERE team_id = %s AND revoked_at IS NULL
                 AND (expires_at IS NULL OR expires_at > %s) ORDER BY id LIMIT 6""", (team_id, now))
        ids = [r["id"] for r in await cur.fetchall()]
        if ids:
            used.append("API key " + ", ".join(ids[:5]) + (", …" if len(ids) > 5 else ""))
        if used:
            raise FailedPrecondition(f"team {team_id!r} is in use, by {'; '.join(used)}: move or delete those first")
        await conn.execute("UPDATE notification.templates SET team_id = NULL WHERE team_id = %s", (team_id,))
        await conn.execute("UPDATE access.api_keys SET team_id = NULL WHERE team_id = %s", (team_id,))
        await conn.execute("DELETE FROM access.teams WHERE id = %s", (team_id,))
