"""What every HTTP handler shares: the context key, credentials, the body under its limit, JSON answers."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from aiohttp import web
from oncall_hookspecs import InboundRequest

from ..auth.access import bearer
from ..config import Settings
from ..context import Context
from ..errors import InvalidArgument, OnCallError, PayloadTooLarge, Unauthenticated

CONTEXT = web.AppKey("context", Context)
_JSON = "application/json"


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(body=orjson.dumps(body), status=status, content_type=_JSON, headers=headers)


class RequestTimeout(OnCallError):
    """The body stopped arriving (or came slower than ONCALL_HTTP_BODY_MIN_RATE)."""


class UnsupportedMediaType(OnCallError):
    """The body is not of a type the route reads (the REST API reads JSON only)."""


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
    token = bearer(request.headers.get("Authorization"))
    return credential(token if token is not None else request.query.get("token"))


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
