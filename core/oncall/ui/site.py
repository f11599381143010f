"""What every page shares: the signed-in caller or a redirect to /login, the CSRF token, error pages.

A page request without credentials is sent to ``/login?next=<the page>``. A call the access
check refuses is a 403 page saying so; any other failed call is answered with the status the
REST API would give it and its sentence. The domain's own words are shown (escaped), never a
traceback.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlencode

import grpc
from aiohttp import web

from ..auth.sessions import cookie_from_header
from ..errors import OnCallError, PermissionDenied, Unauthenticated
from ..http.errors import RETRY_AFTER_S, status_of
from ..http.login import LOGIN_PATH, safe_next
from ..http.requests import CONTEXT
from ..rest.status import INTERNAL_DETAIL, http_status
from ..store.database import UNREACHABLE, unavailable
from . import render
from .calls import Caller, RpcFailure

Page = Callable[[web.Request, Caller], Awaitable[web.StreamResponse]]


def csrf_token(request: web.Request) -> str:
    """The session's CSRF token for the forms of a page; empty for a caller without a session."""
    access = request.app[CONTEXT].access
    if access is None or access.sessions is None:
        return ""
    session_id = access.sessions.store.signer.session_id(cookie_from_header(request.headers.get("Cookie")) or "")
    return access.sessions.store.signer.csrf_token(session_id) if session_id else ""


def redirect(location: str) -> web.Response:
    return web.Response(status=303, headers={"Location": location, "Cache-Control": "no-store"})


def to_login(request: web.Request) -> web.Response:
    # after signing in, a GET comes back to itself; a form's POST to the page it was on
    here = request.path_qs if request.method == "GET" else (request.path.rsplit("/", 1)[0] or "/")
    return redirect(f"{LOGIN_PATH}?{urlencode({'next': safe_next(here)})}")


def show(request: web.Request, caller: Caller, template: str, status: int = 200, **values: Any) -> web.Response:
    """``template`` with what the layout needs: the caller, the CSRF token, the current path."""
    return render.page(template, status, me=caller.principal, csrf=csrf_token(request), path=request.path,
                       **values)


def failure_page(request: web.Request, caller: Caller, failure: RpcFailure) -> web.Response:
    """The page for a call that failed: its HTTP status and the domain's sentence."""
    status, _ = http_status(failure.code)
    detail = INTERNAL_DETAIL if status >= 500 and status != 503 else failure.details
    if failure.code == grpc.StatusCode.PERMISSION_DENIED:
        title = "Not allowed"
    elif failure.code == grpc.StatusCode.NOT_FOUND:
        title = "Not found"
    elif status >= 500:
        title = "Something went wrong"
    else:
        title = "That did not work"
    return show(request, caller, "error.html", status, title=title, detail=detail)


#: the paths of the pages (their refusals are pages too, not JSON)
PAGE_PATHS = ("/incidents", "/schedules", "/integrations")


def is_page(request: web.Request) -> bool:
    return request.path == "/" or any(request.path == p or request.path.startswith(p + "/") for p in PAGE_PATHS)


@web.middleware
async def page_errors(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
) -> web.StreamResponse:
    """A page's failure outside its calls is answered with a page, not the API's JSON: a POST the
    CSRF guard refuses (a form from before the last sign-in, another site's form; it ran
    nothing), a database that cannot be reached (503, Retry-After), any other domain refusal."""
    try:
        return await handler(request)
    except OnCallError as exc:
        if not is_page(request):
            raise
        return _refusal(request, exc)
    except UNREACHABLE as exc:
        if not is_page(request):
            raise
        return _refusal(request, unavailable(exc))


def _refusal(request: web.Request, exc: OnCallError) -> web.Response:
    status, _ = status_of(exc)
    if isinstance(exc, PermissionDenied):
        title, detail = "Not sent", f"This form could not be sent: {exc.detail}. Reload the page and try again."
    elif status == 503:
        title, detail = "Unavailable", f"{exc.detail[:1].upper()}{exc.detail[1:]}."
    else:
        title, detail = "That did not work", exc.detail
    response = render.page("error.html", status, me=None, csrf="", path=request.path, title=title, detail=detail)
    if status == 503:
        response.headers["Retry-After"] = str(RETRY_AFTER_S)
    return response


def signed_in(handler: Page) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """A page handler for a known caller: others go to /login; a failed call becomes its error page."""

    async def handle(request: web.Request) -> web.StreamResponse:
        try:
            caller = await Caller.of(request)
        except Unauthenticated:  # a credential refused outright (an expired key): sign in instead
            caller = None
        if caller is None:
            return to_login(request)
        try:
            return await handler(request, caller)
        except RpcFailure as failure:
            if failure.code == grpc.StatusCode.UNAUTHENTICATED:
                return to_login(request)
            return failure_page(request, caller, failure)

    return handle
