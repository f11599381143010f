"""The heartbeat service's gRPC servicer (oncall.alerting.v1.HeartbeatService).

A thin delegate to ``escalation.heartbeats``; beats themselves arrive over HTTP
(``http.heartbeat``), and the escalation engine expires monitors whose beats are overdue.
"""

from __future__ import annotations

import grpc
from typing import TypeAlias

from ..alerting.v1 import heartbeats_pb2 as pb
from ..alerting.v1 import heartbeats_pb2_grpc
from ..context import Context
from ..escalation import heartbeats
from . import convert

SERVICE_NAME: str = pb.DESCRIPTOR.services_by_name["HeartbeatService"].full_name

_Call: TypeAlias = grpc.aio.ServicerContext


class HeartbeatService(heartbeats_pb2_grpc.HeartbeatServiceServicer):
    """oncall.alerting.v1.HeartbeatService over the heartbeat monitors of one server."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    async def CreateHeartbeat(
        self, request: pb.CreateHeartbeatRequest, context: _Call
    ) -> pb.CreateHeartbeatResponse:
        hb, key = await heartbeats.create_heartbeat(
            self._ctx.pool, request.name.strip(), convert.heartbeat_timeout(request)
        )
        message = convert.heartbeat_to_proto(hb)
        return pb.CreateHeartbeatResponse(
            heartbeat=message, key=key, beat_url=self._ctx.settings.base_url + message.beat_path
        )

    async def GetHeartbeat(self, request: pb.GetHeartbeatRequest, context: _Call) -> pb.GetHeartbeatResponse:
        hb = await heartbeats.get_heartbeat(self._ctx.pool, convert.required(request.heartbeat_id, "heartbeat_id"))
        return pb.GetHeartbeatResponse(heartbeat=convert.heartbeat_to_proto(hb))

    async def ListHeartbeats(self, request: pb.ListHeartbeatsRequest, context: _Call) -> pb.ListHeartbeatsResponse:
        listed = await heartbeats.list_heartbeats(self._ctx.pool)
        return pb.ListHeartbeatsResponse(heartbeats=[convert.heartbeat_to_proto(hb) for hb in listed])

    async def DeleteHeartbeat(
        self, request: pb.DeleteHeartbeatRequest, context: _Call
    ) -> pb.DeleteHeartbeatResponse:
        await heartbeats.delete_heartbeat(self._ctx.pool, convert.required(request.heartbeat_id, "heartbeat_id"))
        return pb.DeleteHeartbeatResponse()


def add_services(server: grpc.aio.Server, ctx: Context) -> list[str]:
    """Add the heartbeat servicer to ``server``; return its full service name."""
    heartbeats_pb2_grpc.add_HeartbeatServiceServicer_to_server(HeartbeatService(ctx), server)
    return [SERVICE_NAME]
