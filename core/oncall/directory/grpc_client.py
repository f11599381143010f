"""The one Directory that speaks the ``oncall.directory.v1.UserDirectory`` contract over gRPC.

The kneutral plugin points it at kneutral-api; the local plugin points it at the loopback
server it runs over a YAML file. Either way the core only ever speaks the contract.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

import grpc
from oncall_hookspecs import ContactMethod, DirectoryUnsupported, User, UserQuery

from .convert import query_to_proto, usable_contact_methods, user_from_proto
from .errors import DirectoryError, DirectoryUnavailable
from .v1 import directory_pb2 as pb
from .v1 import directory_pb2_grpc

log = logging.getLogger(__name__)

#: status codes that mean "cannot answer now", as opposed to "answered no"
OUTAGE_CODES = frozenset({
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.DEADLINE_EXCEEDED,
    grpc.StatusCode.CANCELLED,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
})

#: The contract's limit on one GetUsers call.
MAX_IDS_PER_CALL = 1000

# gRPC's default reconnect backoff grows to two minutes: after an outage the channel would
# keep failing fast long after the directory is back. Five seconds notices recovery soon
# without hammering a server that is still down.
_CHANNEL_OPTIONS = (
    ("grpc.initial_reconnect_backoff_ms", 250),
    ("grpc.min_reconnect_backoff_ms", 250),
    ("grpc.max_reconnect_backoff_ms", 5000),
)


def _could_name_a_user(user_id: str) -> bool:
    """False for an id no user has (empty, or holding a NUL, which OnCall cannot store): the
    contract refuses those as arguments, and the answer is the one for any unknown user."""
    return bool(user_id) and "\x00" not in user_id


class GrpcDirectory:
    """A :class:`oncall_hookspecs.Directory` that asks a UserDirectory server.

    The channel is opened on first use, in the running event loop (plugins register this
    object at import time, before any loop runs), and opened again if it is later used
    from another loop. Every call carries ``timeout_s`` as its deadline and, when a token
    is set, ``authorization: Bearer <token>`` metadata; the token appears in no message.

    Unknown users are not errors: ``get_user`` gives None and ``get_contact_methods`` an
    empty list. Any other failure raises :class:`DirectoryUnavailable` (the server cannot
    be reached or is too slow) or :class:`DirectoryError` (it refused or failed the call).

    ``find_users`` and ``authenticate`` (the optional ``UserFinder`` and ``PasswordDirectory``)
    raise :class:`~oncall_hookspecs.DirectoryUnsupported` when the server answers
    UNIMPLEMENTED: an older server without the call, or one that holds no passwords.
    """

    def __init__(
        self,
        name: str,
        target: str,
        *,
        token: str | None = None,
        timeout_s: float = 2.0,
        credentials: grpc.ChannelCredentials | None = None,
    ) -> None:
        self.name = name
        self.timeout_s = timeout_s
        self._target = target
        self._metadata: tuple[tuple[str, str], ...] = (("authorization", f"Bearer {token}"),) if token else ()
        self._credentials = credentials
        self._channel: grpc.aio.Channel | None = None
        self._stub: directory_pb2_grpc.UserDirectoryStub | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def __repr__(self) -> str:  # never the token
        return f"GrpcDirectory(name={self.name!r}, target={self._target!r}, timeout_s={self.timeout_s})"

    @property
    def target(self) -> str:
        return self._target

    async def resolve_target(self) -> str:
        """The address to dial. The local plugin overrides this to start its server first."""
        return self._target

    async def _connect(self) -> directory_pb2_grpc.UserDirectoryStub:
        loop = asyncio.get_running_loop()
        if self._stub is not None and self._loop is loop:
            return self._stub
        target = await self.resolve_target()
        if self._stub is not None and self._loop is loop:
            return self._stub  # a concurrent first call connected while this one awaited
        if self._credentials is not None:
            channel = grpc.aio.secure_channel(target, self._credentials, options=_CHANNEL_OPTIONS)
        else:
            channel = grpc.aio.insecure_channel(target, options=_CHANNEL_OPTIONS)
        # a channel from a previous loop died with that loop; there is nothing to close
        self._channel, self._stub, self._loop = channel, directory_pb2_grpc.UserDirectoryStub(channel), loop
        return self._stub

    def _failure(self, method: str, exc: grpc.aio.AioRpcError) -> DirectoryError:
        code = exc.code()
        message = f"{self.name} directory at {self._target}: {method} failed with {code.name}: {exc.details()}"
        return DirectoryUnavailable(message) if code in OUTAGE_CODES else DirectoryError(message)

    async def get_user(self, user_id: str) -> User | None:
        if not _could_name_a_user(user_id):
            return None
        stub = await self._connect()
        try:
            reply = await stub.GetUser(
                pb.GetUserRequest(user_id=user_id), timeout=self.timeout_s, metadata=self._metadata
            )
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.NOT_FOUND:
                return None
            raise self._failure("GetUser", exc) from None
        return user_from_proto(reply.user)

    async def get_users(self, user_ids: Sequence[str]) -> list[User]:
        """The users found, in the order asked; unknown ids are left out."""
        wanted = list(dict.fromkeys(u for u in user_ids if _could_name_a_user(u)))
        users: list[User] = []
        stub = await self._connect()
        for start in range(0, len(wanted), MAX_IDS_PER_CALL):
            chunk = wanted[start : start + MAX_IDS_PER_CALL]
            try:
                reply = await stub.GetUsers(
                    pb.GetUsersRequest(user_ids=chunk), timeout=self.timeout_s, metadata=self._metadata
                )
            except grpc.aio.AioRpcError as exc:
                raise self._failure("GetUsers", exc) from None
            users.extend(user_from_proto(u) for u in reply.users)
        return users

    async def get_contact_methods(self, user_id: str) -> list[ContactMethod]:
        """The methods OnCall may page, in the order to try them (disabled ones left out)."""
        if not _could_name_a_user(user_id):
            return []
        stub = await self._connect()
        try:
            reply = await stub.GetUserContactMethods(
                pb.GetUserContactMethodsRequest(user_id=user_id), timeout=self.timeout_s, metadata=self._metadata
            )
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.NOT_FOUND:
                return []
            raise self._failure("GetUserContactMethods", exc) from None
        return usable_contact_methods(reply.contact_methods)

    async def find_users(self, query: UserQuery) -> list[User]:
        """The users matching ``query`` (FindUsers), ordered by id; [] for none."""
        request = query_to_proto(query)
        stub = await self._connect()
        try:
            reply = await stub.FindUsers(request, timeout=self.timeout_s, metadata=self._metadata)
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.UNIMPLEMENTED:
                raise DirectoryUnsupported(f"{self.name} directory at {self._target} has no FindUsers") from None
            raise self._failure("FindUsers", exc) from None
        return [user_from_proto(u) for u in reply.users]

    async def authenticate(self, user: str, password: str) -> User | None:
        """The user when ``password`` is theirs (Authenticate), else None. The password
        travels only in the request, never in a message or an error."""
        if not _could_name_a_user(user) or not password or "\x00" in password:
            return None  # the contract refuses these as arguments; the answer is "no"
        stub = await self._connect()
        try:
            reply = await stub.Authenticate(
                pb.AuthenticateRequest(user=user, password=password), timeout=self.timeout_s, metadata=self._metadata
            )
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.UNIMPLEMENTED:
                raise DirectoryUnsupported(f"{self.name} directory at {self._target} holds no passwords") from None
            raise self._failure("Authenticate", exc) from None
        if not reply.authenticated or not reply.HasField("user"):
            return None
        return user_from_proto(reply.user)

    async def aclose(self) -> None:
        """Close the channel, if it belongs to the running loop."""
        channel, self._channel, self._stub = self._channel, None, None
        if channel is not None and self._loop is asyncio.get_running_loop():
            await channel.close()
        self._loop = None

