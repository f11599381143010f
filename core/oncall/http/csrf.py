"""The guard on state-changing browser requests: same origin, and the session's CSRF token.

It applies to the routes registered with ``protect`` (those a session cookie may call:
logout, the sessions API, and later REST and the UI; the login form for its origin only),
for every method but GET, HEAD and OPTIONS. Such a request must come from this site
(``Sec-Fetch-Site`` same-origin, and an ``Origin``, when sent, equal to ``ONCALL_PUBLIC_URL``'s
or the request's own), and, when it carries a session cookie, bring that session's CSRF token in ``X-CSRF-Token`` or the form
field ``csrf_token`` (compared in constant time). A request with ``Authorization: Bearer``
is exempt: a browser never adds that header across sites without the page asking for it,
which a cross-site page cannot do without CORS. Refusals are 403 and run nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

from aiohttp import web
from aiohttp.web_urldispatcher import AbstractRoute

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
    """Put ``route`` behind the guard: the origin check, and the session's CSRF token unless ``token`` is False."""
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


def _bearer(request: web.Request) -> bool:
    scheme, _, token = request.headers.get("Authorization", "").strip().partition(" ")
    return scheme.lower() == "bearer" and bool(token.strip())


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
    needs_token = request.app.get(PROTECTED, {}).get(request.match_info.route)
    if request.method in SAFE_METHODS or needs_token is None:
        return await handler(request)
    if _bearer(request):
        return await handler(request)
    if not same_origin(request):
        log.warning("refused a cross-site %s %s", request.method, request.match_info.route.resource.canonical
                    if request.match_info.route.resource is not None else "?")
        raise PermissionDenied("cross-site request refused (its Origin or Sec-Fetch-Site is not this site)")
    access = request.app[CONTEXT].access
    cookie = cookie_from_header(request.headers.get("Cookie"))
    if not needs_token or cookie is None or access is None or access.sessions is None:
        return await handler(request)
    signer = access.sessions.store.signer
    session_id = signer.session_id(cookie)
    if session_id is None:
        return await handler(request)  # not a session this server made: the route's own check refuses it
    if not signer.csrf_ok(session_id, await _token(request)):
        raise PermissionDenied(f"this request needs the session's CSRF token ({HEADER} header or {FIELD} field)")
    return await handler(request)
