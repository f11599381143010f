"""oncall.alerting.v1.AlertService through a real gRPC channel to a running server."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from fixtures.rpc import HANG_GUARD_S, failure_of, reflection_client
from fixtures.webhooks import post_generic
from grpc_health.v1 import health_pb2, health_pb2_grpc

from oncall.alerting.v1 import alerting_pb2 as pb
from oncall.alerting.v1 import alerting_pb2_grpc

SERVICE = "oncall.alerting.v1.AlertService"
# The timeline events these tests cause. Routing and escalation add their own kinds to new
# alerts' timelines in the background; the tests here are not about those, so they skip them.
LIFECYCLE = frozenset({"created", "duplicate", "acknowledged", "resolved", "note"})


@pytest.fixture
def stub(grpc_channel: grpc.aio.Channel) -> alerting_pb2_grpc.AlertServiceStub:
    return alerting_pb2_grpc.AlertServiceStub(grpc_channel)


async def create(stub: alerting_pb2_grpc.AlertServiceStub, summary: str, **fields: Any) -> pb.Alert:
    response = await stub.CreateAlert(pb.CreateAlertRequest(summary=summary, **fields))
    return response.alert


async def status_of(call: Any) -> grpc.StatusCode:
    """The status code a unary call fails with."""
    return (await failure_of(call)).code()


@contextlib.asynccontextmanager
async def watching(
    stub: alerting_pb2_grpc.AlertServiceStub, request: pb.WatchAlertsRequest | None = None
) -> AsyncIterator[Any]:
    """An open WatchAlerts stream, live: events committed from now on reach it."""
    call = stub.WatchAlerts(request or pb.WatchAlertsRequest())
    await asyncio.wait_for(call.initial_metadata(), HANG_GUARD_S)
    try:
        yield call
    finally:
        call.cancel()


async def next_message(call: Any) -> pb.WatchAlertsResponse:
    """The stream's next lifecycle message (see LIFECYCLE)."""
    while True:
        message = await asyncio.wait_for(call.read(), HANG_GUARD_S)
        assert message is not grpc.aio.EOF, f"the watch ended: {await call.code()} {await call.details()}"
        if message.event.kind in LIFECYCLE:
            return message


# --------------------------------------------------------------------------- CreateAlert, GetAlert


async def test_create_alert_raises_a_manual_alert_with_everything_it_was_given(stub):
    response = await stub.CreateAlert(
        pb.CreateAlertRequest(
            summary="  Checkout error rate above 5%  ",
            details="since the 14:02 deploy",
            severity="p1",
            labels={"service": "checkout", "env": "prod"},
            annotations={"runbook": "https://runbooks/checkout", "threshold": 5},
        )
    )
    alert = response.alert
    assert response.created is True
    assert alert.id > 0
    assert alert.status == pb.ALERT_STATUS_TRIGGERED
    assert (alert.source, alert.integration_name) == ("manual", "manual")
    assert alert.summary == "Checkout error rate above 5%"
    assert alert.details == "since the 14:02 deploy"
    assert alert.severity == "critical"  # the alias is normalised as a webhook's would be
    assert dict(alert.labels) == {"service": "checkout", "env": "prod"}
    assert dict(alert.annotations) == {"runbook": "https://runbooks/checkout", "threshold": 5}
    assert alert.dedup_key.startswith("manual:")
    assert alert.HasField("created_at") and alert.HasField("last_received_at")
    assert not alert.HasField("acknowledged_at") and not alert.HasField("resolved_at")
    assert alert.duplicate_count == 0

    got = await stub.GetAlert(pb.GetAlertRequest(alert_id=alert.id))
    # the engine may route the alert in between; routing fields (30-49) are its business
    for routing_field in ("routed_at", "route", "escalation_policy_id", "silenced_by"):
        got.alert.ClearField(routing_field)
        alert.ClearField(routing_field)
    assert got.alert == alert


async def test_create_alert_without_a_dedup_key_always_opens_a_new_alert(stub):
    first = await create(stub, "printer on fire")
    second = await create(stub, "printer on fire")
    assert first.id != second.id
    assert first.dedup_key != second.dedup_key


async def test_create_alert_with_an_open_dedup_key_counts_a_duplicate(stub):
    first = await stub.CreateAlert(pb.CreateAlertRequest(summary="db-1 disk full", dedup_key="db-1-disk"))
    again = await stub.CreateAlert(pb.CreateAlertRequest(summary="db-1 disk full", dedup_key="db-1-disk"))
    assert (first.created, again.created) == (True, False)
    assert again.alert.id == first.alert.id
    assert again.alert.duplicate_count == 1


async def test_create_alert_on_a_webhook_integration_dedups_with_its_webhooks(server, stub):
    integration_id, key = await server.integration("generic")
    webhook_alert_id = await post_generic(server, key, "db-1 disk full", "db-1-disk")

    response = await stub.CreateAlert(
        pb.CreateAlertRequest(summary="db-1 disk full", dedup_key="db-1-disk", integration_id=integration_id)
    )
    assert response.created is False
    assert response.alert.id == webhook_alert_id
    assert response.alert.source == "generic"
    assert response.alert.duplicate_count == 1


# --------------------------------------------------------------------------- ListAlerts


async def test_list_alerts_filters_by_status_labels_integration_and_creation_time(server, stub):
    integration_id, key = await server.integration("generic")
    web = await post_generic(server, key, "from a webhook", "w1", meta={"team": "db"})
    db_manual = await create(stub, "db by hand", labels={"team": "db", "env": "prod"})
    web_manual = await create(stub, "web by hand", labels={"team": "web", "env": "prod"})
    await stub.AcknowledgeAlert(pb.AcknowledgeAlertRequest(alert_id=db_manual.id, user_id="ada"))
    await stub.ResolveAlert(pb.ResolveAlertRequest(alert_id=web_manual.id, user_id="ada"))

    async def ids(**filters: Any) -> list[int]:
        response = await stub.ListAlerts(pb.ListAlertsRequest(**filters))
        assert response.next_page_token == ""
        return [a.id for a in response.alerts]

    assert await ids() == [web_manual.id, db_manual.id, web]  # newest first
    assert await ids(statuses=[pb.ALERT_STATUS_TRIGGERED]) == [web]
    assert await ids(statuses=[pb.ALERT_STATUS_ACKNOWLEDGED, pb.ALERT_STATUS_RESOLVED]) == [
        web_manual.id,
        db_manual.id,
    ]
    assert await ids(labels={"team": "db"}) == [db_manual.id, web]
    assert await ids(labels={"team": "db", "env": "prod"}) == [db_manual.id]
    assert await ids(labels={"team": "ops"}) == []
    assert await ids(integration_id=integration_id) == [web]
    assert await ids(integration_id=db_manual.integration_id, labels={"env": "prod"}) == [
        web_manual.id,
        db_manual.id,
    ]

    # the range is [created_after, created_before): pick bounds from the alerts themselves
    assert db_manual.created_at.ToDatetime() < web_manual.created_at.ToDatetime()
    assert await ids(created_after=web_manual.created_at) == [web_manual.id]
    assert await ids(created_before=web_manual.created_at) == [db_manual.id, web]
    assert await ids(created_after=db_manual.created_at, created_before=web_manual.created_at) == [db_manual.id]


async def test_list_alerts_pages_through_every_alert_once_newest_first(stub):
    created = [(await create(stub, f"alert {i}")).id for i in range(5)]

    pages: list[list[int]] = []
    token = ""
    while True:
        response = await stub.ListAlerts(pb.ListAlertsRequest(page_size=2, page_token=token))
        pages.append([a.id for a in response.alerts])
        token = response.next_page_token
        if not token:
            break
    assert pages == [created[4:2:-1], created[2:0:-1], created[0:1]]


async def test_list_alerts_pages_keep_their_filter(stub):
    wanted = [(await create(stub, f"db {i}", labels={"team": "db"})).id for i in range(3)]
    await create(stub, "web", labels={"team": "web"})

    first = await stub.ListAlerts(pb.ListAlertsRequest(labels={"team": "db"}, page_size=2))
    second = await stub.ListAlerts(
        pb.ListAlertsRequest(labels={"team": "db"}, page_size=2, page_token=first.next_page_token)
    )
    assert [a.id for a in first.alerts] + [a.id for a in second.alerts] == wanted[::-1]
    assert second.next_page_token == ""


# --------------------------------------------------------------------------- acknowledge, resolve, timeline, notes


async def test_acknowledge_resolve_and_notes_are_recorded_with_who_and_why(stub):
    alert = await create(stub, "queue backlog growing")

    acked = await stub.AcknowledgeAlert(
        pb.AcknowledgeAlertRequest(alert_id=alert.id, user_id="ada", note="looking at consumers")
    )
    assert acked.alert.status == pb.ALERT_STATUS_ACKNOWLEDGED
    assert acked.alert.acknowledged_by == "ada"
    assert acked.alert.HasField("acknowledged_at")

    noted = await stub.AddNote(pb.AddNoteRequest(alert_id=alert.id, user_id="grace", note="consumer 3 is stuck"))
    assert (noted.event.kind, noted.event.actor, noted.event.note) == ("note", "grace", "consumer 3 is stuck")
    assert noted.event.alert_id == alert.id

    resolved = await stub.ResolveAlert(
        pb.ResolveAlertRequest(alert_id=alert.id, user_id="grace", note="restarted consumer 3")
    )
    assert resolved.alert.status == pb.ALERT_STATUS_RESOLVED
    assert resolved.alert.resolved_by == "grace"
    assert resolved.alert.acknowledged_by == "ada"

    # resolving again changes nothing
    again = await stub.ResolveAlert(pb.ResolveAlertRequest(alert_id=alert.id, user_id="ada"))
    assert again.alert.resolved_by == "grace"

    timeline = await stub.GetAlertTimeline(pb.GetAlertTimelineRequest(alert_id=alert.id))
    assert [(e.kind, e.actor, e.note) for e in timeline.events if e.kind in LIFECYCLE] == [
        ("created", f"integration:{alert.integration_id}", ""),
        ("acknowledged", "ada", "looking at consumers"),
        ("note", "grace", "consumer 3 is stuck"),
        ("resolved", "grace", "restarted consumer 3"),
    ]
    assert all(e.alert_id == alert.id and e.HasField("at") for e in timeline.events)
    assert [e.id for e in timeline.events] == sorted(e.id for e in timeline.events)  # oldest first
    assert noted.event.id in [e.id for e in timeline.events]


# --------------------------------------------------------------------------- errors


async def test_malformed_requests_are_invalid_argument_and_write_nothing(stub):
    invalid = grpc.StatusCode.INVALID_ARGUMENT
    assert await status_of(stub.CreateAlert(pb.CreateAlertRequest(summary="   "))) == invalid
    assert await status_of(stub.CreateAlert(pb.CreateAlertRequest(summary="x", severity="apocalyptic"))) == invalid
    assert await status_of(stub.CreateAlert(pb.CreateAlertRequest(summary="x" * 3000))) == invalid
    assert await status_of(stub.CreateAlert(pb.CreateAlertRequest(summary="x", dedup_key="k" * 600))) == invalid
    assert (await stub.ListAlerts(pb.ListAlertsRequest())).alerts == []

    assert await status_of(stub.ListAlerts(pb.ListAlertsRequest(page_token="not-a-token"))) == invalid
    assert await status_of(stub.ListAlerts(pb.ListAlertsRequest(page_size=-1))) == invalid
    assert await status_of(stub.ListAlerts(pb.ListAlertsRequest(statuses=[42]))) == invalid
    assert await status_of(stub.ListAlerts(pb.ListAlertsRequest(statuses=[pb.ALERT_STATUS_UNSPECIFIED]))) == invalid
    assert await status_of(stub.GetAlert(pb.GetAlertRequest())) == invalid

    alert = await create(stub, "needs a name")
    assert await status_of(stub.AcknowledgeAlert(pb.AcknowledgeAlertRequest(alert_id=alert.id))) == invalid
    assert await status_of(stub.ResolveAlert(pb.ResolveAlertRequest(alert_id=alert.id, user_id=" "))) == invalid
    assert await status_of(stub.AddNote(pb.AddNoteRequest(alert_id=alert.id, user_id="ada", note=""))) == invalid
    unchanged = await stub.GetAlertTimeline(pb.GetAlertTimelineRequest(alert_id=alert.id))
    assert [e.kind for e in unchanged.events if e.kind in LIFECYCLE] == ["created"]
    assert (await stub.GetAlert(pb.GetAlertRequest(alert_id=alert.id))).alert.status == pb.ALERT_STATUS_TRIGGERED


async def test_unknown_alerts_and_integrations_are_not_found(stub):
    missing = grpc.StatusCode.NOT_FOUND
    assert await status_of(stub.GetAlert(pb.GetAlertRequest(alert_id=999))) == missing
    assert await status_of(stub.AcknowledgeAlert(pb.AcknowledgeAlertRequest(alert_id=999, user_id="ada"))) == missing
    assert await status_of(stub.ResolveAlert(pb.ResolveAlertRequest(alert_id=999, user_id="ada"))) == missing
    assert await status_of(stub.GetAlertTimeline(pb.GetAlertTimelineRequest(alert_id=999))) == missing
    assert await status_of(stub.AddNote(pb.AddNoteRequest(alert_id=999, user_id="ada", note="hi"))) == missing
    assert await status_of(stub.CreateAlert(pb.CreateAlertRequest(summary="x", integration_id=999))) == missing


async def test_acknowledging_a_resolved_alert_is_a_failed_precondition(stub):
    alert = await create(stub, "flapping")
    await stub.ResolveAlert(pb.ResolveAlertRequest(alert_id=alert.id, user_id="ada"))

    with pytest.raises(grpc.aio.AioRpcError) as failure:
        await stub.AcknowledgeAlert(pb.AcknowledgeAlertRequest(alert_id=alert.id, user_id="grace"))
    assert failure.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "resolved" in failure.value.details()
    assert (await stub.GetAlert(pb.GetAlertRequest(alert_id=alert.id))).alert.status == pb.ALERT_STATUS_RESOLVED


# --------------------------------------------------------------------------- WatchAlerts


async def test_watch_alerts_streams_the_life_of_webhook_and_grpc_alerts(server, stub):
    integration_id, key = await server.integration("generic")
    async with watching(stub) as call:
        web = await post_generic(server, key, "db-1 disk full", "db-1-disk")
        created = await next_message(call)
        assert (created.event.kind, created.event.alert_id, created.event.actor) == (
            "created",
            web,
            f"integration:{integration_id}",
        )
        assert (created.alert.id, created.alert.summary, created.alert.status) == (
            web,
            "db-1 disk full",
            pb.ALERT_STATUS_TRIGGERED,
        )
        assert created.event.id > 0 and created.event.HasField("at")

        assert await post_generic(server, key, "db-1 disk full", "db-1-disk") == web
        duplicate = await next_message(call)
        assert (duplicate.event.kind, duplicate.alert.id, duplicate.alert.duplicate_count) == ("duplicate", web, 1)

        await stub.AcknowledgeAlert(pb.AcknowledgeAlertRequest(alert_id=web, user_id="ada", note="on it"))
        acked = await next_message(call)
        assert (acked.event.kind, acked.event.actor, acked.event.note) == ("acknowledged", "ada", "on it")
        assert (acked.alert.status, acked.alert.acknowledged_by) == (pb.ALERT_STATUS_ACKNOWLEDGED, "ada")

        await stub.ResolveAlert(pb.ResolveAlertRequest(alert_id=web, user_id="grace"))
        resolved = await next_message(call)
        assert (resolved.event.kind, resolved.event.actor) == ("resolved", "grace")
        assert resolved.alert.status == pb.ALERT_STATUS_RESOLVED

        by_hand = await create(stub, "raised by hand", dedup_key="hand-1")
        created_by_hand = await next_message(call)
        assert (created_by_hand.event.kind, created_by_hand.alert.id) == ("created", by_hand.id)
        assert created_by_hand.alert.source == "manual"

        await create(stub, "raised by hand", dedup_key="hand-1")
        assert (await next_message(call)).event.kind == "duplicate"

        await stub.AddNote(pb.AddNoteRequest(alert_id=by_hand.id, user_id="ada", note="context"))
        note = await next_message(call)
        assert (note.event.kind, note.event.note) == ("note", "context")


async def test_watch_alerts_delivers_only_what_its_filter_matches(server, stub):
    wanted_integration, wanted_key = await server.integration("generic")
    _, other_key = await server.integration("generic")

    by_integration = pb.WatchAlertsRequest(integration_id=wanted_integration)
    by_label = pb.WatchAlertsRequest(labels={"team": "db"})
    resolutions = pb.WatchAlertsRequest(statuses=[pb.ALERT_STATUS_RESOLVED])
    async with (
        watching(stub, by_integration) as integration_watch,
        watching(stub, by_label) as label_watch,
        watching(stub, resolutions) as resolution_watch,
    ):
        # Events reach a watch in commit order, so a leaked event would arrive before the one
        # the filter wants.
        await post_generic(server, other_key, "other integration", "o1", meta={"team": "web"})
        web_alert = await create(stub, "web, by hand", labels={"team": "web"})
        await stub.ResolveAlert(pb.ResolveAlertRequest(alert_id=web_alert.id, user_id="ada"))
        wanted = await post_generic(server, wanted_key, "wanted integration", "w1", meta={"team": "db"})

        first = await next_message(integration_watch)
        assert (first.event.kind, first.alert.id, first.alert.integration_id) == (
            "created",
            wanted,
            wanted_integration,
        )
        first = await next_message(label_watch)
        assert (first.event.kind, first.alert.id, dict(first.alert.labels)) == ("created", wanted, {"team": "db"})
        first = await next_message(resolution_watch)
        assert (first.event.kind, first.alert.id) == ("resolved", web_alert.id)


async def test_watch_alerts_rejects_an_unknown_status_filter(stub):
    call = stub.WatchAlerts(pb.WatchAlertsRequest(statuses=[7]))
    with pytest.raises(grpc.aio.AioRpcError) as failure:
        await asyncio.wait_for(call.read(), HANG_GUARD_S)
    assert failure.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_watch_alerts_ends_cleanly_when_the_server_closes_its_subscribers(server, stub):
    async with watching(stub) as call:
        # what the server does on shutdown
        server.ctx.events.close_subscribers()
        assert await asyncio.wait_for(call.read(), HANG_GUARD_S) is grpc.aio.EOF
        assert await call.code() == grpc.StatusCode.OK


# --------------------------------------------------------------------------- discovery and health


def list_and_acknowledge_by_reflection(target: str, user_id: str, token: str) -> tuple[list[str], list[int], str]:
    """A client with no generated code: everything it knows comes from server reflection.

    Returns the services the server lists, the ids of the triggered alerts, and the status
    name of the first one after acknowledging it.
    """
    with reflection_client(target, token) as client:
        statuses = client.pool.FindEnumTypeByName("oncall.alerting.v1.AlertStatus")
        triggered = statuses.values_by_name["ALERT_STATUS_TRIGGERED"].number
        listed = client.method(SERVICE, "ListAlerts")(statuses=[triggered])
        ids = [a.id for a in listed.alerts]
        acked = client.method(SERVICE, "AcknowledgeAlert")(alert_id=ids[0], user_id=user_id)
        return client.services, ids, statuses.values_by_number[acked.alert.status].name


async def test_a_client_knowing_only_reflection_lists_and_acknowledges(server, stub):
    alert = await create(stub, "found by reflection")

    # the reflection client is synchronous: run it off the loop the server runs on
    services, ids, status = await asyncio.to_thread(list_and_acknowledge_by_reflection, server.grpc_target, "ada",
                                                     server.admin_key)

    assert SERVICE in services
    assert ids == [alert.id]
    assert status == "ALERT_STATUS_ACKNOWLEDGED"
    stored = (await stub.GetAlert(pb.GetAlertRequest(alert_id=alert.id))).alert
    assert (stored.status, stored.acknowledged_by) == (pb.ALERT_STATUS_ACKNOWLEDGED, "ada")


async def test_health_check_reports_the_alert_service_serving(grpc_channel):
    health = health_pb2_grpc.HealthStub(grpc_channel)
    for service in (SERVICE, ""):
        response = await health.Check(health_pb2.HealthCheckRequest(service=service))
        assert response.status == health_pb2.HealthCheckResponse.SERVING


async def test_watch_alerts_resumes_after_an_event_id(stub: alerting_pb2_grpc.AlertServiceStub) -> None:
    first = await create(stub, "one", dedup_key="resume-1")
    timeline = await stub.GetAlertTimeline(pb.GetAlertTimelineRequest(alert_id=first.id))
    [created] = [e for e in timeline.events if e.kind == "created"]
    second = await create(stub, "two", dedup_key="resume-2")
    # opened after both commits: without after_event_id it would hear of neither
    async with watching(stub, pb.WatchAlertsRequest(after_event_id=created.id)) as call:
        message = await next_message(call)
    assert (message.event.kind, message.alert.id) == ("created", second.id)
