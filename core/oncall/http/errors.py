"""The one place an HTTP request's failures become statuses and the ``{"error", "detail"}`` body.

A domain error becomes the status and error name ``STATUS`` gives its class (or its nearest
listed ancestor). A database that can't be reached is 503 with ``Retry-After``, whichever
code met it. Anything else is a bug: 500 with a fixed sentence, the traceback in the log.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web
from oncall_hookspecs import BadRequest

from ..errors import (
    Aborted,
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    OnCallError,
    PayloadTooLarge,
    PermissionDenied,
    Unauthenticated,
    Unavailable,
)
from ..logs import trace_without_messages
from ..store.database import UNREACHABLE, acquire_timeout, unavailable
from .connections import Connection
from .requests import CONTEXT, RequestTimeout, UnsupportedMediaType, json_response

log = logging.getLogger(__name__)

#: what a 503 asks a sender to wait before trying again, in seconds
RETRY_AFTER_S = 5

#: domain error → (HTTP status, the body's ``error``); a class not listed takes its nearest listed ancestor's
STATUS: dict[type[OnCallError], tuple[int, str]] = {
    OnCallError: (400, "error"),
    InvalidArgument: (400, "invalid_argument"),
    NotFound: (404, "not_found"),
    AlreadyExists: (409, "already_exists"),
    FailedPrecondition: (409, "failed_precondition"),
    Aborted: (409, "aborted"),
    Unauthenticated: (401, "unauthorized"),
    PermissionDenied: (403, "forbidden"),
    PayloadTooLarge: (413, "payload_too_large"),
    Unavailable: (503, "unavailable"),
    RequestTimeout: (408, "request_timeout"),
    UnsupportedMediaType: (415, "unsupported_media_type"),
}


def status_of(exc: OnCallError) -> tuple[int, str]:
    """The HTTP status and error name for a domain error (``STATUS``, by class and ancestors)."""
    for kind in type(exc).__mro__:
        if kind in STATUS:
            return STATUS[kind]
    return STATUS[OnCallError]  # unreachable: OnCallError is listed


def error_response(status: int, error: str, detail: str, headers: dict[str, str] | None = None) -> web.Response:
    return json_response({"error": error, "detail": detail}, status=status, headers=headers)


@web.middleware
async def errors_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """One error shape for every failure: ``{"error": code, "detail": sentence}``."""
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
    except web.HTTPRequestEntityTooLarge:
        # aiohttp keeps the limit only in its own text; the sentence is ours
        return error_response(413, "payload_too_large", "the body is larger than this endpoint accepts")
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = exc.reason.lower().replace(" ", "_")
        return error_response(exc.status, code, exc.text or exc.reason)
    except Exception as exc:  # noqa: BLE001 - the door's last word: a 500, logged without the exception's text
        # the route's pattern, not the path: a path can carry a token (``/a/{token}``, ``?token=``)
        resource = request.match_info.route.resource
        route = resource.canonical if resource is not None else "(no route)"
        log.error("unhandled error on %s %s\n%s", request.method, route, trace_without_messages(exc))
        return error_response(500, "internal", "the server failed; the failure is logged")


def _domain_error(request: web.Request, exc: OnCallError) -> web.Response:
    status, error = status_of(exc)
    headers = {"Retry-After": str(RETRY_AFTER_S)} if status == 503 else None
    resp = error_response(status, error, exc.detail, headers)
    if status == 408:
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
