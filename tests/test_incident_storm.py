"""Storms through the real Alertmanager webhook: one group, one incident, one page per target per step.

Alertmanager sends a whole group in one POST (and again as it changes); a grouping rule keyed
on the group (the source puts Alertmanager's ``groupKey`` in ``annotations.groupKey``) makes
it one incident. The escalation engine runs on the frozen clock, so the test decides when each
step is due, and counts the notification requests the engine wrote.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from conftest import RunningServer, run_server, server_settings
from fixtures.grouping import GROUP_KEY, add_rule, assert_counters_true, incidents, rows
from fixtures.grouping import am_entry as entry
from fixtures.grouping import am_group as group
from fixtures.webhooks import post_json
from oncall_hookspecs import RuleActions

from oncall.clock import Clock
from oncall.escalation.engine import Engine
from oncall.escalation.policies import PolicyInput, Step, Target, create_policy
from oncall.routing import rules

PATH = "/api/v1/webhooks/alertmanager"
async def replay(server: RunningServer, key: str, entries: list[dict[str, Any]], **kw: Any) -> list[str]:
    status, body = await post_json(server, PATH, group(entries, **kw), key=key)
    assert status == 200, body
    return [a["outcome"] for a in body["alerts"]]


@pytest.fixture
async def quiet_server(db_url: str) -> AsyncIterator[RunningServer]:
    """The whole server without its engine: the test runs the engine itself, on the frozen clock."""
    async with run_server(server_settings(db_url, engine=False)) as running:
        yield running


async def test_an_alertmanager_group_firing_partly_resolving_and_resolving_is_one_incident(quiet_server):
    server = quiet_server
    await add_rule(server.ctx, name="Alertmanager group", key="annotations.groupKey")
    _, key = await server.integration("alertmanager")

    assert await replay(server, key, [entry(i) for i in range(5)]) == ["created"] * 5
    [incident] = await incidents(server.ctx.pool)
    assert (incident["n"], incident["status"], incident["group_key"]) == (5, "triggered", GROUP_KEY)

    # Alertmanager's next notification: the whole group, two of them now resolved
    partial = [entry(i, "resolved" if i < 2 else "firing") for i in range(5)]
    assert await replay(server, key, partial) == ["resolved"] * 2 + ["duplicate"] * 3
    [incident] = await incidents(server.ctx.pool)
    assert (incident["status"], incident["open_alerts"], incident["alert_count"]) == ("triggered", 3, 5)

    # and the last: all resolved (the two already resolved are ignored)
    assert await replay(server, key, [entry(i, "resolved") for i in range(5)]) == ["ignored"] * 2 + ["resolved"] * 3
    [incident] = await incidents(server.ctx.pool)
    assert (incident["status"], incident["open_alerts"], incident["join_key"]) == ("resolved", 0, None)
    assert_counters_true([incident])

    # the group fires again: a new incident, its alerts new alerts
    assert await replay(server, key, [entry(i) for i in range(2)]) == ["created"] * 2
    old, new = await incidents(server.ctx.pool)
    assert (old["n"], new["n"], new["status"]) == (5, 2, "triggered")


async def test_two_alertmanager_groups_make_two_incidents_and_an_ungrouped_source_is_untouched(quiet_server):
    server = quiet_server
    _, key = await server.integration("alertmanager")
    integration_id, _ = await server.integration("generic")
    await add_rule(server.ctx, name="Alertmanager group", key="annotations.groupKey",
                   integration_id=(await rows(server.ctx.pool, "SELECT id FROM alerting.integrations"
                                               " WHERE source = 'alertmanager'"))[0]["id"])
    await replay(server, key, [entry(i) for i in range(3)])
    await replay(server, key, [entry(i) for i in range(3, 6)], group_key=GROUP_KEY + "-other")
    found = await incidents(server.ctx.pool)
    assert sorted(i["n"] for i in found) == [3, 3]


async def test_a_storm_of_2000_alerts_in_one_group_pages_once_per_target_per_step(quiet_server, clock: Clock):
    server = quiet_server
    ctx = server.ctx
    policy = await create_policy(ctx.pool, PolicyInput(
        name="db", steps=[Step(0, (Target("user", "alice"),)), Step(300, (Target("user", "bob"),))],
        repeat=0, repeat_delay_seconds=300))
    await rules.set_default(ctx.pool, RuleActions(escalation_policy_id=policy.id))
    await add_rule(ctx, name="Alertmanager group", key="annotations.groupKey")
    _, key = await server.integration("alertmanager")
    engine = Engine(ctx, clock=clock)

    # the group's first notification, routed and paged, then the rest of the storm in a few more
    assert await replay(server, key, [entry(i) for i in range(500)]) == ["created"] * 500
    await engine.run_once()
    sent = await asyncio.gather(*(replay(server, key, [entry(i) for i in range(n, n + 500)])
                                  for n in (500, 1000, 1500)))
    assert all(outcomes == ["created"] * 500 for outcomes in sent)
    # Alertmanager repeats the whole group at its group_interval: duplicates only
    assert set(await replay(server, key, [entry(i) for i in range(2000)])) == {"duplicate"}
    await engine.run_once()
    clock.advance(300)
    await engine.run_once()
    clock.advance(3600)
    await engine.run_once()

    [incident] = await incidents(ctx.pool)
    assert incident["n"] == incident["alert_count"] == 2000
    assert_counters_true([incident])
    pages = await rows(ctx.pool, """SELECT step, target_kind, target_id, incident_id, count(*)::int AS n
                                    FROM alerting.notification_requests GROUP BY 1, 2, 3, 4 ORDER BY 1""")
    assert pages == [
        {"step": 0, "target_kind": "user", "target_id": "alice", "incident_id": incident["id"], "n": 1},
        {"step": 1, "target_kind": "user", "target_id": "bob", "incident_id": incident["id"], "n": 1},
    ]
    [paged] = await rows(ctx.pool, "SELECT DISTINCT alert_id FROM alerting.notification_requests")
    assert paged["alert_id"] == incident["first_alert_id"]
    joined = await rows(ctx.pool, """SELECT count(*)::int AS n, count(DISTINCT alert_id)::int AS alerts
                                     FROM alerting.incident_events WHERE incident_id = %s AND kind = 'alert_joined'""",
                        incident["id"])
    assert joined == [{"n": 1999, "alerts": 1999}]
    [unrouted] = await rows(ctx.pool, "SELECT count(*)::int AS n FROM alerting.alerts WHERE routed_at IS NULL")
    assert unrouted["n"] == 0


async def test_without_a_grouping_rule_each_alert_of_a_group_pages_on_its_own(quiet_server, clock: Clock):
    server = quiet_server
    ctx = server.ctx
    policy = await create_policy(ctx.pool, PolicyInput(
        name="db", steps=[Step(0, (Target("user", "alice"),))], repeat=0, repeat_delay_seconds=300))
    await rules.set_default(ctx.pool, RuleActions(escalation_policy_id=policy.id))
    _, key = await server.integration("alertmanager")
    engine = Engine(ctx, clock=clock)
    await replay(server, key, [entry(i) for i in range(5)])
    await engine.run_once()
    found = await incidents(ctx.pool)
    assert len(found) == 5 and all(i["n"] == 1 and i["rule_id"] is None for i in found)
    pages = await rows(ctx.pool, """SELECT incident_id, count(*)::int AS n FROM alerting.notification_requests
                                    GROUP BY 1 ORDER BY 1""")
    assert pages == [{"incident_id": i["id"], "n": 1} for i in found]
