"""Incidents worked by people, against real PostgreSQL: acknowledge and resolve (their alerts
credited, escalation stopping), alert-level calls, merge, split, the interleaved timeline."""

from __future__ import annotations

import asyncio
import re

import psycopg
import pytest
from fixtures.processes import oncall_env, run_cli
from oncall_hookspecs import Action, AlertEvent, RuleActions

from oncall.alerting import incidents, store
from oncall.errors import FailedPrecondition, InvalidArgument, NotFound
from oncall.escalation.engine import Engine
from oncall.escalation.policies import PolicyInput, Step, Target, create_policy
from oncall.escalation.state import escalation_state, list_requests
from oncall.grouping import assign as grouping
from oncall.routing import rules

TWO_STEPS = [Step(0, (Target("user", "alice"),)), Step(300, (Target("user", "bob"),))]


@pytest.fixture
def engine(ctx, clock) -> Engine:
    return Engine(ctx, clock=clock)


async def _paging(ctx) -> str:
    policy = await create_policy(ctx.pool, PolicyInput(name="primary", steps=TWO_STEPS))
    await rules.set_default(ctx.pool, RuleActions(escalation_policy_id=policy.id))
    return policy.id


async def _group_by_service(ctx, resolve_on: str = "all") -> None:
    """A grouping rule: alerts with the same ``svc`` label share an incident."""
    async with ctx.pool.connection() as conn, conn.transaction():
        await conn.execute(
            """INSERT INTO alerting.grouping_rules (name, condition, key, position, resolve_on)
               VALUES ('by service', 'true', 'labels.svc', 0, %s)""",
            (resolve_on,),
        )
        await grouping.announce_change(conn)
    await ctx.ingestor.grouping.refresh()


async def _alerts(ctx, svc: str, *keys: str) -> list[int]:
    """Trigger one alert per key, all with label svc=<svc>; return their ids."""
    integration = await store.manual_integration(ctx.pool)
    events = [AlertEvent(action=Action.TRIGGER, dedup_key=k, summary=f"{svc} {k}", labels={"svc": svc})
              for k in keys]
    results = await ctx.ingestor.submit(integration.id, ctx.ingestor.prepare(events, integration))
    return [r.alert_id for r in results]


async def _incident_of(ctx, alert_id: int) -> int:
    incident_id = (await store.get_alert(ctx.pool, alert_id)).incident_id
    assert incident_id is not None
    return incident_id


async def _count(ctx, table: str) -> int:
    async with ctx.pool.connection() as conn:
        cur = await conn.execute(f"SELECT count(*) AS n FROM {table}")  # noqa: S608 - the tests' own names
        n: int = (await cur.fetchone())["n"]
    return n


async def test_acknowledging_an_incident_acknowledges_its_alerts_credited_and_stops_its_escalation(
    ctx, engine, clock
):
    await _paging(ctx)
    await _group_by_service(ctx)
    ids = await _alerts(ctx, "db", "a", "b", "c")
    iid = await _incident_of(ctx, ids[0])
    assert {await _incident_of(ctx, i) for i in ids} == {iid}
    await engine.run_once()
    assert [r.user_id for r in await list_requests(ctx.pool, ids[0])] == ["alice"]  # one page for three alerts

    inc = await incidents.acknowledge_incident(ctx.pool, iid, "carol", "looking")
    assert (inc.status, inc.acknowledged_by, inc.alert_count, inc.open_alerts, inc.triggered_alerts) == (
        "acknowledged", "carol", 3, 3, 0)
    for alert_id in ids:
        alert = await store.get_alert(ctx.pool, alert_id)
        assert (alert.status, alert.acknowledged_by) == ("acknowledged", "carol")
        assert "acknowledged" in [e.kind for e in await store.timeline(ctx.pool, alert_id)]

    clock.advance(3600)
    await engine.run_once()
    assert [r.user_id for r in await list_requests(ctx.pool, ids[0])] == ["alice"]  # bob is never paged
    assert (await escalation_state(ctx.pool, ids[0])).state == "stopped"


async def test_resolving_an_incident_resolves_its_open_alerts_and_closes_it_to_new_ones(ctx, engine, clock):
    await _paging(ctx)
    await _group_by_service(ctx)
    ids = await _alerts(ctx, "db", "a", "b", "c")
    iid = await _incident_of(ctx, ids[0])
    await engine.run_once()
    await store.acknowledge(ctx.pool, ids[1], "dave")

    inc = await incidents.resolve_incident(ctx.pool, iid, "carol")
    assert (inc.status, inc.resolved_by, inc.open_alerts, inc.triggered_alerts, inc.joinable) == (
        "resolved", "carol", 0, 0, False)
    alerts = [await store.get_alert(ctx.pool, i) for i in ids]
    assert {(a.status, a.resolved_by) for a in alerts} == {("resolved", "carol")}
    assert alerts[1].acknowledged_by == "dave"  # what happened before is kept

    clock.advance(3600)
    await engine.run_once()
    assert len(await list_requests(ctx.pool, ids[0])) == 1
    [again] = await _alerts(ctx, "db", "a")
    assert await _incident_of(ctx, again) != iid  # a resolved incident takes no new alert

    # resolving again changes nothing; acknowledging a resolved incident is refused
    assert (await incidents.resolve_incident(ctx.pool, iid, "carol")).resolved_by == "carol"
    with pytest.raises(FailedPrecondition):
        await incidents.acknowledge_incident(ctx.pool, iid, "carol")


async def test_acknowledging_the_only_open_alert_acknowledges_the_incident(ctx):
    await _group_by_service(ctx)
    a, b = await _alerts(ctx, "db", "a", "b")
    iid = await _incident_of(ctx, a)
    await store.resolve(ctx.pool, b, "carol")
    assert (await incidents.get_incident(ctx.pool, iid)).status == "triggered"
    await store.acknowledge(ctx.pool, a, "carol")
    inc = await incidents.get_incident(ctx.pool, iid)
    assert (inc.status, inc.acknowledged_by, inc.open_alerts, inc.triggered_alerts) == ("acknowledged", "carol", 1, 0)


async def test_acknowledging_one_of_two_triggered_alerts_leaves_the_incident_triggered(ctx, engine, clock):
    await _paging(ctx)
    await _group_by_service(ctx)
    a, b = await _alerts(ctx, "db", "a", "b")
    iid = await _incident_of(ctx, a)
    await engine.run_once()
    await store.acknowledge(ctx.pool, a, "carol")
    inc = await incidents.get_incident(ctx.pool, iid)
    assert (inc.status, inc.triggered_alerts) == ("triggered", 1)
    clock.advance(300)
    await engine.run_once()
    assert [r.user_id for r in await list_requests(ctx.pool, a)] == ["alice", "bob"]  # it goes on paging
    await store.acknowledge(ctx.pool, b, "dave")
    assert (await incidents.get_incident(ctx.pool, iid)).status == "acknowledged"


async def test_merge_moves_alerts_stops_the_sources_escalation_and_keeps_their_timelines(ctx, engine, clock):
    await _paging(ctx)
    await _group_by_service(ctx)
    db = await _alerts(ctx, "db", "a", "b")
    web = await _alerts(ctx, "web", "c")
    target, source = await _incident_of(ctx, db[0]), await _incident_of(ctx, web[0])
    assert target != source
    await engine.run_once()  # both page alice
    assert len(await list_requests(ctx.pool, web[0])) == 1

    merged = await incidents.merge_incidents(ctx.pool, target, [source], "carol")
    assert (merged.id, merged.status, merged.alert_count, merged.open_alerts, merged.triggered_alerts) == (
        target, "triggered", 3, 3, 3)
    gone = await incidents.get_incident(ctx.pool, source)
    assert (gone.status, gone.merged_into, gone.alert_count, gone.joinable) == ("resolved", target, 0, False)
    assert await _incident_of(ctx, web[0]) == target
    alerts, _ = await incidents.list_incident_alerts(ctx.pool, target)
    assert [a.id for a in alerts] == [*db, *web]

    clock.advance(300)
    await engine.run_once()
    assert [r.user_id for r in await list_requests(ctx.pool, web[0])] == ["alice"]  # the source's escalation stopped
    assert [r.user_id for r in await list_requests(ctx.pool, db[0])] == ["alice", "bob"]  # the target's goes on
    async with ctx.pool.connection() as conn:
        cur = await conn.execute("SELECT state FROM alerting.escalations WHERE incident_id = %s", (source,))
        assert (await cur.fetchone())["state"] == "stopped"

    timeline = await incidents.incident_timeline(ctx.pool, target)
    kinds = {(e.source, e.incident_id, e.kind) for e in timeline}
    assert ("incident", source, "routed") in kinds  # the source's own events are kept, shown on the target
    assert ("incident", source, "merged_into") in kinds and ("incident", target, "merged") in kinds
    assert ("alert", target, "created") in kinds
    assert [e.kind for e in await incidents.incident_timeline(ctx.pool, source) if e.source == "incident"][-1] == \
        "merged_into"


async def test_merging_into_an_acknowledged_incident_keeps_it_acknowledged(ctx):
    await _group_by_service(ctx)
    [a] = await _alerts(ctx, "db", "a")
    [b] = await _alerts(ctx, "web", "b")
    target, source = await _incident_of(ctx, a), await _incident_of(ctx, b)
    await incidents.acknowledge_incident(ctx.pool, target, "carol")
    merged = await incidents.merge_incidents(ctx.pool, target, [source], "carol")
    assert (merged.status, merged.triggered_alerts, merged.open_alerts) == ("acknowledged", 1, 2)
    # acknowledging it again acknowledges the triggered alert it took
    await incidents.acknowledge_incident(ctx.pool, target, "dave")
    assert (await store.get_alert(ctx.pool, b)).acknowledged_by == "dave"
    assert (await incidents.get_incident(ctx.pool, target)).triggered_alerts == 0


async def test_split_moves_an_alert_into_a_new_incident_that_escalates_on_its_own(ctx, engine, clock):
    await _paging(ctx)
    await _group_by_service(ctx)
    ids = await _alerts(ctx, "db", "a", "b", "c")
    old = await _incident_of(ctx, ids[0])
    await engine.run_once()
    assert len(await list_requests(ctx.pool, ids[0])) == 1

    new = await incidents.split_alert(ctx.pool, ids[0], "carol", now=clock.now())  # its escalation's alert
    assert new.id != old
    assert (new.status, new.alert_count, new.open_alerts, new.triggered_alerts, new.first_alert_id) == (
        "triggered", 1, 1, 1, ids[0])
    before = await incidents.get_incident(ctx.pool, old)
    assert (before.alert_count, before.open_alerts, before.triggered_alerts, before.first_alert_id) == (
        2, 2, 2, ids[1])
    async with ctx.pool.connection() as conn:
        cur = await conn.execute("SELECT incident_id, alert_id, state FROM alerting.escalations ORDER BY incident_id")
        assert [tuple(r.values()) for r in await cur.fetchall()] == [(old, ids[1], "active"), (new.id, ids[0], "active")]

    await engine.run_once()  # the new incident pages now, as new requests
    assert [r.user_id for r in await list_requests(ctx.pool, ids[0])] == ["alice", "alice"]
    clock.advance(300)
    await engine.run_once()  # both go on: the old one about its new first alert
    assert [r.user_id for r in await list_requests(ctx.pool, ids[1])] == ["bob"]

    kinds = [(e.source, e.kind) for e in await incidents.incident_timeline(ctx.pool, old)]
    assert ("incident", "alert_split") in kinds
    with pytest.raises(FailedPrecondition, match="only alert"):
        await incidents.split_alert(ctx.pool, ids[0], "carol")


async def test_splitting_the_last_triggered_alert_acknowledges_what_is_left(ctx):
    await _group_by_service(ctx)
    a, b = await _alerts(ctx, "db", "a", "b")
    iid = await _incident_of(ctx, a)
    await store.acknowledge(ctx.pool, a, "carol")
    await incidents.split_alert(ctx.pool, b, "carol")
    inc = await incidents.get_incident(ctx.pool, iid)
    assert (inc.status, inc.alert_count, inc.open_alerts, inc.triggered_alerts) == ("acknowledged", 1, 1, 0)


async def test_the_timeline_interleaves_incident_and_alert_events_in_time_order(ctx, engine, clock):
    await _paging(ctx)
    await _group_by_service(ctx)
    a, b = await _alerts(ctx, "db", "a", "b")
    iid = await _incident_of(ctx, a)
    await engine.run_once()
    await incidents.add_incident_note(ctx.pool, iid, "carol", "checking the disk")
    await store.add_note(ctx.pool, b, "dave", "b looks odd")
    await incidents.acknowledge_incident(ctx.pool, iid, "carol")

    entries = await incidents.incident_timeline(ctx.pool, iid)
    assert [(e.at, e.id) for e in entries] == sorted((e.at, e.id) for e in entries)
    sources = [e.source for e in entries]
    assert "incident" in sources and "alert" in sources
    by_alert = {(e.source, e.alert_id, e.kind) for e in entries}
    assert {("alert", a, "created"), ("alert", b, "created"), ("alert", a, "escalated"),
            ("alert", b, "note"), ("incident", a, "routed"), ("incident", None, "note"),
            ("alert", a, "acknowledged"), ("alert", b, "acknowledged"), ("incident", None, "acknowledged")} <= by_alert
    assert entries[-1].kind == "acknowledged"


async def test_bad_requests_are_refused_and_write_nothing(ctx):
    await _group_by_service(ctx)
    [a] = await _alerts(ctx, "db", "a")
    iid = await _incident_of(ctx, a)
    before = (await _count(ctx, "alerting.incident_events"), await _count(ctx, "alerting.alert_events"),
              await _count(ctx, "alerting.incidents"))
    with pytest.raises(NotFound):
        await incidents.get_incident(ctx.pool, 999_999)
    with pytest.raises(NotFound):
        await incidents.acknowledge_incident(ctx.pool, 999_999, "carol")
    with pytest.raises(NotFound):
        await incidents.merge_incidents(ctx.pool, iid, [999_999], "carol")
    with pytest.raises(NotFound):
        await incidents.split_alert(ctx.pool, 999_999, "carol")
    with pytest.raises(InvalidArgument, match="itself"):
        await incidents.merge_incidents(ctx.pool, iid, [iid], "carol")
    with pytest.raises(InvalidArgument):
        await incidents.merge_incidents(ctx.pool, iid, [], "carol")
    with pytest.raises(InvalidArgument, match="user_id"):
        await incidents.resolve_incident(ctx.pool, iid, " ")
    with pytest.raises(InvalidArgument):
        await incidents.add_incident_note(ctx.pool, iid, "carol", "  ")
    with pytest.raises(InvalidArgument):
        await incidents.list_incidents(ctx.pool, incidents.IncidentFilter(), page_token="forged")
    with pytest.raises(FailedPrecondition, match="only alert"):
        await incidents.split_alert(ctx.pool, a, "carol")
    after = (await _count(ctx, "alerting.incident_events"), await _count(ctx, "alerting.alert_events"),
             await _count(ctx, "alerting.incidents"))
    assert after == before


async def test_list_incidents_filters_by_status_labels_and_pages_newest_first(ctx):
    await _group_by_service(ctx)
    db = await _alerts(ctx, "db", "a", "b")
    web = await _alerts(ctx, "web", "c")
    first, second = await _incident_of(ctx, db[0]), await _incident_of(ctx, web[0])
    await incidents.acknowledge_incident(ctx.pool, second, "carol")
    page, token = await incidents.list_incidents(ctx.pool, incidents.IncidentFilter(), page_size=1)
    assert [i.id for i in page] == [second] and token
    page, token = await incidents.list_incidents(ctx.pool, incidents.IncidentFilter(), page_size=1, page_token=token)
    assert [i.id for i in page] == [first] and token == ""
    flt = incidents.IncidentFilter(labels={"svc": "db"})
    assert [i.id for i in (await incidents.list_incidents(ctx.pool, flt))[0]] == [first]
    flt = incidents.IncidentFilter(statuses=("acknowledged",))
    assert [i.id for i in (await incidents.list_incidents(ctx.pool, flt))[0]] == [second]


def test_the_incidents_cli_lists_merges_shows_acknowledges_splits_and_resolves(db_url):
    env = oncall_env(db_url)
    ids = []
    for key in ("cli-a", "cli-b"):
        result = run_cli("alert", "trigger", "--summary", f"disk {key}", "--dedup", key, env=env)
        assert result.returncode == 0, result.stderr
        ids.append(int(re.search(r"^alert (\d+) created", result.stdout, re.MULTILINE).group(1)))
    with psycopg.connect(db_url) as conn:
        a_inc, b_inc = (conn.execute("SELECT incident_id FROM alerting.alerts WHERE id = %s", (i,)).fetchone()[0]
                        for i in ids)

    listed = run_cli("incidents", "list", "--status", "triggered", env=env)
    assert listed.returncode == 0, listed.stderr
    assert {int(line.split()[0]) for line in listed.stdout.splitlines()[1:]} == {a_inc, b_inc}

    refused = run_cli("incidents", "merge", str(a_inc), str(a_inc), "--user", "carol", env=env)
    assert refused.returncode == 1 and "cannot be merged into itself" in refused.stderr

    merged = run_cli("incidents", "merge", str(a_inc), str(b_inc), "--user", "carol", env=env)
    assert merged.returncode == 0 and f"into incident {a_inc} (2 alerts)" in merged.stdout, merged.stderr
    acked = run_cli("incidents", "ack", str(a_inc), "--user", "carol", env=env)
    assert acked.stdout.strip() == f"incident {a_inc} acknowledged", acked.stderr
    shown = run_cli("incidents", "show", str(a_inc), env=env)
    assert "alerts 2 (2 open, 0 triggered)" in shown.stdout and "merged" in shown.stdout, shown.stderr

    split = run_cli("incidents", "split", str(ids[1]), "--user", "carol", env=env)
    assert split.returncode == 0 and f"alert {ids[1]} is now incident" in split.stdout, split.stderr
    resolved = run_cli("incidents", "resolve", str(a_inc), "--user", "carol", env=env)
    assert resolved.stdout.strip() == f"incident {a_inc} resolved", resolved.stderr
    with psycopg.connect(db_url) as conn:
        assert conn.execute("SELECT status, resolved_by FROM alerting.alerts WHERE id = %s",
                            (ids[0],)).fetchone() == ("resolved", "carol")
        assert conn.execute("SELECT status FROM alerting.alerts WHERE id = %s", (ids[1],)).fetchone() == (
            "acknowledged",)


async def test_an_incident_acknowledged_while_its_alerts_are_acknowledged_one_by_one_keeps_its_counters(ctx):
    await _group_by_service(ctx)
    ids = await _alerts(ctx, "db", *(f"k{i}" for i in range(12)))
    iid = await _incident_of(ctx, ids[0])
    # alert-level calls lock an alert, then its incident; the incident's, the other way round
    results = await asyncio.gather(
        incidents.acknowledge_incident(ctx.pool, iid, "carol"),
        *(store.acknowledge(ctx.pool, i, "dave") for i in ids),
        return_exceptions=True,
    )
    assert [r for r in results if isinstance(r, BaseException)] == []
    inc = await incidents.get_incident(ctx.pool, iid)
    assert (inc.status, inc.alert_count, inc.open_alerts, inc.triggered_alerts) == ("acknowledged", 12, 12, 0)
    assert {(await store.get_alert(ctx.pool, i)).status for i in ids} == {"acknowledged"}
    await incidents.resolve_incident(ctx.pool, iid, "carol")
    inc = await incidents.get_incident(ctx.pool, iid)
    assert (inc.status, inc.open_alerts, inc.triggered_alerts) == ("resolved", 0, 0)
