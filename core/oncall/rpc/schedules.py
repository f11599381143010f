"""The schedule service's gRPC servicer (oncall.alerting.v1.ScheduleService).

A thin delegate to ``schedules.store``: requests are checked and converted by ``convert``,
on-call questions are answered from the process's schedule cache (the one the escalation
engine's resolver uses), and domain errors become status codes in ``rpc.errors``.
"""

from __future__ import annotations

import grpc
from typing import TypeAlias

from ..alerting.v1 import schedules_pb2 as pb
from ..alerting.v1 import schedules_pb2_grpc
from ..clock import SYSTEM_CLOCK
from ..context import Context
from ..paths import calendar_url
from ..schedules import store
from . import convert, teams

SERVICE_NAME: str = pb.DESCRIPTOR.services_by_name["ScheduleService"].full_name

_Call: TypeAlias = grpc.aio.ServicerContext


class ScheduleService(schedules_pb2_grpc.ScheduleServiceServicer):
    """oncall.alerting.v1.ScheduleService over the schedules of one server."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self._cache = store.cache_for(ctx)

    async def CreateSchedule(self, request: pb.CreateScheduleRequest, context: _Call) -> pb.CreateScheduleResponse:
        schedule = await store.create_schedule(self._ctx.pool, convert.schedule_input(request))
        return pb.CreateScheduleResponse(schedule=convert.schedule_to_proto(schedule))

    async def UpdateSchedule(self, request: pb.UpdateScheduleRequest, context: _Call) -> pb.UpdateScheduleResponse:
        schedule_id = convert.required(request.schedule_id, "schedule_id")
        expected = request.expected_version if request.HasField("expected_version") else None
        schedule = await store.update_schedule(self._ctx.pool, schedule_id, convert.schedule_input(request), expected)
        return pb.UpdateScheduleResponse(schedule=convert.schedule_to_proto(schedule))

    async def DeleteSchedule(self, request: pb.DeleteScheduleRequest, context: _Call) -> pb.DeleteScheduleResponse:
        await store.delete_schedule(self._ctx.pool, convert.required(request.schedule_id, "schedule_id"))
        return pb.DeleteScheduleResponse()

    async def GetSchedule(self, request: pb.GetScheduleRequest, context: _Call) -> pb.GetScheduleResponse:
        schedule = await store.get_schedule(self._ctx.pool, convert.required(request.schedule_id, "schedule_id"))
        return pb.GetScheduleResponse(schedule=convert.schedule_to_proto(schedule))

    async def ListSchedules(self, request: pb.ListSchedulesRequest, context: _Call) -> pb.ListSchedulesResponse:
        listed = await store.list_schedules(self._ctx.pool, teams.team_filter(request))
        return pb.ListSchedulesResponse(schedules=[convert.schedule_to_proto(s) for s in listed])

    async def AddOverride(self, request: pb.AddOverrideRequest, context: _Call) -> pb.AddOverrideResponse:
        schedule_id = convert.required(request.schedule_id, "schedule_id")
        start, end, add, remove = convert.override_request(request)
        override = await store.add_override(self._ctx.pool, schedule_id, start, end, add, remove)
        return pb.AddOverrideResponse(override=convert.override_to_proto(override))

    async def RemoveOverride(self, request: pb.RemoveOverrideRequest, context: _Call) -> pb.RemoveOverrideResponse:
        await store.remove_override(
            self._ctx.pool,
            convert.required(request.schedule_id, "schedule_id"),
            convert.required(request.override_id, "override_id"),
        )
        return pb.RemoveOverrideResponse()

    async def ListOverrides(self, request: pb.ListOverridesRequest, context: _Call) -> pb.ListOverridesResponse:
        start, end = convert.overrides_window(request)
        listed = await store.list_overrides(
            self._ctx.pool, convert.required(request.schedule_id, "schedule_id"), start, end
        )
        return pb.ListOverridesResponse(overrides=[convert.override_to_proto(o) for o in listed])

    async def SetTemporarySchedule(
        self, request: pb.SetTemporaryScheduleRequest, context: _Call
    ) -> pb.SetTemporaryScheduleResponse:
        schedule_id = convert.required(request.schedule_id, "schedule_id")
        temporary_id, start, end, shift_list = convert.temporary_request(request)
        temporary = await store.set_temporary_schedule(
            self._ctx.pool, schedule_id, temporary_id, start, end, shift_list
        )
        return pb.SetTemporaryScheduleResponse(temporary_schedule=convert.temporary_schedule_to_proto(temporary))

    async def ClearTemporarySchedule(
        self, request: pb.ClearTemporaryScheduleRequest, context: _Call
    ) -> pb.ClearTemporaryScheduleResponse:
        await store.clear_temporary_schedule(
            self._ctx.pool,
            convert.required(request.schedule_id, "schedule_id"),
            convert.required(request.temporary_schedule_id, "temporary_schedule_id"),
        )
        return pb.ClearTemporaryScheduleResponse()

    async def GetOnCallUsers(self, request: pb.GetOnCallUsersRequest, context: _Call) -> pb.GetOnCallUsersResponse:
        schedule_id = convert.required(request.schedule_id, "schedule_id")
        at = convert.instant(request.at, "at") if request.HasField("at") else SYSTEM_CLOCK.now()
        entries = await store.on_call_at(self._cache, self._ctx.pool, schedule_id, at)
        return pb.GetOnCallUsersResponse(
            at=convert.timestamp(at), users=[convert.on_call_user_to_proto(e) for e in entries]
        )

    async def ListShifts(self, request: pb.ListShiftsRequest, context: _Call) -> pb.ListShiftsResponse:
        schedule_id = convert.required(request.schedule_id, "schedule_id")
        start, end = convert.shifts_range(request)
        _, found = await store.shifts_in(
            self._cache, self._ctx.pool, schedule_id, start, end, request.user_id.strip() or None
        )
        return pb.ListShiftsResponse(shifts=[convert.shift_to_proto(s) for s in found])

    async def CreateCalendarToken(
        self, request: pb.CreateCalendarTokenRequest, context: _Call
    ) -> pb.CreateCalendarTokenResponse:
        schedule_id = convert.required(request.schedule_id, "schedule_id")
        token, secret = await store.create_calendar_token(
            self._ctx.pool, schedule_id, request.user_id.strip() or None
        )
        return pb.CreateCalendarTokenResponse(
            token=convert.calendar_token_to_proto(token),
            secret=secret,
            calendar_url=calendar_url(self._ctx.settings.base_url, schedule_id, secret),
        )

    async def ListCalendarTokens(
        self, request: pb.ListCalendarTokensRequest, context: _Call
    ) -> pb.ListCalendarTokensResponse:
        listed = await store.list_calendar_tokens(self._ctx.pool, convert.required(request.schedule_id, "schedule_id"))
        return pb.ListCalendarTokensResponse(tokens=[convert.calendar_token_to_proto(t) for t in listed])

    async def RevokeCalendarToken(
        self, request: pb.RevokeCalendarTokenRequest, context: _Call
    ) -> pb.RevokeCalendarTokenResponse:
        await store.revoke_calendar_token(
            self._ctx.pool,
            convert.required(request.schedule_id, "schedule_id"),
            convert.required(request.token_id, "token_id"),
        )
        return pb.RevokeCalendarTokenResponse()


def add_services(server: grpc.aio.Server, ctx: Context) -> list[str]:
    """Add the schedule servicer to ``server``; return its full service name."""
    schedules_pb2_grpc.add_ScheduleServiceServicer_to_server(ScheduleService(ctx), server)
    return [SERVICE_NAME]
