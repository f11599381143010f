"""Delivery under database faults: duplicates when a worker's lock connection is killed mid-burst.

Two delivery workers (``Notifier``) run in this process on a throwaway database, each with
its own pool, as two replicas would; a local receiver answers every webhook after
--latency seconds and counts idempotency keys.

1. circuit: --failures pages to one receiver, queued before the workers start so that they
   all go out at once, that answers 500 to the first --failures requests (or for 2 s, if
   fewer come) and 200 after: the time from its recovery until all of them have arrived
   (the circuit pause is --circuit-pause, the threshold 5).
2. lock kill: --pages pages to distinct receiver paths; once a quarter has been answered
   and worker A has half its --concurrency slots on the wire, the backend holding A's
   advisory lock is terminated (``pg_terminate_backend``; no process dies). Prints pages
   received twice, how many rows were ``sending`` at the kill (the sends that may repeat,
   once), whether and how fast A held a lock again, and whether A delivered afterwards.
3. restart: the same, but every backend of the database is terminated (what a PostgreSQL
   restart does to the workers' sessions).

Only 127.0.0.1 is contacted. The database is created on --database-url and dropped after.

    .venv/bin/python bench/delivery_faults.py [--pages 400] [--latency 2] [--circuit-pause 30] [--database-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import logging
import os
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import psycopg
from aiohttp import web
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

LOCK_NAMESPACE = 0x4F4E


@dataclass
class _Failing:
    """The receiver's /failing/ paths: 500 to the next ``left`` requests, or for ``down_s`` after the
    first of them if fewer come (a paused worker sends fewer), then 200."""

    left: int = 0
    down_s: float = 2.0
    first_failure: float = 0.0
    last_failure: float = 0.0
    done_at: float = 0.0  # of the last page it got
    delivered: set[str] = field(default_factory=set)


FAILING = _Failing()


async def _receiver(latency: float) -> tuple[web.AppRunner, str, collections.Counter[str]]:
    keys: collections.Counter[str] = collections.Counter()

    async def handle(request: web.Request) -> web.Response:
        await request.read()
        if request.path.startswith("/failing/"):
            now = time.monotonic()
            FAILING.first_failure = FAILING.first_failure or now
            if FAILING.left > 0 and now - FAILING.first_failure < FAILING.down_s:
                FAILING.left -= 1
                FAILING.last_failure = now
                return web.Response(status=500, text="down")
            FAILING.delivered.add(request.headers["Idempotency-Key"])
            FAILING.done_at = time.monotonic()
            return web.Response(text="ok")
        await asyncio.sleep(latency)
        keys[request.headers["Idempotency-Key"]] += 1
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}", keys


def _lock_pid(admin: psycopg.Connection, worker_id: int) -> int | None:
    """The backend holding ``worker_id``'s lock for its session (idle between statements), not a
    replica's recovery that holds it for one transaction."""
    row = admin.execute(
        """SELECT l.pid FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
           WHERE l.locktype = 'advisory' AND l.classid = %s::oid AND l.objid = %s::oid AND l.objsubid = 2
           AND l.granted AND a.state = 'idle'""",
        (LOCK_NAMESPACE, worker_id),
    ).fetchone()
    return row[0] if row else None


async def _until(check: Any, timeout: float) -> float | None:
    """Seconds until ``check()`` held, or None if it did not within ``timeout``."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if check():
            return time.monotonic() - start
        await asyncio.sleep(0.02)
    return None


async def run(args: argparse.Namespace) -> None:
    os.environ.setdefault("ONCALL_WEBHOOK_SIGNING_SECRET", "bench-secret")
    os.environ.setdefault("ONCALL_WEBHOOK_ALLOWED_HOSTS", "127.0.0.1")
    from oncall.alerting.ingest import Ingestor
    from oncall.config import Settings
    from oncall.context import Context
    from oncall.notification import outbox
    from oncall.notification.outbox import Destination
    from oncall.notification.templates import SAMPLE_CONTEXT
    from oncall.notification.delivery.worker import Notifier
    from oncall.plugins import load_plugins
    from oncall.store.database import open_pool
    from oncall.store.migrate import apply_migrations

    runner, hook, keys = await _receiver(args.latency)
    dbname = f"oncall_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(args.database_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))
    params = conninfo_to_dict(args.database_url)
    params["dbname"] = dbname
    url = make_conninfo(**params)
    contexts: list[Context] = []
    workers: list[Notifier] = []
    try:
        await apply_migrations(url)
        _, registry = load_plugins(())
        settings = Settings(database_url=url, notify_concurrency=args.concurrency, circuit_pause_s=args.circuit_pause)
        for _ in range(3):  # worker A's, worker B's, and the one the pages are written through
            pool = await open_pool(url, 1, 6)
            ingestor = Ingestor(pool)
            ingestor.start()
            contexts.append(Context(settings=settings, pool=pool, registry=registry, ingestor=ingestor, database_url=url))
        a, b = Notifier(contexts[0]), Notifier(contexts[1])
        pages = contexts[2]
        admin = psycopg.connect(url, autocommit=True)
        done = 0

        async def page(address: str) -> None:
            nonlocal done
            for attempt in range(50):  # the pool hands out each killed connection once
                try:
                    await outbox.create_notification(pages.pool, template_id=None, context=dict(SAMPLE_CONTEXT),
                                                     destinations=[Destination(channel="webhook", address=address)])
                    done += 1
                    return
                except psycopg.OperationalError:
                    if attempt == 49:
                        raise
                    await asyncio.sleep(0.1)

        async def burst(tag: str) -> None:
            for i in range(args.pages):
                await page(f"{hook}/{tag}/{i}")

        def all_final() -> bool:
            n = admin.execute("""SELECT count(*) FROM notification.deliveries
                                 WHERE status IN ('delivered', 'sent', 'failed', 'cancelled')""").fetchone()[0]
            return n >= done

        def sending(worker_id: int | None = None) -> int:
            sql_ = "SELECT count(*) FROM notification.deliveries WHERE status = 'sending'"
            if worker_id is None:
                return admin.execute(sql_).fetchone()[0]
            return admin.execute(sql_ + " AND claimed_by = %s", (worker_id,)).fetchone()[0]

        async def scenario(what: str, everything: bool) -> None:
            keys.clear()
            await burst(what.split()[0])
            # mid-burst: a quarter answered, and A with half its slots on the wire
            await _until(lambda: len(keys) >= args.pages // 4 and sending(a.worker_id) >= args.concurrency // 2, 60)
            old_id = a.worker_id
            pid = _lock_pid(admin, old_id)
            if pid is None:
                print(f"{what}: worker A holds no lock at the start (it never took one again)")
            at_kill, all_at_kill = sending(old_id), sending()
            kill_at = time.time()
            if everything:  # what a PostgreSQL restart does to the workers' sessions
                admin.execute("""SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity
                                 WHERE datname = current_database() AND pid <> pg_backend_pid()""")
            else:
                admin.execute("SELECT pg_terminate_backend(%s, 5000)", (pid,))
            relock = await _until(lambda: a.worker_id != old_id and _lock_pid(admin, a.worker_id) is not None, 30)
            await _until(all_final, 120)
            twice = sum(1 for n in keys.values() if n > 1)
            extra = sum(n - 1 for n in keys.values() if n > 1)
            after = admin.execute("SELECT count(*) FROM notification.attempts WHERE worker = %s AND worker <> %s "
                                  "AND started_at > to_timestamp(%s)", (a.worker_id, old_id, kill_at)).fetchone()[0]
            print(f"{what}: {len(keys)} of {args.pages} pages received; {twice} received twice or more "
                  f"({extra} extra sends); rows 'sending' at the kill: {at_kill} of worker A's, {all_at_kill} in all; "
                  f"A held a lock again: {'no' if relock is None else f'after {relock:.2f} s'}; "
                  f"attempts under A's new id since: {after}")

        # 1. a receiver that fails a burst, then is healthy: how long until its pages arrive.
        # They are queued before the workers start, so that they all go out at once.
        FAILING.left = args.failures
        for _ in range(args.failures):
            await page(f"{hook}/failing/")
        workers = [a, b]
        await a.start()
        await b.start()
        if await _until(lambda: len(FAILING.delivered) >= args.failures, args.circuit_wait) is None:
            print(f"circuit: {len(FAILING.delivered)} of {args.failures} pages arrived within {args.circuit_wait:.0f} s "
                  f"of the first failure")
        else:
            healthy_at = FAILING.last_failure if FAILING.left == 0 else FAILING.first_failure + FAILING.down_s
            print(f"circuit: {args.failures} pages, {args.failures - FAILING.left} answered 500 (threshold "
                  f"{settings.circuit_threshold}, pause {settings.circuit_pause_s:g} s); they all arrived "
                  f"{FAILING.done_at - healthy_at:.1f} s after the receiver was healthy again")

        await scenario("lock backend of worker A killed", everything=False)
        await scenario("restart (all backends terminated)", everything=True)
        admin.close()
    finally:
        for w in workers:
            await w.stop(5)
        for c in contexts:
            await c.ingestor.stop()
            await c.pool.close()
        await runner.cleanup()
        with psycopg.connect(args.database_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(dbname)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--database-url", default=os.environ.get("ONCALL_DATABASE_URL",
                                                             "postgresql://postgres@127.0.0.1:5432/postgres"))
    ap.add_argument("--pages", type=int, default=400)
    ap.add_argument("--latency", type=float, default=2.0, help="seconds the receiver takes to answer")
    ap.add_argument("--concurrency", type=int, default=64, help="sends in flight per worker")
    ap.add_argument("--failures", type=int, default=40, help="quick failures of the circuit scenario's receiver")
    ap.add_argument("--circuit-pause", type=float, default=30.0, help="ONCALL_NOTIFY_CIRCUIT_PAUSE_S")
    ap.add_argument("--circuit-wait", type=float, default=700.0, help="seconds to wait for the circuit scenario")
    args = ap.parse_args()
    logging.basicConfig(level=logging.CRITICAL)
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
