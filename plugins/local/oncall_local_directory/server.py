"""The reference UserDirectory gRPC server: the users file, served over the directory contract."""

from __future__ import annotations

import asyncio
import hmac
import logging
from typing import TypeAlias

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from oncall.directory.convert import contact_method_to_proto
from oncall.directory.v1 import directory_pb2 as pb
from oncall.directory.v1 import directory_pb2_grpc
from oncall.errors import InvalidArgument, NotFound, Unauthenticated
from oncall.rpc.errors import ErrorMappingInterceptor

from .passwords import verify
from .users_file import ExternalId, Loaded, LocalUser, UsersFile, channel_name

log = logging.getLogger(__name__)

SERVICE_NAME: str = pb.DESCRIPTOR.services_by_name["UserDirectory"].full_name
MAX_IDS = 1000

_Call: TypeAlias = grpc.aio.ServicerContext


#: the most users one FindUsers answer holds (the contract's limit)
MAX_FOUND = 100


def user_to_proto(user: LocalUser) -> pb.User:
    return pb.User(id=user.id, name=user.name, email=user.email, time_zone=user.time_zone,
                   role=user.role, groups=user.groups)


def _normal(channel: str, address: str) -> str:
    """An address as the channel compares it (email ignoring case, never the surrounding spaces)."""
    from oncall.notification import channels

    return channels.current().normal_address(channel, address)


def matches(user: LocalUser, request: pb.FindUsersRequest) -> bool:
    """Whether ``user`` has the email or external identity FindUsers asks for (a contact
    address is looked up in an index instead: it is what channels ask for at every click)."""
    if request.WhichOneof("criterion") == "email":
        return bool(user.email) and user.email.strip().casefold() == request.email.strip().casefold()
    return ExternalId(request.external.issuer, request.external.subject) in user.external_ids


def _check_query(request: pb.FindUsersRequest) -> None:
    which = request.WhichOneof("criterion")
    if which is None:
        raise InvalidArgument("FindUsers needs one criterion: email, contact or external")
    if which == "email" and not request.email.strip():
        raise InvalidArgument("email must not be empty")
    if which == "contact" and not (request.contact.channel.strip() and request.contact.address.strip()):
        raise InvalidArgument("contact needs a channel and an address")
    if which == "external" and not (request.external.issuer and request.external.subject):
        raise InvalidArgument("external needs an issuer and a subject")


class UserDirectoryService(directory_pb2_grpc.UserDirectoryServicer):
    """oncall.directory.v1.UserDirectory over a users file, re-read whenever it changes.

    With a token, every call must carry ``authorization: Bearer <token>``.
    """

    def __init__(self, users: UsersFile, token: str | None = None) -> None:
        self._users = users
        self._expected = f"Bearer {token}".encode() if token else None
        # (channel, address as the channel compares it) → user ids, for the file as last read
        self._by_contact: tuple[Loaded, dict[tuple[str, str], list[str]]] | None = None

    def _contact_index(self, loaded: Loaded) -> dict[tuple[str, str], list[str]]:
        if self._by_contact is not None and self._by_contact[0] is loaded:
            return self._by_contact[1]
        index: dict[tuple[str, str], list[str]] = {}
        for user in loaded.users.values():
            for cm in user.contact_methods:
                ids = index.setdefault((cm.type, _normal(cm.type, cm.address)), [])
                if user.id not in ids:
                    ids.append(user.id)
        self._by_contact = (loaded, index)
        return index

    def _authorize(self, context: _Call) -> None:
        if self._expected is None:
            return
        given = next((v for k, v in context.invocation_metadata() or () if k == "authorization"), "")
        given_bytes = given.encode() if isinstance(given, str) else given
        if not hmac.compare_digest(given_bytes, self._expected):
            raise Unauthenticated("a valid 'authorization: Bearer TOKEN' is required")

    def _user(self, user_id: str) -> LocalUser:
        if not user_id:
            raise InvalidArgument("user_id is required")
        user = self._users.current().users.get(user_id)
        if user is None:
            # the id shortened: a status message travels in a trailer, and one over 8 KiB
            # reaches the client as RESOURCE_EXHAUSTED (an outage) instead of NOT_FOUND
            shown = user_id if len(user_id) <= 100 else user_id[:100] + "…"
            raise NotFound(f"no user {shown!r} in the directory")
        return user

    async def GetUser(self, request: pb.GetUserRequest, context: _Call) -> pb.GetUserResponse:
        self._authorize(context)
        return pb.GetUserResponse(user=user_to_proto(self._user(request.user_id)))

    async def GetUsers(self, request: pb.GetUsersRequest, context: _Call) -> pb.GetUsersResponse:
        self._authorize(context)
        if not request.user_ids:
            raise InvalidArgument("user_ids needs at least one id")
        if len(request.user_ids) > MAX_IDS:
            raise InvalidArgument(f"user_ids holds at most {MAX_IDS} ids")
        users = self._users.current().users
        reply = pb.GetUsersResponse()
        for user_id in dict.fromkeys(request.user_ids):
            user = users.get(user_id)
            if user is None:
                reply.not_found_user_ids.append(user_id)
            else:
                reply.users.append(user_to_proto(user))
        return reply

    async def GetUserContactMethods(
        self, request: pb.GetUserContactMethodsRequest, context: _Call
    ) -> pb.GetUserContactMethodsResponse:
        self._authorize(context)
        user = self._user(request.user_id)
        methods = sorted(user.contact_methods, key=lambda cm: cm.priority)  # stable: file order among equals
        return pb.GetUserContactMethodsResponse(contact_methods=[
            contact_method_to_proto(cm.id, cm.type, cm.address, cm.priority, cm.disabled)
            for cm in methods
        ])

    async def FindUsers(self, request: pb.FindUsersRequest, context: _Call) -> pb.FindUsersResponse:
        self._authorize(context)
        _check_query(request)
        loaded = self._users.current()
        if request.WhichOneof("criterion") == "contact":
            # an alias ("phone", "text") names the channel a method's type was read as
            channel = request.contact.channel.strip().lower()
            channel = channel_name(channel) or channel
            ids = self._contact_index(loaded).get((channel, _normal(channel, request.contact.address)), [])
            found = sorted((loaded.users[i] for i in ids), key=lambda u: u.id)
        else:
            found = sorted((u for u in loaded.users.values() if matches(u, request)), key=lambda u: u.id)
        return pb.FindUsersResponse(users=[user_to_proto(u) for u in found[:MAX_FOUND]])

    async def Authenticate(self, request: pb.AuthenticateRequest, context: _Call) -> pb.AuthenticateResponse:
        self._authorize(context)
        user = self._login_user(request.user)
        # the same work for an unknown user, a user without a password and a wrong password
        ok = await asyncio.to_thread(verify, user.password_hash if user else "", request.password)
        if not ok or user is None:
            return pb.AuthenticateResponse(authenticated=False)
        return pb.AuthenticateResponse(authenticated=True, user=user_to_proto(user))

    def _login_user(self, name: str) -> LocalUser | None:
        """The user a login name means: a user id, else the email of exactly one user."""
        users = self._users.current().users
        name = name.strip()
        if not name:
            return None
        if name in users:
            return users[name]
        by_email = [u for u in users.values() if u.email and u.email.casefold() == name.casefold()]
        return by_email[0] if len(by_email) == 1 else None


async def start_server(
    users: UsersFile, addr: str, token: str | None = None, credentials: grpc.ServerCredentials | None = None,
) -> tuple[grpc.aio.Server, int]:
    """Serve ``users`` on ``addr`` (``host:port``; port 0 picks a free one); return the server and its port.

    Health checking and reflection are on, as on OnCall's own gRPC server. With
    ``credentials`` (``oncall.tls.grpc_server_credentials``) it serves TLS, and mutual TLS
    when they require client certificates.
    """
    server = grpc.aio.server(interceptors=[ErrorMappingInterceptor()])
    directory_pb2_grpc.add_UserDirectoryServicer_to_server(UserDirectoryService(users, token), server)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    await health_servicer.set(SERVICE_NAME, health_pb2.HealthCheckResponse.SERVING)
    await health_servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    reflection.enable_server_reflection((SERVICE_NAME, health.SERVICE_NAME, reflection.SERVICE_NAME), server)
    try:
        port = server.add_insecure_port(addr) if credentials is None else server.add_secure_port(addr, credentials)
    except RuntimeError as exc:  # grpcio raises this when it cannot bind
        raise OSError(f"cannot listen on {addr} for the local directory: {exc}") from None
    if port == 0:
        raise OSError(f"cannot listen on {addr} for the local directory")
    await server.start()
    return server, port
