"""The routing service's gRPC servicer (oncall.alerting.v1.RoutingService).

A thin delegate to ``routing.rules``: requests are checked and converted by ``convert``,
conditions are validated by the router plugin the routing pass routes with, and
domain errors become status codes in ``rpc.errors``.
"""

from __future__ import annotations

from typing import TypeAlias

import grpc

from ..alerting.v1 import routing_pb2 as pb
from ..alerting.v1 import routing_pb2_grpc
from ..clock import SYSTEM_CLOCK
from ..context import Context
from ..errors import InvalidArgument
from ..escalation.silences import load_current
from ..routing import rules
from ..routing.route import Routing
from . import convert, teams

SERVICE_NAME: str = pb.DESCRIPTOR.services_by_name["RoutingService"].full_name

_Call: TypeAlias = grpc.aio.ServicerContext


class RoutingService(routing_pb2_grpc.RoutingServiceServicer):
    """oncall.alerting.v1.RoutingService over the routing rules of one server."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        # The routing pass's router validates what it will evaluate, and TestRoute decides
        # through its own ``route``, so a dry run routes as a real alert would.
        self._routing: Routing = ctx.routing or Routing(ctx)

    async def CreateRule(self, request: pb.CreateRuleRequest, context: _Call) -> pb.CreateRuleResponse:
        rule = await rules.create_rule(
            self._ctx.pool, self._routing.router, convert.rule_input(request), convert.rule_position(request),
            ticket_providers=self._ctx.registry.ticket_providers,
        )
        return pb.CreateRuleResponse(rule=convert.rule_to_proto(rule))

    async def UpdateRule(self, request: pb.UpdateRuleRequest, context: _Call) -> pb.UpdateRuleResponse:
        rule = await rules.update_rule(
            self._ctx.pool,
            self._routing.router,
            convert.required(request.rule_id, "rule_id"),
            convert.rule_input(request),
            ticket_providers=self._ctx.registry.ticket_providers,
            expected_version=request.expected_version if request.HasField("expected_version") else None,
        )
        return pb.UpdateRuleResponse(rule=convert.rule_to_proto(rule))

    async def DeleteRule(self, request: pb.DeleteRuleRequest, context: _Call) -> pb.DeleteRuleResponse:
        await rules.delete_rule(self._ctx.pool, convert.required(request.rule_id, "rule_id"))
        return pb.DeleteRuleResponse()

    async def ReorderRules(self, request: pb.ReorderRulesRequest, context: _Call) -> pb.ReorderRulesResponse:
        ordered = await rules.reorder_rules(self._ctx.pool, convert.rule_ids(request.rule_ids))
        return pb.ReorderRulesResponse(rules=[convert.rule_to_proto(r) for r in ordered])

    async def ListRules(self, request: pb.ListRulesRequest, context: _Call) -> pb.ListRulesResponse:
        listed = await rules.list_rules(self._ctx.pool, teams.team_filter(request))
        return pb.ListRulesResponse(rules=[convert.rule_to_proto(r) for r in listed])

    async def GetRule(self, request: pb.GetRuleRequest, context: _Call) -> pb.GetRuleResponse:
        rule = await rules.get_rule(self._ctx.pool, convert.required(request.rule_id, "rule_id"))
        return pb.GetRuleResponse(rule=convert.rule_to_proto(rule))

    async def GetDefaultRoute(
        self, request: pb.GetDefaultRouteRequest, context: _Call
    ) -> pb.GetDefaultRouteResponse:
        actions = await rules.get_default(self._ctx.pool)
        return pb.GetDefaultRouteResponse(actions=convert.actions_to_proto(actions))

    async def SetDefaultRoute(
        self, request: pb.SetDefaultRouteRequest, context: _Call
    ) -> pb.SetDefaultRouteResponse:
        actions = await rules.set_default(
            self._ctx.pool, convert.actions_from_proto(request.actions),
            ticket_providers=self._ctx.registry.ticket_providers,
        )
        return pb.SetDefaultRouteResponse(actions=convert.actions_to_proto(actions))

    async def TestRoute(self, request: pb.TestRouteRequest, context: _Call) -> pb.TestRouteResponse:
        if not request.HasField("alert"):
            raise InvalidArgument("alert is required: the sample alert to route")
        now = SYSTEM_CLOCK.now()
        alert = convert.sample_alert(request.alert, now)
        async with self._ctx.pool.connection() as conn:
            silences = await load_current(conn, now)
        decision, _, silence = await self._routing.route(
            alert, await rules.list_rules(self._ctx.pool), await rules.get_default(self._ctx.pool), silences
        )
        silenced_by = silence.id if silence else ""
        return pb.TestRouteResponse(decision=convert.decision_to_proto(decision), silenced_by=silenced_by)


def add_services(server: grpc.aio.Server, ctx: Context) -> list[str]:
    """Add the routing servicer to ``server``; return its full service name."""
    routing_pb2_grpc.add_RoutingServiceServicer_to_server(RoutingService(ctx), server)
    return [SERVICE_NAME]
