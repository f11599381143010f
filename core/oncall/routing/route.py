"""The routing pass: each new alert gets its decision (the router plugin over the stored
rules), the labels and severity the decision sets, the silence that holds it, and the
timeline events that say so.

The escalation engine claims the alerts and writes the outcome in the same transaction as
the escalation it starts; TestRoute's dry run decides through the same ``route``, so a
preview cannot drift from the real thing.
"""

from __future__ import annotations

import gc
import logging
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from typing import Any

import orjson
from oncall_hookspecs import AlertView, RoutingDecision, Router, RoutingRule, RuleActions

from ..alerting import store
from ..alerting.models import Alert
from ..context import Context
from ..escalation.silences import Silence, first_match
from ..store.database import Conn
from .rules import RuleCache, ticket_provider_problem

log = logging.getLogger(__name__)


def pick_router(ctx: Context) -> Router | None:
    """The router plugin ``ONCALL_ROUTER`` names; another installed one (with a warning) if it is absent."""
    name = ctx.settings.router
    router = ctx.registry.routers.get(name)
    if router is None and ctx.registry.routers:
        log.warning("router %r is not installed; routing with %r", name, next(iter(ctx.registry.routers)))
        router = next(iter(ctx.registry.routers.values()))
    return router


@dataclass(frozen=True, slots=True)
class Routed:
    """One alert's routing outcome, for the engine to write and act on."""

    alert: Alert  # as this routing leaves it, exactly as a later pass reads it back from its row
    decision: RoutingDecision
    silence: Silence | None
    #: (kind, note, data) for the alert's timeline, in order
    events: list[tuple[str, str, dict[str, Any] | None]] = field(default_factory=list)

    @property
    def policy_id(self) -> str | None:
        return self.alert.escalation_policy_id

    def row(self) -> tuple[Any, ...]:
        """(routed_at, routing json, policy id, severity, labels json, silenced_by) for the alert's row."""
        a = self.alert
        return (a.routed_at, orjson.dumps(a.routing).decode(), a.escalation_policy_id, a.severity,
                orjson.dumps(dict(a.labels)).decode(), a.silenced_by)


class Routing:
    """Decides where alerts go: the router plugin, the rules it evaluates (cached by version), the silences."""

    def __init__(self, ctx: Context) -> None:
        self.router = pick_router(ctx)
        self.rules = RuleCache()
        self._ticket_providers = ctx.registry.ticket_providers

    async def claim(self, conn: Conn, limit: int) -> list[Alert]:
        """Up to ``limit`` alerts not yet routed, oldest first, locked for this transaction."""
        cur = await conn.execute(
            f"""SELECT {store.ALERT_COLUMNS} FROM {store.ALERT_FROM}
                WHERE a.routed_at IS NULL ORDER BY a.id LIMIT %s
                FOR UPDATE OF a SKIP LOCKED""",
            (limit,),
        )
        return [Alert.from_row(row) for row in await cur.fetchall()]

    async def load_rules(self, conn: Conn) -> tuple[list[RoutingRule], RuleActions]:
        return await self.rules.load(conn)

    def settle(self) -> None:
        """After a batch: if the router compiled a new rule set, move it, and everything else
        long-lived, out of the garbage collector's view, so its full passes don't stall routing."""
        if self.rules.reloaded:
            self.rules.reloaded = False
            gc.collect()
            gc.freeze()

    async def decide(self, alert: AlertView, rules: Any, default: Any) -> RoutingDecision:
        if self.router is None:
            return RoutingDecision(
                escalation_policy_id=default.escalation_policy_id,
                template_id=default.template_id,
                channel_destinations=list(default.channel_destinations),
                ticket_provider=default.ticket_provider,
                suppress=default.suppress,
                default_route=True,
                errors=["no router plugin is installed: the default route applied"],
            )
        return await self.router.route(alert, rules, default)

    async def route(
        self, view: AlertView, rules: Any, default: Any, silences: list[Silence]
    ) -> tuple[RoutingDecision, AlertView, Silence | None]:
        """Decide, apply the decision's labels and severity, then find the silence that holds it.

        The one definition of "what routing does to an alert", shared by real routing and
        by TestRoute's dry run, so the preview cannot drift from the real thing.
        """
        decision = await self.decide(view, rules, default)
        # a rule saved before its provider was uninstalled: said on the timeline (and in
        # TestRoute), not silently ignored
        if problem := ticket_provider_problem(decision.ticket_provider, self._ticket_providers):
            decision.errors.append(problem + ": no ticket is opened")
        routed = replace(view, labels={**view.labels, **decision.labels}, severity=decision.severity or view.severity)
        if decision.suppress:
            return decision, routed, None
        silence = await first_match(silences, routed, decision.escalation_policy_id, self.router)
        return decision, routed, silence

    async def route_alert(
        self, alert: Alert, rules: Any, default: Any, silences: list[Silence], now: datetime,
    ) -> Routed:
        """Route one claimed alert: its decision, the alert as routed, and what its timeline says."""
        decision, view, silence = await self.route(alert.view(), rules, default, silences)
        policy_id = None if decision.suppress else decision.escalation_policy_id
        stored = asdict(decision)
        # the alert keeps the rules that mattered; the full trace is TestRoute's (1,000 rules
        # would otherwise mean 1,000 trace entries stored with every alert)
        stored["trace"] = [t for t in stored["trace"] if t["matched"] or (t["error"] and any(
            e.startswith(f"rule {t['rule_name']!r}") for e in decision.errors))]
        routed = replace(alert, labels=dict(view.labels), severity=view.severity, routed_at=now, routing=stored,
                         escalation_policy_id=policy_id, silenced_by=silence.id if silence else None)
        if decision.matched_rules:
            note = "routed by rule " + ", ".join(repr(n) for n in decision.matched_rules)
        else:
            note = "routed by the default route"
        events: list[tuple[str, str, dict[str, Any] | None]] = [("routed", note, {
            "matched_rules": decision.matched_rules, "escalation_policy_id": decision.escalation_policy_id,
            "template_id": decision.template_id, "channel_destinations": decision.channel_destinations,
            "ticket_provider": decision.ticket_provider, "suppress": decision.suppress,
        })]
        events += [("routing_error", err, None) for err in decision.errors]
        if decision.suppress:
            events.append(("suppressed", "suppressed by routing: no one is paged", None))
        elif silence is not None:
            events.append(("silenced", f"silenced by {silence.id}: {silence.comment}".rstrip(": "),
                           {"silence_id": silence.id}))
        return Routed(routed, decision, silence, events)
