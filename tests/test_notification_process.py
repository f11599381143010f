"""Delivery across process death: ``oncall serve`` killed with SIGKILL during a burst, then restarted.

Nothing may be lost, and only a send that was in flight at the kill may be repeated (once,
with the same idempotency key).
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Callable
from pathlib import Path

from fixtures.processes import ServeProcess, oncall_env
from oncall_testkit.receiver import receiver

from oncall.notification import outbox
from oncall.notification.outbox import Destination
from oncall.notification.templates import SAMPLE_CONTEXT
from oncall.store.database import open_pool

BURST = 60


async def _statuses(pool: object) -> collections.Counter[str]:
    async with pool.connection() as conn:  # type: ignore[attr-defined]
        cur = await conn.execute("SELECT status FROM notification.deliveries")
        return collections.Counter(r["status"] for r in await cur.fetchall())


async def test_a_burst_survives_sigkill_and_restart(fresh_database: Callable[[], str], tmp_path: Path) -> None:
    url = fresh_database()
    async with receiver() as hook:
        hook.hang = asyncio.Event()
        hook.hang.set()  # the first sends never get an answer: they are in flight at the kill
        env = oncall_env(url, ONCALL_WEBHOOK_SIGNING_SECRET="s3cret", ONCALL_WEBHOOK_ALLOWED_HOSTS="127.0.0.1",
                         ONCALL_NOTIFY_CONCURRENCY="8", ONCALL_NOTIFY_RATE_LIMITS="webhook.destination=1000/0.001")
        first = ServeProcess.start(env, tmp_path / "first.log")
        second: ServeProcess | None = None
        try:
            await asyncio.to_thread(first.wait_until_serving)
            pool = await open_pool(url, 1, 4)
            try:
                for i in range(BURST):
                    await outbox.create_notification(
                        pool, template_id=None, context=dict(SAMPLE_CONTEXT),
                        destinations=[Destination(channel="webhook", address=f"{hook.url}/{i}")],
                    )
                await hook.wait_for(8)  # the worker's 8 slots are all waiting on the receiver
                await asyncio.sleep(0.2)
                in_flight = len(hook.requests)
                first.proc.kill()
                first.proc.wait()
                assert (await _statuses(pool))["sending"] == in_flight

                hook.hang.clear()
                hook.release.set()  # answer whatever is still held, and everything from now on
                second = ServeProcess.start(env, tmp_path / "second.log")
                await asyncio.to_thread(second.wait_until_serving)
                for _ in range(600):
                    if (await _statuses(pool))["delivered"] == BURST:
                        break
                    await asyncio.sleep(0.05)
                assert await _statuses(pool) == {"delivered": BURST}, second.output()

                keys = collections.Counter(r.headers["Idempotency-Key"] for r in hook.requests)
                assert len(keys) == BURST  # nothing lost
                repeated = [k for k, n in keys.items() if n > 1]
                assert all(n <= 2 for n in keys.values())
                assert len(repeated) <= in_flight  # only what was in flight at the kill went twice
                async with pool.connection() as conn:
                    cur = await conn.execute(
                        "SELECT count(*) AS n FROM notification.attempts WHERE outcome = 'interrupted'"
                    )
                    assert (await cur.fetchone())["n"] == in_flight
            finally:
                await pool.close()
        finally:
            first.kill()
            if second is not None:
                assert second.terminate() == 0
