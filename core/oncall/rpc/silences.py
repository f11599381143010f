"""The silence service's gRPC servicer (oncall.alerting.v1.SilenceService).

A thin delegate to ``escalation.silences``: requests are checked and converted by
``convert``; conditions are validated by the router the escalation engine evaluates them
with; domain errors become status codes in ``rpc.errors``.
"""

from __future__ import annotations

import grpc
from typing import TypeAlias

from ..alerting.v1 import silences_pb2 as pb
from ..alerting.v1 import silences_pb2_grpc
from ..clock import SYSTEM_CLOCK
from ..context import Context
from ..escalation import silences
from ..routing.route import pick_router
from . import convert

SERVICE_NAME: str = pb.DESCRIPTOR.services_by_name["SilenceService"].full_name

_Call: TypeAlias = grpc.aio.ServicerContext


class SilenceService(silences_pb2_grpc.SilenceServiceServicer):
    """oncall.alerting.v1.SilenceService over the silences of one server."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self._router = ctx.routing.router if ctx.routing is not None else pick_router(ctx)

    async def CreateSilence(self, request: pb.CreateSilenceRequest, context: _Call) -> pb.CreateSilenceResponse:
        now = SYSTEM_CLOCK.now()
        silence = await silences.create_silence(
            self._ctx.pool, self._router, convert.silence_input(request, now), now
        )
        return pb.CreateSilenceResponse(silence=convert.silence_to_proto(silence, now))

    async def ExpireSilence(self, request: pb.ExpireSilenceRequest, context: _Call) -> pb.ExpireSilenceResponse:
        now = SYSTEM_CLOCK.now()
        silence = await silences.expire_silence(
            self._ctx.pool, convert.required(request.silence_id, "silence_id"), now,
            request.expected_version if request.HasField("expected_version") else None,
        )
        return pb.ExpireSilenceResponse(silence=convert.silence_to_proto(silence, now))

    async def GetSilence(self, request: pb.GetSilenceRequest, context: _Call) -> pb.GetSilenceResponse:
        silence = await silences.get_silence(self._ctx.pool, convert.required(request.silence_id, "silence_id"))
        return pb.GetSilenceResponse(silence=convert.silence_to_proto(silence, SYSTEM_CLOCK.now()))

    async def ListSilences(self, request: pb.ListSilencesRequest, context: _Call) -> pb.ListSilencesResponse:
        now = SYSTEM_CLOCK.now()
        listed = await silences.list_silences(self._ctx.pool, now, include_expired=request.include_expired)
        return pb.ListSilencesResponse(silences=[convert.silence_to_proto(s, now) for s in listed])

    async def SetMaintenance(self, request: pb.SetMaintenanceRequest, context: _Call) -> pb.SetMaintenanceResponse:
        now = SYSTEM_CLOCK.now()
        silence = await silences.create_silence(self._ctx.pool, self._router, convert.maintenance(request, now), now)
        return pb.SetMaintenanceResponse(silence=convert.silence_to_proto(silence, now))


def add_services(server: grpc.aio.Server, ctx: Context) -> list[str]:
    """Add the silence servicer to ``server``; return its full service name."""
    silences_pb2_grpc.add_SilenceServiceServicer_to_server(SilenceService(ctx), server)
    return [SERVICE_NAME]
