"""The access services' gRPC servicers: oncall.access.v1.ApiKeyService and AuditService.

Thin delegates to ``auth.keys`` and ``auth.audit``; the caller (the principal the access
interceptor admitted) is the creator of a key, which never exceeds it.
"""

from __future__ import annotations

from datetime import UTC
from typing import TypeAlias

import grpc

from ..access.v1 import access_pb2 as pb
from ..access.v1 import access_pb2_grpc
from ..auth import audit, keys
from ..auth.principal import current, describe
from ..context import Context
from ..errors import Unauthenticated
from . import convert

KEY_SERVICE: str = pb.DESCRIPTOR.services_by_name["ApiKeyService"].full_name
AUDIT_SERVICE: str = pb.DESCRIPTOR.services_by_name["AuditService"].full_name

_Call: TypeAlias = grpc.aio.ServicerContext


def key_to_proto(key: keys.ApiKey) -> pb.ApiKey:
    return pb.ApiKey(
        id=key.id, name=key.name, prefix=key.prefix, role=key.role, team_id=key.team_id or "",
        scopes=list(key.scopes), created_by=key.created_by, created_at=convert.timestamp(key.created_at),
        expires_at=convert.timestamp(key.expires_at), revoked_at=convert.timestamp(key.revoked_at),
        last_used_at=convert.timestamp(key.last_used_at),
    )


def event_to_proto(event: audit.AuditEvent) -> pb.AuditEvent:
    return pb.AuditEvent(
        id=event.id, at=convert.timestamp(event.at), principal=event.principal,
        principal_kind=event.principal_kind, role=event.role, method=event.method, resource=event.resource,
        summary=convert.struct(event.summary), outcome=event.outcome, peer=event.peer,
        user_agent=event.user_agent, key_id=event.key_id or 0,
    )


class ApiKeyService(access_pb2_grpc.ApiKeyServiceServicer):
    """oncall.access.v1.ApiKeyService over the keys of one server."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    async def CreateApiKey(self, request: pb.CreateApiKeyRequest, context: _Call) -> pb.CreateApiKeyResponse:
        creator = current.get()
        if creator is None:  # the interceptor admits no call without one
            raise Unauthenticated("this call needs credentials")
        assert self._ctx.access is not None
        expires = request.expires_at.ToDatetime(tzinfo=UTC) if request.HasField("expires_at") else None
        key, token = await keys.create(
            self._ctx.pool, name=request.name, role=request.role, team_id=request.team_id or None,
            scopes=list(request.scopes), expires_at=expires, created_by=creator, created_by_name=describe(creator),
            now=self._ctx.access.clock.now(),
        )
        return pb.CreateApiKeyResponse(api_key=key_to_proto(key), key=token)

    async def ListApiKeys(self, request: pb.ListApiKeysRequest, context: _Call) -> pb.ListApiKeysResponse:
        assert self._ctx.access is not None
        listed = await keys.list_keys(self._ctx.pool, self._ctx.access.clock.now(), request.include_inactive)
        return pb.ListApiKeysResponse(api_keys=[key_to_proto(k) for k in listed])

    async def RevokeApiKey(self, request: pb.RevokeApiKeyRequest, context: _Call) -> pb.RevokeApiKeyResponse:
        assert self._ctx.access is not None
        key = await keys.revoke(self._ctx.pool, request.id, self._ctx.access.clock.now())
        return pb.RevokeApiKeyResponse(api_key=key_to_proto(key))


class AuditService(access_pb2_grpc.AuditServiceServicer):
    """oncall.access.v1.AuditService over the audit log."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    async def ListAuditEvents(
        self, request: pb.ListAuditEventsRequest, context: _Call
    ) -> pb.ListAuditEventsResponse:
        flt = audit.AuditFilter(
            principal=request.principal, method=request.method, resource=request.resource, outcome=request.outcome,
            since=request.since.ToDatetime(tzinfo=UTC) if request.HasField("since") else None,
            until=request.until.ToDatetime(tzinfo=UTC) if request.HasField("until") else None,
        )
        events, token = await audit.list_events(self._ctx.pool, flt, request.page_size, request.page_token)
        return pb.ListAuditEventsResponse(events=[event_to_proto(e) for e in events], next_page_token=token)


def add_services(server: grpc.aio.Server, ctx: Context) -> list[str]:
    """Add the key and audit servicers to ``server``; return their full service names."""
    access_pb2_grpc.add_ApiKeyServiceServicer_to_server(ApiKeyService(ctx), server)
    access_pb2_grpc.add_AuditServiceServicer_to_server(AuditService(ctx), server)
    return [KEY_SERVICE, AUDIT_SERVICE]
