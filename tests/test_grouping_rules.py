"""Grouping rules in the store (validation on save, versions, order, presets), incident
titles from a rule's template, and TestGrouping's replay, against real PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from oncall_hookspecs import Action, AlertEvent

from oncall.alerting import store as alerting_store
from oncall.context import Context
from oncall.errors import Aborted, AlreadyExists, InvalidArgument, NotFound
from oncall.escalation.engine import Engine
from oncall.grouping import presets, replay, store
from oncall.grouping.store import RuleSpec
from oncall.grouping.titles import MAX_TITLE, render_title
from oncall.routing.route import pick_router

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def _router(ctx: Context) -> Any:
    return pick_router(ctx)


async def _count(ctx: Context, table: str) -> int:
    async with ctx.pool.connection() as conn:
        cur = await conn.execute(f"SELECT count(*) AS n FROM {table}")  # noqa: S608 - a fixed table name
        row = await cur.fetchone()
    assert row is not None
    return int(row["n"])


async def _grouping_version(ctx: Context) -> int:
    async with ctx.pool.connection() as conn:
        cur = await conn.execute("SELECT grouping_version FROM alerting.routing_config")
        row = await cur.fetchone()
    return int(row["grouping_version"]) if row else 0


async def _create(ctx: Context, name: str = "by cluster", **fields: Any) -> Any:
    position = fields.pop("position", None)
    spec = RuleSpec(name=name, condition=fields.pop("condition", "true"),
                    key=fields.pop("key", "labels.cluster"), **fields)
    return await store.create_rule(ctx.pool, _router(ctx), spec, position)


async def _send(ctx: Context, integ: Any, key: str, labels: dict[str, str] | None = None,
                annotations: dict[str, Any] | None = None, action: Action = Action.TRIGGER) -> int:
    event = AlertEvent(action=action, dedup_key=key, summary=f"alert {key}", labels=labels or {},
                       annotations=annotations or {})
    [result] = await ctx.ingestor.submit(integ.id, ctx.ingestor.prepare([event], integ))
    assert result.alert_id is not None
    return result.alert_id


async def _integration(ctx: Context, source: str = "generic", name: str = "prod") -> Any:
    created, _ = await alerting_store.create_integration(ctx.pool, source, name)
    return await alerting_store.get_integration(ctx.pool, created.id)


async def _incident_of(ctx: Context, alert_id: int) -> int:
    async with ctx.pool.connection() as conn:
        cur = await conn.execute("SELECT incident_id FROM alerting.alerts WHERE id = %s", (alert_id,))
        row = await cur.fetchone()
    assert row is not None
    return int(row["incident_id"])


async def _set_times(ctx: Context, times: dict[int, tuple[datetime, datetime | None]]) -> None:
    """Test setup: when each alert was created and (if at all) resolved."""
    async with ctx.pool.connection() as conn:
        for alert_id, (created, resolved) in times.items():
            await conn.execute(
                """UPDATE alerting.alerts SET created_at = %s, resolved_at = %s,
                          status = CASE WHEN %s::timestamptz IS NULL THEN status ELSE 'resolved' END
                   WHERE id = %s""",
                (created, resolved, resolved, alert_id),
            )


# --------------------------------------------------------------------------- validation on save


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"condition": 'labels.team == "db" &&'}, ["condition", "at line 1, column"]),
        ({"condition": "true", "key": "labels.cluster +"}, ["key", "at line 1, column"]),
        ({"key": "[labels.a,\n  labels.b +]"}, ["key", "at line 2, column"]),
        ({"key": ""}, ["needs a key"]),
        ({"condition": " "}, ["needs a condition"]),
        ({"window_seconds": 60, "idle_seconds": 60}, ["not both"]),
        ({"window_seconds": 0}, ["window_seconds", "between 1 and 604800"]),
        ({"idle_seconds": 7 * 86400 + 1}, ["idle_seconds", "7 days"]),
        ({"resolve_on": "sometimes"}, ["resolve_on", "all, first, manual"]),
        ({"integration_id": 987654}, ["integration 987654 does not exist"]),
        ({"title_template": "{{ alert.summary "}, ["title_template", "line 1"]),
        ({"title_template": "{% if %}x{% endif %}\n"}, ["title_template", "line 1"]),
        ({"name": ""}, ["needs a name"]),
    ],
)
async def test_a_rule_that_cannot_work_is_refused_with_where_and_nothing_is_written(ctx, fields, words):
    name = fields.pop("name", "bad rule")
    version = await _grouping_version(ctx)
    with pytest.raises(InvalidArgument) as err:
        await _create(ctx, name, **fields)
    for word in words:
        assert word in err.value.detail
    assert await _count(ctx, "alerting.grouping_rules") == 0
    assert await _grouping_version(ctx) == version


async def test_an_update_is_validated_like_a_create_and_a_refused_one_changes_nothing(ctx):
    rule = await _create(ctx)
    with pytest.raises(InvalidArgument, match="at line 1, column"):
        await store.update_rule(ctx.pool, _router(ctx), rule.id,
                                store.spec_of(rule).overridden(key="labels.cluster +"), rule.version)
    assert await store.get_rule(ctx.pool, rule.id) == rule


# --------------------------------------------------------------------------- versions and order


async def test_updates_take_the_version_read_and_bump_it(ctx):
    rule = await _create(ctx, window_seconds=300)
    assert rule.version == 1
    before = await _grouping_version(ctx)
    spec = store.spec_of(rule).overridden(key="[labels.alertname, labels.cluster]", resolve_on="first")
    updated = await store.update_rule(ctx.pool, _router(ctx), rule.id, spec, expected_version=1)
    assert (updated.version, updated.key, updated.resolve_on, updated.window_seconds) == (
        2, "[labels.alertname, labels.cluster]", "first", 300)
    assert await _grouping_version(ctx) == before + 1
    # someone else's read of version 1 is stale now
    with pytest.raises(Aborted, match="version 2, not 1"):
        await store.update_rule(ctx.pool, _router(ctx), rule.id, spec.overridden(name="mine"), expected_version=1)
    assert (await store.get_rule(ctx.pool, rule.id)).name == "by cluster"
    with pytest.raises(NotFound):
        await store.update_rule(ctx.pool, _router(ctx), "no-such-rule", spec, expected_version=1)


async def test_rules_are_inserted_moved_reordered_and_deleted_keeping_positions_dense(ctx):
    a = await _create(ctx, "a")
    b = await _create(ctx, "b")
    c = await _create(ctx, "c", position=0)
    d = await _create(ctx, "d", position=99)
    assert await _grouping_version(ctx) == 4

    async def order() -> list[str]:
        rules = await store.list_rules(ctx.pool)
        assert [r.position for r in rules] == list(range(len(rules)))
        return [r.name for r in rules]

    assert await order() == ["c", "a", "b", "d"]
    await store.update_rule(ctx.pool, _router(ctx), d.id, store.spec_of(d), d.version, position=1)
    assert await order() == ["c", "d", "a", "b"]
    await store.update_rule(ctx.pool, _router(ctx), c.id, store.spec_of(c), c.version, position=3)
    assert await order() == ["d", "a", "b", "c"]
    version = await _grouping_version(ctx)
    await store.reorder_rules(ctx.pool, [b.id, c.id, a.id, d.id])
    assert await order() == ["b", "c", "a", "d"]
    assert await _grouping_version(ctx) == version + 1  # every change announces itself
    with pytest.raises(InvalidArgument, match="missing"):
        await store.reorder_rules(ctx.pool, [b.id, c.id])
    await store.delete_rule(ctx.pool, c.id)
    assert await order() == ["b", "a", "d"]
    assert await _grouping_version(ctx) == version + 2
    with pytest.raises(NotFound):
        await store.delete_rule(ctx.pool, c.id)
    with pytest.raises(AlreadyExists):
        await _create(ctx, "a")
    with pytest.raises(InvalidArgument, match="negative"):
        await _create(ctx, "e", position=-1)


# --------------------------------------------------------------------------- presets


async def test_every_preset_saves_and_the_alertmanager_preset_groups_by_the_group_key(ctx):
    for p in presets.PRESETS:
        await store.create_rule(ctx.pool, _router(ctx), p.spec)
    assert [r.name for r in await store.list_rules(ctx.pool)] == [p.spec.name for p in presets.PRESETS]
    await ctx.ingestor.grouping.refresh()
    am = await _integration(ctx, "alertmanager", "am")
    group = '{}:{alertname="DiskFull"}'
    first = await _send(ctx, am, "fp1", {"alertname": "DiskFull", "instance": "db-1"}, {"groupKey": group})
    second = await _send(ctx, am, "fp2", {"alertname": "DiskFull", "instance": "db-2"}, {"groupKey": group})
    other = await _send(ctx, am, "fp3", {"alertname": "Lag"}, {"groupKey": '{}:{alertname="Lag"}'})
    assert await _incident_of(ctx, first) == await _incident_of(ctx, second) != await _incident_of(ctx, other)


async def test_the_alertname_and_cluster_preset_groups_same_alertname_and_cluster(ctx):
    await store.create_rule(ctx.pool, _router(ctx), presets.preset("alertname-cluster-15m").spec)
    await ctx.ingestor.grouping.refresh()
    integ = await _integration(ctx)
    a = await _send(ctx, integ, "a", {"alertname": "HighCPU", "cluster": "eu-1", "pod": "x"})
    b = await _send(ctx, integ, "b", {"alertname": "HighCPU", "cluster": "eu-1", "pod": "y"})
    c = await _send(ctx, integ, "c", {"alertname": "HighCPU", "cluster": "us-1"})
    d = await _send(ctx, integ, "d", {"alertname": "HighCPU"})  # no cluster: not taken
    incidents = [await _incident_of(ctx, x) for x in (a, b, c, d)]
    assert incidents[0] == incidents[1] and len(set(incidents)) == 3


def test_an_unknown_preset_names_the_ones_there_are():
    with pytest.raises(InvalidArgument, match="alertmanager-group"):
        presets.preset("nope")


# --------------------------------------------------------------------------- titles


def test_a_title_is_one_bounded_line_and_falls_back_to_the_summary():
    context = {"alert": {"summary": "disk full", "labels": {"cluster": "eu-1"}}}
    assert render_title("{{ alert.labels.cluster }}:\n  {{ alert.summary }}", context) == "eu-1: disk full"
    assert render_title("", context) == "disk full"
    assert render_title("{{ 1 // 0 }}", context) == "disk full"  # fails: the summary
    assert render_title("{{ ''.__class__ }}", context) == "disk full"  # the sandbox refuses
    assert render_title("{{ alert.labels.missing }}", context) == "disk full"  # renders empty
    long = render_title("{{ 'x' * 5000 }}", context)
    assert len(long) == MAX_TITLE and long.endswith("…")


async def test_an_incident_a_rule_opens_is_titled_by_its_template_with_the_first_alert(ctx):
    await _create(ctx, key="labels.cluster", title_template="{{ alert.labels.cluster }}: {{ alert.summary }}")
    await ctx.ingestor.grouping.refresh()
    integ = await _integration(ctx)
    first = await _send(ctx, integ, "one", {"cluster": "eu-1"})
    second = await _send(ctx, integ, "two", {"cluster": "eu-1"})
    ungrouped = await _send(ctx, integ, "three")  # no cluster label: its own incident, its summary
    assert await Engine(ctx).route_pending() == 3
    async with ctx.pool.connection() as conn:
        cur = await conn.execute(
            "SELECT a.id, i.title FROM alerting.alerts a JOIN alerting.incidents i ON i.id = a.incident_id")
        titles = {r["id"]: r["title"] for r in await cur.fetchall()}
    assert titles == {first: "eu-1: alert one", second: "eu-1: alert one", ungrouped: "alert three"}


# --------------------------------------------------------------------------- TestGrouping's replay

_ALERTING_TABLES = """SELECT format('%I.%I', schemaname, tablename) AS name FROM pg_tables
                      WHERE schemaname IN ('alerting', 'notification') ORDER BY 1"""


async def _row_counts(ctx: Context) -> dict[str, int]:
    async with ctx.pool.connection() as conn:
        cur = await conn.execute(_ALERTING_TABLES)
        tables = [r["name"] for r in await cur.fetchall()]
    return {t: await _count(ctx, t) for t in tables}


async def _stored_alerts(ctx: Context, integ: Any, created: list[tuple[str, dict[str, str], int, int | None]]) -> list[int]:
    """Alerts (key, labels, created at T0 + s, resolved at T0 + s or not), stored with no rule active."""
    ids = [await _send(ctx, integ, key, labels) for key, labels, _, _ in created]
    await _set_times(ctx, {
        i: (T0 + timedelta(seconds=at), None if resolved is None else T0 + timedelta(seconds=resolved))
        for i, (_, _, at, resolved) in zip(ids, created, strict=True)
    })
    return ids


async def _dry_run(ctx: Context, spec: RuleSpec, **which: Any) -> replay.Replay:
    if not which:
        which = {"since": T0 - timedelta(hours=1)}
    return await replay.dry_run(ctx.pool, _router(ctx), replay.draft_rule(spec), spec, **which)


async def test_the_window_counts_from_the_first_alert_and_its_end_opens_a_new_incident(ctx):
    integ = await _integration(ctx)
    a, b, c, d, e = await _stored_alerts(ctx, integ, [
        ("a", {"cluster": "eu"}, 0, None), ("b", {"cluster": "eu"}, 899, None),
        ("c", {"cluster": "eu"}, 900, None),  # exactly at the window's end: a new incident
        ("d", {"cluster": "us"}, 100, None), ("e", {}, 50, None),
    ])
    result = await _dry_run(ctx, RuleSpec(name="", condition="true", key="labels.cluster", window_seconds=900))
    assert result.alerts_replayed == 5
    assert [(i.key, i.alert_ids) for i in result.incidents] == [("eu", [a, b]), ("us", [d]), ("eu", [c])]
    assert result.incidents[0].joinable_until == T0 + timedelta(seconds=900)
    assert (result.incidents[0].first_alert_at, result.incidents[0].last_alert_at) == (
        T0, T0 + timedelta(seconds=899))
    assert result.not_taken == [e]
    assert result.errors and f"alert #{e}" in result.errors[0]


async def test_the_idle_limit_counts_from_the_last_alert(ctx):
    integ = await _integration(ctx)
    a, b, c, d = await _stored_alerts(ctx, integ, [
        ("a", {"c": "x"}, 0, None), ("b", {"c": "x"}, 250, None), ("c", {"c": "x"}, 549, None),
        ("d", {"c": "x"}, 849, None),  # 300 s after c: the limit has passed
    ])
    result = await _dry_run(ctx, RuleSpec(name="", condition="true", key="labels.c", idle_seconds=300))
    assert [i.alert_ids for i in result.incidents] == [[a, b, c], [d]]
    assert result.incidents[0].joinable_until == T0 + timedelta(seconds=849)


@pytest.mark.parametrize(
    ("resolve_on", "expected"),
    [
        # all its alerts had resolved by 350 (a at 300, b at 200, c at 350): d (400) opens another
        ("all", [["a", "b", "c"], ["d"]]),
        # its first to resolve was b, at 200: c (250) opens another, which c resolved at 350
        ("first", [["a", "b"], ["c"], ["d"]]),
        ("manual", [["a", "b", "c", "d"]]),
    ],
)
async def test_an_incident_closes_when_its_alerts_resolve_it_by_resolve_on(ctx, resolve_on, expected):
    integ = await _integration(ctx)
    ids = await _stored_alerts(ctx, integ, [
        ("a", {"c": "x"}, 0, 300), ("b", {"c": "x"}, 100, 200), ("c", {"c": "x"}, 250, 350),
        ("d", {"c": "x"}, 400, None),
    ])
    names = dict(zip(ids, "abcd", strict=True))
    result = await _dry_run(ctx, RuleSpec(name="", condition="true", key="labels.c", resolve_on=resolve_on))
    assert [[names[i] for i in inc.alert_ids] for inc in result.incidents] == expected
    if resolve_on == "all":
        assert [i.resolved_at for i in result.incidents] == [T0 + timedelta(seconds=350), None]
    if resolve_on == "first":
        assert [i.resolved_at for i in result.incidents] == [
            T0 + timedelta(seconds=200), T0 + timedelta(seconds=350), None]


async def test_a_replay_writes_nothing_and_reports_titles_from_the_template(ctx):
    integ = await _integration(ctx)
    stored = await _create(ctx, "by cluster", key="labels.cluster", window_seconds=600,
                           title_template="{{ alert.labels.cluster }} trouble")
    ids = await _stored_alerts(ctx, integ, [(f"k{n}", {"cluster": "eu"}, n, None) for n in range(5)])
    before = await _row_counts(ctx)
    assert before["alerting.alerts"] == 5 and before["alerting.grouping_rules"] == 1
    result = await replay.dry_run(ctx.pool, _router(ctx), stored.contract(), store.spec_of(stored), last=3)
    assert [(i.alert_ids, i.title) for i in result.incidents] == [(ids[2:], "eu trouble")]
    draft = await _dry_run(ctx, RuleSpec(name="", condition="true", key="labels.cluster"), last=10)
    assert [i.alert_ids for i in draft.incidents] == [ids]
    assert await _row_counts(ctx) == before
    assert (await store.get_rule(ctx.pool, stored.id)).version == 1


async def test_a_replay_of_a_range_is_capped_and_says_so(ctx, monkeypatch):
    integ = await _integration(ctx)
    ids = await _stored_alerts(ctx, integ, [(f"k{n}", {"c": "x"}, n, None) for n in range(4)])
    monkeypatch.setattr(replay, "MAX_ALERTS", 3)
    result = await _dry_run(ctx, RuleSpec(name="", condition="true", key="labels.c"))
    assert (result.alerts_replayed, result.truncated) == (3, True)
    assert result.incidents[0].alert_ids == ids[:3]
    ranged = await _dry_run(ctx, RuleSpec(name="", condition="true", key="labels.c"),
                            since=T0 + timedelta(seconds=1), until=T0 + timedelta(seconds=3))
    assert (ranged.alerts_replayed, ranged.truncated) == (2, False)
    with pytest.raises(InvalidArgument, match="between 1 and 3"):
        await _dry_run(ctx, RuleSpec(name="", condition="true", key="labels.c"), last=4)
    with pytest.raises(InvalidArgument, match="not both"):
        await _dry_run(ctx, RuleSpec(name="", condition="true", key="labels.c"), last=2, since=T0)


# --------------------------------------------------------------------------- the CLI


def test_the_cli_lists_presets_creates_updates_tests_and_deletes_rules(db_url):
    import json
    import re

    from fixtures.processes import oncall_env, run_cli

    env = oncall_env(db_url)
    presets_out = run_cli("grouping", "presets", env=env)
    assert presets_out.returncode == 0 and "alertmanager-group" in presets_out.stdout
    made = run_cli("grouping", "create", "--preset", "alertname-cluster-15m", "--title", "{{ alert.summary }}", env=env)
    assert made.returncode == 0, made.stderr
    assert "Same alertname and cluster for 15 minutes" in made.stdout and "window 0:15:00" in made.stdout
    rule_id = re.search(r"\[([0-9a-f-]{36})\] v1", made.stdout).group(1)
    bad = run_cli("grouping", "create", "--name", "bad", "--when", "true", "--key", "labels.x +", env=env)
    assert bad.returncode == 1 and "at line 1, column" in bad.stderr
    moved = run_cli("grouping", "update", rule_id, "--idle", "5m", "--resolve-on", "first", env=env)
    assert moved.returncode == 0, moved.stderr
    assert "idle 0:05:00, resolve on first" in moved.stdout and "v2" in moved.stdout
    stale = run_cli("grouping", "update", rule_id, "--version", "1", "--name", "x", env=env)
    assert stale.returncode == 1 and "read it again" in stale.stderr
    tested = run_cli("grouping", "test", "--rule", rule_id, "--last", "10", "--json", env=env)
    assert tested.returncode == 0, tested.stderr
    assert json.loads(tested.stdout)["alerts_replayed"] == 0
    draft = run_cli("grouping", "test", "--when", "true", "--key", "integration", "--since", "1h", env=env)
    assert draft.returncode == 0 and "0 alerts replayed" in draft.stdout, draft.stderr
    second = run_cli("grouping", "create", "--preset", "alertmanager-group", env=env)
    second_id = re.search(r"\[([0-9a-f-]{36})\] v1", second.stdout).group(1)
    reordered = run_cli("grouping", "reorder", second_id, rule_id, env=env)
    assert reordered.returncode == 0, reordered.stderr
    assert re.findall(r"\[([0-9a-f-]{36})\]", reordered.stdout) == [second_id, rule_id]
    assert run_cli("grouping", "delete", second_id, env=env).returncode == 0
    listed = run_cli("grouping", "list", env=env)
    assert rule_id in listed.stdout
    gone = run_cli("grouping", "delete", rule_id, env=env)
    assert gone.returncode == 0 and "no grouping rules" in run_cli("grouping", "list", env=env).stdout


async def test_another_replica_reloads_a_change_when_notified(ctx):
    import asyncio

    from oncall.grouping.assign import GroupingCache

    replica = GroupingCache(ctx.pool, _router(ctx), refresh_s=3600)  # no periodic reload to lean on
    await replica.start(ctx.listener)
    try:
        rule = await _create(ctx)
        deadline = asyncio.get_running_loop().time() + 10
        while replica.rule(rule.id) is None:
            assert asyncio.get_running_loop().time() < deadline, "the replica never reloaded"
            await asyncio.sleep(0.02)
        await store.delete_rule(ctx.pool, rule.id)
        while replica.rules:
            assert asyncio.get_running_loop().time() < deadline + 10, "the replica kept a deleted rule"
            await asyncio.sleep(0.02)
    finally:
        await replica.stop()
