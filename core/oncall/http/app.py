"""The HTTP server: health, readiness, the webhook endpoints of every source plugin, the login routes, the
REST API and the web UI."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from aiohttp import web
from oncall_hookspecs import IngestResult, WebhookResponse

from .. import ui
from ..alerting.ingest import InvalidEvent
from ..context import Context
from ..errors import NotFound, PermissionDenied, Unauthenticated
from ..rest import transcoder as rest
from ..store.database import unavailable
from ..store.migrate import pending_migrations
from . import access, calendar, channels, heartbeat, login, sessions
from .connections import connection_middleware
from .csrf import csrf_middleware
from .errors import RETRY_AFTER_S, error_response, errors_middleware
from .requests import CONTEXT, credential, inbound_request, json_response, read_body, request_key

log = logging.getLogger(__name__)


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
    limit = ctx.settings.body_limit(source.name, source_body_limit(source))
    body = await read_body(request, limit, ctx.settings)
    inbound = inbound_request(request, body)

    key = request_key(request)
    if not key:
        key_from = getattr(source, "key_from", None)
        if key_from is not None:
            key = credential(key_from(inbound))
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
        prepared = ctx.ingestor.prepare(events, integration)
    except (InvalidEvent, ValueError) as exc:
        log.error("source %s produced an invalid event: %s", source.name, exc)
        return error_response(500, "source_plugin_error", f"the {source.name} source failed: {exc}")
    results = await ctx.ingestor.submit(integration.id, prepared)

    respond = getattr(source, "respond", None)
    out = respond(inbound, results) if respond is not None else _default_response(results)
    if out.body is None:
        return web.Response(status=out.status, headers=out.headers)
    return json_response(out.body, status=out.status, headers=out.headers)


def source_body_limit(source: object) -> int | None:
    """The body limit a source declares (``Source.max_body_bytes``), None if it declares none usable."""
    declared = getattr(source, "max_body_bytes", None)
    if isinstance(declared, int) and not isinstance(declared, bool) and declared > 0:
        return declared
    return None


async def webhook(request: web.Request) -> web.StreamResponse:
    return await handle_webhook(request, request.match_info["source"])


async def healthz(request: web.Request) -> web.Response:
    return json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    try:
        async with asyncio.timeout(ctx.settings.db_acquire_timeout_s + 1):
            async with ctx.pool.connection(timeout=ctx.settings.db_acquire_timeout_s) as conn:
                pending = await pending_migrations(conn)
    except Exception as exc:  # noqa: BLE001 - not ready, whatever the reason
        unavailable(exc)  # logged there, with what the probe shouldn't show
        return json_response({"status": "unavailable", "detail": "the database is unreachable"}, status=503,
                             headers={"Retry-After": str(RETRY_AFTER_S)})
    if pending:
        return json_response({"status": "unavailable", "detail": f"migrations pending: {pending}"}, status=503)
    return json_response({"status": "ok"})


def _source_route(source_name: str) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def handler(request: web.Request) -> web.StreamResponse:
        return await handle_webhook(request, source_name)

    return handler


def build_app(ctx: Context) -> web.Application:
    # aiohttp's own limit sits above ours so that our check (with its JSON error) runs first
    limits = [ctx.settings.body_limit(None)] + [
        ctx.settings.body_limit(name, source_body_limit(source)) for name, source in ctx.registry.sources.items()
    ]
    for name in ctx.settings.body_limits:
        if name not in ctx.registry.sources:
            log.warning("ONCALL_SOURCE_MAX_BODY_BYTES names %r, which is no installed source", name)
    app = web.Application(
        middlewares=[connection_middleware, in_flight_middleware, errors_middleware, ui.page_errors,
                     csrf_middleware],
        client_max_size=max(limits) + 1,
    )
    app[CONTEXT] = ctx
    app[IN_FLIGHT] = InFlight()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_post("/api/v1/webhooks/{source}", webhook)
    heartbeat.add_routes(app)
    access.add_routes(app)
    if ctx.access is not None and ctx.access.sessions is not None:
        sessions.add_routes(app)
        login.add_routes(app, ctx)
    calendar.add_routes(app)
    channels.add_routes(app, ctx)
    rest.add_routes(app, ctx)  # the REST/JSON API of every gRPC service (oncall.rest)
    ui.add_routes(app, ctx)  # the web UI's pages (oncall.ui)
    for path, source_name in sorted(ctx.registry.source_paths.items()):
        app.router.add_post(path, _source_route(source_name))
    return app
