"""The gRPC door's lock: every call but health (and reflection, while on) needs a principal
whose role allows the method's permission (``auth.methods``), and every state-changing call
it admits is written to the audit log.

No principal is UNAUTHENTICATED; one not allowed is PERMISSION_DENIED, before the servicer
runs (or, for a role held in some teams only, by the servicer, once it knows the resource's
team: ``methods.TEAM_CHECKED``). A refused call (unauthenticated, not allowed, or
INVALID_ARGUMENT) writes nothing, not even an audit row: it is logged (``oncall.rpc.access``:
principal, method, code; never a credential) instead. An admitted call is audited with its outcome: OK, or the status a
domain refusal gave it (NOT_FOUND, FAILED_PRECONDITION …).
"""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
import logging
import math
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
from google.protobuf.json_format import MessageToDict
from google.protobuf.message import Message
from oncall_hookspecs import AuthRequest, Principal

from ..auth import audit, methods, permissions
from ..auth.access import Access
from ..auth.principal import current, deciding, describe
from ..errors import PermissionDenied, Unauthenticated
from .errors import answering

log = logging.getLogger(__name__)

_SECRET_WORDS = ("key", "token", "secret", "password", "credential")
#: outcomes of admitted calls that changed nothing and are not audited
_NOT_AUDITED = frozenset({"INVALID_ARGUMENT", "UNAVAILABLE", "PERMISSION_DENIED"})
_NOT_SECRET = frozenset({"dedup_key", "page_token", "key_id"})
_MAX_TEXT = 200  # a summary quotes a string up to this many characters
_MAX_ITEMS = 20


def peer_address(peer: str) -> str:
    """``ipv4:127.0.0.1:5000`` → ``127.0.0.1``; ``ipv6:[::1]:5000`` → ``::1``; else ""."""
    kind, _, rest = peer.partition(":")
    if kind == "ipv4":
        return rest.rpartition(":")[0]
    if kind == "ipv6":
        return rest.rpartition(":")[0].strip("[]")
    return ""


def auth_request(method: str, context: grpc.aio.ServicerContext) -> AuthRequest:
    """The call as authenticators see it: a REST call's own HTTP request (every header, the
    TCP peer), a gRPC call's metadata and peer."""
    given = getattr(context, "http_auth", None)  # a REST call's (rest.invoke.RestCall); a client can't set it
    if isinstance(given, AuthRequest):
        return dataclasses.replace(given, target=method)
    headers: dict[str, str] = {}
    for key, value in context.invocation_metadata() or ():
        if isinstance(value, str):
            headers.setdefault(key.lower(), value)
    # a REST call's context (oncall.rest.invoke.RestCall) says "http"; a client can't set it
    transport = getattr(context, "transport", "grpc")
    return AuthRequest(transport=transport, headers=headers, peer=peer_address(context.peer() or ""), target=method)


def _text(value: str) -> str:
    # jsonb holds no NUL; a refused request may carry one
    value = value.replace("\x00", "\ufffd")
    return value[:_MAX_TEXT] + "…" if len(value) > _MAX_TEXT else value


def _redacted(value: Any, name: str = "") -> Any:
    lowered = name.lower()
    if lowered not in _NOT_SECRET and any(word in lowered for word in _SECRET_WORDS):
        return "[redacted]"
    if isinstance(value, dict):
        return {_text(str(k)): _redacted(v, str(k)) for k, v in list(value.items())[:_MAX_ITEMS]}
    if isinstance(value, list):
        return [_redacted(v, name) for v in value[:_MAX_ITEMS]]
    if isinstance(value, str):
        return _text(value)
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def summary(request: Any) -> dict[str, Any]:
    """What a request asked to change, for the audit log: its fields, secrets redacted, long text cut.

    A request that can't be shown as JSON (a NaN in a Struct: it was refused) is summarised by its field names.
    """
    if not isinstance(request, Message):
        return {}
    try:
        body: Any = MessageToDict(request, preserving_proto_field_name=True)
    except Exception:  # noqa: BLE001 - what json_format can't print, the names still say
        body = {"fields": [fd.name for fd, _ in request.ListFields()]}
    out = _redacted(body)
    return out if isinstance(out, dict) else {}


def resource_of(permission: str, request: Any) -> str:
    """``policies``, or ``policies/3`` when the request names one by ``id`` (or a single ``…_id``)."""
    kind = permission.partition(":")[0]
    if isinstance(request, Message):
        for fd, value in request.ListFields():
            if (fd.name == "id" or fd.name.endswith("_id")) and isinstance(value, int | str):
                return f"{kind}/{value}"
    return kind


class AccessInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    """Authenticates and authorizes every call (the outermost interceptor), and audits the changes."""

    def __init__(self, access: Access, *, reflection: bool = True, acquire_timeout_s: float | None = None) -> None:
        self._access = access
        self._reflection = reflection
        self._wait = acquire_timeout_s

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        method: str = handler_call_details.method
        if methods.is_open(method, self._reflection):
            return await continuation(handler_call_details)
        if methods.service_of(method) in methods.REFLECTION_SERVICES:
            return None  # reflection turned off: UNIMPLEMENTED, as for a method that isn't there
        handler = await continuation(handler_call_details)
        if handler is None:
            return handler
        codec: dict[str, Any] = {
            "request_deserializer": handler.request_deserializer,
            "response_serializer": handler.response_serializer,
        }
        permission = methods.permission_for(method)
        if handler.unary_unary is not None:
            return grpc.unary_unary_rpc_method_handler(self._unary(handler.unary_unary, method, permission), **codec)
        if handler.stream_unary is not None:
            return grpc.stream_unary_rpc_method_handler(self._unary(handler.stream_unary, method, permission), **codec)
        if handler.unary_stream is not None:
            return grpc.unary_stream_rpc_method_handler(self._stream(handler.unary_stream, method, permission), **codec)
        if handler.stream_stream is not None:
            return grpc.stream_stream_rpc_method_handler(
                self._stream(handler.stream_stream, method, permission), **codec)
        return handler

    async def _admit(
        self, method: str, permission: str | None, request: Any, context: grpc.aio.ServicerContext,
    ) -> tuple[Principal, AuthRequest, str]:
        """The caller, allowed; raises Unauthenticated or PermissionDenied (a refusal is logged, never audited)."""
        seen = auth_request(method, context)
        known = getattr(context, "principal", None)  # found by the HTTP door before it read the body
        principal = known if isinstance(known, Principal) else await self._access.authenticate(seen)
        if principal is None:
            raise Unauthenticated("this call needs credentials: authorization: Bearer oncall_<prefix>_<secret>")
        short = method.rpartition("/")[2]
        if permission is None:
            raise PermissionDenied(f"{short} is not in the permission table; nobody may call it")
        resource = resource_of(permission, request)
        # a team role counts here only where the service asks again with the resource's team
        team = permissions.ANY_TEAM if method in methods.TEAM_CHECKED else None
        if not self._access.allowed(principal, permission, resource, team):
            roles = permissions.describe_roles(principal)
            log.warning("refused %s to %s (%s): no %s", short, describe(principal), roles, permission)
            raise PermissionDenied(f"{describe(principal)} ({roles}) may not {permission} ({short})")
        return principal, seen, resource

    async def _record(
        self, principal: Principal, seen: AuthRequest, method: str, resource: str, request: Any, outcome: str,
    ) -> None:
        try:
            event = audit.AuditEvent(
                at=self._access.clock.now(), principal=_text(describe(principal)), principal_kind=principal.kind,
                role=principal.role, key_id=principal.key_id, method=method, resource=_text(resource),
                summary=summary(request), outcome=outcome, peer=seen.peer,
                user_agent=_text(seen.header("user-agent") or ""),
            )
            await audit.record(self._access.pool, event)
        except Exception:  # noqa: BLE001 - the change is committed; its record failing must not hide that
            log.exception("could not write the audit event of %s by %s", method, describe(principal))

    def _unary(self, behavior: Callable[..., Any], method: str, permission: str | None) -> Callable[..., Any]:
        audited = permission is not None and permissions.changes_state(permission)

        async def handle(request: Any, context: grpc.aio.ServicerContext) -> Any:
            async with answering(method, context, self._wait):
                principal, seen, resource = await self._admit(method, permission, request, context)
            token = current.set(principal)
            deciding_token = deciding.set(self._access.allowed)
            outcome = "INTERNAL"
            try:
                response = await behavior(request, context)
                outcome = "OK"
                return response
            except grpc.aio.AbortError:
                code = context.code()
                outcome = code.name if isinstance(code, grpc.StatusCode) else "UNKNOWN"
                raise
            finally:
                current.reset(token)
                deciding.reset(deciding_token)
                # bad input wrote nothing, and a database that is down can't be written to; a
                # refusal past the door (not the resource's team's role, not acting as oneself)
                # is logged like one at the door
                if outcome == "PERMISSION_DENIED":
                    log.warning("refused %s to %s (%s): the service said no", method.rpartition("/")[2],
                                describe(principal), permissions.describe_roles(principal))
                if audited and outcome not in _NOT_AUDITED:
                    await self._record(principal, seen, method, resource, request, outcome)

        return handle

    def _stream(self, behavior: Callable[..., Any], method: str, permission: str | None) -> Callable[..., Any]:
        async def stream(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            async with answering(method, context, self._wait):
                principal, _, _ = await self._admit(method, permission, request, context)
            # each call runs in a task of its own, whose context ends with it: nothing to reset
            current.set(principal)
            deciding.set(self._access.allowed)
            if inspect.iscoroutinefunction(behavior):  # a servicer that answers with context.write
                await behavior(request, context)
                return
            async with contextlib.aclosing(behavior(request, context)) as responses:  # closed in this task
                async for response in responses:
                    yield response

        return stream
