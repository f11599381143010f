"""The REST/JSON API on the aiohttp app: one handler per route, calling the servicers in process.

``add_routes`` reads the routes from the served services' descriptors (``rest.routes``),
mounts each on the app, and serves the OpenAPI document and its reference page. A unary
route answers the response as JSON (``rest.jsonmap``); a server stream answers Server-Sent
Events (``rest.sse``). A call that fails answers the HTTP status ``rest.status`` gives its
gRPC status, with ``{"error", "detail"}``; a bad request (unknown field, malformed JSON, a
value of the wrong type) is 400 before any servicer runs, so nothing is written.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Any

from aiohttp import web

from ..context import Context
from ..http.errors import RETRY_AFTER_S, error_response
from ..http.access import auth_request, require_principal
from ..http.requests import CONTEXT, UnsupportedMediaType, json_response, read_body
from . import docs, openapi, sse
from .invoke import Invoker, RpcFailure
from .jsonmap import metadata_of, request_message, response_json
from .routes import Route, routes_of
from .status import INTERNAL_DETAIL, http_status

log = logging.getLogger(__name__)

OPENAPI_PATH = "/api/v1/openapi.json"
DOCS_PATH = "/api/docs"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def peer_of(request: web.Request) -> str:
    """The caller's address as gRPC writes a peer: ``ipv4:127.0.0.1:5000``, ``ipv6:[::1]:5000``."""
    transport = request.transport
    peername = transport.get_extra_info("peername") if transport is not None else None
    if not peername:
        return "unknown"
    host, port = peername[0], peername[1]
    return f"ipv6:[{host}]:{port}" if ":" in host else f"ipv4:{host}:{port}"


def failure_response(route: Route, failure: RpcFailure) -> web.Response:
    """The REST answer to a call that ended with ``failure`` (``rest.status``'s table)."""
    status, error = http_status(failure.code)
    if status >= 500 and status != 503:
        # the gRPC door has logged the traceback under the method; this line gives the route
        log.error("REST %s %s (%s) failed: %s", route.verb, route.path, route.full_method, failure.code.name)
        return error_response(status, error, INTERNAL_DETAIL)
    headers = {"Retry-After": str(RETRY_AFTER_S)} if status == 503 else None
    return error_response(status, error, failure.details, headers)


def _json_type(content_type: str) -> bool:
    return content_type == "application/json" or (content_type.startswith("application/")
                                                   and content_type.endswith("+json"))


async def read_request(request: web.Request, route: Route) -> Any:
    """The route's request message from the HTTP request (400 naming what is wrong).

    A body must be JSON and say so (``Content-Type: application/json``, else 415): a
    cross-site form can send ``text/plain`` or a form encoding without asking first, never
    JSON, so a browser credential (a proxy's cookie) can't be made to post on its own.
    """
    ctx = request.app[CONTEXT]
    if route.body and request.can_read_body and not _json_type(request.content_type):
        raise UnsupportedMediaType(
            f"the body must be JSON, sent with Content-Type: application/json (not {request.content_type[:80]!r})")
    body = await read_body(request, ctx.settings.body_limit(None), ctx.settings)
    path_values = {name: request.match_info[name] for name in route.path_fields}
    return request_message(route, path_values, request.query, body)


def _unary(invoker: Invoker, route: Route) -> Handler:
    async def handle(request: web.Request) -> web.StreamResponse:
        principal = await require_principal(request)  # before the body: no credentials, nothing parsed
        message = await read_request(request, route)
        metadata = metadata_of(request.headers)
        try:
            response = await invoker.invoke(route.full_method, message, metadata, peer_of(request),
                                            auth=auth_request(request), principal=principal)
        except RpcFailure as failure:
            return failure_response(route, failure)
        return json_response(response_json(response))

    return handle


#: the event streams being answered (``close_streams`` ends them at shutdown)
STREAMS = web.AppKey("rest_streams", sse.OpenStreams)


def close_streams(app: web.Application) -> None:
    """End every open event stream now, as shutdown begins; new ones are refused (503)."""
    streams = app.get(STREAMS)
    if streams is not None:
        streams.close()


def _stream(invoker: Invoker, route: Route, heartbeat_s: float) -> Handler:
    async def handle(request: web.Request) -> web.StreamResponse:
        principal = await require_principal(request)  # before the body: no credentials, nothing parsed
        message = await read_request(request, route)
        sse.resume_from(request, route, message)
        metadata = metadata_of(request.headers)
        peer = peer_of(request)
        auth = auth_request(request)

        def open_stream(on_headers: Callable[[], Awaitable[None]]) -> AsyncGenerator[Any, None]:
            return invoker.invoke_stream(route.full_method, message, metadata, peer, on_headers=on_headers,
                                         auth=auth, principal=principal)

        return await sse.serve(request, route, open_stream, heartbeat_s, failure_response, request.app[STREAMS])

    return handle


def add_routes(app: web.Application, ctx: Context, heartbeat_s: float | None = None) -> list[Route]:
    """Mount every route of every service this process serves; return them.

    ``heartbeat_s``: how often an idle event stream gets a comment, so proxies keep it open
    (default ``sse.HEARTBEAT_S``, read when the app is built).
    """
    if heartbeat_s is None:
        heartbeat_s = sse.HEARTBEAT_S
    invoker = Invoker(ctx)
    app[STREAMS] = sse.OpenStreams()
    routes = routes_of(invoker.services)
    for route in routes:
        handler = _stream(invoker, route, heartbeat_s) if route.streaming else _unary(invoker, route)
        app.router.add_route(route.verb, route.path, handler, name=route.full_method.strip("/").replace("/", "."))
    document = openapi.document(routes)
    page = docs.render(document)

    async def openapi_json(request: web.Request) -> web.Response:
        return json_response(document)

    async def reference(request: web.Request) -> web.Response:
        return web.Response(text=page, content_type="text/html", charset="utf-8",
                            headers={"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'"})

    app.router.add_get(OPENAPI_PATH, openapi_json)
    app.router.add_get(DOCS_PATH, reference)
    return routes
