"""Benchmark for on-call answers through the schedule store: the escalation engine's resolver path.

Stores the schedule of bench/schedules.py (5 layers, 100 overrides, Europe/Berlin) in a
throwaway database, then times ``schedules.store.resolver(ctx)`` — what an escalation step
targeting the schedule awaits, and what GetOnCallUsers does — at random instants of March
2026, three ways: with the cache reading the schedule's version per call (one primary-key
query; how it runs before it listens), with the cache listening for change notifications
(how the server runs it: no I/O per call), and rebuilding the schedule on every call
(loading every row), for contrast. Prints p50/p99 (wall clock and this thread's CPU time).

    ./dev bench schedule_service [--calls 5000] [--database-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import time as clock
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import psycopg
from oncall.alerting.ingest import Ingestor
from oncall.config import Settings
from oncall.context import Context
from oncall.plugins import Registry
from oncall.schedules import on_call, store
from oncall.store.database import open_pool
from oncall.store.migrate import apply_migrations
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

# the schedule bench/schedules.py times the engine on, so the two benchmarks compare
sys.path.insert(0, str(Path(__file__).resolve().parent))
from schedules import MONTH_START, build_schedule, random_instant  # noqa: E402


async def measure(fn: Callable[[], Awaitable[object]], runs: int) -> tuple[list[float], list[float]]:
    wall, cpu = [], []
    for _ in range(runs):
        w0, c0 = clock.perf_counter_ns(), clock.thread_time_ns()
        await fn()
        cpu.append((clock.thread_time_ns() - c0) / 1e6)
        wall.append((clock.perf_counter_ns() - w0) / 1e6)
    return wall, cpu


def report(name: str, measured: tuple[list[float], list[float]]) -> None:
    wall, cpu = (statistics.quantiles(m, n=100, method="inclusive") for m in measured)
    print(
        f"{name:<44} n={len(measured[0]):<6} "
        f"wall p50={wall[49]:.3f} p99={wall[98]:.3f} ms   cpu p50={cpu[49]:.3f} p99={cpu[98]:.3f} ms"
    )


async def run(db_url: str, calls: int) -> None:
    await apply_migrations(db_url)
    pool = await open_pool(db_url, 1, 4)
    try:
        ctx = Context(settings=Settings(database_url=db_url), pool=pool, registry=Registry(),
                      ingestor=Ingestor(pool), database_url=db_url)
        model = build_schedule(random.Random(42))
        stored = await store.create_schedule(pool, store.ScheduleInput("bench", model.time_zone, layers=model.layers))
        for o in model.overrides:
            await store.add_override(pool, stored.id, o.start, o.end, o.add_user, o.remove_user)

        resolve = store.resolver(ctx)
        cache = store.cache_for(ctx)
        rng = random.Random(7)
        # the answers through the store are the engine's answers on the same definition
        built = await cache.get(pool, stored.id)
        for _ in range(200):
            t = random_instant(rng)
            assert await resolve(stored.id, t) == [e.user for e in on_call(built.schedule, t)]

        await resolve(stored.id, MONTH_START)  # warm: prepared statements, the engine's index
        report("resolver, version read per call",
               await measure(lambda: resolve(stored.id, random_instant(rng)), calls))

        await cache.start(ctx.listener)  # what the server does: trust the cache between change notifications
        async with asyncio.timeout(30):
            while not cache.listening:
                await asyncio.sleep(0.01)
        await resolve(stored.id, MONTH_START)
        report("resolver, listening for changes (served)",
               await measure(lambda: resolve(stored.id, random_instant(rng)), calls))
        await cache.stop()
        await ctx.listener.close()

        async def uncached() -> object:
            cache.forget_all()
            return await resolve(stored.id, random_instant(rng))

        report("resolver, rebuilt every call", await measure(uncached, min(calls, 300)))
    finally:
        await pool.close()


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--database-url",
                    default=os.environ.get("ONCALL_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"),
                    help="a server to create the throwaway database on")
    ap.add_argument("--calls", type=int, default=5000, help="cached resolver calls to time")
    args = ap.parse_args()

    dbname = f"oncall_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(args.database_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))
    params = conninfo_to_dict(args.database_url)
    params["dbname"] = dbname
    try:
        await run(make_conninfo(**params), args.calls)
    finally:
        with psycopg.connect(args.database_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(dbname)))


if __name__ == "__main__":
    asyncio.run(main())
