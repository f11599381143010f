"""The REST door's own checks, against a running server: who is calling is read from the
HTTP request itself (never from headers a client adds under ``Grpc-Metadata-``), before the
body is parsed; a body is JSON and says so; integers are digits; a path field is not given
twice; an event stream resumes from ``Last-Event-ID`` whatever its URL says."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from conftest import run_server, server_settings

POLICIES = "/api/v1/escalation-policies"


async def call(http: aiohttp.ClientSession, verb: str, path: str, **kw: Any) -> tuple[int, Any]:
    async with http.request(verb, path, **kw) as r:
        text = await r.text()
        return r.status, json.loads(text) if text else None


async def count(pool: Any, table: str) -> int:
    async with pool.connection() as conn:
        cur = await conn.execute(f"SELECT count(*) AS n FROM {table}")
        row = await cur.fetchone()
        return int(row["n"])


@pytest.fixture
async def proxied(db_url: str, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Any]:
    """A server behind a trusted proxy on loopback: ``sre`` are responders, ``platform`` admins, the rest viewers."""
    monkeypatch.setenv("ONCALL_PROXY_AUTH_TRUSTED_PROXIES", "127.0.0.1/32")
    monkeypatch.setenv("ONCALL_PROXY_AUTH_ROLES", "sre=responder,platform=admin")
    monkeypatch.setenv("ONCALL_PROXY_AUTH_DEFAULT_ROLE", "viewer")
    async with run_server(server_settings(db_url)) as running:
        yield running


async def test_a_trusted_proxys_user_reaches_rest_and_headers_a_client_adds_do_not(proxied: Any) -> None:
    async with aiohttp.ClientSession(base_url=proxied.http_url) as http:
        # what the proxy sets: the person it signed in, whose role is read from it
        status, body = await call(http, "GET", POLICIES, headers={"X-Forwarded-User": "bob"})
        assert status == 200, body
        # headers a client added that the proxy passed on: never a principal, never a group
        spoofed = {"Grpc-Metadata-X-Forwarded-User": "mallory", "Grpc-Metadata-X-Forwarded-Groups": "platform"}
        status, body = await call(http, "GET", "/api/v1/audit-events", headers=spoofed)
        assert status == 401, body
        before = await count(proxied.ctx.pool, "alerting.escalation_policies")
        status, body = await call(http, "POST", POLICIES, headers={"X-Forwarded-User": "bob", **spoofed},
                                  json={"name": "pwned", "steps": []})
        assert status == 403 and "viewer" in body["detail"], body
        status, _ = await call(http, "GET", "/api/v1/audit-events", headers={"X-Forwarded-User": "bob", **spoofed})
        assert status == 403
        assert await count(proxied.ctx.pool, "alerting.escalation_policies") == before


async def test_a_caller_without_credentials_learns_nothing_of_the_body(server: Any) -> None:
    async with aiohttp.ClientSession(base_url=server.http_url) as http:
        for body in (b'{"nme": 1}', b'not json', b'{"name": "x"}'):
            status, answer = await call(http, "POST", POLICIES, data=body, headers={"Content-Type": "application/json"})
            assert status == 401 and "nme" not in answer["detail"], answer


async def test_a_body_must_be_json_and_say_so(server: Any) -> None:
    auth = {"Authorization": f"Bearer {server.admin_key}"}
    before = await count(server.ctx.pool, "alerting.escalation_policies")
    async with aiohttp.ClientSession(base_url=server.http_url, headers=auth) as http:
        for content_type in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"):
            status, body = await call(http, "POST", POLICIES, data=b'{"name": "x", "steps": []}',
                                      headers={"Content-Type": content_type})
            assert status == 415 and body["error"] == "unsupported_media_type", (content_type, body)
        status, body = await call(http, "POST", POLICIES, data=json.dumps({"name": "json-ok", "steps": [{"targets": [{"kind": "TARGET_KIND_USER", "id": "ann"}]}]}),
                                  headers={"Content-Type": "application/json; charset=utf-8"})
        assert status == 200, body
    assert await count(server.ctx.pool, "alerting.escalation_policies") == before + 1


async def test_integers_are_ascii_digits_in_range_and_a_path_field_is_given_once(server: Any) -> None:
    auth = {"Authorization": f"Bearer {server.admin_key}"}
    async with aiohttp.ClientSession(base_url=server.http_url, headers=auth) as http:
        for text in ("1_0", "+7", "%207", "\u0663", str(2**63)):
            status, body = await call(http, "GET", f"/api/v1/alerts/{text}")
            assert status == 400 and body["error"] == "invalid_argument", (text, body)
        status, body = await call(http, "GET", "/api/v1/alerts", params={"page_size": str(2**31)})
        assert status == 400 and "out of range" in body["detail"]
        status, body = await call(http, "POST", "/api/v1/alerts/5/acknowledge",
                                  json={"alert_id": "6", "user_id": "ann"})
        assert status == 400 and "alert_id is given in the path" in body["detail"], body
        status, body = await call(http, "GET", "/api/v1/streams/alerts", headers={"Last-Event-ID": str(2**64)})
        assert status == 400 and "Last-Event-ID" in body["detail"]


async def test_a_stream_resumes_from_last_event_id_over_the_urls_start(server: Any) -> None:
    """An EventSource reconnects to the URL it was opened with (``?after_event_id=0``) and
    sends the last id it got: the stream goes on from that id, not from 0 again."""
    from oncall.alerting.v1 import alerting_pb2 as pb
    from oncall.alerting.v1 import alerting_pb2_grpc

    async with server.channel() as channel:
        alerts = alerting_pb2_grpc.AlertServiceStub(channel)
        first = await alerts.CreateAlert(pb.CreateAlertRequest(summary="one", dedup_key="resume-1"))
        second = await alerts.CreateAlert(pb.CreateAlertRequest(summary="two", dedup_key="resume-2"))
    auth = {"Authorization": f"Bearer {server.admin_key}"}
    async with aiohttp.ClientSession(base_url=server.http_url, headers=auth) as http:
        ids: list[tuple[int, int]] = []
        async with http.get("/api/v1/streams/alerts", params={"after_event_id": "0"}) as r:
            async for raw in r.content:
                line = raw.decode().strip()
                if line.startswith("data: "):
                    doc = json.loads(line[6:])
                    ids.append((int(doc["event"]["id"]), int(doc["alert"]["id"])))
                    if int(doc["alert"]["id"]) == second.alert.id:
                        break
        first_event = next(event for event, alert in ids if alert == first.alert.id)
        async with http.get("/api/v1/streams/alerts", params={"after_event_id": "0"},
                            headers={"Last-Event-ID": str(first_event)}) as r:
            async for raw in r.content:
                line = raw.decode().strip()
                if line.startswith("data: "):
                    doc = json.loads(line[6:])
                    assert int(doc["event"]["id"]) > first_event  # never the start again
                    break


async def test_a_stream_reader_that_stops_reading_is_let_go(server: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """A client whose TCP window stays full (it never reads) holds no stream for ever: once
    an event can't be written for WRITE_TIMEOUT_S, the stream ends and its subscription goes."""
    import asyncio
    import socket

    from oncall.alerting.v1 import alerting_pb2 as pb
    from oncall.alerting.v1 import alerting_pb2_grpc
    from oncall.rest import sse

    monkeypatch.setattr(sse, "WRITE_TIMEOUT_S", 0.5)
    hub = server.ctx.events
    baseline = len(hub.subscriptions)
    host, port = server.http_url.removeprefix("http://").split(":")
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, (host, int(port)))
    request = (f"GET /api/v1/streams/alerts HTTP/1.1\r\nHost: {host}\r\n"
               f"Authorization: Bearer {server.admin_key}\r\n\r\n").encode()
    await asyncio.get_running_loop().sock_sendall(sock, request)
    try:
        for _ in range(100):
            if len(hub.subscriptions) > baseline:
                break
            await asyncio.sleep(0.05)
        assert len(hub.subscriptions) == baseline + 1
        async with server.channel() as channel:
            alerts = alerting_pb2_grpc.AlertServiceStub(channel)
            big = "x" * 60_000
            for i in range(160):  # ~10 MB of events: more than any socket buffers hold
                await alerts.CreateAlert(pb.CreateAlertRequest(summary=f"big {i}", details=big, dedup_key=f"big-{i}"))
                if len(hub.subscriptions) == baseline:
                    break
        for _ in range(100):
            if len(hub.subscriptions) == baseline:
                break
            await asyncio.sleep(0.1)
        assert len(hub.subscriptions) == baseline, "the stream of a client that stopped reading is still open"
    finally:
        sock.close()


def test_a_watch_incidents_backlog_is_one_entry_per_incident_and_bounded() -> None:
    import asyncio

    from oncall.rpc.incidents import _Announced

    async def go() -> None:
        announced = _Announced(limit=100)
        for _ in range(1000):  # the same incidents announced again and again: one entry each
            announced.add([1, 2, 3])
        assert await announced.take() == ({1, 2, 3}, False)
        announced.add(range(500))  # more than a reader may keep: read everything again instead
        assert await announced.take() == (set(), True)

    asyncio.run(go())
