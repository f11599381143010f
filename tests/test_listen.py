"""The process's one LISTEN connection and the alert event hub on it: one backend per server,
a dead connection noticed (terminated, or half-dead) and replaced within seconds with every
subscriber told to catch up, and subscribers that fall behind reading on from the timeline
instead of being cut off."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
import psycopg
import pytest
from conftest import RunningServer, run_server, server_settings
from fixtures.alerts import trigger
from fixtures.tcpproxy import TcpProxy, tcp_proxy

from oncall.alerting import store
from oncall.alerting.v1 import alerting_pb2 as pb
from oncall.alerting.v1 import alerting_pb2_grpc
from oncall.context import Context
from oncall.events import EventHub, Subscription
from oncall.store.listen import APPLICATION_NAME, Listener

HANG_GUARD_S = 30  # only a hung listener takes this long; the behaviour takes a few seconds at most
CHANNEL = "oncall_test_listen"


async def _until(check: Callable[[], Awaitable[bool]], guard: float = HANG_GUARD_S) -> None:
    async with asyncio.timeout(guard):
        while not await check():
            await asyncio.sleep(0.02)


async def _listen_pids(db_url: str) -> list[int]:
    async with await psycopg.AsyncConnection.connect(db_url, autocommit=True) as admin:
        cur = await admin.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND application_name = %s",
            (APPLICATION_NAME,),
        )
        return [r[0] for r in await cur.fetchall()]


async def _notify(db_url: str, channel: str, payload: str) -> None:
    async with await psycopg.AsyncConnection.connect(db_url, autocommit=True) as conn:
        await conn.execute("SELECT pg_notify(%s, %s)", (channel, payload))


async def _terminate(db_url: str, pid: int) -> None:
    async with await psycopg.AsyncConnection.connect(db_url, autocommit=True) as admin:
        await admin.execute("SELECT pg_terminate_backend(%s)", (pid,))


async def _notes_at_once(ctx_pool: Any, alert_id: int, n: int) -> list[int]:
    """``n`` notes on the alert's timeline, committed (and announced) in one transaction."""
    async with ctx_pool.connection() as conn, conn.transaction():
        cur = await conn.execute(
            """INSERT INTO alerting.alert_events (alert_id, at, kind, actor, note)
               SELECT %s, now(), 'note', 'test', 'note ' || g FROM generate_series(1, %s) AS g RETURNING id""",
            (alert_id, n),
        )
        ids = [r["id"] for r in await cur.fetchall()]
        await store.notify_events(conn, ids)
    return ids


class Heard:
    """What one registration heard: payloads, and how often it was told to catch up."""

    def __init__(self) -> None:
        self.payloads: list[str] = []
        self.gaps = 0

    def note(self, note: psycopg.Notify) -> None:
        self.payloads.append(note.payload)

    def gap(self) -> None:
        self.gaps += 1


@pytest.fixture
async def listener(db_url: str) -> AsyncIterator[Listener]:
    li = Listener(db_url)
    yield li
    await li.close()


# --------------------------------------------------------------------------- one connection per process


async def test_a_running_server_holds_exactly_one_listen_connection(server: RunningServer, db_url: str) -> None:
    # the engine, the delivery worker, the event hub (with the Slack follower and a watch on
    # it), the schedule cache and a delivery-status watch all listen while this runs
    stub = alerting_pb2_grpc.AlertServiceStub(server.channel())
    call = stub.WatchAlerts(pb.WatchAlertsRequest())
    await asyncio.wait_for(call.initial_metadata(), HANG_GUARD_S)
    from oncall.notification.watch import watcher_for

    watch = await watcher_for(server.ctx).subscribe(1)
    try:
        assert len(await _listen_pids(db_url)) == 1
        async with await psycopg.AsyncConnection.connect(db_url, autocommit=True) as admin:
            # and no other backend of the server has LISTENed (a backend shows its last statement)
            cur = await admin.execute(
                """SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()
                   AND application_name <> %s AND query ILIKE 'listen%%'""", (APPLICATION_NAME,))
            assert (await cur.fetchone())[0] == 0
    finally:
        watch.close()
        call.cancel()


# --------------------------------------------------------------------------- a dead connection


async def test_a_terminated_listen_backend_is_replaced_and_every_subscriber_told_to_catch_up(
    listener: Listener, db_url: str
) -> None:
    heard, other = Heard(), Heard()
    reg = listener.register([CHANNEL], heard.note, heard.gap)
    reg2 = listener.register([CHANNEL + "_2"], other.note, other.gap)
    await reg.wait_live(HANG_GUARD_S)
    await reg2.wait_live(HANG_GUARD_S)
    assert heard.gaps == other.gaps == 1  # becoming live is itself a reason to read state once
    [old] = await _listen_pids(db_url)
    await _terminate(db_url, old)

    async def replaced() -> bool:
        pids = await _listen_pids(db_url)
        return len(pids) == 1 and pids[0] != old and reg.live and reg2.live

    await _until(replaced)
    # both were told, on each connection, that they may have missed something
    assert heard.gaps == other.gaps == listener.connections >= 2
    await _notify(db_url, CHANNEL, "after")
    await _notify(db_url, CHANNEL + "_2", "after too")

    async def flowing() -> bool:
        return heard.payloads == ["after"] and other.payloads == ["after too"]

    await _until(flowing)


@pytest.fixture
async def proxy(db_url: str) -> AsyncIterator[TcpProxy]:
    async with tcp_proxy(db_url) as p:
        yield p


async def test_a_half_dead_connection_is_noticed_by_the_liveness_check_and_replaced(
    proxy: TcpProxy, db_url: str
) -> None:
    # nothing arrives either way, and nothing says so: only a query that gets no answer tells
    listener = Listener(proxy.url)
    heard = Heard()
    try:
        reg = listener.register([CHANNEL], heard.note, heard.gap)
        await reg.wait_live(HANG_GUARD_S)
        assert listener.alive
        proxy.freeze()

        async def noticed() -> bool:
            return not reg.live and not listener.alive

        await _until(noticed)
        await _notify(db_url, CHANNEL, "during")  # lost with the connection
        proxy.thaw()

        async def back() -> bool:
            return reg.live and listener.alive

        await _until(back)
        assert heard.gaps == listener.connections >= 2  # told to re-read what it depends on
        await _notify(db_url, CHANNEL, "after")

        async def flowing() -> bool:
            return "after" in heard.payloads

        await _until(flowing)
    finally:
        proxy.thaw()
        await listener.close()


async def test_events_committed_while_the_listen_connection_was_down_reach_subscribers(
    proxy: TcpProxy, ctx: Context
) -> None:
    listener = Listener(proxy.url)  # only the listener goes through the proxy; the pool does not
    hub = EventHub(listener, ctx.pool)
    await hub.start()
    sub = hub.subscribe()
    try:
        alert_id = await trigger(ctx, "outage")
        before = await store.add_note(ctx.pool, alert_id, "alice", "before")
        await proxy.stop()  # the connection is cut and cannot come back
        during = await store.add_note(ctx.pool, alert_id, "alice", "during")  # its NOTIFY is heard by nobody
        await proxy.start()
        after_ids: list[int] = []

        async def back() -> bool:
            return listener.alive

        await _until(back)
        after_ids.append((await store.add_note(ctx.pool, alert_id, "alice", "after")).id)
        seen = await _take(sub, lambda ids: after_ids[0] in ids)
        notes = [i for i in seen if i in (before.id, during.id, after_ids[0])]
        assert notes == [before.id, during.id, after_ids[0]]
    finally:
        await hub.stop()
        await listener.close()


async def test_a_server_whose_listen_backend_is_terminated_goes_on_streaming_watch_alerts(
    server: RunningServer, db_url: str
) -> None:
    async with server.channel() as channel:
        stub = alerting_pb2_grpc.AlertServiceStub(channel)
        call = stub.WatchAlerts(pb.WatchAlertsRequest())
        await asyncio.wait_for(call.initial_metadata(), HANG_GUARD_S)
        alert = await stub.CreateAlert(pb.CreateAlertRequest(summary="watched through an outage"))
        [old] = await _listen_pids(db_url)
        await _terminate(db_url, old)
        # made while the listener may still be reconnecting: seen either way
        during = await store.add_note(server.ctx.pool, int(alert.alert.id), "alice", "during the outage")

        async def replaced() -> bool:
            pids = await _listen_pids(db_url)
            return len(pids) == 1 and pids[0] != old and server.ctx.listener.alive

        await _until(replaced)
        after = await store.add_note(server.ctx.pool, int(alert.alert.id), "alice", "after the outage")
        notes: list[str] = []
        async with asyncio.timeout(HANG_GUARD_S):
            while after.note not in notes:
                message = await call.read()
                assert message is not grpc.aio.EOF
                if message.event.kind == "note":
                    notes.append(message.event.note)
        assert notes == [during.note, after.note]
        call.cancel()


# --------------------------------------------------------------------------- falling behind


async def _take(sub: Subscription, enough: Callable[[list[int]], bool]) -> list[int]:
    """Event ids from ``sub`` until ``enough`` of them."""
    ids: list[int] = []
    async with asyncio.timeout(HANG_GUARD_S):
        async for event, _alert in sub:
            ids.append(event.id)
            if enough(ids):
                return ids
    raise AssertionError(f"the subscription ended after {ids}")


async def _subscribe_after_what_is_committed(hub: EventHub, ctx: Context, maxsize: int) -> Subscription:
    """A subscription that starts after every event committed so far (the hub has handed them out)."""
    async with ctx.pool.connection() as conn:
        newest = await store.newest_event_id(conn)

    async def handed_out() -> bool:
        return hub.position >= newest

    await _until(handed_out)
    return hub.subscribe(maxsize=maxsize)


@pytest.fixture
async def hub(ctx: Context) -> AsyncIterator[EventHub]:
    h = EventHub(ctx.listener, ctx.pool)
    await h.start()
    yield h
    await h.stop()


async def test_a_subscriber_that_overflows_its_queue_reads_on_from_the_timeline_and_misses_nothing(
    hub: EventHub, ctx: Context
) -> None:
    alert_id = await trigger(ctx, "flood")
    sub = await _subscribe_after_what_is_committed(hub, ctx, maxsize=3)
    flood = await _notes_at_once(ctx.pool, alert_id, 50)  # one page: more than the queue holds at once

    async def handed_out() -> bool:
        return hub.position >= flood[-1]

    await _until(handed_out)
    assert sub.behind and sub.fell_behind == 1
    seen = await _take(sub, lambda ids: flood[-1] in ids)
    assert seen == flood  # every event, in order, once
    # caught up, it goes on hearing new events (from the hub's fan-out once it has rejoined it)
    for text in ("later", "later still"):
        later = await store.add_note(ctx.pool, alert_id, "alice", text)
        assert await _take(sub, lambda ids, want=later.id: want in ids) == [later.id]
    assert sub.fell_behind == 1 and not sub.closed


async def test_a_slow_subscriber_under_a_steady_flow_sees_every_event_in_order(hub: EventHub, ctx: Context) -> None:
    alert_id = await trigger(ctx, "steady")
    sub = await _subscribe_after_what_is_committed(hub, ctx, maxsize=4)
    written: list[int] = []

    async def write() -> None:
        for _ in range(10):
            written.extend(await _notes_at_once(ctx.pool, alert_id, 10))
            await asyncio.sleep(0.01)

    writer = asyncio.create_task(write())
    seen: list[int] = []
    async with asyncio.timeout(HANG_GUARD_S):
        async for event, _alert in sub:
            seen.append(event.id)
            await asyncio.sleep(0.005)  # slower than the writer
            if writer.done() and seen[-1] == written[-1]:
                break
    await writer
    assert seen == written
    assert sub.fell_behind >= 1


async def test_a_watch_alerts_stream_that_falls_behind_keeps_going_with_every_event(db_url: str) -> None:
    async with run_server(server_settings(db_url, event_queue_size=2)) as server, \
            server.channel() as channel:
        stub = alerting_pb2_grpc.AlertServiceStub(channel)
        alert = await stub.CreateAlert(pb.CreateAlertRequest(summary="flooded"))
        call = stub.WatchAlerts(pb.WatchAlertsRequest())
        await asyncio.wait_for(call.initial_metadata(), HANG_GUARD_S)
        flood = await _notes_at_once(server.ctx.pool, int(alert.alert.id), 30)
        await stub.AcknowledgeAlert(pb.AcknowledgeAlertRequest(alert_id=alert.alert.id, user_id="alice"))
        ids: list[int] = []
        kinds: list[str] = []
        async with asyncio.timeout(HANG_GUARD_S):
            while "acknowledged" not in kinds:
                message = await call.read()
                assert message is not grpc.aio.EOF, f"the watch ended: {await call.code()} {await call.details()}"
                ids.append(message.event.id)
                kinds.append(message.event.kind)
        assert [i for i, k in zip(ids, kinds, strict=True) if k == "note"] == flood
        assert ids == sorted(ids)
        call.cancel()
