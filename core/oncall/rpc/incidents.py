"""oncall.alerting.v1.IncidentService: its servicer and its conversions.

Thin delegates to ``alerting.incidents`` (and ``escalation.state`` for EscalateIncident);
requests are checked on the way in, so a malformed one is INVALID_ARGUMENT before anything
is read or written. WatchIncidents hears ``INCIDENTS_CHANNEL`` on the process's one LISTEN
connection and reads the incidents it is told of; after a reconnect (announcements may
have been missed) it re-reads the open incidents and those it last sent open.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from datetime import UTC, datetime
from typing import TypeAlias

import grpc
import psycopg

from ..auth.principal import acting_user
from ..alerting import incidents as store
from ..store.paging import decode_page_token
from ..alerting.incidents import Incident, IncidentEvent, IncidentFilter, TimelineEntry
from ..alerting.v1 import incidents_pb2 as pb
from ..alerting.v1 import incidents_pb2_grpc
from ..context import Context
from ..errors import InvalidArgument
from ..escalation.state import escalate_incident_now
from . import convert, teams

SERVICE_NAME: str = pb.DESCRIPTOR.services_by_name["IncidentService"].full_name

_Call: TypeAlias = grpc.aio.ServicerContext

_STATUS_TO_PROTO: dict[str, pb.IncidentStatus] = {
    "triggered": pb.INCIDENT_STATUS_TRIGGERED,
    "acknowledged": pb.INCIDENT_STATUS_ACKNOWLEDGED,
    "resolved": pb.INCIDENT_STATUS_RESOLVED,
}
_STATUS_FROM_PROTO: dict[int, str] = {v: k for k, v in _STATUS_TO_PROTO.items()}

#: open incidents a watch sends first (include_open), and re-reads after a reconnect
WATCH_OPEN_LIMIT = 1000


# --------------------------------------------------------------------------- conversions


def incident_to_proto(inc: Incident) -> pb.Incident:
    return pb.Incident(
        id=inc.id,
        status=_STATUS_TO_PROTO.get(inc.status, pb.INCIDENT_STATUS_UNSPECIFIED),
        title=inc.title,
        severity=inc.severity,
        integration_id=inc.integration_id,
        first_alert_id=inc.first_alert_id,
        alert_count=inc.alert_count,
        open_alerts=inc.open_alerts,
        triggered_alerts=inc.triggered_alerts,
        resolve_on=inc.resolve_on,
        repage_on_new_alert=inc.repage_on_new_alert,
        grouping_rule_id=inc.rule_id or "",
        group_key=inc.group_key or "",
        joinable=inc.joinable,
        created_at=convert.timestamp(inc.created_at),
        last_alert_at=convert.timestamp(inc.last_alert_at),
        acknowledged_at=convert.timestamp(inc.acknowledged_at),
        acknowledged_by=inc.acknowledged_by or "",
        resolved_at=convert.timestamp(inc.resolved_at),
        resolved_by=inc.resolved_by or "",
        merged_into=inc.merged_into or 0,
        grouped=inc.rule_id is not None,
        routed_at=convert.timestamp(inc.routed_at),
        escalation_policy_id=inc.escalation_policy_id or "",
        team_id=inc.team_id or "",
    )


def entry_to_proto(entry: TimelineEntry) -> pb.IncidentTimelineEntry:
    incident_event = entry.source == "incident"
    return pb.IncidentTimelineEntry(
        source=pb.IncidentTimelineEntry.SOURCE_INCIDENT if incident_event else pb.IncidentTimelineEntry.SOURCE_ALERT,
        id=entry.id,
        incident_id=entry.incident_id,
        alert_id=entry.alert_id or 0,
        kind=entry.kind,
        at=convert.timestamp(entry.at),
        actor=entry.actor or "",
        note=entry.note or "",
        data=convert.struct(entry.data),
        incident_event=incident_event,
    )


def event_to_proto(event: IncidentEvent) -> pb.IncidentTimelineEntry:
    return entry_to_proto(TimelineEntry(
        source="incident", id=event.id, incident_id=event.incident_id, alert_id=event.alert_id, at=event.at,
        kind=event.kind, actor=event.actor, note=event.note, data=event.data,
    ))


def incident_id(value: int, field: str = "incident_id") -> int:
    if value <= 0:
        raise InvalidArgument(f"{field} is required (a positive incident id)")
    return value


def statuses(values: Iterable[int]) -> tuple[str, ...]:
    out: list[str] = []
    for v in values:
        status = _STATUS_FROM_PROTO.get(v)
        if status is None:
            raise InvalidArgument(
                f"statuses: {v} is not a status; use INCIDENT_STATUS_TRIGGERED, "
                "INCIDENT_STATUS_ACKNOWLEDGED or INCIDENT_STATUS_RESOLVED"
            )
        out.append(status)
    return tuple(dict.fromkeys(out))


def list_filter(request: pb.ListIncidentsRequest) -> IncidentFilter:
    flt = IncidentFilter(
        statuses=statuses(request.statuses),
        labels=dict(request.labels),
        integration_id=request.integration_id if request.HasField("integration_id") else None,
        created_after=(
            convert.instant(request.created_after, "created_after") if request.HasField("created_after") else None
        ),
        teams=teams.team_filter(request),
        created_before=(
            convert.instant(request.created_before, "created_before") if request.HasField("created_before") else None
        ),
    )
    if flt.created_after and flt.created_before and flt.created_after > flt.created_before:
        raise InvalidArgument("created_after is later than created_before: nothing can match")
    return flt


# --------------------------------------------------------------------------- the servicer


class _Announced:
    """What a WatchIncidents stream has been told and not yet read (see ``WatchIncidents``)."""

    def __init__(self, limit: int = WATCH_OPEN_LIMIT) -> None:
        self._ids: set[int] = set()
        self._reread = False
        self._limit = limit
        self._woken = asyncio.Event()

    def add(self, ids: Iterable[int]) -> None:
        self._ids.update(ids)
        if len(self._ids) > self._limit:  # read everything open again instead of keeping more
            self.reread()
        self._woken.set()

    def reread(self) -> None:
        self._ids.clear()
        self._reread = True
        self._woken.set()

    async def take(self) -> tuple[set[int], bool]:
        """Wait for announcements; the ids heard and whether to read everything again."""
        await self._woken.wait()
        self._woken.clear()
        ids, self._ids = self._ids, set()
        reread, self._reread = self._reread, False
        return ids, reread


class IncidentService(incidents_pb2_grpc.IncidentServiceServicer):
    """oncall.alerting.v1.IncidentService over the incidents of one server."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    async def ListIncidents(self, request: pb.ListIncidentsRequest, context: _Call) -> pb.ListIncidentsResponse:
        flt = list_filter(request)
        found, next_token = await store.list_incidents(
            self._ctx.pool, flt, page_size=convert.page_size(request.page_size), page_token=request.page_token
        )
        return pb.ListIncidentsResponse(incidents=[incident_to_proto(i) for i in found], next_page_token=next_token)

    async def GetIncident(self, request: pb.GetIncidentRequest, context: _Call) -> pb.GetIncidentResponse:
        inc = await store.get_incident(self._ctx.pool, incident_id(request.incident_id))
        return pb.GetIncidentResponse(incident=incident_to_proto(inc))

    async def ListIncidentAlerts(
        self, request: pb.ListIncidentAlertsRequest, context: _Call
    ) -> pb.ListIncidentAlertsResponse:
        size = convert.page_size(request.page_size)
        if request.page_token:  # a forged token is refused for what it is, whatever else is missing
            decode_page_token(request.page_token)
        alerts, next_token = await store.list_incident_alerts(
            self._ctx.pool, incident_id(request.incident_id), page_size=size, page_token=request.page_token
        )
        return pb.ListIncidentAlertsResponse(
            alerts=[convert.alert_to_proto(a) for a in alerts], next_page_token=next_token
        )

    async def AcknowledgeIncident(
        self, request: pb.AcknowledgeIncidentRequest, context: _Call
    ) -> pb.AcknowledgeIncidentResponse:
        inc = await store.acknowledge_incident(
            self._ctx.pool, incident_id(request.incident_id), acting_user(request.user_id), request.note
        )
        return pb.AcknowledgeIncidentResponse(incident=incident_to_proto(inc))

    async def ResolveIncident(self, request: pb.ResolveIncidentRequest, context: _Call) -> pb.ResolveIncidentResponse:
        inc = await store.resolve_incident(
            self._ctx.pool, incident_id(request.incident_id), acting_user(request.user_id), request.note
        )
        return pb.ResolveIncidentResponse(incident=incident_to_proto(inc))

    async def EscalateIncident(
        self, request: pb.EscalateIncidentRequest, context: _Call
    ) -> pb.EscalateIncidentResponse:
        iid = incident_id(request.incident_id)
        await escalate_incident_now(
            self._ctx.pool, iid, acting_user(request.user_id), datetime.now(UTC), request.note, request.restart
        )
        return pb.EscalateIncidentResponse(incident=incident_to_proto(await store.get_incident(self._ctx.pool, iid)))

    async def AddIncidentNote(self, request: pb.AddIncidentNoteRequest, context: _Call) -> pb.AddIncidentNoteResponse:
        event = await store.add_incident_note(
            self._ctx.pool, incident_id(request.incident_id), acting_user(request.user_id), request.note
        )
        return pb.AddIncidentNoteResponse(entry=event_to_proto(event))

    async def MergeIncidents(self, request: pb.MergeIncidentsRequest, context: _Call) -> pb.MergeIncidentsResponse:
        target = incident_id(request.target_incident_id, "target_incident_id")
        sources = [incident_id(s, "source_incident_ids") for s in request.source_incident_ids]
        inc = await store.merge_incidents(self._ctx.pool, target, sources, acting_user(request.user_id), request.note)
        return pb.MergeIncidentsResponse(incident=incident_to_proto(inc))

    async def SplitAlert(self, request: pb.SplitAlertRequest, context: _Call) -> pb.SplitAlertResponse:
        alert_id = convert.alert_id(request.alert_id)
        before = await self._incident_of(alert_id)
        inc = await store.split_alert(self._ctx.pool, alert_id, acting_user(request.user_id), request.note)
        previous = await store.get_incident(self._ctx.pool, before) if before is not None else None
        return pb.SplitAlertResponse(
            incident=incident_to_proto(inc),
            previous_incident=incident_to_proto(previous) if previous is not None else None,
        )

    async def _incident_of(self, alert_id: int) -> int | None:
        async with self._ctx.pool.connection() as conn:
            cur = await conn.execute("SELECT incident_id FROM alerting.alerts WHERE id = %s", (alert_id,))
            row = await cur.fetchone()
        return row["incident_id"] if row is not None else None

    async def GetIncidentTimeline(
        self, request: pb.GetIncidentTimelineRequest, context: _Call
    ) -> pb.GetIncidentTimelineResponse:
        entries = await store.incident_timeline(self._ctx.pool, incident_id(request.incident_id))
        return pb.GetIncidentTimelineResponse(entries=[entry_to_proto(e) for e in entries])

    async def WatchIncidents(
        self, request: pb.WatchIncidentsRequest, context: _Call
    ) -> AsyncIterator[pb.WatchIncidentsResponse]:
        wanted = statuses(request.statuses)
        integration = request.integration_id if request.HasField("integration_id") else None

        def matches(inc: Incident) -> bool:
            return (integration is None or inc.integration_id == integration) and (
                not wanted or inc.status in wanted)

        # incident ids announced and not yet read, and whether everything must be read again
        # (a reconnect, or more announced than a slow reader may keep): a set, so a reader
        # that doesn't read holds at most one entry per incident, never one per NOTIFY
        announced = _Announced()
        live_once = False

        def on_note(note: psycopg.Notify) -> None:
            announced.add(int(p) for p in note.payload.split(",") if p.isdigit())

        def on_gap() -> None:
            nonlocal live_once
            if live_once:
                announced.reread()
            live_once = True

        reg = self._ctx.listener.register([store.INCIDENTS_CHANNEL], on_note, on_gap, name="a WatchIncidents stream")
        #: the last snapshot sent of each incident, to send only what changed after a re-read
        sent: dict[int, bytes] = {}
        try:
            await reg.wait_live()
            # headers tell the client the watch is live: what commits from now on reaches it
            await context.send_initial_metadata(())
            if request.include_open:
                async with self._ctx.pool.connection() as conn:
                    current = await store.open_incidents(conn, WATCH_OPEN_LIMIT)
                for inc in current:
                    if matches(inc):
                        msg = incident_to_proto(inc)
                        sent[inc.id] = msg.SerializeToString()
                        yield pb.WatchIncidentsResponse(incident=msg, snapshot=True)
            while True:
                ids, reread = await announced.take()
                async with self._ctx.pool.connection() as conn:
                    if reread:
                        found = {i.id: i for i in await store.open_incidents(conn, WATCH_OPEN_LIMIT)}
                        ids |= set(sent) - set(found)
                        found.update({i.id: i for i in await store.get_incidents(conn, sorted(ids - set(found)))})
                        changed = sorted(found.values(), key=lambda i: i.id)
                    else:
                        changed = await store.get_incidents(conn, sorted(ids))
                for inc in changed:
                    if not matches(inc):
                        continue
                    msg = incident_to_proto(inc)
                    data = msg.SerializeToString()
                    if reread and sent.get(inc.id) == data:
                        continue
                    if inc.status == "resolved":
                        sent.pop(inc.id, None)
                    else:
                        sent[inc.id] = data
                    yield pb.WatchIncidentsResponse(incident=msg, snapshot=reread)
        finally:
            reg.close()


def add_services(server: grpc.aio.Server, ctx: Context) -> list[str]:
    """Add IncidentService to ``server``; return its full service name."""
    incidents_pb2_grpc.add_IncidentServiceServicer_to_server(IncidentService(ctx), server)
    return [SERVICE_NAME]
