"""The guard on state-changing browser requests: same origin, and the session's CSRF token.

Every request but GET, HEAD and OPTIONS that carries a session cookie this server signed
(whatever its route: the sessions API, logout, and the REST routes and UI to come, with no
registration needed), and every such request to a route registered with ``protect`` (with
or without a cookie), must come from this site: ``Sec-Fetch-Site``, when sent, is
same-origin, and an ``Origin``, when sent, equals ``ONCALL_PUBLIC_URL``'s or the request's
own. With the session cookie it must also bring that session's CSRF token in
``X-CSRF-Token`` or the form field ``csrf_token`` (compared in constant time), except on a
route protected with ``token=False`` (the login form: there is no session to have a token
yet, and the origin check is what stops login CSRF). A request with ``Authorization:
Bearer`` and no session cookie is exempt: a browser never adds that header across sites
without the page asking for it, which a cross-site page cannot do without CORS. With a
session cookie the bearer changes nothing (a junk one would otherwise let the cookie act
unchecked): the request is guarded as any other. Refusals are 403 and run nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

from aiohttp import web
from aiohttp.web_urldispatcher import AbstractRoute

from ..auth.access import bearer
from ..auth.sessions import cookie_from_header
from ..errors import PermissionDenied
from .requests import CONTEXT

log = logging.getLogger(__name__)

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
HEADER = "X-CSRF-Token"
FIELD = "csrf_token"
#: the guarded routes, each with whether it needs the session's token (the login form has no session yet)
PROTECTED = web.AppKey("csrf_protected", dict[AbstractRoute, bool])


def protect(app: web.Application, route: AbstractRoute, token: bool = True) -> AbstractRoute:
    """Put ``route`` behind the guard even without a cookie: the origin check, and with a session
    cookie its CSRF token unless ``token`` is False."""
    app.setdefault(PROTECTED, {})[route] = token
    return route


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def same_origin(request: web.Request) -> bool:
    """Whether the browser says the request comes from this site (a client that says nothing passes)."""
    fetch_site = request.headers.get("Sec-Fetch-Site")
    if fetch_site is not None and fetch_site.lower() not in ("same-origin", "none"):
        return False
    origin = request.headers.get("Origin")
    if origin is None:
        return True
    allowed = {f"{request.scheme}://{request.host}".lower()}
    public = request.app[CONTEXT].settings.public_url
    if public:
        allowed.add(_origin(public))
    return origin.strip().lower() in allowed


async def _token(request: web.Request) -> str | None:
    header = request.headers.get(HEADER)
    if header:
        return header
    if request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        value = (await request.post()).get(FIELD)  # cached: the handler reads the same form
        return value if isinstance(value, str) else None
    return None


@web.middleware
async def csrf_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    if request.method in SAFE_METHODS:
        return await handler(request)
    needs_token = request.app.get(PROTECTED, {}).get(request.match_info.route)
    access = request.app[CONTEXT].access
    session_id = None
    if access is not None and access.sessions is not None:
        cookie = cookie_from_header(request.headers.get("Cookie"))
        session_id = access.sessions.store.signer.session_id(cookie) if cookie else None
    if session_id is None and (needs_token is None or bearer(request.headers.get("Authorization")) is not None):
        # no session: a route no session calls, or a bearer a cross-site page cannot have added
        return await handler(request)
    if not same_origin(request):
        route = request.match_info.route.resource
        log.warning("refused a cross-site %s %s", request.method, route.canonical if route is not None else "?")
        raise PermissionDenied("cross-site request refused (its Origin or Sec-Fetch-Site is not this site)")
    if session_id is not None and needs_token is not False:
        assert access is not None and access.sessions is not None
        if not access.sessions.store.signer.csrf_ok(session_id, await _token(request)):
            raise PermissionDenied(
                f"this request needs the session's CSRF token ({HEADER} header or {FIELD} field)")
    return await handler(request)
