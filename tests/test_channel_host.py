"""The core's side of two-way channels (ChannelHost) where callers send what they like:
first_seen, a key remembered in PostgreSQL for a time, so a replayed request is refused at
every replica and after a restart (racing replicas get exactly one True); and the reply code
a text names."""

from __future__ import annotations

import asyncio
import hashlib
from datetime import timedelta
from typing import Any

import psycopg
import pytest
from oncall.clock import Clock
from oncall.context import Context
from oncall.notification.actions import Host


def host(ctx: Context, clock: Clock | None = None) -> Host:
    return Host(ctx, lambda: "http://oncall.test", clock or Clock())


async def _rows(ctx: Context) -> list[Any]:
    async with ctx.pool.connection() as conn:
        cur = await conn.execute("SELECT key_hash, expires_at FROM notification.seen_requests")
        return await cur.fetchall()


async def _waiting(conn: psycopg.AsyncConnection[Any]) -> int:
    cur = await conn.execute(
        """SELECT count(*) AS n FROM pg_stat_activity
           WHERE datname = current_database() AND wait_event_type = 'Lock'
             AND query LIKE '%notification.seen_requests%'"""
    )
    row = await cur.fetchone()
    assert row is not None
    return int(row[0])


async def _race(ctx: Context, db_url: str, holder_sql: str, key: str) -> list[bool]:
    """Two replicas call first_seen with ``key`` while another transaction holds ``holder_sql``'s
    lock; both are queued on it before it lets go, so the race is certain, not left to chance."""
    replicas = [host(ctx), host(ctx)]
    async with await psycopg.AsyncConnection.connect(db_url) as holder:
        await holder.execute(holder_sql, (hashlib.sha256(key.encode()).digest(),))
        calls = [asyncio.create_task(r.first_seen(key, 300)) for r in replicas]
        async with await psycopg.AsyncConnection.connect(db_url, autocommit=True) as watcher:
            deadline = asyncio.get_running_loop().time() + 30  # a bound on the wait, not a measurement
            while await _waiting(watcher) < 2:
                assert asyncio.get_running_loop().time() < deadline, "both calls should wait on the lock"
                assert not any(c.done() for c in calls), [c.result() for c in calls if c.done()]
                await asyncio.sleep(0.01)
        await holder.rollback()
    return list(await asyncio.gather(*calls))


async def test_a_key_is_new_once_then_seen_by_every_host_on_the_database(ctx: Context) -> None:
    first, restarted = host(ctx), host(ctx)  # a second Host: another replica, or this one restarted
    assert await first.first_seen("slack:v0=abc", 600) is True
    assert await first.first_seen("slack:v0=abc", 600) is False
    assert await restarted.first_seen("slack:v0=abc", 600) is False
    assert await restarted.first_seen("slack:v0=abd", 600) is True
    # only the hash is kept, never the key
    assert sorted(r["key_hash"] for r in await _rows(ctx)) == sorted(
        hashlib.sha256(k.encode()).digest() for k in ("slack:v0=abc", "slack:v0=abd")
    )


async def test_a_key_past_its_time_is_new_again(ctx: Context) -> None:
    clock = Clock()
    clock.freeze()
    h = host(ctx, clock)
    assert await h.first_seen("twilio-sms:sig", 300) is True
    clock.advance(299)
    assert await h.first_seen("twilio-sms:sig", 300) is False  # a False does not extend the window
    clock.advance(2)
    assert await h.first_seen("twilio-sms:sig", 300) is True
    [row] = await _rows(ctx)
    assert row["expires_at"] == clock.now() + timedelta(seconds=300)


async def test_two_replicas_racing_with_a_new_key_get_exactly_one_true(ctx: Context, db_url: str) -> None:
    # the holder inserts the key and waits: both calls queue on the unique index behind it
    outcome = await _race(ctx, db_url, "INSERT INTO notification.seen_requests VALUES (%s, now() + interval '1 hour')",
                          "slack:v0=race")
    assert sorted(outcome) == [False, True]
    assert len(await _rows(ctx)) == 1


async def test_two_replicas_racing_to_take_over_an_expired_key_get_exactly_one_true(ctx: Context, db_url: str) -> None:
    key = "slack:v0=expired"
    async with ctx.pool.connection() as conn:
        await conn.execute("INSERT INTO notification.seen_requests VALUES (%s, now() - interval '1 minute')",
                           (hashlib.sha256(key.encode()).digest(),))
    # the holder locks the expired row: both calls queue on it, then each re-checks what the other wrote
    outcome = await _race(ctx, db_url, "SELECT 1 FROM notification.seen_requests WHERE key_hash = %s FOR UPDATE", key)
    assert sorted(outcome) == [False, True]


async def test_many_concurrent_calls_get_one_true_per_key(ctx: Context) -> None:
    replicas = [host(ctx) for _ in range(4)]
    keys = [f"slack:v0={i}" for i in range(25)]
    outcomes = await asyncio.gather(*(r.first_seen(k, 60) for k in keys for r in replicas))
    assert sum(outcomes) == len(keys)
    assert len(await _rows(ctx)) == len(keys)


@pytest.mark.parametrize("ttl", [0, -1, float("nan"), float("inf"), 10.0**20])
async def test_a_ttl_that_is_no_time_span_is_refused(ctx: Context, ttl: float) -> None:
    with pytest.raises(ValueError, match="ttl_s must be"):
        await host(ctx).first_seen("k", ttl)
    assert await _rows(ctx) == []


async def test_a_key_with_a_lone_surrogate_is_remembered_like_any_other(ctx: Context) -> None:
    # keys are taken from requests: one that is not valid UTF-8 must not become a 500
    assert await host(ctx).first_seen("twilio-sms:\ud800", 60) is True
    assert await host(ctx).first_seen("twilio-sms:\ud800", 60) is False


@pytest.mark.parametrize("code", ["²", "9" * 5000, "99999999999", "3 3", "-3", "3a"])
async def test_a_reply_code_that_no_code_can_be_names_no_alert(ctx: Context, code: str) -> None:
    async with ctx.pool.connection() as conn:
        await conn.execute("INSERT INTO notification.reply_codes (channel, destination, code, alert_id) "
                           "VALUES ('sms', '+15555550100', 3, 12)")
    h = host(ctx)
    for same in (" 3 ", "03", "٣"):  # any decimal digits a phone may send
        assert await h.alert_for_reply("sms", "+15555550100", same) == 12
    assert await h.alert_for_reply("sms", "+15555550100", code) is None
