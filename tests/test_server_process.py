"""``oncall serve`` as a real process: SIGTERM drains it cleanly, and it runs on the embedded PostgreSQL.

On SIGTERM the server stops accepting connections, finishes the requests it is serving
(their alerts committed before their 2xx), closes its pool and exits 0.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import psycopg
import pytest
from fixtures.processes import ServeProcess, oncall_env

from oncall.alerting.store import create_integration
from oncall.store.database import open_pool

pytestmark = pytest.mark.slow


@pytest.fixture
def serve(fresh_database, tmp_path: Path):
    """Start ``oncall serve`` on a new database; the test gets (process, database URL)."""
    started: list[ServeProcess] = []

    def start(grace_s: float = 20.0) -> tuple[ServeProcess, str]:
        url = fresh_database()
        env = oncall_env(url, ONCALL_SHUTDOWN_GRACE_S=str(grace_s))
        server = ServeProcess.start(env, tmp_path / f"serve-{len(started)}.log")
        started.append(server)
        server.wait_until_serving("/readyz")
        return server, url

    yield start
    for server in started:
        server.kill()


async def new_key(url: str) -> str:
    pool = await open_pool(url, 1, 1)
    try:
        _, key = await create_integration(pool, "generic", "shutdown-test")
        return key
    finally:
        await pool.close()


async def refuses_connections(port: int) -> bool:
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return True
    writer.close()
    return False


async def wait_until(condition, what: str, server: ServeProcess) -> None:
    deadline = time.monotonic() + 30  # a bound on the wait, not a measurement
    while not await condition():
        assert time.monotonic() < deadline, f"{what}:\n{server.output()}"
        assert server.proc.poll() is None, f"exited (code {server.proc.returncode}) before {what}:\n{server.output()}"
        await asyncio.sleep(0.02)


def webhook_head(server: ServeProcess, key: str, length: int, expect_continue: bool = False) -> bytes:
    return (
        "POST /api/v1/webhooks/generic HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{server.http_port}\r\n"
        f"Authorization: Bearer {key}\r\n"
        "Content-Type: application/json\r\n"
        "Accept: application/json\r\n"
        f"Content-Length: {length}\r\n"
        + ("Expect: 100-continue\r\n" if expect_continue else "")
        + "\r\n"
    ).encode()


async def read_response(reader: asyncio.StreamReader, server: ServeProcess) -> tuple[bytes, dict]:
    try:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 60)
    except asyncio.IncompleteReadError:
        raise AssertionError(f"the connection closed without an answer:\n{server.output()}") from None
    length = next(int(h.split(b":")[1]) for h in head.split(b"\r\n") if h.lower().startswith(b"content-length:"))
    return head.split(b"\r\n")[0], json.loads(await reader.readexactly(length))


async def test_sigterm_stops_accepting_finishes_the_request_in_flight_and_exits_0(serve):
    server, url = serve()
    key = await new_key(url)
    body = json.dumps({"summary": "in flight at shutdown", "dedup": "in-flight"}).encode()

    async with await psycopg.AsyncConnection.connect(url) as blocker:
        # Hold the alerts table so the webhook's commit waits on us: it is then certainly
        # in flight, inside its handler, when SIGTERM arrives.
        await blocker.execute("BEGIN")
        await blocker.execute("LOCK TABLE alerting.alerts IN SHARE ROW EXCLUSIVE MODE")
        reader, writer = await asyncio.open_connection("127.0.0.1", server.http_port)
        writer.write(webhook_head(server, key, len(body)) + body)
        await writer.drain()

        async def webhook_waits_on_the_lock() -> bool:
            async with await psycopg.AsyncConnection.connect(url) as conn:
                cur = await conn.execute(
                    """SELECT count(*) FROM pg_stat_activity
                       WHERE datname = current_database() AND wait_event_type = 'Lock'
                         AND query LIKE '%INSERT INTO alerting.alerts%'"""
                )
                return (await cur.fetchone())[0] >= 1

        await wait_until(webhook_waits_on_the_lock, "the webhook never reached its commit", server)
        server.proc.terminate()  # SIGTERM
        await wait_until(lambda: refuses_connections(server.http_port), "still accepting after SIGTERM", server)
        await blocker.execute("ROLLBACK")  # let the in-flight webhook commit

    status, answer = await read_response(reader, server)
    writer.close()
    assert status == b"HTTP/1.1 200 OK"
    assert answer["outcome"] == "created"
    assert await asyncio.to_thread(server.wait) == 0, server.output()
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT summary FROM alerting.alerts").fetchall() == [("in flight at shutdown",)]
    assert "INFO oncall.server: stopped" in server.output()  # logged once the pool is closed


async def test_sigterm_lets_a_webhook_still_sending_its_body_finish(serve):
    server, url = serve(grace_s=3)
    key = await new_key(url)
    body = json.dumps({"summary": "still uploading at shutdown", "dedup": "uploading"}).encode()

    # "Expect: 100-continue": once the server answers "100 Continue" the request is in its
    # handler, which then waits for the body we hold back.
    reader, writer = await asyncio.open_connection("127.0.0.1", server.http_port)
    writer.write(webhook_head(server, key, len(body), expect_continue=True))
    await writer.drain()
    assert await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30) == b"HTTP/1.1 100 Continue\r\n\r\n"

    server.proc.terminate()  # SIGTERM
    await wait_until(lambda: refuses_connections(server.http_port), "still accepting after SIGTERM", server)
    writer.write(body)
    await writer.drain()

    status, answer = await read_response(reader, server)
    writer.close()
    assert (status, answer["outcome"]) == (b"HTTP/1.1 200 OK", "created")
    assert await asyncio.to_thread(server.wait) == 0, server.output()


async def test_every_webhook_answered_2xx_around_sigterm_is_stored(serve):
    server, url = serve(grace_s=5)
    key = await new_key(url)

    async def send(http: aiohttp.ClientSession, i: int) -> int | None:
        try:
            async with http.post(
                f"{server.http_url}/api/v1/webhooks/generic",
                json={"summary": f"alert {i}", "dedup": f"k{i}"},
                headers={"Authorization": f"Bearer {key}"},
            ) as r:
                return r.status
        except aiohttp.ClientError:
            return None  # refused or cut off by the shutdown: never acknowledged, so not owed

    statuses: list[int | None] = []
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0, force_close=True)) as http:
        # waves of concurrent webhooks, from before SIGTERM until the server refuses them
        for wave in range(1000):
            sent = len(statuses)
            statuses += await asyncio.gather(*(send(http, sent + j) for j in range(25)))
            if wave == 0:
                assert statuses == [204] * 25
                server.proc.terminate()  # SIGTERM
            if None in statuses[sent:]:
                break
        else:
            raise AssertionError(f"still accepting webhooks long after SIGTERM:\n{server.output()}")

    assert await asyncio.to_thread(server.wait) == 0, server.output()
    assert set(statuses) <= {204, 503, None}, statuses
    accepted = {f"k{i}" for i, status in enumerate(statuses) if status == 204}
    with psycopg.connect(url) as conn:
        stored = {row[0] for row in conn.execute("SELECT dedup_key FROM alerting.alerts")}
    assert accepted <= stored


@pytest.fixture
def data_dir() -> Iterator[Path]:
    """A data directory outside pytest's temporary tree.

    As root, pgserver runs PostgreSQL as another user and opens up the directories above
    the data; another pytest session starting meanwhile closes /tmp/pytest-of-root again.
    """
    path = Path(tempfile.mkdtemp(prefix="oncall-embedded-"))
    yield path / "data"
    shutil.rmtree(path, ignore_errors=True)


def test_oncall_serve_runs_on_the_embedded_postgresql_when_no_database_is_configured(data_dir, tmp_path):
    env = oncall_env(None, ONCALL_DATA_DIR=str(data_dir), ONCALL_SHUTDOWN_GRACE_S="5")
    env.pop("XDG_RUNTIME_DIR", None)  # as in a container or over ssh
    server = ServeProcess.start(env, tmp_path / "serve.log")
    try:
        server.wait_until_serving("/readyz")
        status, body = server.get("/readyz")
        assert (status, json.loads(body)) == (200, {"status": "ok"})
        assert "using the embedded PostgreSQL in " + str(data_dir) in server.output()
        assert "Warning" not in server.output() and "WARNING" not in server.output(), server.output()
        assert server.terminate() == 0, server.output()
    finally:
        server.kill()
    assert (data_dir / "pg" / "PG_VERSION").exists()
    # the embedded PostgreSQL stopped with the last process using it
    assert not (data_dir / "pg" / "postmaster.pid").exists(), server.output()
