"""A person's own sessions over HTTP: ``GET /api/v1/sessions`` lists them, ``DELETE /api/v1/sessions/{id}`` ends one.

Only a session principal has sessions: an API key (or a proxy's user) is answered 403. Each
listed session says whether it is the one calling (``current``); the listing also gives the
calling session's CSRF token, which the browser sends back with every state-changing request.
"""

from __future__ import annotations

from datetime import datetime

from aiohttp import web

from oncall_hookspecs import Principal

from ..auth.sessions import Session, cookie_from_header
from ..errors import InvalidArgument, NotFound, PermissionDenied
from . import csrf
from .access import require_principal
from .requests import CONTEXT, json_response

SESSIONS_PATH = "/api/v1/sessions"


def _iso(at: datetime) -> str:
    return at.isoformat()


def _session_json(session: Session, current_id: int) -> dict[str, object]:
    return {
        "id": session.id, "method": session.method, "role": session.role, "team_roles": dict(session.team_roles),
        "created_at": _iso(session.created_at), "last_seen_at": _iso(session.last_seen_at),
        "expires_at": _iso(session.expires_at), "peer": session.peer, "user_agent": session.user_agent,
        "current": session.id == current_id,
    }


async def _caller_session(request: web.Request, permission: str) -> tuple[Principal, int]:
    """The caller and its session's id, when the caller is a session and may ``permission`` (the
    same rule as SessionService over gRPC, plugins' permission rules included). The session was
    looked up once, by the authenticator, which put its id on the principal."""
    principal = await require_principal(request)
    access = request.app[CONTEXT].access
    assert access is not None
    if principal.kind != "session" or principal.session_id is None or access.sessions is None:
        raise PermissionDenied("only a person signed in with a browser session has sessions")
    if not access.allowed(principal, permission, "sessions"):
        raise PermissionDenied(f"{principal.user_id} may not {permission}")
    return principal, principal.session_id


async def list_sessions(request: web.Request) -> web.Response:
    principal, current = await _caller_session(request, "sessions:read")
    access = request.app[CONTEXT].access
    assert access is not None and access.sessions is not None
    signer = access.sessions.store.signer
    # the cookie the authenticator just accepted: its signed id, read without a query
    session_id = signer.session_id(cookie_from_header(request.headers.get("Cookie")) or "")
    assert session_id is not None
    listed = await access.sessions.store.list_user(principal.user_id, access.clock.now())
    return json_response({
        "user_id": principal.user_id,
        "sessions": [_session_json(s, current) for s in listed],
        "csrf_token": signer.csrf_token(session_id),
    })


async def end_session(request: web.Request) -> web.StreamResponse:
    principal, _ = await _caller_session(request, "sessions:write")
    raw = request.match_info["id"]
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 18:  # "²" is a digit to isdigit, not to int
        raise InvalidArgument("a session id is a number")
    access = request.app[CONTEXT].access
    assert access is not None and access.sessions is not None
    if not await access.sessions.store.end(int(raw), user_id=principal.user_id):
        raise NotFound(f"you have no session {raw}")
    return web.Response(status=204)


def add_routes(app: web.Application) -> None:
    app.router.add_get(SESSIONS_PATH, list_sessions)
    csrf.protect(app, app.router.add_delete(SESSIONS_PATH + "/{id}", end_session))
