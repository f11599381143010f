"""Silences and maintenance windows: which alerts page no one, and for how long.

Matchers have Alertmanager's semantics: ``=``, ``!=``, ``=~``, ``!~`` against a label
(a missing label is the empty string), regexes fully anchored, all matchers must match.
A silence may instead (or also) carry a CEL condition, evaluated by the router plugin.
A silence scoped to an integration or a policy, with no matchers or condition, is a
maintenance window for it. A silence whose start is in the future is scheduled.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from oncall_hookspecs import AlertView, Router, RoutingRule, RuleActions
from psycopg.types.json import Jsonb

from ..errors import Aborted, FailedPrecondition, InvalidArgument, NotFound
from ..store.database import Pool, fetch_one

OPS = ("=", "!=", "=~", "!~")


@dataclass(frozen=True, slots=True)
class Matcher:
    name: str
    op: str
    value: str

    def matches(self, labels: Mapping[str, str]) -> bool:
        actual = labels.get(self.name, "")
        if self.op == "=":
            return actual == self.value
        if self.op == "!=":
            return actual != self.value
        hit = _regex(self.value).fullmatch(actual) is not None
        return hit if self.op == "=~" else not hit


@lru_cache(maxsize=1024)
def _regex(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


_MATCHER = re.compile(r'^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*(.*?)\s*$')


def parse_matcher(text: str) -> Matcher:
    """``name=value``, ``name!=value``, ``name=~regex``, ``name!~regex`` (value may be quoted)."""
    m = _MATCHER.match(text)
    if not m:
        raise InvalidArgument(f"matcher {text!r} is not name=value, name!=value, name=~re or name!~re")
    name, op, value = m.groups()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        value = value[1:-1]
    return check_matcher(Matcher(name, op, value))


def check_matcher(m: Matcher) -> Matcher:
    if m.op not in OPS:
        raise InvalidArgument(f"matcher operator {m.op!r} is not one of {' '.join(OPS)}")
    if not m.name:
        raise InvalidArgument("a matcher needs a label name")
    if m.op in ("=~", "!~"):
        try:
            _regex(m.value)
        except re.error as exc:
            raise InvalidArgument(f"matcher {m.name}{m.op}{m.value!r}: bad regex: {exc}") from None
    return m


@dataclass(frozen=True, slots=True)
class Silence:
    id: str
    matchers: tuple[Matcher, ...]
    condition: str | None
    integration_id: int | None
    policy_id: str | None
    starts_at: datetime
    ends_at: datetime
    created_by: str
    comment: str
    created_at: datetime | None = None
    #: raised by every change (expiring it); ExpireSilence's expected_version is checked against it
    version: int = 1

    def active_at(self, at: datetime) -> bool:
        return self.starts_at <= at < self.ends_at

    def state(self, at: datetime) -> str:
        if at < self.starts_at:
            return "pending"
        return "active" if at < self.ends_at else "expired"


@dataclass(frozen=True)
class SilenceInput:
    created_by: str
    ends_at: datetime
    starts_at: datetime | None = None
    matchers: list[Matcher] = field(default_factory=list)
    condition: str | None = None
    integration_id: int | None = None
    policy_id: str | None = None
    comment: str = ""


def _from_row(row: dict[str, Any]) -> Silence:
    return Silence(
        id=row["id"],
        matchers=tuple(Matcher(m["name"], m["op"], m["value"]) for m in row["matchers"]),
        condition=row["condition"],
        integration_id=row["integration_id"],
        policy_id=row["policy_id"],
        starts_at=row["starts_at"],
        ends_at=row["ends_at"],
        created_by=row["created_by"],
        comment=row["comment"],
        created_at=row["created_at"],
        version=row["version"],
    )


async def create_silence(
    pool: Pool, router: Router | None, s: SilenceInput, now: datetime
) -> Silence:
    if not s.created_by.strip():
        raise InvalidArgument("a silence needs its creator (created_by)")
    if not (s.matchers or s.condition or s.integration_id or s.policy_id):
        raise InvalidArgument("a silence needs matchers, a condition, or an integration or policy to cover")
    starts = s.starts_at or now
    if s.ends_at <= starts:
        raise InvalidArgument("ends_at must be after starts_at")
    if s.ends_at <= now:
        raise InvalidArgument("ends_at is in the past")
    for m in s.matchers:
        check_matcher(m)
    if s.condition:
        if router is None:
            raise FailedPrecondition("no router plugin is installed; a condition cannot be checked")
        problems = router.validate(s.condition)
        if problems:
            raise InvalidArgument(f"condition {s.condition!r} is invalid: " + "; ".join(p.message for p in problems))
    async with pool.connection() as conn:
        if s.integration_id is not None:
            cur = await conn.execute("SELECT 1 FROM alerting.integrations WHERE id = %s", (s.integration_id,))
            if await cur.fetchone() is None:
                raise InvalidArgument(f"integration {s.integration_id} does not exist")
        if s.policy_id is not None:
            cur = await conn.execute("SELECT 1 FROM alerting.escalation_policies WHERE id = %s", (s.policy_id,))
            if await cur.fetchone() is None:
                raise InvalidArgument(f"policy {s.policy_id!r} does not exist")
        cur = await conn.execute(
            """INSERT INTO alerting.silences
                   (matchers, condition, integration_id, policy_id, starts_at, ends_at, created_by, comment)
               VALUES (%s, %s, %s, %s, %s, %s, %s, %s) RETURNING *""",
            (
                Jsonb([{"name": m.name, "op": m.op, "value": m.value} for m in s.matchers]),
                s.condition or None,
                s.integration_id,
                s.policy_id,
                starts,
                s.ends_at,
                s.created_by.strip(),
                s.comment,
            ),
        )
        row = await fetch_one(cur)
        await conn.execute("SELECT pg_notify('oncall_engine', 'silence')")
    return _from_row(row)


async def expire_silence(
    pool: Pool, silence_id: str, now: datetime, expected_version: int | None = None,
) -> Silence:
    """End a silence now (its held alerts start escalating on the engine's next pass).

    Expiring an expired silence changes nothing, its version included. With
    ``expected_version``, an expiry made from a version someone has changed since is refused
    (Aborted) and changes nothing.
    """
    async with pool.connection() as conn:
        cur = await conn.execute(
            # a scheduled silence that is expired never starts; an active one ends now
            """UPDATE alerting.silences
               SET starts_at = LEAST(starts_at, %(now)s - interval '1 microsecond'),
                   ends_at = LEAST(ends_at, %(now)s),
                   version = version + (ends_at > %(now)s)::integer
               WHERE id = %(id)s AND (%(expected)s::integer IS NULL OR version = %(expected)s)
               RETURNING *""",
            {"now": now, "id": silence_id, "expected": expected_version},
        )
        row = await cur.fetchone()
        if row is None and expected_version is not None:
            cur = await conn.execute("SELECT version FROM alerting.silences WHERE id = %s", (silence_id,))
            found = await cur.fetchone()
            if found is not None:
                raise Aborted(f"silence {silence_id!r} is at version {found['version']}, not {expected_version}: "
                              "someone changed it; read it again and redo the change")
        if row is None:
            raise NotFound(f"silence {silence_id!r} not found")
        await conn.execute("SELECT pg_notify('oncall_engine', 'silence')")
    return _from_row(row)


async def get_silence(pool: Pool, silence_id: str) -> Silence:
    async with pool.connection() as conn:
        cur = await conn.execute("SELECT * FROM alerting.silences WHERE id = %s", (silence_id,))
        row = await cur.fetchone()
    if row is None:
        raise NotFound(f"silence {silence_id!r} not found")
    return _from_row(row)


async def list_silences(pool: Pool, now: datetime, include_expired: bool = False) -> list[Silence]:
    async with pool.connection() as conn:
        if include_expired:
            cur = await conn.execute("SELECT * FROM alerting.silences ORDER BY starts_at")
        else:
            cur = await conn.execute(
                "SELECT * FROM alerting.silences WHERE ends_at > %s ORDER BY starts_at", (now,)
            )
        return [_from_row(r) for r in await cur.fetchall()]


async def load_current(conn: Any, now: datetime) -> list[Silence]:
    """Silences in force at ``now``."""
    cur = await conn.execute(
        "SELECT * FROM alerting.silences WHERE starts_at <= %s AND ends_at > %s ORDER BY created_at", (now, now)
    )
    return [_from_row(r) for r in await cur.fetchall()]


async def first_match(
    silences: Sequence[Silence], alert: AlertView, policy_id: str | None, router: Router | None
) -> Silence | None:
    for s in silences:
        if s.integration_id is not None and s.integration_id != alert.integration_id:
            continue
        if s.policy_id is not None and s.policy_id != policy_id:
            continue
        if not all(m.matches(alert.labels) for m in s.matchers):
            continue
        if s.condition:
            if router is None:
                continue
            # the router evaluates one rule; "matched" is the answer
            decision = await router.route(
                alert, [RoutingRule(id=f"silence:{s.id}", name=f"silence {s.id}", condition=s.condition)], RuleActions()
            )
            if not decision.matched_rules:
                continue
        return s
    return None


def maintenance_input(
    created_by: str, minutes: float, now: datetime, integration_id: int | None = None,
    policy_id: str | None = None, comment: str = "maintenance",
) -> SilenceInput:
    if (integration_id is None) == (policy_id is None):
        raise InvalidArgument("maintenance covers exactly one integration or one policy")
    if minutes <= 0:
        raise InvalidArgument("maintenance needs a positive duration")
    return SilenceInput(
        created_by=created_by, starts_at=now, ends_at=now + timedelta(minutes=minutes),
        integration_id=integration_id, policy_id=policy_id, comment=comment,
    )
