"""Routing rules and the default route: validation on save, CRUD, ordering, and loading."""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from oncall_hookspecs import RoutingRule, RuleActions, Router
from psycopg.types.json import Jsonb

from ..auth import teams
from ..auth.principal import require
from ..errors import Aborted, FailedPrecondition, InvalidArgument, NotFound
from ..store.database import Conn, Pool, fetch_one
from ..store.errors import violations

_SEVERITIES = ("critical", "error", "warning", "info", "unknown")
_LABEL_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-/]*$")


def actions_from_json(doc: dict[str, Any] | None) -> RuleActions:
    doc = doc or {}
    return RuleActions(
        escalation_policy_id=doc.get("escalation_policy_id") or None,
        template_id=doc.get("template_id") or None,
        channel_destinations=list(doc.get("channel_destinations") or []),
        ticket_provider=doc.get("ticket_provider") or None,
        set_severity=doc.get("set_severity") or None,
        set_labels=dict(doc.get("set_labels") or {}),
        suppress=bool(doc.get("suppress", False)),
    )


def actions_to_json(actions: RuleActions) -> dict[str, Any]:
    return {k: v for k, v in asdict(actions).items() if v not in (None, [], {}, False)}


def _rule_from_row(row: dict[str, Any]) -> RoutingRule:
    return RoutingRule(
        id=row["id"],
        name=row["name"],
        condition=row["condition"],
        actions=actions_from_json(row["actions"]),
        continue_=row["continue"],
        position=row["position"],
        version=row["version"],
        team_id=row["team_id"],
    )


def _problems_text(condition: str, problems: Sequence[Any]) -> str:
    parts = []
    for p in problems:
        where = ""
        if p.line is not None and p.column is not None:
            where = f" at line {p.line}, column {p.column}"
        elif p.position is not None:
            where = f" at offset {p.position}"
        parts.append(f"{p.message}{where}")
    return f"condition {condition!r} is invalid: " + "; ".join(parts)


async def _check(
    conn: Conn, router: Router | None, condition: str, actions: RuleActions,
    ticket_providers: Collection[str],
) -> None:
    if router is None:
        raise FailedPrecondition("no router plugin is installed; rules cannot be validated")
    if not condition.strip():
        raise InvalidArgument("a rule needs a condition (use 'true' to match every alert)")
    problems = router.validate(condition)
    if problems:
        raise InvalidArgument(_problems_text(condition, problems))
    await check_actions(conn, actions, ticket_providers)


def ticket_provider_problem(name: str | None, installed: Collection[str]) -> str | None:
    """Why ``name`` can't open tickets (it is not installed), or None when it can or is unset."""
    if not name or name in installed:
        return None
    have = ", ".join(sorted(installed)) if installed else "none"
    return f"ticket provider {name!r} is not installed (installed ticket providers: {have})"


async def check_actions(
    conn: Conn, actions: RuleActions, ticket_providers: Collection[str]
) -> None:
    """Refuse actions that could not be carried out; ``ticket_providers`` are the installed ones' names."""
    # A rule naming a provider that isn't installed would be stored and never open a ticket.
    if problem := ticket_provider_problem(actions.ticket_provider, ticket_providers):
        raise InvalidArgument(problem)
    if actions.set_severity and actions.set_severity not in _SEVERITIES:
        raise InvalidArgument(f"set_severity must be one of {', '.join(_SEVERITIES)}")
    for name in actions.set_labels:
        if not _LABEL_NAME.match(name):
            raise InvalidArgument(f"label name {name!r} is not valid")
    if actions.escalation_policy_id:
        cur = await conn.execute(
            "SELECT 1 FROM alerting.escalation_policies WHERE id = %s", (actions.escalation_policy_id,)
        )
        if await cur.fetchone() is None:
            raise InvalidArgument(f"escalation policy {actions.escalation_policy_id!r} does not exist")
    for dest in actions.channel_destinations:
        if not isinstance(dest, str) or ":" not in dest:
            raise InvalidArgument(f"channel destination {dest!r} must look like 'channel:address' (e.g. 'slack:#ops')")


async def _bump(conn: Conn) -> None:
    await conn.execute(
        """INSERT INTO alerting.routing_config (singleton, rules_version) VALUES (true, 1)
           ON CONFLICT (singleton) DO UPDATE SET rules_version = routing_config.rules_version + 1"""
    )
    await conn.execute("SELECT pg_notify('oncall_engine', 'rules')")


@dataclass(frozen=True)
class RuleInput:
    name: str
    condition: str
    actions: RuleActions
    continue_: bool = False
    #: the team it belongs to (None: no team); UNCHANGED: no team on create, the stored one on update
    team_id: str | None | teams.Unchanged = teams.UNCHANGED


async def create_rule(
    pool: Pool, router: Router | None, rule: RuleInput, position: int | None = None,
    *, ticket_providers: Collection[str] = (),
) -> RoutingRule:
    """Insert a rule at ``position`` (0-based; default: last), shifting later rules down.

    ``ticket_providers`` names the installed ticket providers (none by default): a rule
    naming another is refused, here and in ``update_rule`` and ``set_default``.
    """
    team = teams.after(None, rule.team_id)
    require("rules:write", "rules", team)
    if not rule.name.strip():
        raise InvalidArgument("a rule needs a name")
    async with pool.connection() as conn, conn.transaction():
        await _check(conn, router, rule.condition, rule.actions, ticket_providers)
        await conn.execute("LOCK TABLE alerting.routing_rules IN SHARE ROW EXCLUSIVE MODE")
        cur = await conn.execute("SELECT count(*) AS n FROM alerting.routing_rules")
        count = (await fetch_one(cur))["n"]
        pos = count if position is None or position < 0 or position > count else position
        await conn.execute(
            "UPDATE alerting.routing_rules SET position = position + 1 WHERE position >= %s", (pos,)
        )
        with violations(unique=f"a rule named {rule.name!r} already exists", foreign_key=teams.UNKNOWN_TEAM):
            cur = await conn.execute(
                """INSERT INTO alerting.routing_rules (name, condition, actions, continue, position, team_id)
                   VALUES (%s, %s, %s, %s, %s, %s) RETURNING *""",
                (rule.name, rule.condition, Jsonb(actions_to_json(rule.actions)), rule.continue_, pos, team),
            )
        row = await fetch_one(cur)
        await _bump(conn)
    return _rule_from_row(row)


async def update_rule(
    pool: Pool, router: Router | None, rule_id: str, rule: RuleInput,
    *, ticket_providers: Collection[str] = (), expected_version: int | None = None,
) -> RoutingRule:
    """Replace a rule. With ``expected_version``, an update made from a version someone has
    changed since is refused (Aborted) and changes nothing."""
    if not rule.name.strip():
        raise InvalidArgument("a rule needs a name")
    async with pool.connection() as conn, conn.transaction():
        stored = await _stored_team(conn, rule_id)
        team = teams.after(stored, rule.team_id)
        require("rules:write", f"rules/{rule_id}", stored, team)
        await _check(conn, router, rule.condition, rule.actions, ticket_providers)
        with violations(unique=f"a rule named {rule.name!r} already exists", foreign_key=teams.UNKNOWN_TEAM):
            cur = await conn.execute(
                """UPDATE alerting.routing_rules
                   SET name = %s, condition = %s, actions = %s, continue = %s, team_id = %s,
                       version = version + 1, updated_at = now()
                   WHERE id = %s AND (%s::integer IS NULL OR version = %s) RETURNING *""",
                (rule.name, rule.condition, Jsonb(actions_to_json(rule.actions)), rule.continue_, team, rule_id,
                 expected_version, expected_version),
            )
        row = await cur.fetchone()
        if row is None and expected_version is not None:
            cur = await conn.execute("SELECT name, version FROM alerting.routing_rules WHERE id = %s", (rule_id,))
            found = await cur.fetchone()
            if found is not None:
                raise Aborted(f"rule {found['name']!r} is at version {found['version']}, not {expected_version}: "
                              "someone changed it; read it again and redo the change")
        if row is None:
            raise NotFound(f"rule {rule_id!r} not found")
        await _bump(conn)
    return _rule_from_row(row)


async def _stored_team(conn: Conn, rule_id: str) -> str | None:
    """The team of a rule, its row locked for the change about to be made; NotFound when there is no rule."""
    cur = await conn.execute("SELECT team_id FROM alerting.routing_rules WHERE id = %s FOR UPDATE", (rule_id,))
    row = await cur.fetchone()
    if row is None:
        raise NotFound(f"rule {rule_id!r} not found")
    team: str | None = row["team_id"]
    return team


async def delete_rule(pool: Pool, rule_id: str) -> None:
    async with pool.connection() as conn, conn.transaction():
        await conn.execute("LOCK TABLE alerting.routing_rules IN SHARE ROW EXCLUSIVE MODE")
        require("rules:write", f"rules/{rule_id}", await _stored_team(conn, rule_id))
        cur = await conn.execute(
            "DELETE FROM alerting.routing_rules WHERE id = %s RETURNING position", (rule_id,)
        )
        row = await cur.fetchone()
        if row is None:
            raise NotFound(f"rule {rule_id!r} not found")
        await conn.execute(
            "UPDATE alerting.routing_rules SET position = position - 1 WHERE position > %s", (row["position"],)
        )
        await _bump(conn)


async def reorder_rules(pool: Pool, rule_ids: Sequence[str]) -> list[RoutingRule]:
    """Set the order of all rules at once: ``rule_ids`` must name every rule exactly once."""
    async with pool.connection() as conn, conn.transaction():
        await conn.execute("LOCK TABLE alerting.routing_rules IN SHARE ROW EXCLUSIVE MODE")
        cur = await conn.execute("SELECT id FROM alerting.routing_rules")
        existing = {r["id"] for r in await cur.fetchall()}
        if len(rule_ids) != len(set(rule_ids)) or set(rule_ids) != existing:
            missing = existing - set(rule_ids)
            unknown = set(rule_ids) - existing
            raise InvalidArgument(
                "reorder must list every rule exactly once"
                + (f"; missing: {sorted(missing)}" if missing else "")
                + (f"; unknown: {sorted(unknown)}" if unknown else "")
            )
        await conn.execute(
            """UPDATE alerting.routing_rules r SET position = t.pos, updated_at = now()
               FROM unnest(%s::text[]) WITH ORDINALITY AS t(id, pos)
               WHERE r.id = t.id""",
            (list(rule_ids),),
        )
        await conn.execute("UPDATE alerting.routing_rules SET position = position - 1")
        await _bump(conn)
    return await list_rules(pool)


async def list_rules(pool: Pool, only_teams: tuple[str, ...] | None = None) -> list[RoutingRule]:
    """Every rule in evaluation order, or only those of ``only_teams``."""
    async with pool.connection() as conn:
        cur = await conn.execute(
            """SELECT * FROM alerting.routing_rules
               WHERE %s::text[] IS NULL OR team_id = ANY(%s::text[]) ORDER BY position""",
            (teams.param(only_teams), teams.param(only_teams)))
        return [_rule_from_row(r) for r in await cur.fetchall()]


async def get_rule(pool: Pool, rule_id: str) -> RoutingRule:
    async with pool.connection() as conn:
        cur = await conn.execute("SELECT * FROM alerting.routing_rules WHERE id = %s", (rule_id,))
        row = await cur.fetchone()
    if row is None:
        raise NotFound(f"rule {rule_id!r} not found")
    return _rule_from_row(row)


async def get_default(pool: Pool) -> RuleActions:
    async with pool.connection() as conn:
        cur = await conn.execute("SELECT default_actions FROM alerting.routing_config")
        row = await cur.fetchone()
    return actions_from_json(row["default_actions"] if row else None)


async def set_default(
    pool: Pool, actions: RuleActions, *, ticket_providers: Collection[str] = ()
) -> RuleActions:
    async with pool.connection() as conn, conn.transaction():
        await check_actions(conn, actions, ticket_providers)
        await conn.execute(
            """INSERT INTO alerting.routing_config (singleton, default_actions, rules_version)
               VALUES (true, %s, 1)
               ON CONFLICT (singleton) DO UPDATE
               SET default_actions = EXCLUDED.default_actions,
                   rules_version = routing_config.rules_version + 1""",
            (Jsonb(actions_to_json(actions)),),
        )
    return actions


class RuleCache:
    """The ordered rules and default route, reloaded only when ``rules_version`` moves."""

    def __init__(self) -> None:
        self.version = -1
        self.rules: list[RoutingRule] = []
        self.default = RuleActions()
        self.reloaded = False  # set when load() read a new rule set; the reader clears it

    async def load(self, conn: Conn) -> tuple[list[RoutingRule], RuleActions]:
        cur = await conn.execute("SELECT rules_version, default_actions FROM alerting.routing_config")
        row = await cur.fetchone() or {"rules_version": 0, "default_actions": {}}
        if row["rules_version"] != self.version:
            cur = await conn.execute("SELECT * FROM alerting.routing_rules ORDER BY position")
            self.rules = [_rule_from_row(r) for r in await cur.fetchall()]
            self.default = actions_from_json(row["default_actions"])
            self.version = row["rules_version"]
            self.reloaded = True
        return self.rules, self.default
