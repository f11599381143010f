"""The one place a gRPC call's failures become status codes, for every method of every kind.

Every request is decoded and checked (``validate``) before its servicer sees it: one that
does not parse, or holds what no servicer may be given, is INVALID_ARGUMENT naming the field.
A domain error becomes the status ``STATUS`` gives its class (or its nearest listed ancestor). A database that cannot be reached (a broken
connection, or none free in time) is UNAVAILABLE "the database is unreachable; retry later" (what HTTP's 503 says), which a client may
retry. Anything else is a bug: the client gets INTERNAL "internal error", and the log gets
the method and the traceback, never the exception's text, which may carry what a caller
sent or a secret.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable
from typing import Any

import grpc

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
from .validate import check_request, undecodable

log = logging.getLogger(__name__)

#: domain error → the status a gRPC client gets; a class not listed takes its nearest listed ancestor's
STATUS: dict[type[OnCallError], grpc.StatusCode] = {
    OnCallError: grpc.StatusCode.UNKNOWN,
    InvalidArgument: grpc.StatusCode.INVALID_ARGUMENT,
    NotFound: grpc.StatusCode.NOT_FOUND,
    AlreadyExists: grpc.StatusCode.ALREADY_EXISTS,
    FailedPrecondition: grpc.StatusCode.FAILED_PRECONDITION,
    Aborted: grpc.StatusCode.ABORTED,
    Unauthenticated: grpc.StatusCode.UNAUTHENTICATED,
    PermissionDenied: grpc.StatusCode.PERMISSION_DENIED,
    PayloadTooLarge: grpc.StatusCode.RESOURCE_EXHAUSTED,
    Unavailable: grpc.StatusCode.UNAVAILABLE,
}


def status_of(exc: OnCallError) -> grpc.StatusCode:
    """The gRPC status for a domain error (``STATUS``, by the error's class and its ancestors)."""
    for kind in type(exc).__mro__:
        if kind in STATUS:
            return STATUS[kind]
    return grpc.StatusCode.UNKNOWN  # unreachable: OnCallError is listed


class _Undecodable:
    """What a request that does not parse decodes to, so its handler can answer INVALID_ARGUMENT."""

    __slots__ = ("detail",)

    def __init__(self, detail: str) -> None:
        self.detail = detail


def _decoder(deserialize: Callable[[bytes], Any] | None) -> Callable[[bytes], Any] | None:
    """``deserialize``, answering a request it cannot parse with an ``_Undecodable`` instead of raising.

    gRPC would turn the parser's exception into UNKNOWN with the parser's words.
    """
    if deserialize is None:
        return None
    descriptor = getattr(getattr(deserialize, "__self__", None), "DESCRIPTOR", None)

    def decode(data: bytes) -> Any:
        try:
            return deserialize(data)
        except Exception:  # noqa: BLE001 - whatever the parser refuses is the caller's bytes
            if descriptor is None:
                return _Undecodable("the request is not a valid message")
            return _Undecodable(undecodable(descriptor, data))

    return decode


def _check(request: Any) -> None:
    if isinstance(request, _Undecodable):
        raise InvalidArgument(request.detail)
    check_request(request)


async def _checked(requests: AsyncIterable[Any]) -> AsyncIterator[Any]:
    """A client stream's requests, each checked as it arrives."""
    async for request in requests:
        _check(request)
        yield request


@contextlib.asynccontextmanager
async def answering(
    method: str, context: grpc.aio.ServicerContext, wait: float | None,
) -> AsyncIterator[None]:
    """Turn what the body raises into the status the client gets (see the module's docstring).

    ``wait``: how long the call may wait for a database connection (as an HTTP request does),
    so that a call answers UNAVAILABLE at once when the database is down.
    """
    try:
        with acquire_timeout(wait) if wait is not None else contextlib.nullcontext():
            yield
    except grpc.aio.AbortError:
        raise  # the servicer chose its status with context.abort
    except OnCallError as exc:
        await context.abort(status_of(exc), exc.detail)
    except NotImplementedError:  # how a generated servicer base class answers a method it lacks
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, f"{method} is not implemented by this server")
    except UNREACHABLE as exc:
        # the same answer (and the same rate-limited log line) as HTTP's 503
        await context.abort(grpc.StatusCode.UNAVAILABLE, unavailable(exc).detail)
    except Exception as exc:  # noqa: BLE001 - a bug; the client must not see its text
        log.error("gRPC %s failed: internal error\n%s", method, trace_without_messages(exc))
        await context.abort(grpc.StatusCode.INTERNAL, "internal error")


async def _respond(result: Any) -> Any:
    return await result if inspect.isawaitable(result) else result


def _unary_response(
    behavior: Callable[..., Any], method: str, streaming_requests: bool, wait: float | None,
) -> Callable[..., Any]:
    async def handle(request: Any, context: grpc.aio.ServicerContext) -> Any:
        async with answering(method, context, wait):
            if streaming_requests:
                return await _respond(behavior(_checked(request), context))
            _check(request)
            return await _respond(behavior(request, context))

    return handle


def _stream_response(
    behavior: Callable[..., Any], method: str, streaming_requests: bool, wait: float | None,
) -> Callable[..., Any]:
    if inspect.iscoroutinefunction(behavior):
        # A servicer that answers with context.write (grpc_health's Watch does).
        async def write(request: Any, context: grpc.aio.ServicerContext) -> None:
            async with answering(method, context, wait):
                if streaming_requests:
                    request = _checked(request)
                else:
                    _check(request)
                await behavior(request, context)

        return write

    async def stream(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
        async with answering(method, context, wait):
            if streaming_requests:
                request = _checked(request)
            else:
                _check(request)
            responses = behavior(request, context)
            if hasattr(responses, "__aiter__"):
                # closed in this task when the stream ends early: left to the garbage collector,
                # the servicer's generator would end in another task and context
                async with contextlib.aclosing(responses):
                    async for response in responses:
                        yield response
            else:
                for response in responses:
                    yield response

    return stream


# grpc ships no type information, so its base class is Any to mypy
class ErrorMappingInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    """Checks every request and maps every failure of every method, of all four kinds, to its status.

    ``acquire_timeout_s``: how long a call may wait for a database connection
    (``ONCALL_DB_ACQUIRE_TIMEOUT_S``); None leaves the pool's own timeout.
    """

    def __init__(self, acquire_timeout_s: float | None = None) -> None:
        self._wait = acquire_timeout_s

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        if handler is None:
            return handler
        method: str = handler_call_details.method
        codec: dict[str, Any] = {
            "request_deserializer": _decoder(handler.request_deserializer),
            "response_serializer": handler.response_serializer,
        }
        if handler.unary_unary is not None:
            return grpc.unary_unary_rpc_method_handler(
                _unary_response(handler.unary_unary, method, streaming_requests=False, wait=self._wait), **codec
            )
        if handler.unary_stream is not None:
            return grpc.unary_stream_rpc_method_handler(
                _stream_response(handler.unary_stream, method, streaming_requests=False, wait=self._wait), **codec
            )
        if handler.stream_unary is not None:
            return grpc.stream_unary_rpc_method_handler(
                _unary_response(handler.stream_unary, method, streaming_requests=True, wait=self._wait), **codec
            )
        if handler.stream_stream is not None:
            return grpc.stream_stream_rpc_method_handler(
                _stream_response(handler.stream_stream, method, streaming_requests=True, wait=self._wait), **codec
            )
        return handler
