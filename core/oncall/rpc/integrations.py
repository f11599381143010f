"""The integration service's gRPC servicer (oncall.alerting.v1.IntegrationService).

A thin delegate to ``alerting.store``'s integrations. A key leaves the server only in the
response that made it (create, rotate); the audit log never records it (``rpc.access``
redacts fields named ``*key*``).
"""

from __future__ import annotations

from typing import TypeAlias

import grpc

from ..alerting import store
from ..alerting.models import Integration
from ..alerting.v1 import integrations_pb2 as pb
from ..alerting.v1 import integrations_pb2_grpc
from ..context import Context
from ..errors import InvalidArgument
from ..store.paging import decode_page_token, encode_page_token
from ..auth.teams import Unchanged
from . import convert
from .teams import created_in, moved_to, team_filter

SERVICE_NAME: str = pb.DESCRIPTOR.services_by_name["IntegrationService"].full_name
MAX_NAME = 200

_Call: TypeAlias = grpc.aio.ServicerContext


def integration_to_proto(integ: Integration) -> pb.Integration:
    return pb.Integration(
        id=integ.id, source=integ.source, name=integ.name, key_prefix=integ.key_prefix,
        created_at=convert.timestamp(integ.created_at), version=integ.version, enabled=integ.enabled,
        team_id=integ.team_id or "",
    )


def _integration_id(value: int) -> int:
    if value <= 0:
        raise InvalidArgument("integration_id is required (a positive integration id)")
    return value


def _name(value: str) -> str:
    name = convert.required(value, "name")
    if len(name) > MAX_NAME:
        raise InvalidArgument(f"name must be at most {MAX_NAME} characters")
    return name


class IntegrationService(integrations_pb2_grpc.IntegrationServiceServicer):
    """oncall.alerting.v1.IntegrationService over the integrations of one server."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    def webhook_urls(self, source_name: str) -> list[str]:
        """Where ``source_name``'s webhooks arrive on this server (its own paths too)."""
        base = self._ctx.settings.base_url
        source = self._ctx.registry.sources[source_name]
        return [f"{base}/api/v1/webhooks/{source_name}",
                *(f"{base}{path}" for path in getattr(source, "paths", ()))]

    async def CreateIntegration(
        self, request: pb.CreateIntegrationRequest, context: _Call
    ) -> pb.CreateIntegrationResponse:
        source = convert.required(request.source, "source")
        if source not in self._ctx.registry.sources:
            known = ", ".join(sorted(self._ctx.registry.sources)) or "none"
            raise InvalidArgument(f"unknown source {source!r}; installed sources: {known}")
        integ, key = await store.create_integration(self._ctx.pool, source, _name(request.name),
                                                    created_in(request.team_id))
        return pb.CreateIntegrationResponse(
            integration=integration_to_proto(integ), key=key, webhook_urls=self.webhook_urls(source))

    async def ListIntegrations(
        self, request: pb.ListIntegrationsRequest, context: _Call
    ) -> pb.ListIntegrationsResponse:
        after = decode_page_token(request.page_token, "after") if request.page_token else 0
        found, more = await store.list_integrations_page(
            self._ctx.pool, after, convert.page_size(request.page_size), team_filter(request))
        token = encode_page_token(found[-1].id, "after") if more and found else ""
        return pb.ListIntegrationsResponse(
            integrations=[integration_to_proto(i) for i in found], next_page_token=token)

    async def GetIntegration(self, request: pb.GetIntegrationRequest, context: _Call) -> pb.GetIntegrationResponse:
        integ = await store.get_integration(self._ctx.pool, _integration_id(request.integration_id))
        return pb.GetIntegrationResponse(integration=integration_to_proto(integ))

    async def UpdateIntegration(
        self, request: pb.UpdateIntegrationRequest, context: _Call
    ) -> pb.UpdateIntegrationResponse:
        expected = request.expected_version if request.HasField("expected_version") else None
        name = _name(request.name) if request.name.strip() else None
        team = moved_to(request)
        if name is None and isinstance(team, Unchanged):
            raise InvalidArgument("give a new name or a team_id: an update must change something")
        integ = await store.update_integration(
            self._ctx.pool, _integration_id(request.integration_id), name=name, team=team, expected_version=expected)
        return pb.UpdateIntegrationResponse(integration=integration_to_proto(integ))

    async def RotateIntegrationKey(
        self, request: pb.RotateIntegrationKeyRequest, context: _Call
    ) -> pb.RotateIntegrationKeyResponse:
        integ, key = await store.rotate_key(self._ctx.pool, _integration_id(request.integration_id))
        # the old key stops working at once: not for the key cache's ttl more in this process
        self._ctx.keys.clear()
        return pb.RotateIntegrationKeyResponse(integration=integration_to_proto(integ), key=key)

    async def DeleteIntegration(
        self, request: pb.DeleteIntegrationRequest, context: _Call
    ) -> pb.DeleteIntegrationResponse:
        await store.delete_integration(self._ctx.pool, _integration_id(request.integration_id))
        return pb.DeleteIntegrationResponse()


def add_services(server: grpc.aio.Server, ctx: Context) -> list[str]:
    """Add the integration servicer to ``server``; return its full service name."""
    integrations_pb2_grpc.add_IntegrationServiceServicer_to_server(IntegrationService(ctx), server)
    return [SERVICE_NAME]
