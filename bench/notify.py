"""Notification speed: Slack renders per second, and webhook-in to webhook-delivered latency.

1. render: the default template through the one render path (sandboxed Jinja2, then the
   slack renderer plugin) --renders times in this process, on one core: one alert (its own
   incident), then a grouped incident's summary.
1b. render processes: the same renders sent to the server's render processes (a pool as
   ``oncall serve`` starts it, ``--processes`` of them) in batches of 200, as the delivery
   worker sends a claimed batch: renders a second, and this process's CPU per render.
2. end to end: starts ``oncall serve`` on a throwaway database with the webhook channel
   pointed at a local receiver, routes every alert to ``webhook:<receiver>``, posts alerts
   at --rate per second for --seconds, and prints, per alert, the time from the moment
   the client sent the alert webhook to the moment the receiver had the outgoing webhook.

Both clocks are this machine's. Only 127.0.0.1 is contacted.

    ./dev bench notify [--renders 10000] [--processes 2] [--rate 100] [--seconds 10] [--database-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
import uuid

import aiohttp
import psycopg
from aiohttp import web
from oncall_hookspecs import RuleActions
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from oncall.alerting import store
from oncall.notification.pipeline import render_for
from oncall.notification.templates import INCIDENT_SAMPLE_CONTEXT, SAMPLE_CONTEXT, Template
from oncall.plugins import load_plugins
from oncall.routing import rules
from oncall.store.database import open_pool
from oncall.store.migrate import apply_migrations


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def bench_render(n: int) -> None:
    _, registry = load_plugins(())
    template = Template()
    contexts = []
    for i in range(64):  # distinct alerts, so nothing is cached by value
        ctx = json.loads(json.dumps(dict(SAMPLE_CONTEXT)))
        ctx["alert"]["id"] = 1000 + i
        ctx["alert"]["summary"] = f"High error rate on payments-api shard {i} (5.2% > 1%)"
        contexts.append(ctx)
    render_for(template, "slack", contexts[0], registry.renderers)  # compile once
    for _ in range(2):
        start = time.process_time()
        wall = time.perf_counter()
        for i in range(n):
            out = render_for(template, "slack", contexts[i % 64], registry.renderers)
        cpu = time.process_time() - start
        assert not out.errors, out.errors
        print(f"slack render (default template + renderer plugin): {n} renders, "
              f"{n / cpu:,.0f}/s per CPU-second, {n / (time.perf_counter() - wall):,.0f}/s wall")
    grouped = []
    for i in range(64):  # the summary of an incident of 37 alerts (an edit renders it again)
        ctx = json.loads(json.dumps(dict(INCIDENT_SAMPLE_CONTEXT)))
        ctx["incident"]["id"] = 1000 + i
        ctx["incident"]["alerts"][0]["summary"] = f"Disk full on payments-db shard {i}"
        grouped.append(ctx)
    start = time.process_time()
    for i in range(n):
        out = render_for(template, "slack", grouped[i % 64], registry.renderers)
    assert not out.errors, out.errors
    print(f"slack render of a grouped incident's summary: {n} renders, {n / (time.process_time() - start):,.0f}/s "
          "per CPU-second")


async def bench_pool(n: int, processes: int) -> None:
    from oncall.config import Settings
    from oncall.notification.pipeline import SendJob
    from oncall.notification.renderpool import RenderPool

    _, registry = load_plugins(())
    pool = RenderPool.for_server(Settings(render_processes=processes), registry)
    await pool.start()
    try:
        contexts = []
        for i in range(64):
            ctx = json.loads(json.dumps(dict(SAMPLE_CONTEXT)))
            ctx["alert"]["id"] = 1000 + i
            contexts.append(ctx)
        jobs = [SendJob(Template(), "slack", contexts[i % 64]) for i in range(200)]
        await pool.send(jobs)  # every process started and warm
        for _ in range(2):
            cpu, wall = time.process_time(), time.perf_counter()
            for _ in range(max(1, n // len(jobs))):
                out = await pool.send(jobs)
            done = max(1, n // len(jobs)) * len(jobs)
            assert all(not r.rendered.errors for r in out)
            print(f"slack render in {processes} render process(es), batches of {len(jobs)}: {done} renders, "
                  f"{done / (time.perf_counter() - wall):,.0f}/s wall, "
                  f"{(time.process_time() - cpu) / done * 1e6:.0f} µs of this process's CPU each")
    finally:
        await pool.stop()


async def bench_end_to_end(args: argparse.Namespace) -> None:
    received: dict[int, float] = {}

    async def receive(request: web.Request) -> web.Response:
        body = await request.json()
        received.setdefault(int(body["alert"]["id"]), time.time())
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/hook", receive)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    hook_url = f"http://127.0.0.1:{runner.addresses[0][1]}/hook"

    admin = args.database_url
    dbname = f"oncall_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))
    params = conninfo_to_dict(admin)
    params["dbname"] = dbname
    db_url = make_conninfo(**params)
    proc = None
    try:
        await apply_migrations(db_url)
        pool = await open_pool(db_url, 1, 4)
        await rules.set_default(pool, RuleActions(channel_destinations=[f"webhook:{hook_url}"]))
        _, key = await store.create_integration(pool, "generic", "bench")
        port = free_port()
        env = dict(os.environ, ONCALL_DATABASE_URL=db_url, ONCALL_HTTP_ADDR=f"127.0.0.1:{port}",
                   ONCALL_GRPC_ADDR=f"127.0.0.1:{free_port()}", ONCALL_LOG_LEVEL="WARNING",
                   ONCALL_WEBHOOK_SIGNING_SECRET="bench-secret", ONCALL_WEBHOOK_ALLOWED_HOSTS="127.0.0.1")
        proc = subprocess.Popen([sys.executable, "-m", "oncall.cli", "serve"], env=env)
        url = f"http://127.0.0.1:{port}"
        sent: dict[int, float] = {}
        async with aiohttp.ClientSession() as http:
            for _ in range(300):
                try:
                    async with http.get(f"{url}/readyz") as r:
                        if r.status == 200:
                            break
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.1)

            async def one(i: int) -> None:
                t = time.time()
                async with http.post(f"{url}/api/v1/webhooks/generic", json={"summary": f"bench {i}", "dedup": f"b{i}"},
                                     headers={"Authorization": f"Bearer {key}", "Accept": "application/json"}) as r:
                    sent[(await r.json())["AlertID"]] = t

            n = int(args.rate * args.seconds)
            start = time.monotonic()
            tasks = []
            for i in range(n):
                await asyncio.sleep(max(0.0, start + i / args.rate - time.monotonic()))
                tasks.append(asyncio.create_task(one(i)))
            await asyncio.gather(*tasks)
        for _ in range(100):
            if len(received) >= len(sent):
                break
            await asyncio.sleep(0.1)
        async with pool.connection() as conn:
            cur = await conn.execute("SELECT status, count(*) AS n FROM notification.deliveries GROUP BY status")
            statuses = {r["status"]: r["n"] for r in await cur.fetchall()}
        await pool.close()
        lat = [(received[a] - t) * 1000 for a, t in sent.items() if a in received]
        print(f"alerts sent: {len(sent)} at {args.rate:g}/s; outgoing webhooks received: {len(lat)}; "
              f"deliveries by status: {statuses}")
        if lat:
            print(f"webhook in → webhook delivered: p50 {statistics.median(lat):.1f} ms  p99 {pct(lat, 99):.1f} ms  "
                  f"max {max(lat):.1f} ms")
    finally:
        if proc is not None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)
        await runner.cleanup()
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(dbname)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--database-url", default=os.environ.get("ONCALL_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"))
    ap.add_argument("--renders", type=int, default=10_000)
    ap.add_argument("--processes", type=int, default=2, help="render processes for the pool figure")
    ap.add_argument("--rate", type=float, default=100.0, help="alerts per second")
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--skip-render", action="store_true")
    ap.add_argument("--skip-e2e", action="store_true")
    args = ap.parse_args()
    if not args.skip_render:
        bench_render(args.renders)
        asyncio.run(bench_pool(args.renders, args.processes))
    if not args.skip_e2e:
        asyncio.run(bench_end_to_end(args))


if __name__ == "__main__":
    main()
