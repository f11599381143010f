"""The directory contract's later calls: users carry a role and groups; FindUsers by email, contact
address or external identity, served by the local directory and forwarded by kneutral over real
gRPC on 127.0.0.1; a server without FindUsers is an older directory the core does without; and
the channels' host finds the user behind an address in one FindUsers call, falling back to
asking about the users it knows when the directory cannot search."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from oncall_hookspecs import DirectoryUnsupported, User, UserFinder, UserQuery
from oncall_local_directory import users_file
from oncall_local_directory.server import UserDirectoryService
from oncall_local_directory.users_file import UsersFile

from oncall.context import Context
from oncall.directory.client import CachedDirectory
from oncall.directory.grpc_client import GrpcDirectory
from oncall.directory.v1 import directory_pb2 as pb
from oncall.directory.v1 import directory_pb2_grpc
from oncall.escalation.policies import PolicyInput, Step, Target, create_policy
from oncall.notification.actions import Host
from oncall.rpc.errors import ErrorMappingInterceptor

USERS_YAML = """\
users:
  - id: alice
    name: Alice Example
    email: Alice@Example.com
    role: responder
    groups: [payments, db]
    external_ids:
      - {issuer: "https://login.example.com", subject: "248289761001"}
    contact_methods:
      - {id: sms-1, type: sms, address: "+15555550100"}
      - {id: slack-1, type: slack, address: U024ALICE}
      - {id: email-1, type: email, address: alice.pager@example.com, disabled: true}
  - id: bob
    name: Bob
    email: bob@example.com
    role: admin
    contact_methods:
      - {id: sms-1, type: sms, address: "+15555550100"}
  - id: carol
    name: Carol
    contact_methods:
      - {id: slack-1, type: slack, address: U024CAROL}
"""


class OlderService(UserDirectoryService):
    """A directory from before FindUsers and Authenticate: gRPC answers UNIMPLEMENTED for them."""

    FindUsers = directory_pb2_grpc.UserDirectoryServicer.FindUsers  # type: ignore[assignment]
    Authenticate = directory_pb2_grpc.UserDirectoryServicer.Authenticate  # type: ignore[assignment]


class Counting(grpc.aio.ServerInterceptor):
    """Counts the calls a server receives, by method name."""

    def __init__(self) -> None:
        self.calls: dict[str, int] = {}

    async def intercept_service(self, continuation: Any, details: grpc.HandlerCallDetails) -> Any:
        method = details.method.rsplit("/", 1)[-1]
        self.calls[method] = self.calls.get(method, 0) + 1
        return await continuation(details)


class Served:
    def __init__(self, counting: Counting, server: grpc.aio.Server, port: int) -> None:
        self.server, self.target = server, f"127.0.0.1:{port}"
        self.calls = counting.calls


async def serve(service: UserDirectoryService) -> Served:
    counting = Counting()
    server = grpc.aio.server(interceptors=[counting, ErrorMappingInterceptor()])  # as start_server's
    directory_pb2_grpc.add_UserDirectoryServicer_to_server(service, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    return Served(counting, server, port)


@pytest.fixture
def users_path(tmp_path: Path) -> Path:
    path = tmp_path / "users.yaml"
    path.write_text(USERS_YAML)
    return path


@pytest.fixture
async def served(users_path: Path) -> AsyncIterator[Served]:
    s = await serve(UserDirectoryService(UsersFile(users_path), "find-token"))
    yield s
    await s.server.stop(grace=None)


@pytest.fixture
async def older(users_path: Path) -> AsyncIterator[Served]:
    s = await serve(OlderService(UsersFile(users_path)))
    yield s
    await s.server.stop(grace=None)


@pytest.fixture
async def kneutral(served: Served, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[GrpcDirectory]:
    """The kneutral plugin's directory, pointed at the reference server."""
    import oncall_kneutral

    for name in [n for n in os.environ if n.startswith("ONCALL_KNEUTRAL_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("ONCALL_KNEUTRAL_ADDR", served.target)
    monkeypatch.setenv("ONCALL_KNEUTRAL_TOKEN", "find-token")
    got: list[Any] = []
    oncall_kneutral.register_directories(got.append)
    [directory] = got
    yield directory
    await directory.aclose()


def ids(users: list[User]) -> list[str]:
    return [u.id for u in users]


# --------------------------------------------------------------------------- roles and groups


async def test_a_user_carries_the_role_and_groups_the_directory_gives(kneutral):
    alice = await kneutral.get_user("alice")
    assert alice is not None and alice.role == "responder" and alice.groups == ("payments", "db")
    [bob, carol] = await kneutral.get_users(["bob", "carol"])
    assert (bob.role, bob.groups) == ("admin", ())
    assert (carol.role, carol.groups) == ("", ())


async def test_a_role_this_version_does_not_know_grants_nothing(users_path, tmp_path):
    # the file refuses it (the user stays, to be paged, without a role) ...
    loaded = users_file.parse(USERS_YAML.replace("role: admin", "role: superuser"))
    assert loaded.users["bob"].role == ""
    assert any("role 'superuser' is not one of viewer, responder, editor, admin" in p for p in loaded.problems)
    # ... and the core reads an unknown role on the wire as none
    from oncall.directory.convert import user_from_proto

    assert user_from_proto(pb.User(id="x", role="owner", groups=["a", " a ", ""])).role == ""
    assert user_from_proto(pb.User(id="x", role="Editor", groups=["a", " a ", ""])) == User(
        "x", "x", role="editor", groups=("a",))


# --------------------------------------------------------------------------- FindUsers


async def test_find_users_by_email_contact_address_and_external_identity_over_grpc(kneutral):
    assert isinstance(kneutral, UserFinder)
    assert ids(await kneutral.find_users(UserQuery.by_email("alice@EXAMPLE.com"))) == ["alice"]
    assert ids(await kneutral.find_users(UserQuery.by_contact("slack", "U024CAROL"))) == ["carol"]
    # a shared phone finds both, ordered by id
    assert ids(await kneutral.find_users(UserQuery.by_contact("sms", "+15555550100"))) == ["alice", "bob"]
    # an alias names the channel; a disabled method still says who someone is; email ignores case
    assert ids(await kneutral.find_users(UserQuery.by_contact("text", "+15555550100"))) == ["alice", "bob"]
    assert ids(await kneutral.find_users(UserQuery.by_contact("email", " Alice.Pager@example.com"))) == ["alice"]
    external = await kneutral.find_users(UserQuery.by_external("https://login.example.com", "248289761001"))
    assert ids(external) == ["alice"] and external[0].role == "responder"
    # no match is an empty list
    assert await kneutral.find_users(UserQuery.by_email("nobody@example.com")) == []
    assert await kneutral.find_users(UserQuery.by_contact("slack", "U024ALICE ".lower())) == []  # ids keep their case
    assert await kneutral.find_users(UserQuery.by_external("https://other.example.com", "248289761001")) == []


async def test_find_users_without_a_criterion_is_invalid_argument_on_the_wire(served):
    async with grpc.aio.insecure_channel(served.target) as channel:
        stub = directory_pb2_grpc.UserDirectoryStub(channel)
        metadata = (("authorization", "Bearer find-token"),)
        for request in (pb.FindUsersRequest(), pb.FindUsersRequest(email="  "),
                        pb.FindUsersRequest(contact=pb.ContactAddress(channel="sms")),
                        pb.FindUsersRequest(external=pb.ExternalIdentity(issuer="https://login.example.com"))):
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await stub.FindUsers(request, metadata=metadata)
            assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await stub.FindUsers(pb.FindUsersRequest(email="alice@example.com"))
        assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_an_older_directory_without_find_users_is_unsupported_and_the_cache_says_none(older):
    directory = GrpcDirectory("old", older.target)
    try:
        with pytest.raises(DirectoryUnsupported, match="has no FindUsers"):
            await directory.find_users(UserQuery.by_email("alice@example.com"))
        cached = CachedDirectory(directory)
        assert await cached.find_users(UserQuery.by_email("alice@example.com")) is None
        # asked once: an unsupported call is not asked again at every lookup
        assert await cached.find_users(UserQuery.by_email("alice@example.com")) is None
        assert older.calls == {"FindUsers": 2}
        # the calls it has still answer
        assert (await cached.get_user("alice")).role == "responder"  # type: ignore[union-attr]
    finally:
        await directory.aclose()


# --------------------------------------------------------------------------- the channels' host


@pytest.fixture
async def policy_for_carol(ctx: Context) -> None:
    """carol is a target of a policy: among the users OnCall itself knows."""
    await create_policy(ctx.pool, PolicyInput(name="carol", steps=[Step(0, (Target("user", "carol"),))]))


async def test_the_host_finds_the_user_behind_an_address_in_one_find_users_call(ctx, served):
    # OnCall knows no user at all (no policy, no page): only the directory can say who U024CAROL is
    directory = GrpcDirectory("kneutral", served.target, token="find-token")
    ctx.directory = CachedDirectory(directory)
    try:
        host = Host(ctx, lambda: "http://oncall.test")
        assert await host.find_user("slack", "U024CAROL") == "carol"
        assert await host.find_user("slack", "U024NOBODY") is None
        assert served.calls == {"FindUsers": 2}  # no user was looked up one by one
    finally:
        await directory.aclose()


async def test_with_an_older_directory_the_host_falls_back_to_the_users_oncall_knows(ctx, older, policy_for_carol):
    directory = GrpcDirectory("old", older.target)
    ctx.directory = CachedDirectory(directory)
    try:
        host = Host(ctx, lambda: "http://oncall.test")
        assert await host.find_user("slack", "U024CAROL") == "carol"
        assert older.calls["FindUsers"] == 1
        assert older.calls["GetUserContactMethods"] >= 1
        # alice is no one OnCall knows, so the fallback cannot find her: the limit of scanning
        assert await host.find_user("slack", "U024ALICE") is None
    finally:
        await directory.aclose()


async def test_a_directory_plugin_without_find_users_keeps_working_through_the_fallback(ctx, policy_for_carol):
    from oncall_hookspecs import ContactMethod

    class Static:
        """A directory written before FindUsers existed: the three original methods only."""

        name = "static"

        async def get_user(self, user_id: str) -> User | None:
            return User(user_id, user_id) if user_id == "carol" else None

        async def get_users(self, user_ids: list[str]) -> list[User]:
            return [User(u, u) for u in user_ids if u == "carol"]

        async def get_contact_methods(self, user_id: str) -> list[ContactMethod]:
            return [ContactMethod("slack-1", "slack", "U024CAROL")] if user_id == "carol" else []

    ctx.directory = CachedDirectory(Static())
    assert not isinstance(Static(), UserFinder)
    assert await Host(ctx, lambda: "http://oncall.test").find_user("slack", "U024CAROL") == "carol"
