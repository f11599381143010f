"""The user directory: the UserDirectory contract over real gRPC channels on 127.0.0.1, the
kneutral and local plugins, the oncall-directory CLI, and the core's CachedDirectory."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from oncall_hookspecs import ContactMethod, User

from oncall.directory.client import CachedDirectory, open_directory
from oncall.directory.errors import DirectoryError, DirectoryUnavailable
from oncall.directory.grpc_client import GrpcDirectory
from oncall.directory.v1 import directory_pb2 as pb
from oncall.directory.v1 import directory_pb2_grpc
from oncall.plugins import load_plugins
from oncall_local_directory import users_file
from oncall_local_directory.server import start_server
from oncall_local_directory.users_file import UsersFile

CLI = Path(sys.executable).with_name("oncall-directory")

USERS_YAML = """\
users:
  - id: alice
    name: Alice Example
    email: alice@example.com
    time_zone: Europe/Berlin
    contact_methods:
      - {id: voice-1, type: voice, address: "+15555550100", priority: 3}
      - {id: sms-1, type: sms, address: "+15555550100", priority: 1}
      - {id: slack-1, type: slack, address: U024BE7LH, priority: 2}
      - {id: push-1, type: push, address: alice-phone, priority: 0, disabled: true}
  - id: bob
    name: Bob
    contact_methods:
      - {type: email, address: bob@example.com}
"""

ALICE_METHODS = [
    ContactMethod("sms-1", "sms", "+15555550100"),
    ContactMethod("slack-1", "slack", "U024BE7LH"),
    ContactMethod("voice-1", "voice", "+15555550100"),
]


class FakeTime:
    """A monotonic clock the test moves, for the cache's TTL."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Reference:
    """The local reference server over a users file, on an ephemeral loopback port."""

    def __init__(self, path: Path, token: str | None = None) -> None:
        self.path = path
        self.token = token
        self.server: grpc.aio.Server | None = None
        self.target = ""

    async def start(self) -> None:
        self.server, port = await start_server(UsersFile(self.path), "127.0.0.1:0", self.token)
        self.target = f"127.0.0.1:{port}"

    async def stop(self) -> None:
        if self.server is not None:
            await self.server.stop(grace=None)
            self.server = None


@pytest.fixture
def users_path(tmp_path: Path) -> Path:
    path = tmp_path / "users.yaml"
    path.write_text(USERS_YAML)
    return path


@pytest.fixture
async def reference(users_path: Path) -> AsyncIterator[Reference]:
    ref = Reference(users_path, token="s3cret-token")
    await ref.start()
    yield ref
    await ref.stop()


def registered(plugin: object, monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> list[object]:
    """What ``plugin``'s register_directories registers with ``env`` set."""
    for name in list(os.environ):
        if name.startswith(("ONCALL_KNEUTRAL_", "ONCALL_LOCAL_DIRECTORY_")):
            monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    got: list[object] = []
    plugin.register_directories(got.append)  # type: ignore[attr-defined]
    return got


@pytest.fixture
async def kneutral(reference: Reference, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[GrpcDirectory]:
    """The kneutral plugin's directory, configured to call the reference server."""
    import oncall_kneutral

    [directory] = registered(oncall_kneutral, monkeypatch, {
        "ONCALL_KNEUTRAL_ADDR": reference.target, "ONCALL_KNEUTRAL_TOKEN": reference.token or "",
    })
    assert isinstance(directory, GrpcDirectory)
    yield directory
    await directory.aclose()


def replace_file(path: Path, text: str) -> None:
    """Rewrite the users file the way editors and the CLI do: a new file renamed over the old."""
    tmp = path.with_suffix(".new")
    tmp.write_text(text)
    tmp.replace(path)


# --------------------------------------------------------------------------- the contract


async def test_kneutral_client_reads_users_and_ordered_contact_methods_over_grpc(kneutral):
    assert await kneutral.get_user("alice") == User("alice", "Alice Example", "alice@example.com", "Europe/Berlin")
    assert await kneutral.get_users(["bob", "ghost", "alice", "bob"]) == [
        User("bob", "Bob", "", "UTC"), User("alice", "Alice Example", "alice@example.com", "Europe/Berlin"),
    ]
    # by priority; the disabled push method is never handed to OnCall
    assert await kneutral.get_contact_methods("alice") == ALICE_METHODS
    assert await kneutral.get_contact_methods("bob") == [ContactMethod("email-1", "email", "bob@example.com")]


async def test_unknown_users_are_none_and_empty_to_the_client_and_not_found_on_the_wire(kneutral, reference):
    assert await kneutral.get_user("ghost") is None
    assert await kneutral.get_contact_methods("ghost") == []

    metadata = (("authorization", f"Bearer {reference.token}"),)
    async with grpc.aio.insecure_channel(reference.target) as channel:
        stub = directory_pb2_grpc.UserDirectoryStub(channel)
        for call in (stub.GetUser(pb.GetUserRequest(user_id="ghost"), metadata=metadata),
                     stub.GetUserContactMethods(pb.GetUserContactMethodsRequest(user_id="ghost"), metadata=metadata)):
            with pytest.raises(grpc.aio.AioRpcError) as failure:
                await call
            assert failure.value.code() == grpc.StatusCode.NOT_FOUND
            assert "ghost" in failure.value.details()
        reply = await stub.GetUsers(pb.GetUsersRequest(user_ids=["ghost", "alice"]), metadata=metadata)
        assert [u.id for u in reply.users] == ["alice"] and list(reply.not_found_user_ids) == ["ghost"]
        reply = await stub.GetUserContactMethods(pb.GetUserContactMethodsRequest(user_id="alice"), metadata=metadata)
        # the wire lists disabled methods too, flagged, so tools can show them
        assert [(m.id, m.disabled) for m in reply.contact_methods] == [
            ("push-1", True), ("sms-1", False), ("slack-1", False), ("voice-1", False)]
        with pytest.raises(grpc.aio.AioRpcError) as failure:
            await stub.GetUsers(pb.GetUsersRequest(), metadata=metadata)
        assert failure.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_the_bearer_token_reaches_the_server_and_a_wrong_one_is_refused(reference):
    right = GrpcDirectory("kneutral", reference.target, token=reference.token)
    wrong = GrpcDirectory("kneutral", reference.target, token="not-the-token")
    none = GrpcDirectory("kneutral", reference.target)
    try:
        assert (await right.get_user("alice")).name == "Alice Example"
        for client in (wrong, none):
            with pytest.raises(DirectoryError, match="UNAUTHENTICATED") as failure:
                await client.get_user("alice")
            assert not isinstance(failure.value, DirectoryUnavailable)  # refused, not an outage
            assert "not-the-token" not in str(failure.value)
    finally:
        for client in (right, wrong, none):
            await client.aclose()


async def test_a_stopped_server_is_an_outage_to_the_client(reference):
    client = GrpcDirectory("kneutral", reference.target, token=reference.token)
    await reference.stop()
    try:
        with pytest.raises(DirectoryUnavailable, match="UNAVAILABLE"):
            await client.get_contact_methods("alice")
    finally:
        await client.aclose()


# --------------------------------------------------------------------------- the kneutral plugin


def test_kneutral_without_an_address_registers_nothing_and_says_so(monkeypatch, caplog):
    import oncall_kneutral

    with caplog.at_level(logging.DEBUG, logger="oncall_kneutral"):
        assert registered(oncall_kneutral, monkeypatch, {}) == []
    assert "ONCALL_KNEUTRAL_ADDR is not set" in caplog.text


@pytest.mark.parametrize(("env", "message"), [
    ({"ONCALL_KNEUTRAL_TIMEOUT_S": "soon"}, "ONCALL_KNEUTRAL_TIMEOUT_S must be a number of seconds, got 'soon'"),
    ({"ONCALL_KNEUTRAL_TIMEOUT_S": "0"}, "ONCALL_KNEUTRAL_TIMEOUT_S must be more than 0"),
    ({"ONCALL_KNEUTRAL_ADDR": "kneutral-api"}, "ONCALL_KNEUTRAL_ADDR must be host:port"),
    ({"ONCALL_KNEUTRAL_TLS": "maybe"}, "ONCALL_KNEUTRAL_TLS must be true or false"),
    ({"ONCALL_KNEUTRAL_CA_FILE": "/nonexistent/ca.pem"}, "ONCALL_KNEUTRAL_CA_FILE: no such file"),
])
def test_a_malformed_kneutral_setting_fails_the_plugin_with_a_message_naming_it(monkeypatch, env, message):
    monkeypatch.setenv("ONCALL_KNEUTRAL_ADDR", "kneutral-api.internal:443")
    monkeypatch.setenv("ONCALL_KNEUTRAL_TOKEN", "tok-do-not-log")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    _, registry = load_plugins()
    [info] = [p for p in registry.plugins if p.name == "kneutral"]
    assert info.status == "failed"
    assert message in info.error
    assert "tok-do-not-log" not in info.error
    assert "kneutral" not in registry.directories
    assert "local" in registry.directories  # the others load regardless


def test_a_token_sent_in_clear_text_to_a_remote_host_is_warned_about_without_showing_it(monkeypatch, caplog):
    import oncall_kneutral

    with caplog.at_level(logging.INFO):
        [directory] = registered(oncall_kneutral, monkeypatch, {
            "ONCALL_KNEUTRAL_ADDR": "kneutral-api.internal:443", "ONCALL_KNEUTRAL_TOKEN": "tok-do-not-log"})
    assert "ONCALL_KNEUTRAL_TOKEN goes to kneutral-api.internal:443 in clear text" in caplog.text
    assert "tok-do-not-log" not in caplog.text + repr(directory)


# --------------------------------------------------------------------------- the local plugin


@pytest.fixture
async def local(users_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[GrpcDirectory]:
    import oncall_local_directory

    [directory] = registered(oncall_local_directory, monkeypatch, {"ONCALL_LOCAL_DIRECTORY_FILE": str(users_path)})
    yield directory
    await directory.aclose()


async def test_the_local_directory_serves_its_file_over_grpc_started_on_first_use(local):
    assert isinstance(local, GrpcDirectory)  # the same client as kneutral's, not a second implementation
    assert await local.get_contact_methods("alice") == ALICE_METHODS
    host, _, port = local.target.rpartition(":")
    assert host == "127.0.0.1" and int(port) > 0

    # the loopback server wants the plugin's per-process token: other local processes can't read it
    async with grpc.aio.insecure_channel(local.target) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as failure:
            await directory_pb2_grpc.UserDirectoryStub(channel).GetUser(pb.GetUserRequest(user_id="alice"))
        assert failure.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_changes_to_the_users_file_are_served_on_the_next_lookup(local, users_path):
    assert (await local.get_user("alice")).name == "Alice Example"
    replace_file(users_path, USERS_YAML.replace("Alice Example", "Alice Renamed"))
    assert (await local.get_user("alice")).name == "Alice Renamed"

    # an in-place edit (same file, new contents) is noticed too
    with users_path.open("a") as f:
        f.write("  - {id: carol, name: Carol, contact_methods: [{type: sms, address: '+15555550199'}]}\n")
    assert await local.get_contact_methods("carol") == [ContactMethod("sms-1", "sms", "+15555550199")]

    users_path.unlink()
    assert await local.get_user("alice") is None


async def test_a_broken_users_file_keeps_the_last_good_users_in_service(local, users_path, caplog):
    assert await local.get_contact_methods("alice") == ALICE_METHODS
    replace_file(users_path, "users: [ {id: alice, name: 'unterminated")
    with caplog.at_level(logging.ERROR):
        assert await local.get_contact_methods("alice") == ALICE_METHODS
    assert "is not valid YAML" in caplog.text and "still serving the 2 users read before" in caplog.text

    # one bad entry is left out, named, and the rest is served
    replace_file(users_path, USERS_YAML.replace('type: slack', 'type: fax'))
    caplog.clear()
    with caplog.at_level(logging.ERROR):
        assert await local.get_contact_methods("alice") == [m for m in ALICE_METHODS if m.kind != "slack"]
    assert "user alice: contact_methods[2]: type 'fax' is not one of sms, voice" in caplog.text


# --------------------------------------------------------------------------- the CLI


def cli(users_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ONCALL_LOCAL_DIRECTORY_FILE": str(users_path)}
    return subprocess.run([str(CLI), *args], capture_output=True, text=True, env=env, timeout=60)


async def test_the_cli_adds_lists_and_removes_users_that_the_directory_then_serves(tmp_path, monkeypatch):
    import oncall_local_directory

    path = tmp_path / "data" / "users.yaml"
    added = cli(path, "add-user", "--id", "alice", "--name", "Alice", "--email", "alice@example.com",
                "--sms", "+15555550100", "--slack", "U123", "--time-zone", "Europe/Berlin")
    assert added.returncode == 0, added.stderr
    assert added.stdout.strip() == "added alice (Alice): email alice@example.com, sms +15555550100, slack U123"
    assert cli(path, "add-user", "--id", "bob", "--voice", "+15555550111", "--no-email-contact",
               "--email", "bob@example.com").returncode == 0
    assert path.stat().st_mode & 0o777 == 0o600  # contact details are personal data

    listed = cli(path, "list")
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert lines[0].split() == ["ID", "NAME", "EMAIL", "TIME", "ZONE", "ROLE", "PASSWORD", "CONTACT", "METHODS"]
    assert lines[1].split() == ["alice", "Alice", "alice@example.com", "Europe/Berlin", "-", "-",
                                "email:alice@example.com,", "sms:+15555550100,", "slack:U123"]
    assert lines[2].split() == ["bob", "bob", "bob@example.com", "UTC", "-", "-", "voice:+15555550111"]
    as_json = json.loads(cli(path, "list", "--json").stdout)
    assert [u["id"] for u in as_json] == ["alice", "bob"]

    # what the CLI wrote is what the directory serves, in command-line order
    [directory] = registered(oncall_local_directory, monkeypatch, {"ONCALL_LOCAL_DIRECTORY_FILE": str(path)})
    try:
        assert await directory.get_contact_methods("alice") == [
            ContactMethod("email-1", "email", "alice@example.com"),
            ContactMethod("sms-1", "sms", "+15555550100"),
            ContactMethod("slack-1", "slack", "U123"),
        ]
        removed = cli(path, "remove", "alice")
        assert removed.returncode == 0 and removed.stdout.strip() == "removed alice"
        assert await directory.get_user("alice") is None
        assert (await directory.get_user("bob")).email == "bob@example.com"
    finally:
        await directory.aclose()
    assert [u["id"] for u in json.loads(cli(path, "list", "--json").stdout)] == ["bob"]


def test_the_cli_refuses_bad_input_and_changes_nothing(users_path):
    before = users_path.read_text()
    bad = cli(users_path, "add-user", "--id", "carol", "--sms", "555-0100", "--webhook", "ftp://x")
    assert bad.returncode == 1
    assert "--sms: address '555-0100' is not a phone number in E.164 form" in bad.stderr
    assert "--webhook: address 'ftp://x' is not an http(s) URL" in bad.stderr
    exists = cli(users_path, "add-user", "--id", "alice", "--sms", "+15555550100")
    assert exists.returncode == 1 and "user 'alice' already exists; add --replace" in exists.stderr
    unknown = cli(users_path, "remove", "bob", "ghost")
    assert unknown.returncode == 1 and "no such user: ghost (nothing removed)" in unknown.stderr
    assert users_path.read_text() == before

    replaced = cli(users_path, "add-user", "--id", "alice", "--sms", "+15555550100", "--replace")
    assert replaced.returncode == 0 and replaced.stdout.startswith("replaced alice")


async def test_cli_serve_serves_the_file_over_grpc_standalone(users_path):
    env = {**os.environ, "ONCALL_LOCAL_DIRECTORY_FILE": str(users_path), "ONCALL_LOCAL_DIRECTORY_TOKEN": "t0k"}
    proc = await asyncio.create_subprocess_exec(
        str(CLI), "serve", "--addr", "127.0.0.1:0", env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
    )
    client = None
    try:
        line = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode().strip()
        assert line.startswith(f"serving 2 users from {users_path} on 127.0.0.1:"), line
        assert line.endswith("(bearer token required)")
        target = line.split(" on ")[1].split()[0]
        client = GrpcDirectory("kneutral", target, token="t0k")
        assert await client.get_contact_methods("alice") == ALICE_METHODS
    finally:
        if client is not None:
            await client.aclose()
        proc.terminate()
        assert await asyncio.wait_for(proc.wait(), 30) == 0


# --------------------------------------------------------------------------- CachedDirectory


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


@pytest.fixture
def cached(kneutral: GrpcDirectory, fake_time: FakeTime) -> CachedDirectory:
    return CachedDirectory(kneutral, ttl_s=60, timeout_s=5, retry_after_s=5, clock=fake_time)


async def test_lookups_are_cached_until_the_ttl_expires(cached, users_path, fake_time):
    first = await cached.contact_methods("alice")
    assert (list(first.value), first.known, first.stale) == (ALICE_METHODS, True, False)
    replace_file(users_path, USERS_YAML.replace('"+15555550100", priority: 1', '"+15555550177", priority: 1'))

    fake_time.advance(59)
    hit = await cached.contact_methods("alice")
    assert hit.value == first.value and not hit.stale and hit.age_s == 59  # from the cache: the edit is unseen

    fake_time.advance(1)
    fresh = await cached.contact_methods("alice")
    assert fresh.value[0] == ContactMethod("sms-1", "sms", "+15555550177") and fresh.age_s == 0


async def test_an_unreachable_directory_gives_the_last_known_data_marked_stale_with_one_warning(
    cached, reference, fake_time, caplog
):
    await cached.contact_methods("alice")
    assert (await cached.user("alice")).value.name == "Alice Example"
    await reference.stop()
    fake_time.advance(120)

    with caplog.at_level(logging.WARNING, logger="oncall.directory.client"):
        methods = await cached.contact_methods("alice")
        fake_time.advance(30)  # past retry_after: the directory is asked again, and fails again
        again = await cached.contact_methods("alice")
        user = await cached.user("alice")
        nobody = await cached.contact_methods("carol")  # never looked up before the outage

    assert (list(methods.value), methods.stale, methods.known, methods.age_s) == (ALICE_METHODS, True, True, 120)
    assert "UNAVAILABLE" in methods.error
    assert (list(again.value), again.stale, again.age_s) == (ALICE_METHODS, True, 150)
    assert user.stale and user.value.name == "Alice Example"
    assert (nobody.value, nobody.known, nobody.stale) == ((), False, False)

    about_alice = [r.getMessage() for r in caplog.records if "user alice" in r.getMessage()]
    assert len(about_alice) == 1, about_alice
    assert "what it said about user alice 120 s ago" in about_alice[0]
    assert [r for r in caplog.records if "user carol" in r.getMessage()][0].levelno == logging.WARNING


class SwitchableDirectory:
    """A directory the test can take down and bring back: for what real outages can't show
    without waiting on gRPC's reconnect timers (recovery, slowness)."""

    name = "switchable"

    def __init__(self) -> None:
        self.methods = {"alice": [ContactMethod("sms-1", "sms", "+15555550100")]}
        self.down = False
        self.hang: asyncio.Event | None = None

    async def _answer(self) -> None:
        if self.hang is not None:
            await self.hang.wait()
        if self.down:
            raise DirectoryUnavailable("switchable directory: UNAVAILABLE")

    async def get_user(self, user_id: str) -> User | None:
        await self._answer()
        return User(user_id, user_id.title()) if user_id in self.methods else None

    async def get_users(self, user_ids):
        return [u for u in [await self.get_user(i) for i in user_ids] if u is not None]

    async def get_contact_methods(self, user_id: str) -> list[ContactMethod]:
        await self._answer()
        return list(self.methods.get(user_id, []))


async def test_each_outage_warns_once_per_user_and_recovery_brings_fresh_data(fake_time, caplog):
    directory = SwitchableDirectory()
    cached = CachedDirectory(directory, ttl_s=60, retry_after_s=5, clock=fake_time)
    await cached.contact_methods("alice")
    with caplog.at_level(logging.INFO, logger="oncall.directory.client"):
        for outage in range(2):
            directory.down = True
            for _ in range(3):
                fake_time.advance(61)
                assert (await cached.contact_methods("alice")).stale
            directory.down = False
            directory.methods["alice"] = [ContactMethod("sms-1", "sms", f"+1555555010{outage}")]
            fake_time.advance(61)
            fresh = await cached.contact_methods("alice")
            assert not fresh.stale and fresh.value[0].address == f"+1555555010{outage}"
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and "user alice" in r.getMessage()]
    assert len(warnings) == 2  # one per outage
    assert sum("answers again" in r.getMessage() for r in caplog.records) == 2


async def test_a_slow_directory_costs_one_timeout_then_answers_from_the_cache(fake_time):
    directory = SwitchableDirectory()
    cached = CachedDirectory(directory, ttl_s=60, timeout_s=0.05, retry_after_s=5, clock=fake_time)
    await cached.contact_methods("alice")
    directory.hang = asyncio.Event()  # never set: every call would wait forever
    fake_time.advance(61)
    slow = await cached.contact_methods("alice")
    assert slow.stale and slow.value and slow.error == "no answer within 0.05 s"
    # while the directory is assumed down it is not asked at all: no second wait
    fake_time.advance(1)
    asked = asyncio.ensure_future(cached.contact_methods("alice"))
    await asyncio.sleep(0)
    assert asked.done() and asked.result().stale


async def test_users_are_fetched_in_one_batch_and_fall_back_one_by_one(fake_time):
    directory = SwitchableDirectory()
    directory.methods["bob"] = []
    cached = CachedDirectory(directory, clock=fake_time)
    found = await cached.users(["alice", "bob", "ghost"])
    assert {k: (v.value.name if v.value else None) for k, v in found.items()} == {
        "alice": "Alice", "bob": "Bob", "ghost": None}
    directory.down = True
    fake_time.advance(3600)
    later = await cached.users(["alice", "carol"])
    assert later["alice"].stale and later["alice"].value.name == "Alice"
    assert later["carol"].value is None and not later["carol"].known
    assert await cached.get_users(["alice", "carol"]) == [User("alice", "Alice")]


def test_oncall_directory_chooses_the_directory_and_checks_the_cache_settings(caplog):
    directories = {"local": SwitchableDirectory(), "kneutral": SwitchableDirectory()}
    chosen = open_directory(directories, {})
    assert chosen is not None and chosen.directory is directories["local"] and chosen.ttl_s == 60
    chosen = open_directory(directories, {"ONCALL_DIRECTORY": "kneutral", "ONCALL_DIRECTORY_CACHE_TTL_S": "5",
                                          "ONCALL_DIRECTORY_TIMEOUT_S": "0.5"})
    assert chosen.directory is directories["kneutral"] and (chosen.ttl_s, chosen.timeout_s) == (5, 0.5)
    assert open_directory(directories, {"ONCALL_DIRECTORY": "none"}) is None
    with caplog.at_level(logging.ERROR):
        assert open_directory({"local": directories["local"]}, {"ONCALL_DIRECTORY": "kneutral"}) is None
    assert "ONCALL_DIRECTORY=kneutral names no registered directory (registered: local)" in caplog.text
    with pytest.raises(SystemExit, match="ONCALL_DIRECTORY_CACHE_TTL_S must be a number of seconds"):
        open_directory(directories, {"ONCALL_DIRECTORY_CACHE_TTL_S": "a minute"})


def test_the_users_file_is_written_whole_and_reads_back_the_same(tmp_path):
    loaded = users_file.parse(USERS_YAML)
    assert loaded.problems == []
    path = tmp_path / "users.yaml"
    users_file.write(path, list(loaded.users.values()))
    assert users_file.read(path) == loaded
    assert [p.name for p in tmp_path.iterdir()] == ["users.yaml"]  # no temporary file left behind



async def test_kneutral_over_tls_trusts_the_configured_ca(tmp_path, users_path, monkeypatch):
    import shutil

    import oncall_kneutral
    from oncall_local_directory.server import UserDirectoryService

    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a certificate")
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True, timeout=60)
    server = grpc.aio.server()
    directory_pb2_grpc.add_UserDirectoryServicer_to_server(UserDirectoryService(UsersFile(users_path)), server)
    port = server.add_secure_port("127.0.0.1:0", grpc.ssl_server_credentials([(key.read_bytes(), cert.read_bytes())]))
    await server.start()
    try:
        [directory] = registered(oncall_kneutral, monkeypatch, {
            "ONCALL_KNEUTRAL_ADDR": f"127.0.0.1:{port}", "ONCALL_KNEUTRAL_CA_FILE": str(cert)})
        try:
            assert await directory.get_contact_methods("alice") == ALICE_METHODS
        finally:
            await directory.aclose()
        # without TLS the same server does not answer: nothing was ever sent in clear text
        [plain] = registered(oncall_kneutral, monkeypatch, {"ONCALL_KNEUTRAL_ADDR": f"127.0.0.1:{port}"})
        try:
            with pytest.raises(DirectoryUnavailable):
                await plain.get_user("alice")
        finally:
            await plain.aclose()
    finally:
        await server.stop(grace=None)
