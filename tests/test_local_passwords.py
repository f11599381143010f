"""Local login: ``oncall-directory set-password`` keeps an argon2id hash in the users file; the
directory's Authenticate (local, and kneutral forwarding to it over gRPC) answers a wrong
password, an unknown user and a user without a password alike; and ``PasswordLogin``, the
check the login route calls, throttles failed attempts per login name and per client address
on a frozen clock."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from oncall_hookspecs import ContactMethod, DirectoryUnsupported, PasswordDirectory, User
from oncall_local_directory import users_file
from oncall_local_directory.passwords import hash_password
from oncall_testkit import registered

from oncall.clock import Clock
from oncall.directory.errors import DirectoryUnavailable
from oncall.directory.grpc_client import GrpcDirectory
from oncall.directory.login import REFUSED, LoginThrottle, PasswordLogin, address_key

CLI = Path(sys.executable).with_name("oncall-directory")
ALICE_PASSWORD = "correct horse battery staple"

USERS_YAML = """\
users:
  - id: alice
    name: Alice Example
    email: alice@example.com
    role: editor
    groups: [payments]
    contact_methods:
      - {id: sms-1, type: sms, address: "+15555550100"}
  - id: bob
    name: Bob
    email: bob@example.com
  - id: twin-1
    name: Twin One
    email: twins@example.com
  - id: twin-2
    name: Twin Two
    email: twins@example.com
"""


def cli(path: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(CLI), *args, "--file", str(path)], input=stdin, capture_output=True, text=True,
                          timeout=60)


@pytest.fixture
def users_path(tmp_path: Path) -> Path:
    """The users file, with a password for alice (and for twin-1, who shares an email)."""
    path = tmp_path / "users.yaml"
    loaded = users_file.parse(USERS_YAML)
    loaded.users["alice"].password_hash = hash_password(ALICE_PASSWORD)
    loaded.users["twin-1"].password_hash = hash_password("twin one's password")
    users_file.write(path, list(loaded.users.values()))
    return path


@pytest.fixture
async def local(users_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Any]:
    monkeypatch.setenv("ONCALL_LOCAL_DIRECTORY_FILE", str(users_path))
    directory = registered("local").one("directories")
    yield directory
    await directory.aclose()


@pytest.fixture
def clock() -> Clock:
    c = Clock()
    c.freeze()
    return c


# --------------------------------------------------------------------------- set-password


def test_set_password_stores_an_argon2id_hash_and_never_the_password(tmp_path):
    path = tmp_path / "users.yaml"
    assert cli(path, "add-user", "--id", "carol", "--email", "carol@example.com", "--role", "responder").returncode == 0
    done = cli(path, "set-password", "carol", stdin="s3cret-enough-password\n")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "set the password of carol"
    assert "s3cret-enough-password" not in done.stdout + done.stderr
    text = path.read_text()
    assert "s3cret-enough-password" not in text
    [carol] = users_file.read(path).users.values()
    assert carol.password_hash.startswith("$argon2id$") and carol.role == "responder"
    assert path.stat().st_mode & 0o777 == 0o600
    listed = json.loads(cli(path, "list", "--json").stdout)
    assert listed[0]["password"] is True and "$argon2id$" not in json.dumps(listed)
    assert "$argon2id$" not in cli(path, "list").stdout

    # replacing the profile keeps the password; --remove takes it away
    assert cli(path, "add-user", "--id", "carol", "--name", "Carol C", "--replace").returncode == 0
    assert users_file.read(path).users["carol"].password_hash == carol.password_hash
    removed = cli(path, "set-password", "carol", "--remove")
    assert removed.returncode == 0 and removed.stdout.strip() == "removed the password of carol"
    assert users_file.read(path).users["carol"].password_hash == ""


def test_set_password_on_a_terminal_asks_twice_and_never_echoes_the_password(tmp_path):
    import pty
    import select

    path = tmp_path / "users.yaml"
    assert cli(path, "add-user", "--id", "dave").returncode == 0
    master, replica = pty.openpty()
    # a session of its own with the terminal as stdin: getpass turns echo off on it
    proc = subprocess.Popen([str(CLI), "set-password", "dave", "--file", str(path)], stdin=replica,
                            stdout=replica, stderr=replica, start_new_session=True)
    os.close(replica)
    seen = b""

    def read_until(marker: bytes) -> None:
        nonlocal seen
        while marker not in seen:
            ready, _, _ = select.select([master], [], [], 30)
            assert ready, f"no {marker!r} within 30 s; the terminal showed {seen!r}"
            seen += os.read(master, 1024)

    try:
        read_until(b"new password: ")
        os.write(master, b"typed-on-a-terminal\n")
        read_until(b"again: ")
        os.write(master, b"typed-on-a-terminal\n")
        read_until(b"set the password of dave")
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)
    assert b"typed-on-a-terminal" not in seen
    assert users_file.read(path).users["dave"].password_hash.startswith("$argon2id$")


def test_set_password_refuses_a_short_password_and_an_unknown_user_and_changes_nothing(users_path):
    before = users_path.read_text()
    short = cli(users_path, "set-password", "bob", stdin="short\n")
    assert short.returncode == 1
    assert short.stderr.strip() == "oncall-directory: a password needs at least 8 characters; nothing changed"
    unknown = cli(users_path, "set-password", "nobody", stdin="long enough password\n")
    assert unknown.returncode == 1 and "no such user: nobody (nothing changed)" in unknown.stderr
    assert users_path.read_text() == before


def test_a_password_hash_that_is_not_argon2id_grants_no_login_and_the_user_still_pages():
    loaded = users_file.parse(USERS_YAML.replace("    role: editor\n", "    role: editor\n    password_hash: hunter2\n"))
    assert loaded.users["alice"].password_hash == ""
    assert loaded.users["alice"].contact_methods  # still paged
    [problem] = loaded.problems
    assert "password_hash is not an argon2id hash" in problem and "hunter2" not in problem


# --------------------------------------------------------------------------- Authenticate


async def test_authenticate_gives_the_user_for_the_right_password_by_id_or_email(local):
    assert isinstance(local, PasswordDirectory)
    alice = await local.authenticate("alice", ALICE_PASSWORD)
    assert alice == User("alice", "Alice Example", "alice@example.com", role="editor", groups=("payments",))
    assert await local.authenticate("Alice@Example.com", ALICE_PASSWORD) == alice


async def test_a_wrong_password_an_unknown_user_and_a_user_without_a_password_get_the_same_answer(local, caplog):
    import logging

    caplog.set_level(logging.DEBUG)
    assert await local.authenticate("alice", "not the password") is None
    assert await local.authenticate("nobody", ALICE_PASSWORD) is None
    assert await local.authenticate("bob", ALICE_PASSWORD) is None  # bob has no password
    assert await local.authenticate("bob", "") is None
    # an email two users share names neither of them
    assert await local.authenticate("twins@example.com", "twin one's password") is None
    assert (await local.authenticate("twin-1", "twin one's password")).id == "twin-1"  # type: ignore[union-attr]
    # the password's length bounds the work, and a longer one is no one's
    assert await local.authenticate("alice", ALICE_PASSWORD + "x" * 5000) is None
    # no password, right or wrong, reaches the log
    assert "not the password" not in caplog.text and ALICE_PASSWORD not in caplog.text


async def test_kneutral_forwards_authenticate_to_its_directory(users_path, monkeypatch):
    import oncall_kneutral
    from oncall_local_directory.server import start_server
    from oncall_local_directory.users_file import UsersFile

    server, port = await start_server(UsersFile(users_path), "127.0.0.1:0", "kn-token")
    for name in [n for n in os.environ if n.startswith("ONCALL_KNEUTRAL_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("ONCALL_KNEUTRAL_ADDR", f"127.0.0.1:{port}")
    monkeypatch.setenv("ONCALL_KNEUTRAL_TOKEN", "kn-token")
    got: list[Any] = []
    oncall_kneutral.register_directories(got.append)
    [kneutral] = got
    try:
        assert (await kneutral.authenticate("alice", ALICE_PASSWORD)).role == "editor"
        assert await kneutral.authenticate("alice", "wrong password!") is None
    finally:
        await kneutral.aclose()
        await server.stop(grace=None)


# --------------------------------------------------------------------------- PasswordLogin and its throttle


async def test_the_login_check_answers_one_sentence_for_a_wrong_user_and_a_wrong_password(local, clock):
    login = PasswordLogin(local, LoginThrottle(clock=clock))
    ok = await login.check("alice", ALICE_PASSWORD, address="192.0.2.10")
    assert ok.ok and ok.user is not None and ok.user.id == "alice" and ok.message == ""
    wrong_password = await login.check("alice", "guess", address="192.0.2.10")
    wrong_user = await login.check("mallory", ALICE_PASSWORD, address="192.0.2.10")
    assert (wrong_password.user, wrong_password.message) == (wrong_user.user, wrong_user.message) == (None, REFUSED)
    assert REFUSED == "invalid user or password"


async def test_failed_attempts_are_throttled_per_user_until_the_window_passes(local, clock):
    login = PasswordLogin(local, LoginThrottle(per_user=5, per_address=100, window_s=900, clock=clock))
    for i in range(5):
        clock.advance(10)
        assert (await login.check("alice", f"guess {i}", address=f"192.0.2.{i}")).message == REFUSED
    # the sixth attempt, from any address and even with the right password, is refused unasked
    throttled = await login.check("alice", ALICE_PASSWORD, address="198.51.100.7")
    assert not throttled.ok
    assert throttled.message == "too many failed attempts; try again in 861 s"
    assert throttled.retry_after_s == pytest.approx(860)
    # another user is not held back by alice's failures
    assert (await login.check("twin-1", "twin one's password", address="198.51.100.7")).ok
    # once the first failure leaves the window, one more attempt may be made, and the right
    # password clears alice's count
    clock.advance(860)
    assert (await login.check("alice", ALICE_PASSWORD, address="198.51.100.7")).ok
    assert login.throttle.retry_after("alice", "198.51.100.7") == 0


async def test_failed_attempts_are_throttled_per_address_across_user_names(local, clock):
    login = PasswordLogin(local, LoginThrottle(per_user=5, per_address=20, window_s=900, clock=clock))
    for i in range(20):
        assert (await login.check(f"user-{i}", "guess", address="2001:db8:1:2::10")).message == REFUSED
    # the same /64 is the same client; another address is not held back
    same_host = await login.check("alice", ALICE_PASSWORD, address="2001:db8:1:2:ffff::1")
    assert not same_host.ok and same_host.retry_after_s == pytest.approx(900)
    assert (await login.check("alice", ALICE_PASSWORD, address="192.0.2.99")).ok
    assert address_key("::ffff:192.0.2.1") == "192.0.2.1"
    assert address_key("2001:db8:1:2::10") == "2001:db8:1:2::/64"


def test_concurrent_attempts_count_from_the_moment_they_start(clock):
    throttle = LoginThrottle(per_user=3, per_address=100, clock=clock)
    # three attempts begun and not yet answered use the whole allowance: a burst can't slip past
    assert [throttle.begin("alice", "192.0.2.1") for _ in range(3)] == [0, 0, 0]
    assert throttle.begin("alice", "192.0.2.1") == pytest.approx(900)
    # one that succeeds forgives them all for alice, not for the address
    throttle.forgive("alice", "192.0.2.1", succeeded=True)
    assert throttle.retry_after("alice", "192.0.2.1") == 0


async def test_a_directory_outage_is_raised_and_counts_as_no_failed_attempt(users_path, clock):
    from oncall_local_directory.server import start_server
    from oncall_local_directory.users_file import UsersFile

    server, port = await start_server(UsersFile(users_path), "127.0.0.1:0")
    directory = GrpcDirectory("kneutral", f"127.0.0.1:{port}", timeout_s=2)
    login = PasswordLogin(directory, LoginThrottle(per_user=1, clock=clock))
    try:
        await server.stop(grace=None)
        with pytest.raises(DirectoryUnavailable):
            await login.check("alice", ALICE_PASSWORD, address="192.0.2.1")
        assert login.throttle.retry_after("alice", "192.0.2.1") == 0
    finally:
        await directory.aclose()


class _Static:
    """A directory plugin written before Authenticate existed."""

    name = "static"

    async def get_user(self, user_id: str) -> User | None:
        return None

    async def get_users(self, user_ids: list[str]) -> list[User]:
        return []

    async def get_contact_methods(self, user_id: str) -> list[ContactMethod]:
        return []


async def test_a_directory_that_holds_no_passwords_is_unsupported_and_counts_no_attempt(users_path, clock):
    import grpc
    from oncall_local_directory.server import UserDirectoryService
    from oncall_local_directory.users_file import UsersFile

    from oncall.directory.v1 import directory_pb2_grpc

    plugin = PasswordLogin(_Static(), LoginThrottle(per_user=1, clock=clock))
    assert not plugin.available
    with pytest.raises(DirectoryUnsupported, match="the static directory holds no passwords"):
        await plugin.check("alice", ALICE_PASSWORD, address="192.0.2.1")

    class Older(UserDirectoryService):
        Authenticate = directory_pb2_grpc.UserDirectoryServicer.Authenticate  # type: ignore[assignment]

    server = grpc.aio.server()
    directory_pb2_grpc.add_UserDirectoryServicer_to_server(Older(UsersFile(users_path)), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    directory = GrpcDirectory("old", f"127.0.0.1:{port}")
    login = PasswordLogin(directory, LoginThrottle(per_user=1, clock=clock))
    try:
        with pytest.raises(DirectoryUnsupported, match="holds no passwords"):
            await login.check("alice", ALICE_PASSWORD, address="192.0.2.1")
        assert login.throttle.retry_after("alice", "192.0.2.1") == 0
    finally:
        await directory.aclose()
        await server.stop(grace=None)
