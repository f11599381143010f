"""oncall.alerting.v1.IncidentService over gRPC, on a real server: found by reflection,
incidents read and worked, WatchIncidents hearing changes, bad requests refused."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from fixtures.rpc import HANG_GUARD_S, failure_of, reflection_client

from oncall.alerting.v1 import alerting_pb2 as apb
from oncall.alerting.v1 import alerting_pb2_grpc
from oncall.alerting.v1 import incidents_pb2 as pb
from oncall.alerting.v1 import incidents_pb2_grpc
from oncall.grouping import assign as grouping


@pytest.fixture
def stub(grpc_channel: grpc.aio.Channel) -> incidents_pb2_grpc.IncidentServiceStub:
    return incidents_pb2_grpc.IncidentServiceStub(grpc_channel)


@pytest.fixture
def alerts(grpc_channel: grpc.aio.Channel) -> alerting_pb2_grpc.AlertServiceStub:
    return alerting_pb2_grpc.AlertServiceStub(grpc_channel)


async def _group_by_service(server) -> None:
    async with server.ctx.pool.connection() as conn, conn.transaction():
        await conn.execute(
            """INSERT INTO alerting.grouping_rules (name, condition, key, position)
               VALUES ('by service', 'true', 'labels.svc', 0)"""
        )
        await grouping.announce_change(conn)
    await server.ctx.ingestor.grouping.refresh()


async def _raise(alerts, svc: str, key: str) -> apb.Alert:
    response = await alerts.CreateAlert(
        apb.CreateAlertRequest(summary=f"{svc} {key}", dedup_key=key, labels={"svc": svc}), timeout=HANG_GUARD_S
    )
    return response.alert


async def _incident_of(server, alert_id: int) -> int:
    async with server.ctx.pool.connection() as conn:
        cur = await conn.execute("SELECT incident_id FROM alerting.alerts WHERE id = %s", (alert_id,))
        incident_id: int = (await cur.fetchone())["incident_id"]
    return incident_id


def _by_reflection(target: str, incident_id: int, token: str) -> tuple[list[str], int, int]:
    with reflection_client(target, token) as client:
        get = client.method("oncall.alerting.v1.IncidentService", "GetIncident")
        listed = client.method("oncall.alerting.v1.IncidentService", "ListIncidentAlerts")
        inc = get(incident_id=incident_id).incident
        return client.services, inc.alert_count, len(listed(incident_id=incident_id).alerts)


async def test_a_reflection_only_client_finds_the_service_and_reads_an_incident(server, alerts):
    await _group_by_service(server)
    a = await _raise(alerts, "db", "a")
    await _raise(alerts, "db", "b")
    iid = await _incident_of(server, a.id)
    services, count, listed = await asyncio.to_thread(_by_reflection, server.grpc_target, iid, server.admin_key)
    assert "oncall.alerting.v1.IncidentService" in services
    assert (count, listed) == (2, 2)


async def test_acknowledge_merge_split_and_timeline_over_grpc(server, stub, alerts):
    await _group_by_service(server)
    a = await _raise(alerts, "db", "a")
    b = await _raise(alerts, "db", "b")
    c = await _raise(alerts, "web", "c")
    target, source = await _incident_of(server, a.id), await _incident_of(server, c.id)

    acked = (await stub.AcknowledgeIncident(pb.AcknowledgeIncidentRequest(
        incident_id=target, user_id="carol", note="on it"), timeout=HANG_GUARD_S)).incident
    assert (acked.status, acked.acknowledged_by, acked.triggered_alerts) == (
        pb.INCIDENT_STATUS_ACKNOWLEDGED, "carol", 0)
    got = (await alerts.GetAlert(apb.GetAlertRequest(alert_id=b.id), timeout=HANG_GUARD_S)).alert
    assert (got.status, got.acknowledged_by) == (apb.ALERT_STATUS_ACKNOWLEDGED, "carol")

    merged = (await stub.MergeIncidents(pb.MergeIncidentsRequest(
        target_incident_id=target, source_incident_ids=[source], user_id="carol"), timeout=HANG_GUARD_S)).incident
    assert (merged.alert_count, merged.status) == (3, pb.INCIDENT_STATUS_ACKNOWLEDGED)
    gone = (await stub.GetIncident(pb.GetIncidentRequest(incident_id=source), timeout=HANG_GUARD_S)).incident
    assert (gone.status, gone.merged_into) == (pb.INCIDENT_STATUS_RESOLVED, target)

    split = await stub.SplitAlert(pb.SplitAlertRequest(alert_id=c.id, user_id="carol"), timeout=HANG_GUARD_S)
    assert split.incident.alert_count == 1 and split.previous_incident.id == target
    assert split.previous_incident.alert_count == 2

    listed = await stub.ListIncidents(pb.ListIncidentsRequest(labels={"svc": "web"}), timeout=HANG_GUARD_S)
    assert [i.id for i in listed.incidents] == [split.incident.id]  # the merged-away one holds no alert now

    timeline = (await stub.GetIncidentTimeline(pb.GetIncidentTimelineRequest(incident_id=target),
                                               timeout=HANG_GUARD_S)).entries
    kinds = {(e.source, e.kind) for e in timeline}
    assert (pb.IncidentTimelineEntry.SOURCE_INCIDENT, "acknowledged") in kinds
    assert (pb.IncidentTimelineEntry.SOURCE_ALERT, "created") in kinds
    assert (pb.IncidentTimelineEntry.SOURCE_INCIDENT, "merged") in kinds

    resolved = (await stub.ResolveIncident(pb.ResolveIncidentRequest(incident_id=target, user_id="dave"),
                                           timeout=HANG_GUARD_S)).incident
    assert (resolved.status, resolved.resolved_by, resolved.open_alerts) == (pb.INCIDENT_STATUS_RESOLVED, "dave", 0)


async def test_watch_incidents_streams_a_change_as_it_is_committed(server, stub, alerts):
    await _group_by_service(server)
    a = await _raise(alerts, "db", "a")
    iid = await _incident_of(server, a.id)
    call = stub.WatchIncidents(pb.WatchIncidentsRequest(include_open=True), timeout=HANG_GUARD_S)
    await call.initial_metadata()  # live: what commits from now on is delivered
    first = await call.read()
    assert first.snapshot and first.incident.id == iid
    await stub.AcknowledgeIncident(pb.AcknowledgeIncidentRequest(incident_id=iid, user_id="carol"),
                                   timeout=HANG_GUARD_S)
    while True:  # the engine's routing of the incident may come first
        msg = await asyncio.wait_for(call.read(), HANG_GUARD_S)
        assert msg.incident.id == iid and not msg.snapshot
        if msg.incident.status == pb.INCIDENT_STATUS_ACKNOWLEDGED:
            break
    assert msg.incident.acknowledged_by == "carol"
    # an alert-level call that moves the incident is heard too
    await alerts.ResolveAlert(apb.ResolveAlertRequest(alert_id=a.id, user_id="dave"), timeout=HANG_GUARD_S)
    msg = await asyncio.wait_for(call.read(), HANG_GUARD_S)
    assert (msg.incident.id, msg.incident.status) == (iid, pb.INCIDENT_STATUS_RESOLVED)
    call.cancel()


async def test_bad_requests_get_clear_status_codes(server, stub, alerts):
    await _group_by_service(server)
    a = await _raise(alerts, "db", "a")
    iid = await _incident_of(server, a.id)
    failure = await failure_of(stub.GetIncident(pb.GetIncidentRequest(incident_id=999_999), timeout=HANG_GUARD_S))
    assert failure.code() == grpc.StatusCode.NOT_FOUND
    failure = await failure_of(stub.GetIncident(pb.GetIncidentRequest(), timeout=HANG_GUARD_S))
    assert failure.code() == grpc.StatusCode.INVALID_ARGUMENT and "incident_id" in failure.details()
    failure = await failure_of(stub.MergeIncidents(pb.MergeIncidentsRequest(
        target_incident_id=iid, source_incident_ids=[iid], user_id="carol"), timeout=HANG_GUARD_S))
    assert failure.code() == grpc.StatusCode.INVALID_ARGUMENT and "itself" in failure.details()
    failure = await failure_of(stub.SplitAlert(pb.SplitAlertRequest(alert_id=a.id, user_id="carol"),
                                               timeout=HANG_GUARD_S))
    assert failure.code() == grpc.StatusCode.FAILED_PRECONDITION and "only alert" in failure.details()
    failure = await failure_of(stub.ListIncidents(pb.ListIncidentsRequest(statuses=[7]), timeout=HANG_GUARD_S))
    assert failure.code() == grpc.StatusCode.INVALID_ARGUMENT
    failure = await failure_of(stub.EscalateIncident(pb.EscalateIncidentRequest(incident_id=iid),
                                                     timeout=HANG_GUARD_S))
    assert failure.code() == grpc.StatusCode.INVALID_ARGUMENT and "user_id" in failure.details()
