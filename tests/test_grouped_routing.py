"""A grouped alert's own routing counts: an alert that joins an incident pages through its
route's policy when the incident does not escalate through it already (its first alert was
suppressed, silenced, or routed to another team), posts to its route's channels the incident
has not posted to, and never pages anyone twice for one step. An acknowledged incident whose
acknowledged alerts resolve while alerts that joined it later are triggered is triggered
again and escalates from its first step.

The engine runs with a frozen clock (``run_once`` after each move); alerts arrive through the
ingestor, as from a webhook.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from conftest import RunningServer, run_server, server_settings
from fixtures.grouping import add_rule, assert_counters_true, incidents, rows
from oncall_hookspecs import Action, AlertEvent, RuleActions

from oncall.alerting import store
from oncall.alerting.incidents import acknowledge_incident
from oncall.clock import Clock
from oncall.escalation import silences
from oncall.escalation.engine import Engine
from oncall.escalation.policies import Policy, PolicyInput, Step, Target, create_policy
from oncall.escalation.state import escalate_incident_now, escalation_state
from oncall.routing import rules


@pytest.fixture
async def server(db_url: str) -> AsyncIterator[RunningServer]:
    async with run_server(server_settings(db_url, engine=False)) as running:
        yield running


class Env:
    """One integration whose alerts a grouping rule on ``alertname`` makes one incident."""

    def __init__(self, server: RunningServer, clock: Clock) -> None:
        self.ctx = server.ctx
        self.clock = clock
        self.engine = Engine(self.ctx, clock=clock)
        self.integration: Any = None

    async def set_up(self, key: str = "labels.alertname", **rule: Any) -> None:
        await add_rule(self.ctx, name="grouped", key=key, **rule)
        self.integration, _ = await store.create_integration(self.ctx.pool, "generic", f"g-{uuid.uuid4().hex[:6]}")

    async def policy(self, name: str, *users: str, delay: int = 300) -> Policy:
        """Step i pages users[i]; steps ``delay`` seconds apart; no repeat."""
        steps = [Step(0 if i == 0 else delay, (Target("user", u),)) for i, u in enumerate(users)]
        return await create_policy(self.ctx.pool, PolicyInput(name=name, steps=steps, repeat=0,
                                                              repeat_delay_seconds=300))

    async def rule(self, name: str, condition: str, actions: RuleActions) -> None:
        await rules.create_rule(self.ctx.pool, self.engine.routing.router,
                                rules.RuleInput(name=name, condition=condition, actions=actions))

    async def send(self, key: str, env: str = "prod", action: Action = Action.TRIGGER,
                   severity: str = "critical") -> None:
        ing = self.ctx.ingestor
        ev = AlertEvent(action=action, dedup_key=key, summary=f"DBDown {env} {key}", severity=severity,
                        labels={"alertname": "DBDown", "env": env})
        await ing.submit(self.integration.id, ing.prepare([ev], self.integration))
        await self.engine.run_once()

    async def advance(self, seconds: int) -> None:
        self.clock.advance(seconds)
        await self.engine.run_once()

    async def alert_id(self, key: str) -> int:
        found = await rows(self.ctx.pool, "SELECT id FROM alerting.alerts WHERE dedup_key = %s", key)
        return int(found[0]["id"])

    async def pages(self) -> list[tuple[int, str, int]]:
        """(alert id, user, step) of every page to a person, in order."""
        found = await rows(self.ctx.pool, """SELECT alert_id, target_id, step FROM alerting.notification_requests
                                             WHERE target_kind = 'user' ORDER BY id""")
        return [(r["alert_id"], r["target_id"], r["step"]) for r in found]

    async def posts(self) -> list[tuple[int, str]]:
        found = await rows(self.ctx.pool, """SELECT alert_id, target_id FROM alerting.notification_requests
                                             WHERE target_kind = 'channel' ORDER BY id""")
        return [(r["alert_id"], r["target_id"]) for r in found]

    async def the_incident(self) -> dict[str, Any]:
        found = await incidents(self.ctx.pool)
        assert len(found) == 1, found
        assert_counters_true(found)
        return found[0]

    async def timeline(self) -> list[tuple[str, str]]:
        found = await rows(self.ctx.pool, "SELECT kind, note FROM alerting.incident_events ORDER BY id")
        return [(r["kind"], r["note"] or "") for r in found]


@pytest.fixture
async def env(server: RunningServer, clock: Clock) -> Env:
    e = Env(server, clock)
    await e.set_up()
    return e


async def test_an_alert_joining_an_incident_whose_first_alert_was_suppressed_pages(env: Env) -> None:
    db = await env.policy("db", "alice", "bob")
    await rules.set_default(env.ctx.pool, RuleActions(escalation_policy_id=db.id))
    await env.rule("staging is quiet", 'labels.env == "staging"', RuleActions(suppress=True))

    await env.send("staging-db", env="staging")
    assert await env.pages() == []
    await env.send("prod-db", env="prod")
    prod = await env.alert_id("prod-db")
    assert await env.pages() == [(prod, "alice", 0)]
    await env.advance(300)
    assert await env.pages() == [(prod, "alice", 0), (prod, "bob", 1)]
    incident = await env.the_incident()
    assert incident["alert_count"] == 2
    assert any(kind == "escalation_started" and f"alert #{prod}" in note for kind, note in await env.timeline())


async def test_one_suppressed_info_alert_does_not_mute_the_integration(server: RunningServer, clock: Clock) -> None:
    """The shipped preset ``integration-30m``'s shape: the integration's alerts are one incident; info is suppressed."""
    env = Env(server, clock)
    await env.set_up(key="integration", window=1800)
    db = await env.policy("db", "alice")
    await rules.set_default(env.ctx.pool, RuleActions(escalation_policy_id=db.id))
    await env.rule("info is quiet", 'severity == "info"', RuleActions(suppress=True))
    await env.send("disk-80", severity="info")
    await env.send("disk-full", severity="critical")
    await env.send("disk-90", severity="info")  # suppressed again: pages no one, stops nothing
    assert await env.pages() == [(await env.alert_id("disk-full"), "alice", 0)]
    assert (await env.the_incident())["alert_count"] == 3


async def test_an_alert_routed_to_another_team_pages_that_team_too(env: Env) -> None:
    a = await env.policy("team a", "alice", "ann")
    b = await env.policy("team b", "bob", "ben")
    await rules.set_default(env.ctx.pool, RuleActions(escalation_policy_id=a.id))
    await env.rule("team b", 'labels.env == "prod"', RuleActions(escalation_policy_id=b.id))

    await env.send("staging-db", env="staging")
    await env.send("prod-db", env="prod")
    staging, prod = await env.alert_id("staging-db"), await env.alert_id("prod-db")
    assert await env.pages() == [(staging, "alice", 0), (prod, "bob", 0)]
    await env.advance(300)
    assert sorted(await env.pages()) == sorted([(staging, "alice", 0), (prod, "bob", 0),
                                                (staging, "ann", 1), (prod, "ben", 1)])
    escalations = await rows(env.ctx.pool, "SELECT policy_id, alert_id FROM alerting.escalations ORDER BY alert_id")
    assert [(e["policy_id"], e["alert_id"]) for e in escalations] == [(a.id, staging), (b.id, prod)]
    assert (await escalation_state(env.ctx.pool, staging)).policy_id == a.id
    assert (await escalation_state(env.ctx.pool, prod)).policy_id == b.id


async def test_escalating_by_hand_escalates_each_policy_of_the_incident(env: Env) -> None:
    a = await env.policy("team a", "alice", "ann", delay=3600)
    b = await env.policy("team b", "bob", "ben", delay=3600)
    await rules.set_default(env.ctx.pool, RuleActions(escalation_policy_id=a.id))
    await env.rule("team b", 'labels.env == "prod"', RuleActions(escalation_policy_id=b.id))
    await env.send("staging-db", env="staging")
    await env.send("prod-db", env="prod")
    incident = await env.the_incident()
    await escalate_incident_now(env.ctx.pool, incident["id"], "carol", env.clock.now())
    await env.advance(1)
    assert sorted(user for _, user, _ in await env.pages()) == ["alice", "ann", "ben", "bob"]


async def test_acknowledging_the_incident_stops_every_escalation_of_it(env: Env) -> None:
    a = await env.policy("team a", "alice", "ann")
    b = await env.policy("team b", "bob", "ben")
    await rules.set_default(env.ctx.pool, RuleActions(escalation_policy_id=a.id))
    await env.rule("team b", 'labels.env == "prod"', RuleActions(escalation_policy_id=b.id))
    await env.send("staging-db", env="staging")
    await env.send("prod-db", env="prod")
    incident = await env.the_incident()
    await acknowledge_incident(env.ctx.pool, incident["id"], "alice", now=env.clock.now())
    await env.advance(3600)
    assert [user for _, user, _ in await env.pages()] == ["alice", "bob"]
    states = await rows(env.ctx.pool, "SELECT state FROM alerting.escalations")
    assert [s["state"] for s in states] == ["stopped", "stopped"]


async def test_a_joining_alert_of_the_same_policy_pages_no_one_twice(env: Env) -> None:
    db = await env.policy("db", "alice", "bob")
    await rules.set_default(env.ctx.pool, RuleActions(escalation_policy_id=db.id))
    await env.send("db-1")
    await env.send("db-2")
    await env.advance(150)
    await env.send("db-3")
    await env.advance(3600)
    first = await env.alert_id("db-1")
    assert await env.pages() == [(first, "alice", 0), (first, "bob", 1)]
    assert len(await rows(env.ctx.pool, "SELECT 1 FROM alerting.escalations")) == 1


async def test_a_silenced_first_alert_then_an_unsilenced_one_pages(env: Env) -> None:
    db = await env.policy("db", "alice", "bob")
    await rules.set_default(env.ctx.pool, RuleActions(escalation_policy_id=db.id))
    await silences.create_silence(env.ctx.pool, None, silences.SilenceInput(
        created_by="ops", ends_at=env.clock.now() + timedelta(hours=2),
        matchers=[silences.parse_matcher("env=staging")], comment="staging rebuild"), env.clock.now())
    await env.send("staging-db", env="staging")
    assert await env.pages() == []
    await env.send("prod-db", env="prod")
    prod = await env.alert_id("prod-db")
    assert await env.pages() == [(prod, "alice", 0)]
    await env.advance(300)
    assert await env.pages() == [(prod, "alice", 0), (prod, "bob", 1)]
    assert any(kind == "escalation_resumed" for kind, _ in await env.timeline())


async def test_a_joining_alert_posts_only_to_channels_the_incident_was_not_posted_to(env: Env) -> None:
    db = await env.policy("db", "alice")
    await rules.set_default(env.ctx.pool, RuleActions(escalation_policy_id=db.id,
                                                      channel_destinations=["slack:#db"]))
    await env.rule("prod", 'labels.env == "prod"', RuleActions(
        escalation_policy_id=db.id, channel_destinations=["slack:#db", "slack:#prod"]))
    await env.send("staging-db", env="staging")
    await env.send("prod-db", env="prod")
    staging, prod = await env.alert_id("staging-db"), await env.alert_id("prod-db")
    assert await env.posts() == [(staging, "slack:#db"), (prod, "slack:#prod")]


async def test_an_acknowledged_incident_whose_acknowledged_alert_resolves_pages_for_the_triggered_one(
    env: Env,
) -> None:
    db = await env.policy("db", "alice", "bob")
    await rules.set_default(env.ctx.pool, RuleActions(escalation_policy_id=db.id))
    await env.send("a")
    await env.send("a", action=Action.ACKNOWLEDGE)
    await env.send("b")  # joins the acknowledged incident: someone is on it, no one is paged
    a, b = await env.alert_id("a"), await env.alert_id("b")
    assert await env.pages() == [(a, "alice", 0)]
    assert (await env.the_incident())["status"] == "acknowledged"

    await env.send("a", action=Action.RESOLVE)
    # the ingestor stamps the restart with the server's (system) clock: move the frozen one past it
    await env.advance(int((datetime.now(UTC) - env.clock.now()).total_seconds()) + 1)
    incident = await env.the_incident()
    assert (incident["status"], incident["open_alerts"], incident["triggered_alerts"]) == ("triggered", 1, 1)
    assert incident["acknowledged_at"] is None
    assert await env.pages() == [(a, "alice", 0), (b, "alice", 0)]
    await env.advance(300)
    assert await env.pages() == [(a, "alice", 0), (b, "alice", 0), (b, "bob", 1)]
    assert ("triggered", "no open alert is acknowledged any more and some are triggered: "
                         "its escalation starts again from the first step") in await env.timeline()

    await env.send("b", action=Action.ACKNOWLEDGE)  # acknowledging again stops it again
    await env.advance(3600)
    assert len(await env.pages()) == 3
    assert (await env.the_incident())["status"] == "acknowledged"


async def test_an_alert_of_another_team_joining_an_acknowledged_incident_pages_that_team(env: Env) -> None:
    a = await env.policy("team a", "alice", "ann")
    b = await env.policy("team b", "bob")
    await rules.set_default(env.ctx.pool, RuleActions(escalation_policy_id=a.id))
    await env.rule("team b", 'labels.env == "prod"', RuleActions(escalation_policy_id=b.id))
    await env.send("staging-db", env="staging")
    incident = await env.the_incident()
    await acknowledge_incident(env.ctx.pool, incident["id"], "alice", now=env.clock.now())
    await env.send("prod-db", env="prod")
    staging, prod = await env.alert_id("staging-db"), await env.alert_id("prod-db")
    assert (await env.the_incident())["status"] == "triggered"
    await env.advance(3600)  # team a's acknowledged escalation stays stopped: ann is never paged
    assert await env.pages() == [(staging, "alice", 0), (prod, "bob", 0)]


async def test_an_alert_of_the_same_team_joining_an_acknowledged_incident_pages_no_one(env: Env) -> None:
    db = await env.policy("db", "alice", "bob")
    await rules.set_default(env.ctx.pool, RuleActions(escalation_policy_id=db.id))
    await env.send("a")
    incident = await env.the_incident()
    await acknowledge_incident(env.ctx.pool, incident["id"], "alice", now=env.clock.now())
    await env.send("b")
    await env.advance(3600)
    assert await env.pages() == [(await env.alert_id("a"), "alice", 0)]
    assert (await env.the_incident())["status"] == "acknowledged"


async def test_a_graver_alert_joining_an_acknowledged_incident_re_pages_when_the_rule_says_so(
    server: RunningServer, clock: Clock,
) -> None:
    env = Env(server, clock)
    await env.set_up(repage=True)
    db = await env.policy("db", "alice", "bob")
    await rules.set_default(env.ctx.pool, RuleActions(escalation_policy_id=db.id))
    await env.send("a", severity="warning")
    await env.send("a", action=Action.ACKNOWLEDGE)
    await env.send("b", severity="warning")  # as grave: no one is paged
    a = await env.alert_id("a")
    assert await env.pages() == [(a, "alice", 0)]
    await env.send("c", severity="critical")
    assert await env.pages() == [(a, "alice", 0), (a, "alice", 0)]
    assert (await env.the_incident())["status"] == "triggered"
    assert [kind for kind, _ in await env.timeline()].count("repaged") == 1


async def test_an_alert_joining_an_acknowledged_manual_incident_whose_alerts_all_resolved_pages(
    server: RunningServer, clock: Clock,
) -> None:
    env = Env(server, clock)
    await env.set_up(resolve_on="manual")
    db = await env.policy("db", "alice")
    await rules.set_default(env.ctx.pool, RuleActions(escalation_policy_id=db.id))
    await env.send("a")
    await env.send("a", action=Action.ACKNOWLEDGE)
    await env.send("a", action=Action.RESOLVE)  # manual: the incident stays acknowledged
    assert (await env.the_incident())["status"] == "acknowledged"
    await env.send("b")
    a, b = await env.alert_id("a"), await env.alert_id("b")
    assert await env.pages() == [(a, "alice", 0), (b, "alice", 0)]
    assert (await env.the_incident())["status"] == "triggered"
