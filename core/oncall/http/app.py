"""The HTTP server: health, readiness, and the webhook endpoints of every source plugin."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from aiohttp import web
from oncall_hookspecs import BadRequest, InboundRequest, IngestResult, WebhookResponse

from ..alerting.ingest import InvalidEvent
from ..context import Context
from ..errors import NotFound, OnCallError, PayloadTooLarge, PermissionDenied, Unauthenticated
from ..store.migrate import pending_migrations
from . import calendar, channels, heartbeat

log = logging.getLogger(__name__)

CONTEXT = web.AppKey("context", Context)
_JSON = "application/json"


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(body=orjson.dumps(body), status=status, content_type=_JSON, headers=headers)


def error_response(status: int, error: str, detail: str) -> web.Response:
    return json_response({"error": error, "detail": detail}, status=status)


class InFlight:
    """Counts requests being handled, so shutdown can wait for them before closing sockets."""

    def __init__(self) -> None:
        self.count = 0
        self._idle = asyncio.Event()
        self._idle.set()

    def enter(self) -> None:
        self.count += 1
        self._idle.clear()

    def leave(self) -> None:
        self.count -= 1
        if self.count == 0:
            self._idle.set()

    async def wait_idle(self, timeout: float) -> bool:
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
            return True
        except TimeoutError:
            return False


IN_FLIGHT = web.AppKey("in_flight", InFlight)


@web.middleware
async def in_flight_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    tracker = request.app[IN_FLIGHT]
    tracker.enter()
    try:
        return await handler(request)
    finally:
        tracker.leave()


@web.middleware
async def errors_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """One error shape for every failure: ``{"error": code, "detail": sentence}``."""
    try:
        return await handler(request)
    except OnCallError as exc:
        return error_response(exc.http_status, exc.code, exc.detail)
    except BadRequest as exc:
        return error_response(exc.status, exc.error, exc.detail)
    except web.HTTPRequestEntityTooLarge as exc:
        return error_response(413, "payload_too_large", f"the body exceeds the limit of {exc.max_size} bytes")
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = exc.reason.lower().replace(" ", "_")
        return error_response(exc.status, code, exc.text or exc.reason)
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(500, "internal", "the server failed; the failure is logged")


def request_key(request: web.Request) -> str | None:
    """An integration key from ``Authorization: Bearer KEY`` or ``?token=KEY``."""
    auth = request.headers.get("Authorization", "")
    scheme, _, value = auth.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return request.query.get("token") or None


async def _read_body(request: web.Request, limit: int) -> bytes:
    if request.content_length is not None and request.content_length > limit:
        raise PayloadTooLarge(f"the body is {request.content_length} bytes; the limit is {limit}")
    try:
        body = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise PayloadTooLarge(f"the body exceeds the limit of {limit} bytes") from None
    if len(body) > limit:  # a chunked body has no Content-Length to check up front
        raise PayloadTooLarge(f"the body exceeds the limit of {limit} bytes")
    return body


def inbound_request(request: web.Request, body: bytes, url: str = "") -> InboundRequest:
    """The request as a plugin sees it: its body already read under the size limit."""
    return InboundRequest(
        method=request.method,
        path=request.path,
        query={k: request.query.getone(k) for k in request.query.keys()},
        query_all={k: request.query.getall(k) for k in request.query.keys()},
        headers=request.headers,
        body=body,
        content_type=request.headers.get("Content-Type", ""),
        url=url,
    )


def _default_response(results: list[IngestResult]) -> WebhookResponse:
    return WebhookResponse(
        status=200,
        body={
            "status": "ok",
            "alerts": [
                {"id": r.alert_id, "dedup_key": r.dedup_key, "outcome": r.outcome.value} for r in results
            ],
        },
    )


async def handle_webhook(request: web.Request, source_name: str) -> web.StreamResponse:
    ctx = request.app[CONTEXT]
    source = ctx.registry.sources.get(source_name)
    if source is None:
        raise NotFound(f"no source named {source_name!r} is installed")
    body = await _read_body(request, ctx.settings.max_body_bytes)
    inbound = inbound_request(request, body)

    key = request_key(request)
    if not key:
        key_from = getattr(source, "key_from", None)
        if key_from is not None:
            key = key_from(inbound)
    if not key:
        raise Unauthenticated(
            "an integration key is required: send 'Authorization: Bearer KEY' or '?token=KEY'"
        )
    integration = await ctx.keys.lookup(key)
    if integration is None:
        raise Unauthenticated("the integration key is not valid")
    if integration.source != source.name:
        raise PermissionDenied(
            f"this key belongs to a {integration.source!r} integration, not {source.name!r}"
        )
    if not integration.enabled:
        raise PermissionDenied(f"integration {integration.name!r} is disabled")

    events = source.parse(inbound)
    try:
        prepared = ctx.ingestor.prepare(events)
    except (InvalidEvent, ValueError) as exc:
        log.error("source %s produced an invalid event: %s", source.name, exc)
        return error_response(500, "source_plugin_error", f"the {source.name} source failed: {exc}")
    results = await ctx.ingestor.submit(integration.id, prepared)

    respond = getattr(source, "respond", None)
    out = respond(inbound, results) if respond is not None else _default_response(results)
    if out.body is None:
        return web.Response(status=out.status, headers=out.headers)
    return json_response(out.body, status=out.status, headers=out.headers)


async def webhook(request: web.Request) -> web.StreamResponse:
    return await handle_webhook(request, request.match_info["source"])


async def healthz(request: web.Request) -> web.Response:
    return json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    try:
        async with ctx.pool.connection(timeout=2) as conn:
            pending = await pending_migrations(conn)
    except Exception as exc:  # noqa: BLE001 - not ready, whatever the reason
        return json_response({"status": "unavailable", "detail": f"database unreachable: {exc}"}, status=503)
    if pending:
        return json_response({"status": "unavailable", "detail": f"migrations pending: {pending}"}, status=503)
    return json_response({"status": "ok"})


def _source_route(source_name: str) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def handler(request: web.Request) -> web.StreamResponse:
        return await handle_webhook(request, source_name)

    return handler


def build_app(ctx: Context) -> web.Application:
    # aiohttp's own limit sits above ours so that our check (with its JSON error) runs first
    app = web.Application(
        middlewares=[in_flight_middleware, errors_middleware], client_max_size=ctx.settings.max_body_bytes + 1
    )
    app[CONTEXT] = ctx
    app[IN_FLIGHT] = InFlight()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_post("/api/v1/webhooks/{source}", webhook)
    heartbeat.add_routes(app)
    calendar.add_routes(app)
    channels.add_routes(app, ctx)
    for path, source_name in sorted(ctx.registry.source_paths.items()):
        app.router.add_post(path, _source_route(source_name))
    return app
