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
from ..config import Settings
from ..context import Context
from ..errors import (
    InvalidArgument,
    NotFound,
    OnCallError,
    PayloadTooLarge,
    PermissionDenied,
    Unauthenticated,
)
from ..store.database import UNREACHABLE, acquire_timeout, unavailable
from ..store.migrate import pending_migrations
from . import calendar, channels, heartbeat
from .connections import Connection, connection_middleware

log = logging.getLogger(__name__)

CONTEXT = web.AppKey("context", Context)
_JSON = "application/json"


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(body=orjson.dumps(body), status=status, content_type=_JSON, headers=headers)


def error_response(status: int, error: str, detail: str, headers: dict[str, str] | None = None) -> web.Response:
    return json_response({"error": error, "detail": detail}, status=status, headers=headers)


#: what a 503 asks a sender to wait before trying again, in seconds
RETRY_AFTER_S = 5


class RequestTimeout(OnCallError):
    """The body stopped arriving (or came slower than ONCALL_HTTP_BODY_MIN_RATE)."""

    code = "request_timeout"
    http_status = 408


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
    """One error shape for every failure: ``{"error": code, "detail": sentence}``.

    A database that can't be reached is 503 with ``Retry-After``, whichever code met it.
    """
    try:
        _check_path(request)
        # every connection a request takes from the pool waits briefly: when the database
        # is down, the sender hears 503 in about a second, not after the pool's 30 s
        with acquire_timeout(request.app[CONTEXT].settings.db_acquire_timeout_s):
            return await handler(request)
    except OnCallError as exc:
        return _domain_error(request, exc)
    except UNREACHABLE as exc:
        return _domain_error(request, unavailable(exc))
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


def _domain_error(request: web.Request, exc: OnCallError) -> web.Response:
    headers = {"Retry-After": str(RETRY_AFTER_S)} if exc.http_status == 503 else None
    resp = error_response(exc.http_status, exc.code, exc.detail, headers)
    if exc.http_status == 408:
        # what is left of the body is not coming, or not worth waiting for
        resp.force_close()
        if isinstance(request.protocol, Connection):
            request.protocol.close_after_answer()
    return resp


def _check_path(request: web.Request) -> None:
    """Ids in the path are text the database can hold: no NUL (``%00``) in any of them."""
    for name, value in request.match_info.items():
        if "\x00" in value:
            raise InvalidArgument(f"the {name} in the path contains a NUL character (%00)")


# Keys and tokens are URL-safe base64; anything longer or with other characters can't be one.
_MAX_CREDENTIAL = 512


def credential(value: str | None, what: str = "integration key") -> str | None:
    """``value`` if it could be a key or token, None if absent; Unauthenticated if it can't be one
    (control characters, bytes that aren't ASCII, a length no key has): such a value never
    reaches a hash or a query, and is never echoed."""
    if not value:
        return None
    if len(value) > _MAX_CREDENTIAL or not (value.isascii() and value.isprintable()):
        raise Unauthenticated(f"the {what} is not valid")
    return value


def request_key(request: web.Request) -> str | None:
    """An integration key from ``Authorization: Bearer KEY`` or ``?token=KEY``."""
    auth = request.headers.get("Authorization", "")
    scheme, _, value = auth.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return credential(value.strip())
    return credential(request.query.get("token"))


async def read_body(request: web.Request, limit: int, settings: Settings) -> bytes:
    """The body, at most ``limit`` bytes (after any Content-Encoding is undone).

    PayloadTooLarge (413) past the limit, known from Content-Length before a byte is read;
    RequestTimeout (408) when the body pauses for ONCALL_HTTP_BODY_TIMEOUT_S or arrives more
    slowly on average than ONCALL_HTTP_BODY_MIN_RATE bytes/s once that much time has passed.
    A 16 MiB body at 1 Mbit/s takes about 130 s and is read; a client trickling a byte a
    second is cut off after about 30 s.
    """
    if request.content_length is not None and request.content_length > limit:
        raise PayloadTooLarge(f"the body is {request.content_length} bytes; the limit is {limit}")
    content = request.content
    loop = asyncio.get_running_loop()
    started = loop.time()
    stall, rate = settings.http_body_timeout_s, settings.http_body_min_rate
    chunks: list[bytes] = []
    size = 0
    while True:
        wait = stall
        if rate:
            wait = min(wait, started + stall + size / rate - loop.time())
        try:
            if wait <= 0:
                raise TimeoutError
            async with asyncio.timeout(wait):
                chunk = await content.readany()
        except TimeoutError:
            raise RequestTimeout(
                f"the body stopped arriving ({size} bytes in {loop.time() - started:.0f} s): it may pause for at most"
                f" {stall:g} s and must average {rate} bytes/s"
            ) from None
        except web.RequestPayloadError as exc:
            # a broken chunked framing, a Content-Encoding that doesn't decode
            raise InvalidArgument(f"the body could not be read: {str(exc).split(':', 1)[0].strip()}") from None
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > limit:  # a chunked (or compressed) body has no Content-Length to check up front
            raise PayloadTooLarge(f"the body exceeds the limit of {limit} bytes")
        chunks.append(chunk)


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
        middlewares=[connection_middleware, in_flight_middleware, errors_middleware],
        client_max_size=max(limits) + 1,
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
