"""Escalation policies: ordered steps of targets with delays, and a repeat count."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from ..auth import teams
from ..auth.principal import require
from ..errors import Aborted, FailedPrecondition, InvalidArgument, NotFound
from ..notification import channels
from ..store.database import Conn, Pool, fetch_one
from ..store.errors import violations

TARGET_KINDS = ("user", "schedule", "channel", "webhook")
MAX_STEPS = 50
MAX_DELAY_S = 7 * 24 * 3600


@dataclass(frozen=True, slots=True)
class Target:
    """Who or what a step pages: a user id, a schedule id, a channel destination, a URL."""

    kind: str
    id: str

    def key(self) -> str:
        return f"{self.kind}:{self.id}"


@dataclass(frozen=True, slots=True)
class Step:
    delay_seconds: int  # after the previous step fired (the first: after the alert opened)
    targets: tuple[Target, ...]


@dataclass(frozen=True, slots=True)
class Policy:
    id: str
    name: str
    steps: tuple[Step, ...]
    repeat: int = 0
    repeat_delay_seconds: int = 300
    description: str = ""
    version: int = 1
    created_at: datetime | None = None
    updated_at: datetime | None = None
    team_id: str | None = None


@dataclass(frozen=True)
class PolicyInput:
    name: str
    steps: list[Step] = field(default_factory=list)
    repeat: int = 0
    repeat_delay_seconds: int = 300
    description: str = ""
    #: the team it belongs to (None: no team); UNCHANGED: no team on create, the stored one on update
    team_id: str | None | teams.Unchanged = teams.UNCHANGED


def steps_to_json(steps: Any) -> list[dict[str, Any]]:
    return [
        {"delay_seconds": s.delay_seconds, "targets": [{"kind": t.kind, "id": t.id} for t in s.targets]}
        for s in steps
    ]


def steps_from_json(doc: list[dict[str, Any]]) -> tuple[Step, ...]:
    return tuple(
        Step(
            delay_seconds=int(s.get("delay_seconds", 0)),
            targets=tuple(Target(t["kind"], t["id"]) for t in s.get("targets", [])),
        )
        for s in doc
    )


def _from_row(row: dict[str, Any]) -> Policy:
    return Policy(
        id=row["id"],
        name=row["name"],
        steps=steps_from_json(row["steps"]),
        repeat=row["repeat"],
        repeat_delay_seconds=row["repeat_delay_seconds"],
        description=row["description"],
        version=row["version"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        team_id=row["team_id"],
    )


def validate(p: PolicyInput) -> None:
    if not p.name.strip():
        raise InvalidArgument("a policy needs a name")
    if not p.steps:
        raise InvalidArgument("a policy needs at least one step")
    if len(p.steps) > MAX_STEPS:
        raise InvalidArgument(f"a policy has at most {MAX_STEPS} steps")
    if p.repeat < 0 or p.repeat > 100:
        raise InvalidArgument("repeat must be between 0 and 100")
    if p.repeat_delay_seconds < 0 or p.repeat_delay_seconds > MAX_DELAY_S:
        raise InvalidArgument("repeat_delay_seconds must be between 0 and one week")
    for i, step in enumerate(p.steps, 1):
        if step.delay_seconds < 0 or step.delay_seconds > MAX_DELAY_S:
            raise InvalidArgument(f"step {i}: delay_seconds must be between 0 and one week")
        if not step.targets:
            raise InvalidArgument(f"step {i} has no targets")
        for t in step.targets:
            if t.kind not in TARGET_KINDS:
                raise InvalidArgument(f"step {i}: target kind {t.kind!r} is not one of {', '.join(TARGET_KINDS)}")
            if not t.id.strip():
                raise InvalidArgument(f"step {i}: a {t.kind} target needs an id")
            if t.kind == "webhook" and not t.id.startswith(("http://", "https://")):
                raise InvalidArgument(f"step {i}: a webhook target must be an http(s) URL")
            if t.kind == "channel" and ":" not in t.id:
                raise InvalidArgument(f"step {i}: a channel target looks like 'slack:#ops'")
            if t.kind == "channel":
                try:
                    channels.current().check(t.id.partition(":")[0])
                except channels.UnknownChannel as exc:
                    raise InvalidArgument(f"step {i}: {exc}") from None


async def _check_schedules(conn: Conn, p: PolicyInput) -> None:
    """A schedule target must name a schedule that exists (a typo would page no one)."""
    wanted = sorted({t.id for s in p.steps for t in s.targets if t.kind == "schedule"})
    if not wanted:
        return
    cur = await conn.execute("SELECT id FROM alerting.schedules WHERE id = ANY(%s)", (wanted,))
    found = {r["id"] for r in await cur.fetchall()}
    missing = [w for w in wanted if w not in found]
    if missing:
        raise InvalidArgument(f"schedule(s) {', '.join(missing)} do not exist")


async def create_policy(pool: Pool, p: PolicyInput) -> Policy:
    team = teams.after(None, p.team_id)
    require("policies:write", "policies", team)
    validate(p)
    with violations(unique=f"a policy named {p.name!r} already exists", foreign_key=teams.UNKNOWN_TEAM):
        async with pool.connection() as conn:
            await _check_schedules(conn, p)
            cur = await conn.execute(
                """INSERT INTO alerting.escalation_policies
                       (name, description, steps, repeat, repeat_delay_seconds, team_id)
                   VALUES (%s, %s, %s, %s, %s, %s) RETURNING *""",
                (p.name, p.description, Jsonb(steps_to_json(p.steps)), p.repeat, p.repeat_delay_seconds, team),
            )
            return _from_row(await fetch_one(cur))


async def _stored_team(conn: Conn, policy_id: str) -> str | None:
    """The team of a policy, its row locked for the change the caller is about to make; NotFound when none."""
    cur = await conn.execute(
        "SELECT team_id FROM alerting.escalation_policies WHERE id = %s FOR UPDATE", (policy_id,))
    row = await cur.fetchone()
    if row is None:
        raise NotFound(f"policy {policy_id!r} not found")
    team: str | None = row["team_id"]
    return team


async def update_policy(pool: Pool, policy_id: str, p: PolicyInput, expected_version: int | None = None) -> Policy:
    """Replace a policy's definition. Alerts in flight use it from their next step.

    With ``expected_version``, an update made from a version someone has changed since is
    refused (Aborted) and changes nothing: no edit is lost to another.
    """
    validate(p)
    with violations(unique=f"a policy named {p.name!r} already exists", foreign_key=teams.UNKNOWN_TEAM):
        async with pool.connection() as conn, conn.transaction():
            stored = await _stored_team(conn, policy_id)
            team = teams.after(stored, p.team_id)
            require("policies:write", f"policies/{policy_id}", stored, team)
            await _check_schedules(conn, p)
            cur = await conn.execute(
                """UPDATE alerting.escalation_policies
                   SET name = %s, description = %s, steps = %s, repeat = %s,
                       repeat_delay_seconds = %s, team_id = %s, version = version + 1, updated_at = now()
                   WHERE id = %s AND (%s::integer IS NULL OR version = %s) RETURNING *""",
                (p.name, p.description, Jsonb(steps_to_json(p.steps)), p.repeat, p.repeat_delay_seconds, team,
                 policy_id, expected_version, expected_version),
            )
            row = await cur.fetchone()
            if row is None and expected_version is not None:
                cur = await conn.execute(
                    "SELECT name, version FROM alerting.escalation_policies WHERE id = %s", (policy_id,))
                found = await cur.fetchone()
                if found is not None:
                    raise Aborted(f"policy {found['name']!r} is at version {found['version']}, not "
                                  f"{expected_version}: someone changed it; read it again and redo the change")
    if row is None:
        raise NotFound(f"policy {policy_id!r} not found")
    return _from_row(row)


async def delete_policy(pool: Pool, policy_id: str) -> None:
    async with pool.connection() as conn, conn.transaction():
        require("policies:write", f"policies/{policy_id}", await _stored_team(conn, policy_id))
        cur = await conn.execute(
            """SELECT name FROM alerting.routing_rules WHERE actions->>'escalation_policy_id' = %s
               UNION ALL SELECT 'the default route' FROM alerting.routing_config
               WHERE default_actions->>'escalation_policy_id' = %s""",
            (policy_id, policy_id),
        )
        users = [r["name"] for r in await cur.fetchall()]
        if users:
            raise FailedPrecondition(f"policy {policy_id!r} is used by: {', '.join(users)}")
        cur = await conn.execute("DELETE FROM alerting.escalation_policies WHERE id = %s RETURNING id", (policy_id,))
        if await cur.fetchone() is None:
            raise NotFound(f"policy {policy_id!r} not found")


async def get_policy(pool_or_conn: Any, policy_id: str) -> Policy:
    if isinstance(pool_or_conn, AsyncConnectionPool):
        async with pool_or_conn.connection() as conn:
            return await get_policy(conn, policy_id)
    cur = await pool_or_conn.execute("SELECT * FROM alerting.escalation_policies WHERE id = %s", (policy_id,))
    row = await cur.fetchone()
    if row is None:
        raise NotFound(f"policy {policy_id!r} not found")
    return _from_row(row)


async def find_policy(conn: Conn, policy_id: str) -> Policy | None:
    cur = await conn.execute("SELECT * FROM alerting.escalation_policies WHERE id = %s", (policy_id,))
    row = await cur.fetchone()
    return _from_row(row) if row else None


async def list_policies(pool: Pool, only_teams: tuple[str, ...] | None = None) -> list[Policy]:
    """Every policy by name, or only those of ``only_teams``."""
    async with pool.connection() as conn:
        cur = await conn.execute(
            """SELECT * FROM alerting.escalation_policies
               WHERE %s::text[] IS NULL OR team_id = ANY(%s::text[]) ORDER BY name""",
            (teams.param(only_teams), teams.param(only_teams)))
        return [_from_row(r) for r in await cur.fetchall()]
