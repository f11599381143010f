"""The one door from REST into the servicers: ``invoke`` and ``invoke_stream``, in process.

Every REST call reaches its servicer through here, by the method's full gRPC name, with the
HTTP request's credentials as invocation metadata, through the same server interceptors a
gRPC call goes through (``oncall.rpc.server.interceptors``), in the same order. So what
gRPC checks for a method (request validation, the error mapping, and the access-control
check keyed by full method name) is checked for its REST route too, with nothing to keep
in step by hand.

ACCESS CONTROL SEAM: a permission interceptor added to ``rpc.server.interceptors`` applies
to REST as it is; it sees ``handler_call_details.method`` ("/oncall.alerting.v1.AlertService/
GetAlert") and ``handler_call_details.invocation_metadata`` (``authorization``, ``cookie``,
``x-csrf-token``, …, see ``FORWARDED_HEADERS`` in ``rest.jsonmap``) exactly as over gRPC, and
may call ``context.abort`` or raise a domain error (Unauthenticated, PermissionDenied). The
call context's ``transport`` is ``"http"`` here (a gRPC call's context has none: "grpc"),
for a check that differs by door (a browser session's CSRF token); unlike metadata, a
client can't set it. ``rpc.access.AccessInterceptor`` (API keys, roles, audit) is the lock
that runs here today; for a REST call it authenticates the HTTP request itself
(``RestCall.http_auth``: every header, the TCP peer), never the metadata, and takes the
principal the HTTP door found before it read the body (``RestCall.principal``).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import grpc
from oncall_hookspecs import AuthRequest, Principal

from ..context import Context

log = logging.getLogger(__name__)

Metadata = Sequence[tuple[str, str]]


class RpcFailure(Exception):
    """A call ended with a status other than OK: its code and its details (the client's sentence)."""

    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        super().__init__(details)
        self.code = code
        self.details = details


class _Abort(grpc.aio.AbortError):  # type: ignore[misc]  # grpc ships no types
    """What ``context.abort`` raises here; an AbortError so the error mapping lets it through."""

    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        super().__init__(details)
        self.code = code
        self.details = details


class RestCall:
    """The servicer context of one REST call: what a ``grpc.aio.ServicerContext`` offers that
    the servicers and interceptors use (abort, metadata, peer, initial metadata, codes)."""

    #: which door the call came through, for the access check (``AuthRequest.transport``)
    transport = "http"

    def __init__(
        self, metadata: Metadata, peer: str, on_headers: Callable[[], Awaitable[None]] | None = None,
        auth: AuthRequest | None = None, principal: Principal | None = None,
    ) -> None:
        self._metadata = tuple(metadata)
        self._peer = peer
        self._on_headers = on_headers
        #: the HTTP request as the authenticators see it (every header, the TCP peer): the
        #: access check reads this, never the metadata, so no header a client adds
        #: (``Grpc-Metadata-X-Forwarded-User``) can pass for one a trusted proxy set
        self.http_auth = auth
        #: who the HTTP door already found the caller to be (asked before the body was read)
        self.principal = principal
        self._code: grpc.StatusCode | None = None
        self._details = ""

    async def abort(self, code: grpc.StatusCode, details: str = "", trailing_metadata: Any = ()) -> None:
        self._code, self._details = code, details
        raise _Abort(code, details)

    def invocation_metadata(self) -> tuple[tuple[str, str], ...]:
        return self._metadata

    def peer(self) -> str:
        return self._peer

    def peer_identities(self) -> None:
        return None

    def auth_context(self) -> dict[str, list[bytes]]:
        return {}

    async def send_initial_metadata(self, initial_metadata: Any = ()) -> None:
        # a stream says "live from here" with its headers: for SSE, the response starts
        if self._on_headers is not None:
            await self._on_headers()

    def set_trailing_metadata(self, trailing_metadata: Any) -> None:
        pass

    def set_code(self, code: grpc.StatusCode) -> None:
        self._code = code

    def set_details(self, details: str) -> None:
        self._details = details

    def code(self) -> grpc.StatusCode | None:
        return self._code

    def details(self) -> str:
        return self._details

    def time_remaining(self) -> None:
        return None

    def cancelled(self) -> bool:
        return False

    def done(self) -> bool:
        return False

    def failure(self) -> RpcFailure | None:
        """The status a servicer set without raising (set_code), if not OK."""
        if self._code is None or self._code == grpc.StatusCode.OK:
            return None
        return RpcFailure(self._code, self._details)


@dataclass(frozen=True)
class _CallDetails:
    """What a server interceptor is told about a call (``grpc.HandlerCallDetails``)."""

    method: str
    invocation_metadata: tuple[tuple[str, str], ...]


class _Collector:
    """Stands in for a grpc.aio.Server while the services add themselves: keeps their handlers."""

    def __init__(self) -> None:
        self.handlers: dict[str, grpc.RpcMethodHandler] = {}
        self.services: list[str] = []

    def add_generic_rpc_handlers(self, generic_handlers: Sequence[Any]) -> None:
        # the generated code registers each service twice: here, and with its handlers by
        # name in add_registered_method_handlers, which is where they are taken from
        for generic in generic_handlers:
            self.services.append(generic.service_name())

    def add_registered_method_handlers(self, service_name: str, method_handlers: dict[str, Any]) -> None:
        for name, handler in method_handlers.items():
            self.handlers[f"/{service_name}/{name}"] = handler


class Invoker:
    """The servicers of this process, reached by full method name through the server's interceptors."""

    def __init__(self, ctx: Context) -> None:
        from ..rpc import server  # the servicers; imported here, as server.py does, so the CLI starts fast

        collector = _Collector()
        self.services: list[str] = server.add_servicers(collector, ctx)
        self._handlers = collector.handlers
        self._interceptors: list[Any] = server.interceptors(ctx)

    async def _handler(self, method: str, metadata: Metadata) -> grpc.RpcMethodHandler:
        details = _CallDetails(method, tuple(metadata))

        async def through(i: int, call: Any) -> Any:
            if i == len(self._interceptors):
                return self._handlers.get(call.method)
            return await self._interceptors[i].intercept_service(lambda d: through(i + 1, d), call)

        handler = await through(0, details)
        if handler is None:
            raise RpcFailure(grpc.StatusCode.UNIMPLEMENTED, f"{method} is not served by this server")
        return handler

    async def invoke(
        self, method: str, request: Any, metadata: Metadata, peer: str, *,
        auth: AuthRequest | None = None, principal: Principal | None = None,
    ) -> Any:
        """Call a unary method: its response, or RpcFailure with the status a gRPC client would get.

        The one function every unary REST call goes through (see the module's docstring).
        ``auth``: the HTTP request as authenticators see it (else one is made of ``metadata``);
        ``principal``: the caller, when the HTTP door has already authenticated it.
        """
        call = RestCall(metadata, peer, auth=auth, principal=principal)
        try:
            handler = await self._handler(method, call.invocation_metadata())
            if handler.unary_unary is None:
                raise RpcFailure(grpc.StatusCode.UNIMPLEMENTED, f"{method} is not a unary method")
            response = await handler.unary_unary(request, call)
        except _Abort as exc:
            raise RpcFailure(exc.code, exc.details) from None
        failure = call.failure()
        if failure is not None:
            raise failure
        return response

    async def invoke_stream(
        self, method: str, request: Any, metadata: Metadata, peer: str,
        on_headers: Callable[[], Awaitable[None]] | None = None, *,
        auth: AuthRequest | None = None, principal: Principal | None = None,
    ) -> AsyncGenerator[Any, None]:
        """A server stream's responses; RpcFailure when it ends with a status other than OK.

        ``on_headers`` is awaited when the servicer sends its initial metadata (the stream is
        live); ``auth`` and ``principal`` as for :meth:`invoke`.
        """
        call = RestCall(metadata, peer, on_headers, auth=auth, principal=principal)
        try:
            handler = await self._handler(method, call.invocation_metadata())
            if handler.unary_stream is None:
                raise RpcFailure(grpc.StatusCode.UNIMPLEMENTED, f"{method} is not a server stream")
            responses = handler.unary_stream(request, call)
            if hasattr(responses, "__aiter__"):
                async with contextlib.aclosing(responses):  # closed in this task if the reader goes early
                    async for response in responses:
                        yield response
            else:
                await responses  # a servicer that writes with context.write: none here does
        except _Abort as exc:
            raise RpcFailure(exc.code, exc.details) from None
        failure = call.failure()
        if failure is not None:
            raise failure
