"""EscalationService, SilenceService and HeartbeatService through a real gRPC channel.

The server runs the escalation engine in the background, as in production: an alert
posted by webhook is routed and its first step fires without the test's help, so the
tests wait (boundedly) for what a user would see: notification requests, escalation state.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import aiohttp
import grpc
import pytest
from fixtures.rpc import HANG_GUARD_S, failure_of
from fixtures.webhooks import post_generic
from google.protobuf.duration_pb2 import Duration
from google.protobuf.timestamp_pb2 import Timestamp

from oncall.alerting.v1 import alerting_pb2 as alerting_pb
from oncall.alerting.v1 import alerting_pb2_grpc
from oncall.alerting.v1 import escalation_pb2 as pb
from oncall.alerting.v1 import escalation_pb2_grpc
from oncall.alerting.v1 import heartbeats_pb2 as heartbeats_pb
from oncall.alerting.v1 import heartbeats_pb2_grpc
from oncall.alerting.v1 import routing_pb2 as routing_pb
from oncall.alerting.v1 import routing_pb2_grpc
from oncall.alerting.v1 import silences_pb2 as silences_pb
from oncall.alerting.v1 import silences_pb2_grpc

T = TypeVar("T")


class Stubs:
    def __init__(self, channel: grpc.aio.Channel) -> None:
        self.escalation = escalation_pb2_grpc.EscalationServiceStub(channel)
        self.routing = routing_pb2_grpc.RoutingServiceStub(channel)
        self.alerts = alerting_pb2_grpc.AlertServiceStub(channel)
        self.silences = silences_pb2_grpc.SilenceServiceStub(channel)
        self.heartbeats = heartbeats_pb2_grpc.HeartbeatServiceStub(channel)


@pytest.fixture
def stubs(grpc_channel: grpc.aio.Channel) -> Stubs:
    return Stubs(grpc_channel)


@pytest.fixture
def stub(stubs: Stubs) -> escalation_pb2_grpc.EscalationServiceStub:
    return stubs.escalation


async def eventually(read: Callable[[], Awaitable[T]], done: Callable[[T], bool]) -> T:
    """Read until ``done`` holds for what was read; return it. Fails only if the server hangs."""
    async with asyncio.timeout(HANG_GUARD_S):
        while True:
            value = await read()
            if done(value):
                return value
            await asyncio.sleep(0.05)


def seconds(n: int) -> Duration:
    return Duration(seconds=n)


def user(user_id: str) -> pb.EscalationTarget:
    return pb.EscalationTarget(kind=pb.TARGET_KIND_USER, id=user_id)


def step(delay_s: int, *targets: pb.EscalationTarget) -> pb.EscalationStep:
    return pb.EscalationStep(delay=seconds(delay_s), targets=targets)


# Ada is paged at once; Grace an hour later, unless someone escalates first.
ONCALL_STEPS = [step(0, user("ada")), step(3600, user("grace"))]


async def requests_for(stub: escalation_pb2_grpc.EscalationServiceStub, alert_id: int) -> list[pb.NotificationRequest]:
    response = await stub.ListNotificationRequests(pb.ListNotificationRequestsRequest(alert_id=alert_id))
    return list(response.requests)


async def routed(stubs: Stubs, alert_id: int) -> alerting_pb.Alert:
    """The alert, once the engine has routed it."""
    response = await eventually(
        lambda: stubs.alerts.GetAlert(alerting_pb.GetAlertRequest(alert_id=alert_id)),
        lambda r: r.alert.HasField("routed_at"),
    )
    return response.alert


# --------------------------------------------------------------------------- policies


async def test_policies_are_created_read_listed_updated_and_deleted(stub, server):
    async with server.ctx.pool.connection() as conn:  # the schedule a step targets must exist
        await conn.execute("INSERT INTO alerting.schedules (id, name, time_zone) VALUES ('db-oncall', 'db', 'UTC')")
    created = (
        await stub.CreatePolicy(
            pb.CreatePolicyRequest(
                name="db-primary",
                description="the database team",
                steps=[
                    step(0, user("ada"), pb.EscalationTarget(kind=pb.TARGET_KIND_SCHEDULE, id="db-oncall")),
                    step(
                        300,
                        pb.EscalationTarget(kind=pb.TARGET_KIND_CHANNEL, id="slack:#db"),
                        pb.EscalationTarget(kind=pb.TARGET_KIND_WEBHOOK, id="https://hooks.example.test/page"),
                    ),
                ],
                repeat=2,
                repeat_delay=seconds(600),
            )
        )
    ).policy
    assert created.id and (created.name, created.description) == ("db-primary", "the database team")
    assert [(s.delay.seconds, [(t.kind, t.id) for t in s.targets]) for s in created.steps] == [
        (0, [(pb.TARGET_KIND_USER, "ada"), (pb.TARGET_KIND_SCHEDULE, "db-oncall")]),
        (300, [(pb.TARGET_KIND_CHANNEL, "slack:#db"), (pb.TARGET_KIND_WEBHOOK, "https://hooks.example.test/page")]),
    ]
    assert (created.repeat, created.repeat_delay.seconds, created.version) == (2, 600, 1)
    assert created.HasField("created_at") and created.HasField("updated_at")
    assert (await stub.GetPolicy(pb.GetPolicyRequest(policy_id=created.id))).policy == created

    other = (await stub.CreatePolicy(pb.CreatePolicyRequest(name="app", steps=[step(0, user("grace"))]))).policy
    assert other.repeat_delay.seconds == 300  # unset: five minutes
    listed = (await stub.ListPolicies(pb.ListPoliciesRequest())).policies
    assert [p.name for p in listed] == ["app", "db-primary"]  # by name

    updated = (
        await stub.UpdatePolicy(
            pb.UpdatePolicyRequest(policy_id=created.id, name="db", steps=[step(60, user("grace"))])
        )
    ).policy
    assert (updated.id, updated.name, updated.version, updated.repeat) == (created.id, "db", 2, 0)
    assert [(s.delay.seconds, [t.id for t in s.targets]) for s in updated.steps] == [(60, ["grace"])]
    assert (await stub.GetPolicy(pb.GetPolicyRequest(policy_id=created.id))).policy == updated

    await stub.DeletePolicy(pb.DeletePolicyRequest(policy_id=created.id))
    assert [p.name for p in (await stub.ListPolicies(pb.ListPoliciesRequest())).policies] == ["app"]
    for call in (
        stub.GetPolicy(pb.GetPolicyRequest(policy_id=created.id)),
        stub.DeletePolicy(pb.DeletePolicyRequest(policy_id=created.id)),
        stub.UpdatePolicy(pb.UpdatePolicyRequest(policy_id=created.id, name="x", steps=[step(0, user("ada"))])),
    ):
        assert (await failure_of(call)).code() == grpc.StatusCode.NOT_FOUND


async def test_malformed_policies_are_invalid_argument_and_store_nothing(stub):
    bad_steps = {
        "no steps": [],
        "no targets": [pb.EscalationStep(delay=seconds(0))],
        "no kind": [pb.EscalationStep(targets=[pb.EscalationTarget(id="ada")])],
        "blank id": [step(0, user("  "))],
        "negative delay": [step(-5, user("ada"))],
        "fractional delay": [pb.EscalationStep(delay=Duration(seconds=1, nanos=500_000_000), targets=[user("ada")])],
        "over a week": [step(8 * 24 * 3600, user("ada"))],
        "webhook not a url": [step(0, pb.EscalationTarget(kind=pb.TARGET_KIND_WEBHOOK, id="hooks.example.test"))],
        "channel without kind": [step(0, pb.EscalationTarget(kind=pb.TARGET_KIND_CHANNEL, id="#ops"))],
    }
    for name, steps in bad_steps.items():
        failure = await failure_of(stub.CreatePolicy(pb.CreatePolicyRequest(name=name, steps=steps)))
        assert failure.code() == grpc.StatusCode.INVALID_ARGUMENT, name
    for request in (
        pb.CreatePolicyRequest(name="", steps=[step(0, user("ada"))]),
        pb.CreatePolicyRequest(name="repeat", steps=[step(0, user("ada"))], repeat=-1),
        pb.CreatePolicyRequest(name="repeat delay", steps=[step(0, user("ada"))], repeat_delay=seconds(-1)),
    ):
        assert (await failure_of(stub.CreatePolicy(request))).code() == grpc.StatusCode.INVALID_ARGUMENT
    no_targets = await failure_of(
        stub.CreatePolicy(pb.CreatePolicyRequest(name="x", steps=[step(0, user("ada")), pb.EscalationStep()]))
    )
    assert "step 2" in no_targets.details()

    assert (await stub.ListPolicies(pb.ListPoliciesRequest())).policies == []


async def test_a_second_policy_with_the_same_name_already_exists(stub):
    await stub.CreatePolicy(pb.CreatePolicyRequest(name="db", steps=[step(0, user("ada"))]))
    taken = await failure_of(stub.CreatePolicy(pb.CreatePolicyRequest(name="db", steps=[step(0, user("grace"))])))
    assert taken.code() == grpc.StatusCode.ALREADY_EXISTS


async def test_a_policy_a_route_names_cannot_be_deleted(stubs, stub):
    policy = (await stub.CreatePolicy(pb.CreatePolicyRequest(name="db", steps=[step(0, user("ada"))]))).policy
    await stubs.routing.CreateRule(
        routing_pb.CreateRuleRequest(
            name="db alerts", condition="true", actions=routing_pb.RuleActions(escalation_policy_id=policy.id)
        )
    )
    in_use = await failure_of(stub.DeletePolicy(pb.DeletePolicyRequest(policy_id=policy.id)))
    assert in_use.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "db alerts" in in_use.details()
    assert (await stub.GetPolicy(pb.GetPolicyRequest(policy_id=policy.id))).policy.name == "db"


# --------------------------------------------------------------------------- escalation of a real alert


async def route_generic_alerts_to(stubs: Stubs, steps: list[pb.EscalationStep]) -> str:
    """A policy with ``steps`` and a rule sending every generic-webhook alert to it."""
    policy = (await stubs.escalation.CreatePolicy(pb.CreatePolicyRequest(name="primary", steps=steps))).policy
    await stubs.routing.CreateRule(
        routing_pb.CreateRuleRequest(
            name="generic to primary",
            condition='source == "generic"',
            actions=routing_pb.RuleActions(escalation_policy_id=policy.id),
        )
    )
    return policy.id


async def test_a_webhook_alert_is_routed_and_its_first_step_requests_a_page(server, stubs, stub):
    policy_id = await route_generic_alerts_to(stubs, ONCALL_STEPS)
    _, key = await server.integration("generic")
    alert_id = await post_generic(server, key, "db-1 disk full", "db-1-disk")

    [request] = await eventually(lambda: requests_for(stub, alert_id), bool)
    assert (request.alert_id, request.policy_id, request.step, request.repeat) == (alert_id, policy_id, 0, 0)
    assert (request.target_kind, request.target_id, request.user_id) == (pb.TARGET_KIND_USER, "ada", "ada")
    assert request.status in ("pending", "queued")  # the delivery worker may have taken it already
    assert request.idempotency_key and request.HasField("created_at")
    assert request.context["alert"]["summary"] == "db-1 disk full"
    assert request.context["escalation"]["policy_id"] == policy_id
    assert (request.via, request.template_id) == ("", "")

    alert = (await stubs.alerts.GetAlert(alerting_pb.GetAlertRequest(alert_id=alert_id))).alert
    assert alert.HasField("routed_at")
    assert list(alert.route.matched_rules) == ["generic to primary"]
    assert (alert.route.escalation_policy_id, alert.route.default_route, alert.route.suppressed) == (
        policy_id,
        False,
        False,
    )
    assert (alert.escalation_policy_id, alert.silenced_by) == (policy_id, "")

    escalation = (await stub.GetEscalationState(pb.GetEscalationStateRequest(alert_id=alert_id))).escalation
    assert (escalation.alert_id, escalation.policy_id, escalation.state) == (
        alert_id,
        policy_id,
        pb.ESCALATION_STATE_ACTIVE,
    )
    assert (escalation.current_step, escalation.next_step, escalation.repeat) == (0, 1, 0)
    assert escalation.HasField("last_fired_at")
    # the second step falls due its delay after the first fired
    assert escalation.next_due_at.ToDatetime() - escalation.last_fired_at.ToDatetime() == timedelta(hours=1)
    assert escalation.held_by == ""

    # the same request is listed by status, and not by another alert's id
    listed = await stub.ListNotificationRequests(pb.ListNotificationRequestsRequest(status="queued"))
    if request.id not in [r.id for r in listed.requests]:  # not yet taken by the delivery worker
        listed = await stub.ListNotificationRequests(pb.ListNotificationRequestsRequest(status="pending"))
    assert [r.id for r in listed.requests] == [request.id]
    assert await requests_for(stub, alert_id + 1000) == []


async def test_escalate_alert_fires_the_next_step_now_and_records_who_asked(server, stubs, stub):
    await route_generic_alerts_to(stubs, ONCALL_STEPS)
    _, key = await server.integration("generic")
    alert_id = await post_generic(server, key, "checkout down", "checkout")
    await eventually(lambda: requests_for(stub, alert_id), bool)
    await stubs.alerts.AcknowledgeAlert(alerting_pb.AcknowledgeAlertRequest(alert_id=alert_id, user_id="ada"))

    response = await stub.EscalateAlert(
        pb.EscalateAlertRequest(alert_id=alert_id, user_id="ada", note="need the db team")
    )
    assert response.escalation.alert_id == alert_id

    requests = await eventually(lambda: requests_for(stub, alert_id), lambda rs: len(rs) == 2)
    assert [(r.step, r.target_id) for r in requests] == [(0, "ada"), (1, "grace")]
    done = (await stub.GetEscalationState(pb.GetEscalationStateRequest(alert_id=alert_id))).escalation
    assert (done.state, done.current_step, done.HasField("next_step")) == (pb.ESCALATION_STATE_DONE, 1, False)

    # escalating an acknowledged alert returns it to triggered: someone asked for more help
    alert = (await stubs.alerts.GetAlert(alerting_pb.GetAlertRequest(alert_id=alert_id))).alert
    assert alert.status == alerting_pb.ALERT_STATUS_TRIGGERED
    timeline = await stubs.alerts.GetAlertTimeline(alerting_pb.GetAlertTimelineRequest(alert_id=alert_id))
    assert ("escalate_requested", "ada", "need the db team") in [(e.kind, e.actor, e.note) for e in timeline.events]


async def _escalation_rows(server, alert_id: int) -> dict:
    """What escalating could change, as stored: the alert, its escalation, its requests, its timeline."""
    async with server.ctx.pool.connection() as conn:
        cur = await conn.execute(
            "SELECT status, acknowledged_by FROM alerting.alerts WHERE id = %s", (alert_id,))
        alert = await cur.fetchone()
        cur = await conn.execute(
            """SELECT state, step, repeat, next_due_at, last_fired_at, updated_at
               FROM alerting.escalations WHERE alert_id = %s""", (alert_id,))
        escalation = await cur.fetchone()
        cur = await conn.execute(
            "SELECT step, repeat, target_id FROM alerting.notification_requests WHERE alert_id = %s ORDER BY id",
            (alert_id,))
        requests = [tuple(r.values()) for r in await cur.fetchall()]
        # delivery outcomes ('notification') are the notifier's, written as it gets to them
        cur = await conn.execute(
            """SELECT kind, actor, note FROM alerting.alert_events
               WHERE alert_id = %s AND kind <> 'notification' ORDER BY id""", (alert_id,))
        events = [tuple(r.values()) for r in await cur.fetchall()]
    return {"alert": alert, "escalation": escalation, "requests": requests, "events": events}


async def test_escalating_a_finished_policy_is_refused_and_changes_nothing_unless_told_to_restart(
    server, stubs, stub
):
    await route_generic_alerts_to(stubs, ONCALL_STEPS)  # two steps, no repeat
    _, key = await server.integration("generic")
    alert_id = await post_generic(server, key, "nobody answers", "silent")
    await eventually(lambda: requests_for(stub, alert_id), bool)
    await stub.EscalateAlert(pb.EscalateAlertRequest(alert_id=alert_id, user_id="ada"))  # step 2, the last

    def state() -> Awaitable[pb.GetEscalationStateResponse]:
        return stub.GetEscalationState(pb.GetEscalationStateRequest(alert_id=alert_id))

    await eventually(state, lambda r: r.escalation.state == pb.ESCALATION_STATE_DONE)
    await stubs.alerts.AcknowledgeAlert(alerting_pb.AcknowledgeAlertRequest(alert_id=alert_id, user_id="grace"))
    before = await _escalation_rows(server, alert_id)
    assert before["requests"] == [(0, 0, "ada"), (1, 0, "grace")]

    refused = await failure_of(stub.EscalateAlert(pb.EscalateAlertRequest(alert_id=alert_id, user_id="ada")))
    assert refused.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "the policy has finished: every step has fired and it does not repeat" in refused.details()
    assert "restart" in refused.details()  # and it says how to page everyone again
    assert await _escalation_rows(server, alert_id) == before  # still acknowledged; no one re-paged

    restarted = await stub.EscalateAlert(
        pb.EscalateAlertRequest(alert_id=alert_id, user_id="ada", note="still broken", restart=True))
    assert restarted.escalation.state == pb.ESCALATION_STATE_ACTIVE
    rows = await eventually(lambda: _escalation_rows(server, alert_id), lambda r: len(r["requests"]) == 3)
    assert rows["requests"][2] == (0, 1, "ada")  # the first step again, as a new pass
    assert rows["alert"]["status"] == "triggered"
    assert ("escalate_requested", "ada", "still broken") in rows["events"]
    after = (await state()).escalation
    assert (after.state, after.current_step, after.next_step, after.repeat) == (pb.ESCALATION_STATE_ACTIVE, 0, 1, 1)


async def test_escalation_refuses_what_cannot_be_escalated(server, stubs, stub):
    # an alert with no route to a policy has no escalation
    by_hand = (await stubs.alerts.CreateAlert(alerting_pb.CreateAlertRequest(summary="no policy"))).alert
    await routed(stubs, by_hand.id)
    none = await failure_of(stub.GetEscalationState(pb.GetEscalationStateRequest(alert_id=by_hand.id)))
    assert none.code() == grpc.StatusCode.FAILED_PRECONDITION
    none = await failure_of(stub.EscalateAlert(pb.EscalateAlertRequest(alert_id=by_hand.id, user_id="ada")))
    assert none.code() == grpc.StatusCode.FAILED_PRECONDITION

    await route_generic_alerts_to(stubs, ONCALL_STEPS)
    _, key = await server.integration("generic")
    alert_id = await post_generic(server, key, "flapping", "flap")
    await eventually(lambda: requests_for(stub, alert_id), bool)
    await stubs.alerts.ResolveAlert(alerting_pb.ResolveAlertRequest(alert_id=alert_id, user_id="ada"))
    resolved = await failure_of(stub.EscalateAlert(pb.EscalateAlertRequest(alert_id=alert_id, user_id="ada")))
    assert resolved.code() == grpc.StatusCode.FAILED_PRECONDITION
    stopped = (await stub.GetEscalationState(pb.GetEscalationStateRequest(alert_id=alert_id))).escalation
    assert stopped.state == pb.ESCALATION_STATE_STOPPED and not stopped.HasField("next_due_at")

    invalid = grpc.StatusCode.INVALID_ARGUMENT
    assert (await failure_of(stub.EscalateAlert(pb.EscalateAlertRequest(alert_id=alert_id)))).code() == invalid
    assert (await failure_of(stub.GetEscalationState(pb.GetEscalationStateRequest()))).code() == invalid
    missing = await failure_of(stub.GetEscalationState(pb.GetEscalationStateRequest(alert_id=999_999)))
    assert missing.code() == grpc.StatusCode.NOT_FOUND
    limit = await failure_of(stub.ListNotificationRequests(pb.ListNotificationRequestsRequest(limit=-1)))
    assert limit.code() == invalid
    assert [r.step for r in await requests_for(stub, alert_id)] == [0]


# --------------------------------------------------------------------------- silences and maintenance


def at(moment: datetime) -> Timestamp:
    ts = Timestamp()
    ts.FromDatetime(moment)
    return ts


async def test_silences_are_created_listed_scheduled_and_expired(stubs):
    silences = stubs.silences
    now = datetime.now(UTC)
    active = (
        await silences.CreateSilence(
            silences_pb.CreateSilenceRequest(
                matchers=[
                    silences_pb.Matcher(name="team", op=silences_pb.MATCH_OPERATOR_EQUAL, value="db"),
                    silences_pb.Matcher(name="env", op=silences_pb.MATCH_OPERATOR_REGEX, value="stag.*"),
                ],
                duration=seconds(3600),
                created_by="ada",
                comment="db migration",
            )
        )
    ).silence
    assert active.id and active.state == silences_pb.SILENCE_STATE_ACTIVE
    assert [(m.name, m.op, m.value) for m in active.matchers] == [
        ("team", silences_pb.MATCH_OPERATOR_EQUAL, "db"),
        ("env", silences_pb.MATCH_OPERATOR_REGEX, "stag.*"),
    ]
    assert active.ends_at.ToDatetime() - active.starts_at.ToDatetime() == timedelta(hours=1)
    assert (active.created_by, active.comment, active.HasField("integration_id")) == ("ada", "db migration", False)

    scheduled = (
        await silences.CreateSilence(
            silences_pb.CreateSilenceRequest(
                matchers=[silences_pb.Matcher(name="service", op=silences_pb.MATCH_OPERATOR_NOT_EQUAL, value="api")],
                starts_at=at(now + timedelta(days=1)),
                ends_at=at(now + timedelta(days=1, hours=2)),
                created_by="grace",
            )
        )
    ).silence
    assert scheduled.state == silences_pb.SILENCE_STATE_PENDING
    assert scheduled.starts_at.ToDatetime(tzinfo=UTC) > now

    assert (await silences.GetSilence(silences_pb.GetSilenceRequest(silence_id=active.id))).silence == active
    listed = (await silences.ListSilences(silences_pb.ListSilencesRequest())).silences
    assert [s.id for s in listed] == [active.id, scheduled.id]  # by start

    expired = (await silences.ExpireSilence(silences_pb.ExpireSilenceRequest(silence_id=active.id))).silence
    assert expired.state == silences_pb.SILENCE_STATE_EXPIRED
    assert expired.ends_at.ToDatetime() < active.ends_at.ToDatetime()
    listed = (await silences.ListSilences(silences_pb.ListSilencesRequest())).silences
    assert [s.id for s in listed] == [scheduled.id]
    listed = (await silences.ListSilences(silences_pb.ListSilencesRequest(include_expired=True))).silences
    assert [(s.id, s.state) for s in listed] == [
        (active.id, silences_pb.SILENCE_STATE_EXPIRED),
        (scheduled.id, silences_pb.SILENCE_STATE_PENDING),
    ]
    missing = await failure_of(silences.GetSilence(silences_pb.GetSilenceRequest(silence_id="nope")))
    assert missing.code() == grpc.StatusCode.NOT_FOUND


async def test_malformed_silences_are_invalid_argument_and_store_nothing(stubs):
    silences = stubs.silences
    team_db = silences_pb.Matcher(name="team", op=silences_pb.MATCH_OPERATOR_EQUAL, value="db")
    past = at(datetime.now(UTC) - timedelta(hours=1))
    for request in (
        silences_pb.CreateSilenceRequest(duration=seconds(60), created_by="ada"),  # silences everything
        silences_pb.CreateSilenceRequest(matchers=[team_db], created_by="ada"),  # never ends
        silences_pb.CreateSilenceRequest(matchers=[team_db], duration=seconds(60)),  # by nobody
        silences_pb.CreateSilenceRequest(matchers=[team_db], duration=seconds(0), created_by="ada"),
        silences_pb.CreateSilenceRequest(matchers=[team_db], ends_at=past, created_by="ada"),
        silences_pb.CreateSilenceRequest(
            matchers=[silences_pb.Matcher(name="team", value="db")], duration=seconds(60), created_by="ada"
        ),
        silences_pb.CreateSilenceRequest(
            matchers=[silences_pb.Matcher(name="env", op=silences_pb.MATCH_OPERATOR_REGEX, value="(")],
            duration=seconds(60),
            created_by="ada",
        ),
        silences_pb.CreateSilenceRequest(condition='labels.team ==', duration=seconds(60), created_by="ada"),
        silences_pb.CreateSilenceRequest(integration_id=999_999, duration=seconds(60), created_by="ada"),
        silences_pb.CreateSilenceRequest(policy_id="nope", duration=seconds(60), created_by="ada"),
    ):
        assert (await failure_of(silences.CreateSilence(request))).code() == grpc.StatusCode.INVALID_ARGUMENT, request
    for request in (
        silences_pb.SetMaintenanceRequest(duration=seconds(60), created_by="ada"),  # of nothing
        silences_pb.SetMaintenanceRequest(policy_id="nope", duration=seconds(60), created_by="ada"),
        silences_pb.SetMaintenanceRequest(integration_id=1, created_by="ada"),  # for no time
    ):
        assert (await failure_of(silences.SetMaintenance(request))).code() == grpc.StatusCode.INVALID_ARGUMENT, request

    assert (await silences.ListSilences(silences_pb.ListSilencesRequest(include_expired=True))).silences == []


async def test_maintenance_holds_an_integrations_alerts_until_it_is_expired(server, stubs, stub):
    await route_generic_alerts_to(stubs, ONCALL_STEPS)
    integration_id, key = await server.integration("generic")
    window = (
        await stubs.silences.SetMaintenance(
            silences_pb.SetMaintenanceRequest(
                integration_id=integration_id, duration=seconds(3600), created_by="ada", comment="db upgrade"
            )
        )
    ).silence
    assert (window.integration_id, window.matchers, window.state) == (
        integration_id,
        [],
        silences_pb.SILENCE_STATE_ACTIVE,
    )
    assert window.comment == "db upgrade"

    alert_id = await post_generic(server, key, "db-1 restarting", "db-1")
    alert = await routed(stubs, alert_id)
    assert alert.silenced_by == window.id
    held = (await stub.GetEscalationState(pb.GetEscalationStateRequest(alert_id=alert_id))).escalation
    assert (held.state, held.held_by, held.next_step) == (pb.ESCALATION_STATE_HELD, window.id, 0)
    assert await requests_for(stub, alert_id) == []

    await stubs.silences.ExpireSilence(silences_pb.ExpireSilenceRequest(silence_id=window.id))
    [request] = await eventually(lambda: requests_for(stub, alert_id), bool)
    assert (request.step, request.target_id) == (0, "ada")
    resumed = (await stub.GetEscalationState(pb.GetEscalationStateRequest(alert_id=alert_id))).escalation
    assert (resumed.state, resumed.held_by) == (pb.ESCALATION_STATE_ACTIVE, "")


async def test_maintenance_of_a_policy_is_a_silence_scoped_to_it(stubs, stub):
    policy = (await stub.CreatePolicy(pb.CreatePolicyRequest(name="db", steps=[step(0, user("ada"))]))).policy
    window = (
        await stubs.silences.SetMaintenance(
            silences_pb.SetMaintenanceRequest(policy_id=policy.id, duration=seconds(1800), created_by="ada")
        )
    ).silence
    assert (window.policy_id, window.comment, window.HasField("integration_id")) == (policy.id, "maintenance", False)
    assert window.ends_at.ToDatetime() - window.starts_at.ToDatetime() == timedelta(minutes=30)
    listed = (await stubs.silences.ListSilences(silences_pb.ListSilencesRequest())).silences
    assert [s.id for s in listed] == [window.id]


# --------------------------------------------------------------------------- heartbeats


async def test_heartbeats_are_created_beaten_listed_and_deleted(server, stubs):
    heartbeats = stubs.heartbeats
    created = await heartbeats.CreateHeartbeat(
        heartbeats_pb.CreateHeartbeatRequest(name="nightly-backup", timeout=seconds(26 * 3600))
    )
    hb = created.heartbeat
    assert hb.id and (hb.name, hb.timeout.seconds) == ("nightly-backup", 26 * 3600)
    assert hb.state == heartbeats_pb.HEARTBEAT_STATE_PENDING
    assert not hb.HasField("last_beat_at") and not hb.HasField("expires_at")
    assert hb.beat_path == f"/api/v1/heartbeat/{hb.id}"
    assert created.beat_url == f"{server.ctx.settings.base_url}{hb.beat_path}"
    assert created.key and hb.integration_id > 0

    # the job beats with the key it was given
    async with aiohttp.ClientSession() as http:
        async with http.post(
            f"{server.http_url}{hb.beat_path}", headers={"Authorization": f"Bearer {created.key}"}
        ) as r:
            assert r.status == 200, await r.text()
    beaten = (await heartbeats.GetHeartbeat(heartbeats_pb.GetHeartbeatRequest(heartbeat_id=hb.id))).heartbeat
    assert beaten.state == heartbeats_pb.HEARTBEAT_STATE_UP
    assert beaten.expires_at.ToDatetime() - beaten.last_beat_at.ToDatetime() == timedelta(hours=26)

    await heartbeats.CreateHeartbeat(heartbeats_pb.CreateHeartbeatRequest(name="cron-cleanup", timeout=seconds(60)))
    listed = (await heartbeats.ListHeartbeats(heartbeats_pb.ListHeartbeatsRequest())).heartbeats
    assert [h.name for h in listed] == ["cron-cleanup", "nightly-backup"]  # by name

    await heartbeats.DeleteHeartbeat(heartbeats_pb.DeleteHeartbeatRequest(heartbeat_id=hb.id))
    assert [h.name for h in (await heartbeats.ListHeartbeats(heartbeats_pb.ListHeartbeatsRequest())).heartbeats] == [
        "cron-cleanup"
    ]
    for call in (
        heartbeats.GetHeartbeat(heartbeats_pb.GetHeartbeatRequest(heartbeat_id=hb.id)),
        heartbeats.DeleteHeartbeat(heartbeats_pb.DeleteHeartbeatRequest(heartbeat_id=hb.id)),
    ):
        assert (await failure_of(call)).code() == grpc.StatusCode.NOT_FOUND


async def test_malformed_heartbeats_are_refused(stubs):
    heartbeats = stubs.heartbeats
    invalid = grpc.StatusCode.INVALID_ARGUMENT
    for request in (
        heartbeats_pb.CreateHeartbeatRequest(name="", timeout=seconds(60)),
        heartbeats_pb.CreateHeartbeatRequest(name="no timeout"),
        heartbeats_pb.CreateHeartbeatRequest(name="zero", timeout=seconds(0)),
        heartbeats_pb.CreateHeartbeatRequest(name="fraction", timeout=Duration(seconds=1, nanos=1)),
        heartbeats_pb.CreateHeartbeatRequest(name="too long", timeout=seconds(32 * 24 * 3600)),
    ):
        assert (await failure_of(heartbeats.CreateHeartbeat(request))).code() == invalid, request
    assert (await heartbeats.ListHeartbeats(heartbeats_pb.ListHeartbeatsRequest())).heartbeats == []

    await heartbeats.CreateHeartbeat(heartbeats_pb.CreateHeartbeatRequest(name="backup", timeout=seconds(60)))
    taken = await failure_of(
        heartbeats.CreateHeartbeat(heartbeats_pb.CreateHeartbeatRequest(name="backup", timeout=seconds(120)))
    )
    assert taken.code() == grpc.StatusCode.ALREADY_EXISTS
