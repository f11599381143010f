"""The escalation service's gRPC servicer (oncall.alerting.v1.EscalationService).

A thin delegate to ``escalation.policies`` and ``escalation.state``: requests are checked
and converted by ``convert``; domain errors become status codes in ``rpc.errors``. The
escalation engine does the paging; this service defines policies and reports on it.
"""

from __future__ import annotations

import grpc
from typing import TypeAlias

from ..auth.principal import acting_user
from ..alerting.v1 import escalation_pb2 as pb
from ..alerting.v1 import escalation_pb2_grpc
from ..clock import SYSTEM_CLOCK
from ..context import Context
from ..escalation import policies, state
from . import convert, teams

SERVICE_NAME: str = pb.DESCRIPTOR.services_by_name["EscalationService"].full_name

_Call: TypeAlias = grpc.aio.ServicerContext


class EscalationService(escalation_pb2_grpc.EscalationServiceServicer):
    """oncall.alerting.v1.EscalationService over the escalation policies and state of one server."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    async def CreatePolicy(self, request: pb.CreatePolicyRequest, context: _Call) -> pb.CreatePolicyResponse:
        policy = await policies.create_policy(self._ctx.pool, convert.policy_input(request))
        return pb.CreatePolicyResponse(policy=convert.policy_to_proto(policy))

    async def UpdatePolicy(self, request: pb.UpdatePolicyRequest, context: _Call) -> pb.UpdatePolicyResponse:
        policy = await policies.update_policy(
            self._ctx.pool, convert.required(request.policy_id, "policy_id"), convert.policy_input(request),
            request.expected_version if request.HasField("expected_version") else None,
        )
        return pb.UpdatePolicyResponse(policy=convert.policy_to_proto(policy))

    async def DeletePolicy(self, request: pb.DeletePolicyRequest, context: _Call) -> pb.DeletePolicyResponse:
        await policies.delete_policy(self._ctx.pool, convert.required(request.policy_id, "policy_id"))
        return pb.DeletePolicyResponse()

    async def GetPolicy(self, request: pb.GetPolicyRequest, context: _Call) -> pb.GetPolicyResponse:
        policy = await policies.get_policy(self._ctx.pool, convert.required(request.policy_id, "policy_id"))
        return pb.GetPolicyResponse(policy=convert.policy_to_proto(policy))

    async def ListPolicies(self, request: pb.ListPoliciesRequest, context: _Call) -> pb.ListPoliciesResponse:
        listed = await policies.list_policies(self._ctx.pool, teams.team_filter(request))
        return pb.ListPoliciesResponse(policies=[convert.policy_to_proto(p) for p in listed])

    async def GetEscalationState(
        self, request: pb.GetEscalationStateRequest, context: _Call
    ) -> pb.GetEscalationStateResponse:
        esc = await state.escalation_state(self._ctx.pool, convert.alert_id(request.alert_id))
        return pb.GetEscalationStateResponse(escalation=convert.escalation_to_proto(esc))

    async def EscalateAlert(self, request: pb.EscalateAlertRequest, context: _Call) -> pb.EscalateAlertResponse:
        alert_id = convert.alert_id(request.alert_id)
        await state.escalate_now(self._ctx.pool, alert_id, acting_user(request.user_id), SYSTEM_CLOCK.now(), request.note,
                                 restart=request.restart)
        esc = await state.escalation_state(self._ctx.pool, alert_id)
        return pb.EscalateAlertResponse(escalation=convert.escalation_to_proto(esc))

    async def ListNotificationRequests(
        self, request: pb.ListNotificationRequestsRequest, context: _Call
    ) -> pb.ListNotificationRequestsResponse:
        alert_id, status, limit = convert.requests_filter(request)
        listed = await state.list_requests(self._ctx.pool, alert_id=alert_id, status=status, limit=limit)
        return pb.ListNotificationRequestsResponse(
            requests=[convert.notification_request_to_proto(r) for r in listed]
        )


def add_services(server: grpc.aio.Server, ctx: Context) -> list[str]:
    """Add the escalation servicer to ``server``; return its full service name."""
    escalation_pb2_grpc.add_EscalationServiceServicer_to_server(EscalationService(ctx), server)
    return [SERVICE_NAME]
