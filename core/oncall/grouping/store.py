"""Grouping rules in the store: validation on save, CRUD, versions and ordering.

A rule is checked before it is written, as routing rules are: its condition by the router's
``validate``, its key by the router's ``validate_key`` (both report where a CEL error is),
its limits, its resolve_on, its integration and its title template. Every change bumps
``grouping_version`` and notifies (``announce_change``) in its own transaction, so every
replica reloads its rules on commit; the caller refreshes this process's cache
(``GroupingCache.refresh``) once the change is committed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from oncall_hookspecs import Router, RuleProblem

from ..auth import teams
from ..auth.principal import require
from ..errors import Aborted, FailedPrecondition, InvalidArgument, NotFound
from ..store.database import Conn, Pool, fetch_one
from ..store.errors import violations
from .assign import RESOLVE_ON, StoredRule, announce_change, grouper_of
from .titles import check_title_template

#: the longest window or idle limit a rule may have (7 days)
MAX_SECONDS = 7 * 24 * 3600
MAX_NAME = 200
MAX_EXPRESSION = 4096


@dataclass(frozen=True, slots=True)
class RuleSpec:
    """What a grouping rule is made of: the fields a caller writes."""

    name: str
    condition: str
    key: str
    integration_id: int | None = None
    window_seconds: int | None = None
    idle_seconds: int | None = None
    resolve_on: str = "all"
    title_template: str = ""
    repage_on_new_alert: bool = False

    def overridden(self, **fields: Any) -> RuleSpec:
        """This spec with the fields given that are not None (empty strings count as unset)."""
        return replace(self, **{k: v for k, v in fields.items() if v is not None and v != ""})


def _problems_text(what: str, text: str, problems: Sequence[RuleProblem]) -> str:
    parts = []
    for p in problems:
        where = ""
        if p.line is not None and p.column is not None:
            where = f" at line {p.line}, column {p.column}"
        elif p.position is not None:
            where = f" at offset {p.position}"
        parts.append(f"{p.message}{where}")
    return f"{what} {text!r} is invalid: " + "; ".join(parts)


def _seconds(name: str, value: int | None) -> None:
    if value is not None and not 0 < value <= MAX_SECONDS:
        raise InvalidArgument(f"{name} must be between 1 and {MAX_SECONDS} (7 days), got {value}")


async def check_spec(conn: Conn, router: Router | None, spec: RuleSpec, *, draft: bool = False) -> None:
    """Refuse a rule that could not be evaluated or kept as written (InvalidArgument).

    ``draft``: a rule for TestGrouping, which may go without a name.
    """
    if router is None:
        raise FailedPrecondition("no router plugin is installed; grouping rules cannot be validated")
    grouper = grouper_of(router)
    if grouper is None:
        raise FailedPrecondition(
            f"the router {getattr(router, 'name', type(router).__name__)!r} cannot evaluate grouping rules"
        )
    if not draft and not spec.name.strip():
        raise InvalidArgument("a grouping rule needs a name")
    if len(spec.name) > MAX_NAME:
        raise InvalidArgument(f"a grouping rule's name is at most {MAX_NAME} characters")
    if not spec.condition.strip():
        raise InvalidArgument("a grouping rule needs a condition (use 'true' to take every alert)")
    if not spec.key.strip():
        raise InvalidArgument("a grouping rule needs a key (e.g. '[labels.alertname, labels.cluster]')")
    for what, text in (("condition", spec.condition), ("key", spec.key)):
        if len(text) > MAX_EXPRESSION:
            raise InvalidArgument(f"a grouping rule's {what} is at most {MAX_EXPRESSION} characters")
    if problems := router.validate(spec.condition):
        raise InvalidArgument(_problems_text("condition", spec.condition, problems))
    if problems := grouper.validate_key(spec.key):
        raise InvalidArgument(_problems_text("key", spec.key, problems))
    if spec.window_seconds is not None and spec.idle_seconds is not None:
        raise InvalidArgument(
            "a grouping rule has a window (from the first alert) or an idle limit (from the last), not both"
        )
    _seconds("window_seconds", spec.window_seconds)
    _seconds("idle_seconds", spec.idle_seconds)
    if spec.resolve_on not in RESOLVE_ON:
        raise InvalidArgument(f"resolve_on must be one of {', '.join(RESOLVE_ON)}, got {spec.resolve_on!r}")
    if problem := check_title_template(spec.title_template):
        raise InvalidArgument(problem)
    if spec.integration_id is not None:
        cur = await conn.execute("SELECT 1 FROM alerting.integrations WHERE id = %s", (spec.integration_id,))
        if await cur.fetchone() is None:
            raise InvalidArgument(f"integration {spec.integration_id} does not exist")


def _values(spec: RuleSpec) -> dict[str, Any]:
    return {
        "name": spec.name, "condition": spec.condition, "key": spec.key, "integration_id": spec.integration_id,
        "window_seconds": spec.window_seconds, "idle_seconds": spec.idle_seconds, "resolve_on": spec.resolve_on,
        "title_template": spec.title_template, "repage_on_new_alert": spec.repage_on_new_alert,
    }


def spec_of(rule: StoredRule) -> RuleSpec:
    """The fields of a stored rule, as a caller writes them."""
    return RuleSpec(
        name=rule.name, condition=rule.condition, key=rule.key, integration_id=rule.integration_id,
        window_seconds=rule.window_seconds, idle_seconds=rule.idle_seconds, resolve_on=rule.resolve_on,
        title_template=rule.title_template, repage_on_new_alert=rule.repage_on_new_alert,
    )


async def _lock(conn: Conn) -> int:
    """Lock the rules' order for this transaction; return how many rules there are."""
    await conn.execute("LOCK TABLE alerting.grouping_rules IN SHARE ROW EXCLUSIVE MODE")
    cur = await conn.execute("SELECT count(*) AS n FROM alerting.grouping_rules")
    return int((await fetch_one(cur))["n"])


def _position(position: int | None, last: int) -> int:
    if position is not None and position < 0:
        raise InvalidArgument(f"position is 0-based and cannot be negative, got {position}")
    return last if position is None or position > last else position


async def create_rule(
    pool: Pool, router: Router | None, spec: RuleSpec, position: int | None = None, team_id: str | None = None,
) -> StoredRule:
    """Insert a rule at ``position`` (0-based; default or past the end: last), shifting later rules down;
    it belongs to team ``team_id`` (None: no team)."""
    require("grouping_rules:write", "grouping_rules", team_id)
    async with pool.connection() as conn, conn.transaction():
        await check_spec(conn, router, spec)
        count = await _lock(conn)
        pos = _position(position, count)
        await conn.execute("UPDATE alerting.grouping_rules SET position = position + 1 WHERE position >= %s", (pos,))
        with violations(unique=f"a grouping rule named {spec.name!r} already exists", foreign_key=teams.UNKNOWN_TEAM):
            cur = await conn.execute(
                """INSERT INTO alerting.grouping_rules
                       (name, condition, key, integration_id, window_seconds, idle_seconds, resolve_on,
                        title_template, repage_on_new_alert, position, team_id)
                   VALUES (%(name)s, %(condition)s, %(key)s, %(integration_id)s, %(window_seconds)s,
                           %(idle_seconds)s, %(resolve_on)s, %(title_template)s, %(repage_on_new_alert)s,
                           %(position)s, %(team_id)s)
                   RETURNING *""",
                {**_values(spec), "position": pos, "team_id": team_id},
            )
        row = await fetch_one(cur)
        await announce_change(conn)
    return StoredRule.from_row(row)


async def update_rule(
    pool: Pool, router: Router | None, rule_id: str, spec: RuleSpec, expected_version: int,
    position: int | None = None, team_id: str | None | teams.Unchanged = teams.UNCHANGED,
) -> StoredRule:
    """Replace a rule's fields if it is still at ``expected_version`` (else Aborted); move it
    to ``position`` and to team ``team_id`` too when given. The version goes up by one."""
    async with pool.connection() as conn, conn.transaction():
        await check_spec(conn, router, spec)
        count = await _lock(conn)
        cur = await conn.execute(
            "SELECT version, position, team_id FROM alerting.grouping_rules WHERE id = %s FOR UPDATE", (rule_id,)
        )
        current = await cur.fetchone()
        if current is None:
            raise NotFound(f"grouping rule {rule_id!r} not found")
        team = teams.after(current["team_id"], team_id)
        require("grouping_rules:write", f"grouping_rules/{rule_id}", current["team_id"], team)
        if current["version"] != expected_version:
            raise Aborted(
                f"grouping rule {rule_id!r} is at version {current['version']}, not {expected_version}:"
                " it changed since it was read; read it again"
            )
        old = current["position"]
        new = old if position is None else min(_position(position, count), count - 1)
        if new < old:
            await conn.execute(
                """UPDATE alerting.grouping_rules SET position = position + 1
                   WHERE position >= %s AND position < %s""", (new, old))
        elif new > old:
            await conn.execute(
                """UPDATE alerting.grouping_rules SET position = position - 1
                   WHERE position > %s AND position <= %s""", (old, new))
        with violations(unique=f"a grouping rule named {spec.name!r} already exists", foreign_key=teams.UNKNOWN_TEAM):
            cur = await conn.execute(
                """UPDATE alerting.grouping_rules
                   SET name = %(name)s, condition = %(condition)s, key = %(key)s, team_id = %(team_id)s,
                       integration_id = %(integration_id)s, window_seconds = %(window_seconds)s,
                       idle_seconds = %(idle_seconds)s, resolve_on = %(resolve_on)s,
                       title_template = %(title_template)s, repage_on_new_alert = %(repage_on_new_alert)s,
                       position = %(position)s, version = version + 1, updated_at = now()
                   WHERE id = %(id)s RETURNING *""",
                {**_values(spec), "position": new, "id": rule_id, "team_id": team},
            )
        row = await fetch_one(cur)
        await announce_change(conn)
    return StoredRule.from_row(row)


async def delete_rule(pool: Pool, rule_id: str) -> None:
    """Remove a rule; the rules after it move up. Its incidents stay (they keep its id)."""
    async with pool.connection() as conn, conn.transaction():
        await _lock(conn)
        cur = await conn.execute("SELECT team_id FROM alerting.grouping_rules WHERE id = %s", (rule_id,))
        found = await cur.fetchone()
        if found is None:
            raise NotFound(f"grouping rule {rule_id!r} not found")
        require("grouping_rules:write", f"grouping_rules/{rule_id}", found["team_id"])
        cur = await conn.execute("DELETE FROM alerting.grouping_rules WHERE id = %s RETURNING position", (rule_id,))
        row = await cur.fetchone()
        if row is None:
            raise NotFound(f"grouping rule {rule_id!r} not found")
        await conn.execute(
            "UPDATE alerting.grouping_rules SET position = position - 1 WHERE position > %s", (row["position"],)
        )
        await announce_change(conn)


async def reorder_rules(pool: Pool, rule_ids: Sequence[str]) -> list[StoredRule]:
    """Set the order of all rules at once: ``rule_ids`` must name every rule exactly once."""
    async with pool.connection() as conn, conn.transaction():
        await _lock(conn)
        cur = await conn.execute("SELECT id FROM alerting.grouping_rules")
        existing = {r["id"] for r in await cur.fetchall()}
        if len(rule_ids) != len(set(rule_ids)) or set(rule_ids) != existing:
            missing, unknown = existing - set(rule_ids), set(rule_ids) - existing
            raise InvalidArgument(
                "reorder must list every grouping rule exactly once"
                + (f"; missing: {sorted(missing)}" if missing else "")
                + (f"; unknown: {sorted(unknown)}" if unknown else "")
            )
        await conn.execute(
            """UPDATE alerting.grouping_rules r SET position = t.pos - 1, updated_at = now()
               FROM unnest(%s::text[]) WITH ORDINALITY AS t(id, pos) WHERE r.id = t.id""",
            (list(rule_ids),),
        )
        await announce_change(conn)
        cur = await conn.execute("SELECT * FROM alerting.grouping_rules ORDER BY position")
        return [StoredRule.from_row(r) for r in await cur.fetchall()]


async def list_rules(pool: Pool, only_teams: tuple[str, ...] | None = None) -> list[StoredRule]:
    """Every rule (or only those of ``only_teams``), in evaluation order."""
    async with pool.connection() as conn:
        cur = await conn.execute(
            """SELECT * FROM alerting.grouping_rules WHERE %s::text[] IS NULL OR team_id = ANY(%s::text[])
               ORDER BY position, created_at""", (teams.param(only_teams), teams.param(only_teams)))
        return [StoredRule.from_row(r) for r in await cur.fetchall()]


async def get_rule(pool: Pool, rule_id: str) -> StoredRule:
    async with pool.connection() as conn:
        cur = await conn.execute("SELECT * FROM alerting.grouping_rules WHERE id = %s", (rule_id,))
        row = await cur.fetchone()
    if row is None:
        raise NotFound(f"grouping rule {rule_id!r} not found")
    return StoredRule.from_row(row)
