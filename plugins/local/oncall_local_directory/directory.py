"""The local plugin's Directory: the shared gRPC client, dialling a server this plugin starts.

The core only ever speaks the directory contract, so the local directory is not read
in-process: its server runs on loopback, started on the first lookup in the running event
loop (plugins are loaded before any loop runs), and the client asks it like any other.
"""

from __future__ import annotations

import asyncio
import logging

import grpc
from oncall.directory.grpc_client import GrpcDirectory

from .server import start_server
from .users_file import UsersFile

log = logging.getLogger(__name__)


def _dial_host(host: str) -> str:
    # a server listening on every interface is dialled on loopback
    return "127.0.0.1" if host in ("", "0.0.0.0") else "[::1]" if host in ("[::]", "::") else host


class LocalDirectory(GrpcDirectory):
    """Serves ``users`` on ``listen_addr`` and asks that server through the directory contract."""

    def __init__(self, users: UsersFile, listen_addr: str, token: str, timeout_s: float = 2.0) -> None:
        super().__init__("local", listen_addr, token=token, timeout_s=timeout_s)
        self.users = users
        self.listen_addr = listen_addr
        self._token = token
        self._server: grpc.aio.Server | None = None
        self._server_loop: asyncio.AbstractEventLoop | None = None
        self._starting: asyncio.Task[str] | None = None

    def __repr__(self) -> str:  # never the token
        return f"LocalDirectory(file={str(self.users.path)!r}, listen={self.listen_addr!r})"

    async def resolve_target(self) -> str:
        loop = asyncio.get_running_loop()
        if self._starting is None or self._server_loop is not loop:
            # a server started in an earlier loop died with it
            self._server, self._server_loop = None, loop
            self._starting = loop.create_task(self._start())
        starting = self._starting
        try:
            return await asyncio.shield(starting)
        except OSError:
            if self._starting is starting:
                self._starting = None  # try to listen again on the next lookup
            raise

    async def _start(self) -> str:
        self._server, port = await start_server(self.users, self.listen_addr, self._token)
        host = self.listen_addr.rpartition(":")[0]
        self._target = f"{_dial_host(host)}:{port}"
        log.info("local directory: serving %s over gRPC on %s", self.users.path, self._target)
        return self._target

    async def aclose(self) -> None:
        """Close the client's channel and stop the server, when they belong to the running loop."""
        await super().aclose()
        server, self._server, self._starting = self._server, None, None
        if server is not None and self._server_loop is asyncio.get_running_loop():
            await server.stop(grace=1.0)
        self._server_loop = None
