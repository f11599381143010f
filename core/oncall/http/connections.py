"""The HTTP server's connections: how long a client may take, how many it may hold at once, and
a JSON answer for the requests aiohttp refuses before the app sees them.

aiohttp closes idle keep-alive connections, but it sets no deadline for a request's head: a
client that sends its headers a byte a minute holds a connection, and a file descriptor,
for as long as it likes, and a few thousand such clients leave none for real webhooks.
:class:`Connection` is aiohttp's own protocol with these limits added:

- **head**: the request line and headers must arrive within ``header_timeout_s``, counted
  from the moment a connection opens and, on a kept-alive connection, from the first byte
  of the next request. A client that sent part of a head gets 408; one that sent nothing
  is closed without a word (a browser's speculative connection, say).
- **idle**: a kept-alive connection with no request closes after ``keepalive_timeout_s``.
- **writing**: a client that stops reading its answer for ``write_timeout_s`` is closed.
- **per client**: at most ``max_per_client`` connections from one address are open at
  once; another is reset on arrival, before a byte is read, and no other address notices.

The body is read by the app's one body reader (``requests.read_body``), which knows the limits
of each route and answers a stalled body with 408.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import ssl
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, cast

import orjson
from aiohttp import web
from aiohttp.typedefs import Handler
from aiohttp.web_request import BaseRequest

from ..config import Settings

log = logging.getLogger(__name__)


@dataclass
class ConnectionLimits:
    """The limits, and the open connections counted per client address."""

    header_timeout_s: float = 10.0
    keepalive_timeout_s: float = 75.0
    write_timeout_s: float = 30.0
    max_per_client: int = 256  # 0: no cap
    open_by_client: dict[str, int] = field(default_factory=dict)
    refused: int = 0  # connections reset for being over the cap, since start

    @classmethod
    def from_settings(cls, settings: Settings) -> ConnectionLimits:
        return cls(
            header_timeout_s=settings.http_header_timeout_s,
            keepalive_timeout_s=settings.http_keepalive_timeout_s,
            write_timeout_s=settings.http_body_timeout_s,
            max_per_client=settings.http_max_connections_per_client,
        )

    def admit(self, client: str) -> bool:
        n = self.open_by_client.get(client, 0)
        if self.max_per_client and client and n >= self.max_per_client:
            self.refused += 1
            if self.refused == 1 or self.refused % 1000 == 0:
                log.warning("refusing connections from %s: it has %d open (ONCALL_HTTP_MAX_CONNECTIONS_PER_CLIENT);"
                            " %d refused so far", client, n, self.refused)
            return False
        self.open_by_client[client] = n + 1
        return True

    def release(self, client: str) -> None:
        n = self.open_by_client.get(client, 0) - 1
        if n > 0:
            self.open_by_client[client] = n
        else:
            self.open_by_client.pop(client, None)


def client_address(peername: Any) -> str:
    """The address a connection comes from, an IPv4-mapped IPv6 address as the IPv4 it is."""
    if not isinstance(peername, tuple) or not peername:
        return ""  # a Unix socket: no address to count by
    host = str(peername[0])
    try:
        ip = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return host
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return str(ip)


def _error_json(error: str, detail: str) -> bytes:
    return orjson.dumps({"error": error, "detail": detail})


class Connection(web.RequestHandler):
    """One client connection: aiohttp's protocol, with the limits above."""

    __slots__ = (
        "_client", "_close_after_answer", "_head_bytes", "_head_timer", "_in_request", "_limits", "_refused",
        "_write_timer",
    )  # fmt: skip

    def __init__(self, manager: web.Server, *, limits: ConnectionLimits, **kwargs: Any) -> None:
        super().__init__(manager, keepalive_timeout=limits.keepalive_timeout_s, **kwargs)
        self._limits = limits
        self._client = ""
        self._refused = False
        self._close_after_answer = False
        self._in_request = False
        self._head_bytes = 0
        self._head_timer: asyncio.TimerHandle | None = None
        self._write_timer: asyncio.TimerHandle | None = None

    # ------------------------------------------------------------------ asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        client = client_address(transport.get_extra_info("peername"))
        if not self._limits.admit(client):
            self._refused = True
            cast(asyncio.Transport, transport).abort()  # a reset, at once: the client retries later or elsewhere
            return
        self._client = client
        super().connection_made(transport)
        self._arm_head_timer()

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        if not self._in_request:
            self._head_bytes += len(data)
            if self._head_timer is None:
                self._arm_head_timer()
        super().data_received(data)

    def connection_lost(self, exc: BaseException | None) -> None:
        if self._refused:
            return
        self._limits.release(self._client)
        for timer in (self._head_timer, self._write_timer):
            if timer is not None:
                timer.cancel()
        self._head_timer = self._write_timer = None
        super().connection_lost(exc)

    def pause_writing(self) -> None:
        super().pause_writing()
        if self._write_timer is None:
            self._write_timer = self._loop.call_later(self._limits.write_timeout_s, self._write_timed_out)

    def resume_writing(self) -> None:
        super().resume_writing()
        if self._write_timer is not None:
            self._write_timer.cancel()
            self._write_timer = None

    # ------------------------------------------------------------------ told by the app

    def request_started(self) -> None:
        """The app has a request: its head is complete."""
        self._in_request = True
        self._head_bytes = 0
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def request_finished(self) -> None:
        """The app has its answer; the head clock starts again with the next byte that arrives."""
        self._in_request = False

    def close_after_answer(self) -> None:
        """Close once the answer is sent, without waiting for the rest of the body (aiohttp
        would linger for it up to 10 s): for a body that stopped arriving."""
        self._close_after_answer = True

    def log_access(self, request: BaseRequest, response: web.StreamResponse, time: float | None) -> None:
        # aiohttp calls this right after an answer is sent: the moment to close, if asked to
        super().log_access(request, response, time)
        if self._close_after_answer:
            self.force_close()

    # ------------------------------------------------------------------ the deadlines

    def _arm_head_timer(self) -> None:
        self._head_timer = self._loop.call_later(self._limits.header_timeout_s, self._head_timed_out)

    def _head_timed_out(self) -> None:
        self._head_timer = None
        transport = self.transport
        if self._in_request or transport is None:
            return
        # 408 only to a client that began a request, and never into an answer still being sent
        if self._head_bytes and transport.get_write_buffer_size() == 0:
            body = _error_json(
                "request_timeout",
                f"the request line and headers did not arrive within {self._limits.header_timeout_s:g} s",
            )
            transport.write(
                b"HTTP/1.1 408 Request Timeout\r\nContent-Type: application/json\r\nConnection: close\r\n"
                b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
            )
        log.info("closed a connection from %s: no complete request within %g s (%d bytes of it came)",
                 self._client or "a local socket", self._limits.header_timeout_s, self._head_bytes)
        self.force_close()

    def _write_timed_out(self) -> None:
        self._write_timer = None
        if self.transport is not None:
            log.info("closed a connection from %s: it read nothing of its answer for %g s",
                     self._client or "a local socket", self._limits.write_timeout_s)
            self.transport.abort()

    # ------------------------------------------------------------------ aiohttp's refusals

    def handle_error(
        self, request: BaseRequest, status: int = 500, exc: BaseException | None = None, message: str | None = None
    ) -> web.StreamResponse:
        """A request aiohttp refused before the app saw it (a malformed head, an oversized
        line): the usual JSON error, its detail without the bytes that were refused (they
        can carry a key in a query string)."""
        if status >= 500:
            self.log_exception("Error handling request from %s", request.remote, exc_info=exc)
            detail = "the server failed; the failure is logged"
        else:
            log.info("refused a malformed request from %s: %s", request.remote, (message or "").split(":", 1)[0])
            detail = (message or HTTPStatus(status).phrase).split(":", 1)[0].strip() or HTTPStatus(status).phrase
        if request.writer.output_size > 0:
            raise ConnectionError("an answer is already being sent; the connection is broken")
        error = "internal" if status >= 500 else HTTPStatus(status).phrase.lower().replace(" ", "_")
        resp = web.Response(status=status, body=_error_json(error, detail), content_type="application/json")
        resp.force_close()
        return resp


class GuardedSite(web.BaseSite):
    """A TCP site whose connections are :class:`Connection` s (aiohttp's TCPSite with our protocol)."""

    __slots__ = ("_host", "_limits", "_port", "_reuse_port")

    def __init__(
        self, runner: web.BaseRunner, host: str, port: int, limits: ConnectionLimits, *,
        backlog: int = 128, reuse_port: bool = False, ssl_context: ssl.SSLContext | None = None,
    ) -> None:  # fmt: skip
        super().__init__(runner, backlog=backlog, ssl_context=ssl_context)
        self._host, self._port, self._reuse_port, self._limits = host, port, reuse_port, limits

    @property
    def name(self) -> str:
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"{'https' if self._ssl_context else 'http'}://{host}:{self._port}"

    async def start(self) -> None:
        await super().start()
        loop = asyncio.get_running_loop()
        server = self._runner.server
        assert server is not None

        def connection() -> Connection:
            return Connection(server, loop=loop, limits=self._limits)

        # under TLS the connection is admitted (and its head clock starts) once the handshake
        # is done; the handshake itself must finish within the head's deadline
        self._server = await loop.create_server(
            connection, self._host, self._port, backlog=self._backlog, reuse_port=self._reuse_port or None,
            ssl=self._ssl_context,
            ssl_handshake_timeout=self._limits.header_timeout_s if self._ssl_context is not None else None,
        )


@web.middleware
async def connection_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Tell the connection when a request's head is complete and when its answer is ready."""
    conn = request.protocol
    if not isinstance(conn, Connection):  # served by another runner (tests that build the app alone)
        return await handler(request)
    conn.request_started()
    try:
        return await handler(request)
    finally:
        conn.request_finished()
