"""The alerting service's gRPC servicers (oncall.alerting.v1).

Thin delegates: each method checks and converts its request (``convert``), calls the
alerting domain (``alerting.store``, the ingestor, the event hub) and converts the answer.
Failures are raised as domain errors; ``rpc.errors`` turns them into status codes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TypeAlias

import grpc
from oncall_hookspecs import AlertEvent, IngestOutcome

from ..auth.principal import acting_user, require
from ..alerting import store
from ..alerting.models import Alert, AlertFilter
from ..alerting.v1 import alerting_pb2 as pb
from ..alerting.v1 import alerting_pb2_grpc
from ..context import Context
from ..errors import FailedPrecondition, Unavailable
from ..events import EventHub
from . import convert, escalation, heartbeats, incidents, integrations, routing, schedules, silences

SERVICE_NAME: str = pb.DESCRIPTOR.services_by_name["AlertService"].full_name

_Call: TypeAlias = grpc.aio.ServicerContext


async def trigger(ctx: Context, event: AlertEvent, integration_id: int | None) -> tuple[Alert, bool]:
    """Commit a trigger through the ingestor, exactly as a webhook's; return (alert, created).

    Going through the ingestor keeps one dedup path: an open alert with the same
    (integration, dedup key) takes the trigger as a duplicate, whoever sent it.
    """
    if integration_id is None:
        integration = await store.manual_integration(ctx.pool)
    else:
        integration = await store.get_integration(ctx.pool, integration_id)
    # a manual alert of a team's integration needs alerts:create in that team (the manual integration has none)
    require("alerts:create", f"integrations/{integration.id}", integration.team_id)
    if not integration.enabled:
        raise FailedPrecondition(f"integration {integration.name!r} is disabled")
    [result] = await ctx.ingestor.submit(integration.id, ctx.ingestor.prepare([event], integration))
    assert result.alert_id is not None  # a trigger always lands on an alert
    alert = await store.get_alert(ctx.pool, result.alert_id)
    return alert, result.outcome is IngestOutcome.CREATED


# The status an event leaves its alert in. The alert sent with an event is read when the
# event is delivered, and may have moved on since; these kinds say what it was at the event.
_STATUS_AFTER = {"created": "triggered", "acknowledged": "acknowledged", "resolved": "resolved"}


def watch_matches(flt: AlertFilter, alert: Alert, kind: str = "") -> bool:
    """Whether an event on an alert passes a WatchAlerts filter (the meaning ListAlerts gives it)."""
    if flt.integration_id is not None and alert.integration_id != flt.integration_id:
        return False
    if flt.statuses and _STATUS_AFTER.get(kind, alert.status) not in flt.statuses:
        return False
    return all(alert.labels.get(k) == v for k, v in flt.labels.items())


class AlertService(alerting_pb2_grpc.AlertServiceServicer):
    """oncall.alerting.v1.AlertService over the alerting domain of one server."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    async def CreateAlert(self, request: pb.CreateAlertRequest, context: _Call) -> pb.CreateAlertResponse:
        event = convert.manual_event(request)
        integration_id = request.integration_id if request.HasField("integration_id") else None
        alert, created = await trigger(self._ctx, event, integration_id)
        return pb.CreateAlertResponse(alert=convert.alert_to_proto(alert), created=created)

    async def GetAlert(self, request: pb.GetAlertRequest, context: _Call) -> pb.GetAlertResponse:
        alert = await store.get_alert(self._ctx.pool, convert.alert_id(request.alert_id))
        return pb.GetAlertResponse(alert=convert.alert_to_proto(alert))

    async def ListAlerts(self, request: pb.ListAlertsRequest, context: _Call) -> pb.ListAlertsResponse:
        alerts, next_token = await store.list_alerts(
            self._ctx.pool,
            convert.list_filter(request),
            page_size=convert.page_size(request.page_size),
            page_token=request.page_token,
        )
        return pb.ListAlertsResponse(
            alerts=[convert.alert_to_proto(a) for a in alerts], next_page_token=next_token
        )

    async def AcknowledgeAlert(
        self, request: pb.AcknowledgeAlertRequest, context: _Call
    ) -> pb.AcknowledgeAlertResponse:
        alert = await store.acknowledge(
            self._ctx.pool, convert.alert_id(request.alert_id), acting_user(request.user_id), request.note
        )
        return pb.AcknowledgeAlertResponse(alert=convert.alert_to_proto(alert))

    async def ResolveAlert(self, request: pb.ResolveAlertRequest, context: _Call) -> pb.ResolveAlertResponse:
        alert = await store.resolve(
            self._ctx.pool, convert.alert_id(request.alert_id), acting_user(request.user_id), request.note
        )
        return pb.ResolveAlertResponse(alert=convert.alert_to_proto(alert))

    async def GetAlertTimeline(
        self, request: pb.GetAlertTimelineRequest, context: _Call
    ) -> pb.GetAlertTimelineResponse:
        events = await store.timeline(self._ctx.pool, convert.alert_id(request.alert_id))
        return pb.GetAlertTimelineResponse(events=[convert.event_to_proto(e) for e in events])

    async def AddNote(self, request: pb.AddNoteRequest, context: _Call) -> pb.AddNoteResponse:
        event = await store.add_note(
            self._ctx.pool, convert.alert_id(request.alert_id), acting_user(request.user_id), request.note
        )
        return pb.AddNoteResponse(event=convert.event_to_proto(event))

    async def WatchAlerts(
        self, request: pb.WatchAlertsRequest, context: _Call
    ) -> AsyncIterator[pb.WatchAlertsResponse]:
        flt = convert.watch_filter(request)
        hub: EventHub | None = self._ctx.events
        if hub is None:
            raise Unavailable("this server does not publish alert events")
        sub = hub.subscribe(after=request.after_event_id if request.HasField("after_event_id") else None)
        try:
            # Headers tell the client the watch is live: what commits from now on reaches it.
            await context.send_initial_metadata(())
            # Ends when the client cancels, or when the hub closes its subscribers (shutdown).
            # A client that reads slowly is never cut off: it falls behind and the watch reads
            # on from the timeline, every event in order.
            async for event, alert in sub:
                if watch_matches(flt, alert, event.kind):
                    yield pb.WatchAlertsResponse(
                        event=convert.event_to_proto(event), alert=convert.alert_to_proto(alert)
                    )
        finally:
            sub.close()


def add_services(server: grpc.aio.Server, ctx: Context) -> list[str]:
    """Add the alerting servicers to ``server``; return their full service names.

    The alerting service is alerts plus how they are routed and escalated: routing rules,
    escalation policies and state, silences, heartbeat monitors, and the integrations they arrive through.
    """
    alerting_pb2_grpc.add_AlertServiceServicer_to_server(AlertService(ctx), server)
    return [
        SERVICE_NAME,
        *incidents.add_services(server, ctx),
        *routing.add_services(server, ctx),
        *escalation.add_services(server, ctx),
        *silences.add_services(server, ctx),
        *heartbeats.add_services(server, ctx),
        *integrations.add_services(server, ctx),
        *schedules.add_services(server, ctx),
    ]
