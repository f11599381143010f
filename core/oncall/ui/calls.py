"""How a page reaches the domain: the REST door's in-process servicer path, as the browser's caller.

Every read and change a page makes is a gRPC method called through ``rest.invoke.Invoker``
with the browser's own request headers as metadata (its session cookie, or whatever a
plugin's authenticator reads), so the access interceptor authenticates it, checks the
permission table, and audits a change exactly as for the REST API. ``can`` asks the same
``Access.allowed`` the interceptor asks, for the same permission and resource, so a page
offers a control only to whom the call would be allowed.
"""

from __future__ import annotations

from typing import Any

import grpc
from aiohttp import web
from oncall_hookspecs import Principal

from ..auth import methods
from ..http.access import auth_request
from ..http.requests import CONTEXT
from ..rest.invoke import Invoker, RpcFailure
from ..rest.jsonmap import metadata_of
from ..rest.transcoder import peer_of
from ..rpc.access import resource_of

INVOKER = web.AppKey("ui_invoker", Invoker)

__all__ = ["INVOKER", "Caller", "RpcFailure"]


class Caller:
    """One page request's calls: who is asking, what they may do, and the calls themselves."""

    def __init__(self, request: web.Request, principal: Principal) -> None:
        self.request = request
        self.principal = principal
        self._invoker = request.app[INVOKER]
        self._metadata = metadata_of(request.headers)
        self._peer = peer_of(request)
        # who the caller is was asked once, of the HTTP request itself (every header, the TCP
        # peer): each call takes that principal, never re-reads credentials from metadata
        self._auth = auth_request(request)

    @classmethod
    async def of(cls, request: web.Request) -> Caller | None:
        """The request's caller, or None when no authenticator knows them (the page sends them to /login)."""
        access = request.app[CONTEXT].access
        if access is None:
            return None
        principal = await access.authenticate(auth_request(request))
        return cls(request, principal) if principal is not None else None

    def can(self, method: str, request: Any) -> bool:
        """Whether calling ``method`` with ``request`` would pass the access check (the interceptor's rule)."""
        access = self.request.app[CONTEXT].access
        permission = methods.permission_for(method)
        if access is None or permission is None:
            return False
        return access.allowed(self.principal, permission, resource_of(permission, request))

    async def call(self, method: str, request: Any) -> Any:
        """Call a unary method as the browser; RpcFailure with the status a gRPC client would get."""
        return await self._invoker.invoke(method, request, self._metadata, self._peer, auth=self._auth,
                                          principal=self.principal)

    async def maybe(self, method: str, request: Any) -> Any | None:
        """Call ``method`` when the caller may; None when they may not (the page leaves that part out)."""
        if not self.can(method, request):
            return None
        try:
            return await self.call(method, request)
        except RpcFailure as failure:
            if failure.code in (grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.NOT_FOUND):
                return None
            raise
