"""oncall.alerting.v1.GroupingService through a real gRPC channel to a running server."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import pytest
from fixtures.rpc import failure_of, reflection_client
from google.protobuf.timestamp_pb2 import Timestamp

from oncall.alerting.v1 import alerting_pb2 as alerting_pb
from oncall.alerting.v1 import alerting_pb2_grpc
from oncall.alerting.v1 import grouping_pb2 as pb
from oncall.alerting.v1 import grouping_pb2_grpc

SERVICE = "oncall.alerting.v1.GroupingService"
T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def stub(grpc_channel: grpc.aio.Channel) -> grouping_pb2_grpc.GroupingServiceStub:
    return grouping_pb2_grpc.GroupingServiceStub(grpc_channel)


@pytest.fixture
def alerts(grpc_channel: grpc.aio.Channel) -> alerting_pb2_grpc.AlertServiceStub:
    return alerting_pb2_grpc.AlertServiceStub(grpc_channel)


def _spec(name: str = "by cluster", **fields: Any) -> pb.GroupingRuleSpec:
    fields.setdefault("condition", "has(labels.cluster)")
    fields.setdefault("key", "labels.cluster")
    return pb.GroupingRuleSpec(name=name, **fields)


def _ts(when: datetime) -> Timestamp:
    ts = Timestamp()
    ts.FromDatetime(when)
    return ts


async def _raise(alerts: alerting_pb2_grpc.AlertServiceStub, key: str, **labels: str) -> int:
    response = await alerts.CreateAlert(alerting_pb.CreateAlertRequest(summary=f"alert {key}", dedup_key=key,
                                                                       labels=labels))
    return response.alert.id


async def _rows(server: Any, sql: str, *args: Any) -> list[dict[str, Any]]:
    async with server.ctx.pool.connection() as conn:
        cur = await conn.execute(sql, args)
        return list(await cur.fetchall())


async def _row_counts(server: Any) -> dict[str, int]:
    """Rows in every alerting and notification table, once the engine has routed every alert
    (so that its writes don't count as the call's)."""
    deadline = asyncio.get_running_loop().time() + 20
    while (await _rows(server, "SELECT count(*) AS n FROM alerting.alerts WHERE routed_at IS NULL"))[0]["n"]:
        assert asyncio.get_running_loop().time() < deadline, "the engine did not route the alerts"
        await asyncio.sleep(0.05)
    tables = await _rows(server, """SELECT format('%%I.%%I', schemaname, tablename) AS name FROM pg_tables
                                    WHERE schemaname IN ('alerting', 'notification') ORDER BY 1""")
    return {t["name"]: (await _rows(server, f"SELECT count(*) AS n FROM {t['name']}"))[0]["n"] for t in tables}


# --------------------------------------------------------------------------- CRUD


async def test_rules_are_created_read_updated_at_a_version_and_deleted(stub):
    created = (await stub.CreateGroupingRule(pb.CreateGroupingRuleRequest(
        spec=_spec(window_seconds=600, title_template="{{ alert.labels.cluster }} is unwell")))).rule
    assert created.id and (created.position, created.version) == (0, 1)
    assert (created.spec.window_seconds, created.spec.resolve_on) == (600, "all")
    assert not created.spec.HasField("idle_seconds") and not created.spec.HasField("integration_id")
    got = (await stub.GetGroupingRule(pb.GetGroupingRuleRequest(rule_id=created.id))).rule
    assert got == created

    spec = _spec("by cluster", key="[labels.alertname, labels.cluster]", idle_seconds=120, resolve_on="first")
    updated = (await stub.UpdateGroupingRule(pb.UpdateGroupingRuleRequest(
        rule_id=created.id, spec=spec, expected_version=1))).rule
    assert updated.version == 2 and updated.spec.idle_seconds == 120 and not updated.spec.HasField("window_seconds")
    stale = await failure_of(stub.UpdateGroupingRule(pb.UpdateGroupingRuleRequest(
        rule_id=created.id, spec=spec, expected_version=1)))
    assert stale.code() == grpc.StatusCode.ABORTED and "read it again" in stale.details()
    missing = await failure_of(stub.UpdateGroupingRule(pb.UpdateGroupingRuleRequest(
        rule_id=created.id, spec=spec)))
    assert missing.code() == grpc.StatusCode.INVALID_ARGUMENT and "expected_version" in missing.details()

    second = (await stub.CreateGroupingRule(pb.CreateGroupingRuleRequest(spec=_spec("first"), position=0))).rule
    listed = (await stub.ListGroupingRules(pb.ListGroupingRulesRequest())).rules
    assert [(r.spec.name, r.position) for r in listed] == [("first", 0), ("by cluster", 1)]
    reordered = (await stub.ReorderGroupingRules(pb.ReorderGroupingRulesRequest(
        rule_ids=[created.id, second.id]))).rules
    assert [r.spec.name for r in reordered] == ["by cluster", "first"]
    await stub.DeleteGroupingRule(pb.DeleteGroupingRuleRequest(rule_id=created.id))
    gone = await failure_of(stub.GetGroupingRule(pb.GetGroupingRuleRequest(rule_id=created.id)))
    assert gone.code() == grpc.StatusCode.NOT_FOUND
    duplicate = await failure_of(stub.CreateGroupingRule(pb.CreateGroupingRuleRequest(spec=_spec("first"))))
    assert duplicate.code() == grpc.StatusCode.ALREADY_EXISTS


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"condition": "labels.cluster =="}, "condition 'labels.cluster ==' is invalid: "),
        ({"key": "[labels.a, labels.b"}, "at line 1, column"),
        ({"window_seconds": 60, "idle_seconds": 60}, "not both"),
        ({"window_seconds": -5}, "between 1 and 604800"),
        ({"resolve_on": "later"}, "resolve_on must be one of all, first, manual"),
        ({"integration_id": 424242}, "integration 424242 does not exist"),
        ({"title_template": "{% for %}"}, "title_template is invalid"),
    ],
)
async def test_a_bad_rule_is_invalid_argument_saying_what_and_where_and_nothing_is_stored(stub, fields, words):
    failure = await failure_of(stub.CreateGroupingRule(pb.CreateGroupingRuleRequest(spec=_spec(**fields))))
    assert failure.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert words in failure.details()
    assert not (await stub.ListGroupingRules(pb.ListGroupingRulesRequest())).rules


# --------------------------------------------------------------------------- presets and taking effect


async def test_presets_are_listed_and_create_rules_that_take_effect_on_the_next_alert(stub, alerts, server):
    listed = (await stub.ListGroupingPresets(pb.ListGroupingPresetsRequest())).presets
    assert [p.name for p in listed] == ["alertmanager-group", "alertname-cluster-15m", "integration-30m"]
    am = next(p for p in listed if p.name == "alertmanager-group")
    assert (am.spec.key, am.spec.resolve_on) == ("annotations.groupKey", "all")

    before = await _raise(alerts, "before", alertname="HighCPU", cluster="eu-1")
    rule = (await stub.CreateGroupingRule(pb.CreateGroupingRuleRequest(
        preset="alertname-cluster-15m", spec=pb.GroupingRuleSpec(title_template="{{ alert.labels.cluster }}")))).rule
    assert (rule.spec.name, rule.spec.key, rule.spec.window_seconds) == (
        "Same alertname and cluster for 15 minutes", "[labels.alertname, labels.cluster]", 900)
    assert rule.spec.title_template == "{{ alert.labels.cluster }}"
    # the very next alerts are grouped by it: no wait for a reload
    one = await _raise(alerts, "one", alertname="HighCPU", cluster="eu-1")
    two = await _raise(alerts, "two", alertname="HighCPU", cluster="eu-1")
    elsewhere = await _raise(alerts, "three", alertname="HighCPU", cluster="us-1")
    rows = await _rows(server, "SELECT id, incident_id FROM alerting.alerts WHERE id = ANY(%s)",
                       [before, one, two, elsewhere])
    incident = {r["id"]: r["incident_id"] for r in rows}
    assert incident[one] == incident[two]
    assert len({incident[before], incident[one], incident[elsewhere]}) == 3
    [grouped] = await _rows(server, "SELECT rule_id, group_key, alert_count FROM alerting.incidents WHERE id = %s",
                            incident[one])
    assert grouped == {"rule_id": rule.id, "group_key": '["HighCPU","eu-1"]', "alert_count": 2}

    unknown = await failure_of(stub.CreateGroupingRule(pb.CreateGroupingRuleRequest(preset="nope")))
    assert unknown.code() == grpc.StatusCode.INVALID_ARGUMENT and "alertmanager-group" in unknown.details()


async def test_a_deleted_rule_stops_grouping_at_once(stub, alerts, server):
    rule = (await stub.CreateGroupingRule(pb.CreateGroupingRuleRequest(spec=_spec()))).rule
    a = await _raise(alerts, "a", cluster="eu")
    b = await _raise(alerts, "b", cluster="eu")
    await stub.DeleteGroupingRule(pb.DeleteGroupingRuleRequest(rule_id=rule.id))
    c = await _raise(alerts, "c", cluster="eu")
    rows = await _rows(server, "SELECT id, incident_id FROM alerting.alerts WHERE id = ANY(%s)", [a, b, c])
    incident = {r["id"]: r["incident_id"] for r in rows}
    assert incident[a] == incident[b] != incident[c]


# --------------------------------------------------------------------------- TestGrouping


async def _stored(server: Any, alerts: alerting_pb2_grpc.AlertServiceStub,
                  made: list[tuple[str, dict[str, str], int]]) -> list[int]:
    """Alerts raised with no rule, then dated T0 + s (test setup)."""
    ids = [await _raise(alerts, key, **labels) for key, labels, _ in made]
    async with server.ctx.pool.connection() as conn:
        for alert_id, (_, _, at) in zip(ids, made, strict=True):
            await conn.execute("UPDATE alerting.alerts SET created_at = %s WHERE id = %s",
                               (T0 + timedelta(seconds=at), alert_id))
    return ids


async def test_test_grouping_reports_the_incidents_a_draft_would_make_and_writes_nothing(stub, alerts, server):
    a, b, c, d, e = await _stored(server, alerts, [
        ("a", {"cluster": "eu"}, 0), ("b", {"cluster": "eu"}, 299), ("c", {"cluster": "eu"}, 300),
        ("d", {"cluster": "us"}, 10), ("e", {}, 20),
    ])
    before = await _row_counts(server)
    response = await stub.TestGrouping(pb.TestGroupingRequest(
        draft=pb.GroupingRuleSpec(condition="true", key="labels.cluster", window_seconds=300,
                                  title_template="{{ alert.labels.cluster | upper }} trouble"),
        since=_ts(T0), until=_ts(T0 + timedelta(hours=1))))
    assert response.alerts_replayed == 5 and not response.truncated
    got = [(i.key, list(i.alert_ids), i.alert_count, i.title) for i in response.incidents]
    # c arrives exactly when the window from a ends: it opens a second incident
    assert got == [("eu", [a, b], 2, "EU trouble"), ("us", [d], 1, "US trouble"), ("eu", [c], 1, "EU trouble")]
    first = response.incidents[0]
    assert first.first_alert_at.ToDatetime(tzinfo=UTC) == T0
    assert first.last_alert_at.ToDatetime(tzinfo=UTC) == T0 + timedelta(seconds=299)
    assert first.joinable_until.ToDatetime(tzinfo=UTC) == T0 + timedelta(seconds=300)
    assert not first.HasField("resolved_at")
    assert list(response.not_taken_alert_ids) == [e]
    assert len(response.errors) == 1 and response.errors[0].startswith(f"alert #{e}: ")
    assert await _row_counts(server) == before
    # a stored rule and a preset replay as well; the last N takes the latest
    rule = (await stub.CreateGroupingRule(pb.CreateGroupingRuleRequest(spec=_spec(idle_seconds=400)))).rule
    before = await _row_counts(server)
    by_id = await stub.TestGrouping(pb.TestGroupingRequest(rule_id=rule.id, last=3))
    assert [list(i.alert_ids) for i in by_id.incidents] == [[b, c]]
    assert list(by_id.not_taken_alert_ids) == [e]
    by_preset = await stub.TestGrouping(pb.TestGroupingRequest(preset="integration-30m", last=10))
    assert [list(i.alert_ids) for i in by_preset.incidents] == [[a, d, e, b, c]]
    assert await _row_counts(server) == before


@pytest.mark.parametrize(
    ("request_fields", "words"),
    [
        ({}, "say which rule to test"),
        ({"draft": pb.GroupingRuleSpec(condition="true", key="labels.x +"), "last": 5}, "at line 1, column"),
        ({"draft": pb.GroupingRuleSpec(condition="true", key="labels.x")}, "say which alerts to replay"),
        ({"preset": "alertmanager-group", "last": 10001}, "between 1 and 10000"),
        ({"preset": "alertmanager-group", "last": 5, "since": _ts(T0)}, "not both"),
        ({"preset": "alertmanager-group", "since": _ts(T0), "until": _ts(T0)}, "later than since"),
        ({"rule_id": "no-such-rule", "last": 5}, "not found"),
    ],
)
async def test_a_test_grouping_request_that_cannot_be_answered_says_why(stub, request_fields, words):
    failure = await failure_of(stub.TestGrouping(pb.TestGroupingRequest(**request_fields)))
    assert failure.code() in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND)
    assert words in failure.details()


async def test_a_reflection_only_client_finds_and_calls_the_service(server):
    def call() -> list[str]:
        with reflection_client(server.grpc_target, server.admin_key) as client:
            assert SERVICE in client.services
            listed = client.method(SERVICE, "ListGroupingPresets")()
            return [p.name for p in listed.presets]

    assert "alertmanager-group" in await asyncio.to_thread(call)
