"""The access services' gRPC servicers: oncall.access.v1.ApiKeyService, SessionService, AuditService and TeamService.

Thin delegates to ``auth.keys``, ``auth.sessions``, ``auth.audit`` and ``auth.teams``; the
caller (the principal the access interceptor admitted) is the creator of a key, which never
exceeds it (managing a team's keys needs api_keys:write in that team), and the owner of the
sessions it lists and ends.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TypeAlias

import grpc

from ..access.v1 import access_pb2 as pb
from ..access.v1 import access_pb2_grpc
from ..auth import audit, keys, sessions, teams
from ..auth.principal import allows, current, describe, my_teams, require
from ..clock import SYSTEM_CLOCK
from ..context import Context
from ..errors import FailedPrecondition, NotFound, Unauthenticated
from . import convert

KEY_SERVICE: str = pb.DESCRIPTOR.services_by_name["ApiKeyService"].full_name
AUDIT_SERVICE: str = pb.DESCRIPTOR.services_by_name["AuditService"].full_name
SESSION_SERVICE: str = pb.DESCRIPTOR.services_by_name["SessionService"].full_name
TEAM_SERVICE: str = pb.DESCRIPTOR.services_by_name["TeamService"].full_name

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
        team = teams.team_of(request.team_id)
        require("api_keys:write", "api_keys", team)
        key, token = await keys.create(
            self._ctx.pool, name=request.name, role=request.role, team_id=request.team_id or None,
            scopes=list(request.scopes), expires_at=expires, created_by=creator, created_by_name=describe(creator),
            now=self._ctx.access.clock.now(),
        )
        return pb.CreateApiKeyResponse(api_key=key_to_proto(key), key=token)

    async def ListApiKeys(self, request: pb.ListApiKeysRequest, context: _Call) -> pb.ListApiKeysResponse:
        assert self._ctx.access is not None
        listed = await keys.list_keys(self._ctx.pool, self._ctx.access.clock.now(), request.include_inactive)
        # an admin of some teams only sees those teams' keys
        return pb.ListApiKeysResponse(api_keys=[key_to_proto(k) for k in listed if allows("api_keys:read", k.team_id)])

    async def RevokeApiKey(self, request: pb.RevokeApiKeyRequest, context: _Call) -> pb.RevokeApiKeyResponse:
        assert self._ctx.access is not None
        key = await keys.revoke(self._ctx.pool, request.id, self._ctx.access.clock.now(),
                                check=lambda found: require("api_keys:write", f"api_keys/{found.id}", found.team_id))
        return pb.RevokeApiKeyResponse(api_key=key_to_proto(key))


def session_to_proto(session: sessions.Session, current_id: int) -> pb.Session:
    return pb.Session(
        id=session.id, method=session.method, role=session.role, team_roles=dict(session.team_roles),
        created_at=convert.timestamp(session.created_at), last_seen_at=convert.timestamp(session.last_seen_at),
        expires_at=convert.timestamp(session.expires_at), peer=session.peer, user_agent=session.user_agent,
        current=session.id == current_id,
    )


class SessionService(access_pb2_grpc.SessionServiceServicer):
    """oncall.access.v1.SessionService: the caller's own browser sessions."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    def _caller(self) -> tuple[sessions.SessionAuthenticator, str, int]:
        """The sessions, the caller's user id and its session's id (put on the principal by the
        authenticator, which looked the session up: no second lookup)."""
        principal = current.get()
        access = self._ctx.access
        if (principal is None or principal.kind != "session" or principal.session_id is None
                or access is None or access.sessions is None):
            raise FailedPrecondition("only a person signed in with a browser session has sessions")
        return access.sessions, principal.user_id, principal.session_id

    async def ListSessions(self, request: pb.ListSessionsRequest, context: _Call) -> pb.ListSessionsResponse:
        auth, user_id, mine = self._caller()
        listed = await auth.store.list_user(user_id, auth.clock.now())
        return pb.ListSessionsResponse(user_id=user_id, sessions=[session_to_proto(s, mine) for s in listed])

    async def EndSession(self, request: pb.EndSessionRequest, context: _Call) -> pb.EndSessionResponse:
        auth, user_id, _ = self._caller()
        if not await auth.store.end(request.id, user_id=user_id):
            raise NotFound(f"you have no session {request.id}")
        return pb.EndSessionResponse()


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


def team_to_proto(team: teams.Team) -> pb.Team:
    return pb.Team(id=team.id, name=team.name, created_at=convert.timestamp(team.created_at))


class TeamService(access_pb2_grpc.TeamServiceServicer):
    """oncall.access.v1.TeamService over the teams of one server."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    def _now(self) -> datetime:
        return self._ctx.access.clock.now() if self._ctx.access is not None else SYSTEM_CLOCK.now()

    async def CreateTeam(self, request: pb.CreateTeamRequest, context: _Call) -> pb.CreateTeamResponse:
        team = await teams.create(self._ctx.pool, request.id, request.name, self._now())
        return pb.CreateTeamResponse(team=team_to_proto(team))

    async def ListTeams(self, request: pb.ListTeamsRequest, context: _Call) -> pb.ListTeamsResponse:
        listed = await teams.list_teams(self._ctx.pool, my_teams() if request.my_teams else None)
        return pb.ListTeamsResponse(teams=[team_to_proto(t) for t in listed])

    async def GetTeam(self, request: pb.GetTeamRequest, context: _Call) -> pb.GetTeamResponse:
        return pb.GetTeamResponse(team=team_to_proto(await teams.get(self._ctx.pool, request.id)))

    async def UpdateTeam(self, request: pb.UpdateTeamRequest, context: _Call) -> pb.UpdateTeamResponse:
        return pb.UpdateTeamResponse(team=team_to_proto(await teams.rename(self._ctx.pool, request.id, request.name)))

    async def DeleteTeam(self, request: pb.DeleteTeamRequest, context: _Call) -> pb.DeleteTeamResponse:
        await teams.delete(self._ctx.pool, request.id, self._now())
        return pb.DeleteTeamResponse()


def add_services(server: grpc.aio.Server, ctx: Context) -> list[str]:
    """Add the key, session, audit and team servicers to ``server``; return their full service names."""
    access_pb2_grpc.add_ApiKeyServiceServicer_to_server(ApiKeyService(ctx), server)
    access_pb2_grpc.add_SessionServiceServicer_to_server(SessionService(ctx), server)
    access_pb2_grpc.add_AuditServiceServicer_to_server(AuditService(ctx), server)
    access_pb2_grpc.add_TeamServiceServicer_to_server(TeamService(ctx), server)
    return [KEY_SERVICE, SESSION_SERVICE, AUDIT_SERVICE, TEAM_SERVICE]
