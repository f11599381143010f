"""Grouping at ingest against real PostgreSQL: alerts join or open incidents by key, race-proof.

Each test stores a grouping rule with SQL (as the grouping service will), announces it and
reloads the rules, then sends alerts and checks what the database holds: how many incidents,
which alerts are in which, and that every incident's counters equal the counts over its
alerts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from fixtures.grouping import add_rule, assert_counters_true, incidents, rows, wait_for_lock_wait
from oncall_hookspecs import Action, AlertEvent, IngestOutcome

from oncall.alerting import store
from oncall.alerting.incidents import resolve_incident
from oncall.alerting.ingest import Ingestor, apply_events
from oncall.alerting.models import Integration
from oncall.clock import Clock
from oncall.errors import FailedPrecondition
from oncall.grouping.assign import GroupingCache
from oncall.routing.route import pick_router
from oncall.store.database import open_pool

WEBHOOK = "/api/v1/webhooks/generic"


def event(key: str, action: Action = Action.TRIGGER, alertname: str = "DBDown", cluster: str = "eu-1",
          severity: str = "warning") -> AlertEvent:
    return AlertEvent(action=action, dedup_key=key, summary=f"{alertname} {key}", severity=severity,
                      labels={"alertname": alertname, "cluster": cluster})


async def send(ingestor: Ingestor, integration: Integration, *events: AlertEvent) -> list[Any]:
    """Events of one webhook, through ``ingestor`` (grouped as the HTTP path groups them)."""
    return await ingestor.submit(integration.id, ingestor.prepare(list(events), integration))


async def new_integration(ctx: Any, source: str = "generic") -> Integration:
    integration, _ = await store.create_integration(ctx.pool, source, f"{source}-{uuid.uuid4().hex[:6]}")
    return integration


async def alert_incident(pool: Any, dedup_key: str) -> list[int]:
    """The incident of each alert with ``dedup_key``, oldest alert first."""
    return [r["incident_id"] for r in await rows(
        pool, "SELECT incident_id FROM alerting.alerts WHERE dedup_key = %s ORDER BY id", dedup_key)]


@pytest.fixture
async def frozen(ctx: Any, clock: Clock) -> AsyncIterator[Ingestor]:
    """An Ingestor on the frozen clock, with the context's grouping rules."""
    ingestor = Ingestor(ctx.pool, clock=clock, grouping=ctx.ingestor.grouping)
    ingestor.start()
    yield ingestor
    await ingestor.stop()


# --------------------------------------------------------------------------- races


async def test_fifty_concurrent_webhooks_sharing_a_group_key_make_one_incident_of_fifty(server):
    await add_rule(server.ctx, key="summary")
    _, key = await server.integration("generic")
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:

        async def post(i: int) -> tuple[int, dict[str, Any]]:
            async with http.post(server.http_url + WEBHOOK, json={"summary": "payments-db down", "dedup": f"db-{i}"},
                                 headers={"Authorization": f"Bearer {key}", "Accept": "application/json"}) as r:
                return r.status, await r.json()

        answers = await asyncio.gather(*(post(i) for i in range(50)))

    assert [status for status, _ in answers] == [200] * 50
    assert {body["outcome"] for _, body in answers} == {"created"}
    [incident] = await incidents(server.ctx.pool)
    assert incident["n"] == incident["alert_count"] == 50
    assert incident["group_key"] == incident["join_key"] == "payments-db down"
    assert incident["status"] == "triggered"
    assert_counters_true([incident])
    [first] = await rows(server.ctx.pool, "SELECT min(id) AS id FROM alerting.alerts")
    assert incident["first_alert_id"] == first["id"]


async def test_two_replicas_racing_on_one_group_key_make_one_incident_per_key(ctx, db_url):
    """Two Ingestors on separate pools (two replicas): both may open the key's incident at
    once; the unique index lets one in and the other's batch is applied again, joining it."""
    await add_rule(ctx)
    integration = await new_integration(ctx)
    other_pool = await open_pool(db_url, 1, 8)
    other_grouping = GroupingCache(other_pool, pick_router(ctx))
    await other_grouping.refresh()
    other = Ingestor(other_pool, grouping=other_grouping)
    other.start()
    try:
        for rnd in range(8):
            cluster = f"c{rnd}"
            sends = [send(ing, integration, event(f"r{rnd}-{i}-{n}", cluster=cluster))
                     for i in range(20) for n, ing in enumerate((ctx.ingestor, other))]
            results = await asyncio.gather(*sends)
            assert {r.outcome for [r] in results} == {IngestOutcome.CREATED}
    finally:
        await other.stop()
        await other_pool.close()
    found = await incidents(ctx.pool)
    assert len(found) == 8
    assert [i["n"] for i in found] == [40] * 8
    assert_counters_true(found)


async def test_an_incident_opened_by_another_transaction_meanwhile_is_joined_after_a_retry(ctx, caplog):
    """The alerts_incident_fk retry, made to happen: another transaction opens the key's
    incident and commits while this batch, having seen none, tries to open it too."""
    caplog.set_level(logging.INFO, logger="oncall.alerting.ingest")
    await add_rule(ctx)
    integration = await new_integration(ctx)
    held = [(integration.id, ctx.ingestor.prepare([event("a")], integration))]
    async with ctx.pool.connection() as conn:
        async with conn.transaction():
            await apply_events(conn, held)
            racing = asyncio.create_task(send(ctx.ingestor, integration, event("b")))
            await wait_for_lock_wait(ctx.pool)  # b's incident insert waits for this transaction's
        [result] = await racing
    assert result.outcome is IngestOutcome.CREATED
    [incident] = await incidents(ctx.pool)
    assert incident["n"] == 2
    assert_counters_true([incident])
    assert "applied again" in caplog.text


async def test_an_alert_arriving_while_its_incident_resolves_opens_a_new_incident(ctx):
    """The incident's last open alert resolves in a transaction still open when a new alert
    with the key arrives: the new alert must not join the incident that is resolving."""
    await add_rule(ctx)
    integration = await new_integration(ctx)
    await send(ctx.ingestor, integration, event("a"))
    [before] = await incidents(ctx.pool)
    resolve = [(integration.id, ctx.ingestor.prepare([event("a", Action.RESOLVE)], integration))]
    async with ctx.pool.connection() as conn:
        async with conn.transaction():
            await apply_events(conn, resolve)
            racing = asyncio.create_task(send(ctx.ingestor, integration, event("b")))
            await wait_for_lock_wait(ctx.pool)
        [result] = await racing
    assert result.outcome is IngestOutcome.CREATED
    first, second = await incidents(ctx.pool)
    assert first["id"] == before["id"]
    assert (first["status"], first["n"], first["join_key"]) == ("resolved", 1, None)
    assert (second["status"], second["n"]) == ("triggered", 1)
    assert await alert_incident(ctx.pool, "b") == [second["id"]]
    assert_counters_true([first, second])


# --------------------------------------------------------------------------- window and idle


async def test_an_alert_at_exactly_the_window_end_opens_a_new_incident_just_before_joins(ctx, frozen, clock):
    await add_rule(ctx, window=900)
    integration = await new_integration(ctx)
    await send(frozen, integration, event("a"))
    clock.advance(899.999)
    await send(frozen, integration, event("b"))
    clock.advance(0.001)  # exactly 900 s after the incident opened
    await send(frozen, integration, event("c"))
    clock.advance(100)
    await send(frozen, integration, event("d"))

    first, second = await incidents(ctx.pool)
    assert await alert_incident(ctx.pool, "a") == await alert_incident(ctx.pool, "b") == [first["id"]]
    assert await alert_incident(ctx.pool, "c") == await alert_incident(ctx.pool, "d") == [second["id"]]
    assert first["join_key"] is None  # closed to new alerts: its window is over
    assert second["join_key"] == second["group_key"] == first["group_key"]
    assert (first["n"], second["n"]) == (2, 2)
    assert_counters_true([first, second])


async def test_the_idle_limit_moves_with_each_alert_that_joins(ctx, frozen, clock):
    await add_rule(ctx, idle=300)
    integration = await new_integration(ctx)
    await send(frozen, integration, event("a"))
    for key in ("b", "c", "d"):  # each within 300 s of the last: 900 s after the first, still joining
        clock.advance(299)
        await send(frozen, integration, event(key))
    clock.advance(300)  # exactly 300 s after the last alert
    await send(frozen, integration, event("e"))

    first, second = await incidents(ctx.pool)
    assert first["n"] == 4 and second["n"] == 1
    assert await alert_incident(ctx.pool, "e") == [second["id"]]
    assert_counters_true([first, second])


async def test_a_duplicate_after_the_window_stays_in_its_own_incident(ctx, frozen, clock):
    await add_rule(ctx, window=60)
    integration = await new_integration(ctx)
    await send(frozen, integration, event("a"))
    clock.advance(120)
    [dup] = await send(frozen, integration, event("a"))
    assert dup.outcome is IngestOutcome.DUPLICATE
    [incident] = await incidents(ctx.pool)
    assert incident["n"] == incident["alert_count"] == 1


# --------------------------------------------------------------------------- resolve_on


async def test_resolve_on_all_partial_resolve_keeps_it_open_full_resolve_resolves_then_a_new_one_opens(ctx):
    await add_rule(ctx, resolve_on="all")
    integration = await new_integration(ctx)
    await send(ctx.ingestor, integration, event("a"), event("b"), event("c"))
    await send(ctx.ingestor, integration, event("a", Action.RESOLVE), event("b", Action.ACKNOWLEDGE))
    [incident] = await incidents(ctx.pool)
    assert (incident["status"], incident["open_alerts"], incident["triggered_alerts"]) == ("triggered", 2, 1)
    await send(ctx.ingestor, integration, event("c", Action.ACKNOWLEDGE))
    [incident] = await incidents(ctx.pool)
    assert incident["status"] == "acknowledged"
    await send(ctx.ingestor, integration, event("b", Action.RESOLVE), event("c", Action.RESOLVE))
    [incident] = await incidents(ctx.pool)
    assert (incident["status"], incident["open_alerts"], incident["join_key"]) == ("resolved", 0, None)
    kinds = await rows(ctx.pool, "SELECT kind FROM alerting.incident_events WHERE incident_id = %s ORDER BY id",
                       incident["id"])
    assert [k["kind"] for k in kinds] == ["acknowledged", "resolved"]

    await send(ctx.ingestor, integration, event("a"))  # the same key again: a new alert, a new incident
    old, new = await incidents(ctx.pool)
    assert old["id"] == incident["id"] and old["n"] == 3
    assert (new["status"], new["n"]) == ("triggered", 1)
    assert_counters_true([old, new])


async def test_resolve_on_first_resolves_with_its_first_resolved_alert(ctx):
    await add_rule(ctx, resolve_on="first")
    integration = await new_integration(ctx)
    await send(ctx.ingestor, integration, event("a"), event("b"), event("c"))
    await send(ctx.ingestor, integration, event("b", Action.RESOLVE))
    [incident] = await incidents(ctx.pool)
    assert (incident["status"], incident["open_alerts"], incident["join_key"]) == ("resolved", 2, None)
    # its other alerts stay open; their repeats are duplicates and stay where they are
    [dup] = await send(ctx.ingestor, integration, event("a"))
    assert dup.outcome is IngestOutcome.DUPLICATE
    await send(ctx.ingestor, integration, event("d"))  # a new alert with the key: a new incident
    old, new = await incidents(ctx.pool)
    assert old["n"] == 3 and new["n"] == 1 and new["status"] == "triggered"
    await send(ctx.ingestor, integration, event("a", Action.RESOLVE), event("c", Action.RESOLVE))
    old, new = await incidents(ctx.pool)
    assert (old["status"], old["open_alerts"]) == ("resolved", 0)
    assert_counters_true([old, new])


async def test_resolve_on_manual_stays_open_when_every_alert_resolves(ctx):
    await add_rule(ctx, resolve_on="manual")
    integration = await new_integration(ctx)
    results = await send(ctx.ingestor, integration, event("a"), event("b"))
    await send(ctx.ingestor, integration, event("a", Action.RESOLVE))
    await store.resolve(ctx.pool, results[1].alert_id, "carol")  # a person resolving the alert, not the incident
    [incident] = await incidents(ctx.pool)
    assert (incident["status"], incident["open_alerts"], incident["triggered_alerts"]) == ("triggered", 0, 0)
    assert incident["join_key"] == incident["group_key"]  # still open, so still joinable
    await send(ctx.ingestor, integration, event("c"))
    [incident] = await incidents(ctx.pool)
    assert incident["n"] == 3
    assert_counters_true([incident])

    # a person resolves it: its open alert too, and the key opens a new incident
    await resolve_incident(ctx.pool, incident["id"], "carol")
    [incident] = await incidents(ctx.pool)
    assert (incident["status"], incident["open_alerts"], incident["join_key"]) == ("resolved", 0, None)
    await send(ctx.ingestor, integration, event("d"))
    old, new = await incidents(ctx.pool)
    assert (old["n"], new["n"], new["status"]) == (3, 1, "triggered")


async def test_an_acknowledged_alert_resolved_by_a_person_keeps_the_counters(ctx):
    await add_rule(ctx, resolve_on="all")
    integration = await new_integration(ctx)
    a, b = await send(ctx.ingestor, integration, event("a"), event("b"))
    await store.acknowledge(ctx.pool, a.alert_id, "carol")
    await store.acknowledge(ctx.pool, b.alert_id, "carol")
    [incident] = await incidents(ctx.pool)
    assert incident["status"] == "acknowledged"
    await store.resolve(ctx.pool, a.alert_id, "carol")
    await store.resolve(ctx.pool, b.alert_id, "dave")
    [incident] = await incidents(ctx.pool)
    assert incident["status"] == "resolved"
    assert_counters_true([incident])


# --------------------------------------------------------------------------- counters never drift


@pytest.mark.slow
async def test_counters_never_drift_under_a_random_concurrent_mix(ctx, db_url):
    await add_rule(ctx, name="by-cluster", condition='labels.alertname == "DBDown"', resolve_on="all", position=0)
    await add_rule(ctx, name="first", condition='labels.alertname == "Disk"', key="labels.cluster",
                   resolve_on="first", position=1)
    await add_rule(ctx, name="manual", condition='labels.alertname == "Net"', key="labels.cluster",
                   resolve_on="manual", position=2)
    integration = await new_integration(ctx)
    other_pool = await open_pool(db_url, 1, 8)
    other_grouping = GroupingCache(other_pool, pick_router(ctx))
    await other_grouping.refresh()
    other = Ingestor(other_pool, grouping=other_grouping)
    other.start()
    rng = random.Random(1212)
    keys = [(f"{name}-{c}-{i}", name, f"c{c}") for name in ("DBDown", "Disk", "Net", "Lone")
            for c in range(2) for i in range(4)]
    actions = [Action.TRIGGER] * 5 + [Action.ACKNOWLEDGE] * 2 + [Action.RESOLVE] * 3

    async def worker(seed: int) -> None:
        wrng = random.Random(seed)
        for _ in range(30):
            ingestor = ctx.ingestor if wrng.random() < 0.5 else other
            picked = wrng.sample(keys, wrng.randint(1, 4))
            evs = [event(k, wrng.choice(actions), alertname=name, cluster=c) for k, name, c in picked]
            await send(ingestor, integration, *evs)
            if wrng.random() < 0.1:  # a person acting on an alert
                found = await rows(ctx.pool, "SELECT id, status FROM alerting.alerts WHERE status <> 'resolved'"
                                   " ORDER BY random() LIMIT 1")
                if found:
                    how = store.acknowledge if found[0]["status"] == "triggered" else store.resolve
                    with contextlib.suppress(FailedPrecondition):  # it changed meanwhile
                        await how(ctx.pool, found[0]["id"], "carol")

    try:
        await asyncio.gather(*(worker(rng.randrange(1 << 30)) for _ in range(12)))
    finally:
        await other.stop()
        await other_pool.close()
    found = await incidents(ctx.pool)
    assert len(found) > 10
    assert_counters_true(found, routed=False)  # no engine runs here
    # at most one joinable incident per key, every grouped alert in one of its rule's incidents
    lone = await rows(ctx.pool, """SELECT count(*) AS n FROM alerting.alerts a JOIN alerting.incidents i
                                   ON i.id = a.incident_id WHERE a.labels->>'alertname' = 'Lone'
                                   AND (i.rule_id IS NOT NULL OR i.alert_count <> 1)""")
    assert lone[0]["n"] == 0


# --------------------------------------------------------------------------- no rule


async def test_with_no_grouping_rule_each_alert_opens_its_own_incident(ctx):
    integration = await new_integration(ctx)
    results = await send(ctx.ingestor, integration, *(event(f"k{i}") for i in range(5)))
    await send(ctx.ingestor, integration, event("k0"), event("k1", Action.RESOLVE))
    found = await incidents(ctx.pool)
    assert len(found) == 5
    assert all(i["rule_id"] is None and i["join_key"] is None and i["n"] == 1 for i in found)
    assert [i["first_alert_id"] for i in found] == [r.alert_id for r in results]
    assert [i["status"] for i in found] == ["triggered", "resolved", "triggered", "triggered", "triggered"]
    assert_counters_true(found)


async def test_a_rule_whose_condition_does_not_hold_leaves_alerts_alone(ctx):
    await add_rule(ctx, condition='labels.alertname == "Other"')
    integration = await new_integration(ctx)
    await send(ctx.ingestor, integration, event("a"), event("b"))
    found = await incidents(ctx.pool)
    assert [(i["rule_id"], i["n"]) for i in found] == [(None, 1), (None, 1)]


async def test_a_rule_whose_key_fails_is_warned_of_once_a_minute_not_once_per_alert(ctx, caplog):
    """A key that can't be computed (no such label) groups nothing: each alert opens its own
    incident, and the operator is told so, once, with the count of alerts it failed on."""
    await add_rule(ctx, name="by-region", key="labels.region")
    integration = await new_integration(ctx)
    with caplog.at_level(logging.WARNING, logger="oncall.grouping.assign"):
        await send(ctx.ingestor, integration, *(event(f"r{i}") for i in range(30)))
    found = await incidents(ctx.pool)
    assert len(found) == 30 and all(i["rule_id"] is None for i in found)
    warned = [r.getMessage() for r in caplog.records if r.name == "oncall.grouping.assign"]
    assert len(warned) == 1, warned
    assert "by-region" in warned[0] and "opens an incident of its own" in warned[0]
    cache = ctx.ingestor.grouping
    [(_, unsaid)] = cache._complaints.values()
    assert unsaid == 29  # said at the next warning, a minute on
