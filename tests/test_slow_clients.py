"""Slow and greedy clients can't hold the server's connections: a request head that doesn't
arrive in time is 408, a body that stalls or trickles is 408, idle keep-alive connections
close, and one address can hold only so many connections while others are served.

Raw sockets (asyncio streams) trickle the bytes, so the server meets exactly the client
each test describes. The server under test has short limits (1-2 s) to keep the tests
fast; the deadlines asserted are generous upper bounds.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
from conftest import RunningServer, run_server, server_settings
from fixtures.rawhttp import closed_within, parse_response, request_bytes, send
from oncall.config import Settings

HEADER_TIMEOUT = 1.0
BODY_TIMEOUT = 1.0
MIN_RATE = 2000  # bytes/s
KEEPALIVE = 2.0  # longer than the head's deadline, as by default (aiohttp's idle timer runs from the start)
PER_CLIENT = 8
WEBHOOK = b"/api/v1/webhooks/generic"


@pytest.fixture
async def server(db_url: str) -> AsyncIterator[RunningServer]:
    settings = server_settings(
        db_url,
        http_header_timeout_s=HEADER_TIMEOUT,
        http_body_timeout_s=BODY_TIMEOUT,
        http_body_min_rate=MIN_RATE,
        http_keepalive_timeout_s=KEEPALIVE,
        http_max_connections_per_client=PER_CLIENT,
    )
    async with run_server(settings) as running:
        yield running


@pytest.fixture
async def key(server: RunningServer) -> str:
    return (await server.integration("generic"))[1]


def port_of(server: RunningServer) -> int:
    return int(server.http_url.rsplit(":", 1)[1])


async def connect(server: RunningServer, source: str = "127.0.0.1") -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", port_of(server), local_addr=(source, 0))


def webhook_head(key: str, length: int) -> bytes:
    return (
        b"POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n" % (WEBHOOK, key.encode(), length)
    )


def webhook_body(size: int = 0) -> bytes:
    doc = {"summary": "disk full on db-1", "dedup": "db-1-disk", "details": ""}
    pad = size - len(orjson.dumps(doc))
    return orjson.dumps({**doc, "details": "x" * max(pad, 0)})


async def alerts(server: RunningServer) -> int:
    async with server.ctx.pool.connection() as conn:
        cur = await conn.execute("SELECT count(*) AS n FROM alerting.alerts")
        row = await cur.fetchone()
        assert row is not None
        return int(row["n"])


async def trickle(writer: asyncio.StreamWriter, data: bytes, every: float, step: int = 1) -> None:
    """Send ``data`` ``step`` bytes at a time, one piece every ``every`` seconds, until the server closes."""
    try:
        for i in range(0, len(data), step):
            writer.write(data[i : i + step])
            await writer.drain()
            await asyncio.sleep(every)
    except (ConnectionError, OSError):
        pass


def error_of(data: bytes) -> tuple[int, dict[str, Any]]:
    answer = parse_response(data)
    assert answer.headers["content-type"].startswith("application/json"), answer
    body = answer.json()
    assert set(body) == {"error", "detail"}
    return answer.status, body


# --------------------------------------------------------------------------- the request head


async def test_a_head_sent_a_byte_at_a_time_gets_408_and_the_connection_closes(server, key):
    reader, writer = await connect(server)
    sender = asyncio.create_task(trickle(writer, webhook_head(key, 10), every=0.1))
    started = time.monotonic()
    received = await closed_within(reader, 10)
    sender.cancel()
    writer.close()
    assert received is not None, "the connection was still open after 10 s"
    assert time.monotonic() - started < HEADER_TIMEOUT + 3
    status, body = error_of(received)
    assert status == 408 and body["error"] == "request_timeout"
    assert "headers" in body["detail"]


async def test_a_connection_that_sends_nothing_is_closed_without_an_answer(server):
    reader, writer = await connect(server)
    started = time.monotonic()
    received = await closed_within(reader, 10)
    writer.close()
    assert received == b""
    assert time.monotonic() - started < HEADER_TIMEOUT + 3


async def test_a_head_that_arrives_in_time_is_served_even_if_the_answer_takes_longer(server, key):
    # the deadline is for the head, not for the request: a slow database answer is not cut off
    reader, writer = await connect(server)
    writer.write(webhook_head(key, len(webhook_body()))[:-1])
    await asyncio.sleep(HEADER_TIMEOUT / 2)
    writer.write(b"\n" + webhook_body())
    received = await closed_within(reader, 10)  # Connection: keep-alive, then the idle timeout
    writer.close()
    assert received is not None and parse_response(received).status == 204
    assert await alerts(server) == 1


# --------------------------------------------------------------------------- the body


async def test_a_body_that_stalls_gets_408_and_nothing_is_written(server, key):
    body = webhook_body(5000)
    reader, writer = await connect(server)
    writer.write(webhook_head(key, len(body)) + body[:100])
    started = time.monotonic()
    received = await closed_within(reader, 10)
    writer.close()
    assert received is not None, "the connection was still open after 10 s"
    assert time.monotonic() - started < BODY_TIMEOUT + 3
    status, answer = error_of(received)
    assert status == 408 and answer["error"] == "request_timeout"
    assert await alerts(server) == 0


async def test_a_body_trickled_below_the_minimum_rate_is_cut_off_though_it_never_pauses(server, key):
    body = webhook_body(20_000)
    reader, writer = await connect(server)
    writer.write(webhook_head(key, len(body)))
    # 10 bytes every 50 ms is 200 bytes/s: never a pause of BODY_TIMEOUT, far below MIN_RATE
    sender = asyncio.create_task(trickle(writer, body, every=0.05, step=10))
    started = time.monotonic()
    received = await closed_within(reader, 15)
    sender.cancel()
    writer.close()
    assert received is not None, "the connection was still open after 15 s"
    assert time.monotonic() - started < BODY_TIMEOUT + 4
    assert error_of(received)[0] == 408
    assert await alerts(server) == 0


async def test_a_large_body_on_a_slow_steady_link_is_read_whole(server, key):
    # 400 KB at about 100 KB/s (far above MIN_RATE) for about 4 s, longer than BODY_TIMEOUT
    body = webhook_body(400_000)
    reader, writer = await connect(server)
    writer.write(webhook_head(key, len(body)))
    started = time.monotonic()
    await trickle(writer, body, every=0.05, step=5000)
    received = await closed_within(reader, 10)
    writer.close()
    assert time.monotonic() - started > BODY_TIMEOUT * 2  # it really was slower than the stall limit
    assert received is not None and parse_response(received).status == 204
    assert await alerts(server) == 1


# --------------------------------------------------------------------------- idle connections


async def test_an_idle_keep_alive_connection_is_closed(server, key):
    reader, writer = await connect(server)
    body = webhook_body()
    writer.write(webhook_head(key, len(body)) + body)
    started = time.monotonic()
    received = await closed_within(reader, 10)
    writer.close()
    assert received is not None and parse_response(received).status == 204  # answered, then kept idle
    assert KEEPALIVE * 0.5 < time.monotonic() - started < KEEPALIVE + 3


# --------------------------------------------------------------------------- connections per client


async def test_one_address_holds_at_most_its_share_of_connections_and_others_are_served(server, key):
    held = [await connect(server) for _ in range(PER_CLIENT)]
    for _, w in held:
        w.write(b"POST / HTTP/1.1\r\n")  # a request begun and never finished
    # one more from the same address is refused at once: reset before a byte is answered
    reader, writer = await connect(server)
    started = time.monotonic()
    assert await closed_within(reader, 5) == b""
    assert time.monotonic() - started < HEADER_TIMEOUT  # refused, not timed out
    writer.close()
    # another address is served meanwhile
    reader, writer = await connect(server, source="127.0.0.2")
    writer.write(request_bytes("POST", WEBHOOK, [("Authorization", f"Bearer {key}"), ("Content-Type", "application/json")],
                               webhook_body()))
    received = await closed_within(reader, 5)
    writer.close()
    assert received is not None and parse_response(received).status == 204
    # and once the held connections are gone, the first address is served again
    for _, w in held:
        w.close()
    deadline = time.monotonic() + 5
    while True:
        try:
            assert (await send(port_of(server), request_bytes("GET", "/healthz"))).status == 200
            break
        except ConnectionError:  # the server has not yet seen every held connection close
            assert time.monotonic() < deadline, "still refused 5 s after the held connections closed"
            await asyncio.sleep(0.05)


@pytest.mark.slow
async def test_hundreds_of_slow_connections_from_one_address_leave_webhooks_working(server, key):
    async def slowloris() -> None:
        try:
            _, writer = await connect(server)
            await trickle(writer, webhook_head(key, 1000), every=0.3)
            writer.close()
        except OSError:
            pass

    attackers = [asyncio.create_task(slowloris()) for _ in range(300)]
    try:
        await asyncio.sleep(0.5)
        started = time.monotonic()
        for i in range(5):
            reader, writer = await connect(server, source="127.0.0.3")
            writer.write(request_bytes("POST", WEBHOOK, [("Authorization", f"Bearer {key}"),
                                                         ("Content-Type", "application/json")],
                                       orjson.dumps({"summary": f"real alert {i}", "dedup": f"real-{i}"})))
            received = await closed_within(reader, 5)
            writer.close()
            assert received is not None and parse_response(received).status == 204
        assert time.monotonic() - started < 5
        assert await alerts(server) == 5
    finally:
        for task in attackers:
            task.cancel()
        await asyncio.gather(*attackers, return_exceptions=True)


# --------------------------------------------------------------------------- settings


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("ONCALL_HTTP_HEADER_TIMEOUT_S", "0", "ONCALL_HTTP_HEADER_TIMEOUT_S must be a positive number of seconds"),
        ("ONCALL_HTTP_BODY_TIMEOUT_S", "-5", "ONCALL_HTTP_BODY_TIMEOUT_S must be a positive number of seconds"),
        ("ONCALL_HTTP_KEEPALIVE_TIMEOUT_S", "inf", "ONCALL_HTTP_KEEPALIVE_TIMEOUT_S must be a positive number"),
        ("ONCALL_HTTP_BODY_MIN_RATE", "fast", "ONCALL_HTTP_BODY_MIN_RATE must be an integer"),
        ("ONCALL_HTTP_MAX_CONNECTIONS_PER_CLIENT", "-1", "ONCALL_HTTP_MAX_CONNECTIONS_PER_CLIENT must be at least 0"),
    ],
)
def test_a_bad_connection_limit_is_refused_at_startup_naming_the_setting(name, value, message):
    with pytest.raises(SystemExit) as exc:
        Settings.from_env({name: value})
    assert message in str(exc.value)


def test_the_default_limits_fit_a_16_mib_body_on_a_modest_link():
    s = Settings.from_env({})
    body, link = 16 * 1024 * 1024, 1_000_000 / 8  # 16 MiB at 1 Mbit/s: about 134 s
    assert body / link < s.http_body_timeout_s + body / s.http_body_min_rate
    assert s.http_header_timeout_s >= 5 and s.http_max_connections_per_client >= 64
