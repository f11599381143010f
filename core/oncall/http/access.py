"""The HTTP door's lock: who sent a request, by the same authenticators as gRPC.

Webhooks, heartbeats, the calendar feed and channel callbacks keep their own keys (an
integration's, a monitor's, a calendar token, a provider's signature); every other route
asks ``require_principal``. ``GET /api/v1/whoami`` answers who the caller is, for a client
(or a proxy set-up) to check its credentials: 401 without any.
"""

from __future__ import annotations

from aiohttp import web
from oncall_hookspecs import AuthRequest, Principal

from ..auth.sessions import cookie_from_header
from ..errors import Unauthenticated
from .requests import CONTEXT, json_response

WHOAMI_PATH = "/api/v1/whoami"


def auth_request(request: web.Request) -> AuthRequest:
    headers: dict[str, str] = {}
    for name, value in request.headers.items():
        headers.setdefault(name.lower(), value)
    return AuthRequest(transport="http", headers=headers, peer=request.remote or "", target=request.path)


async def require_principal(request: web.Request) -> Principal:
    """The caller; Unauthenticated (401) when no authenticator can tell."""
    access = request.app[CONTEXT].access
    principal = await access.authenticate(auth_request(request)) if access is not None else None
    if principal is None:
        raise Unauthenticated("this request needs credentials: Authorization: Bearer oncall_<prefix>_<secret>, "
                              "or a session (sign in at /login)")
    return principal


async def whoami(request: web.Request) -> web.Response:
    """Who is calling; for a browser session also its CSRF token (sent back as ``X-CSRF-Token``)."""
    p = await require_principal(request)
    body: dict[str, object] = {
        "kind": p.kind, "user_id": p.user_id, "role": p.role, "team_roles": dict(p.team_roles),
        "scopes": list(p.scopes), "key_id": p.key_id, "via": p.via,
    }
    access = request.app[CONTEXT].access
    sessions = access.sessions if access is not None else None
    if p.kind == "session" and sessions is not None:
        session_id = sessions.store.signer.session_id(cookie_from_header(request.headers.get("Cookie")) or "")
        if session_id is not None:
            body["csrf_token"] = sessions.store.signer.csrf_token(session_id)
    return json_response(body)


def add_routes(app: web.Application) -> None:
    app.router.add_get(WHOAMI_PATH, whoami)
