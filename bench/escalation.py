"""How soon the first page is recorded after a webhook, and how punctually step timers fire.

Starts ``oncall serve`` on a throwaway database, sets a default route to a policy whose
first step is immediate and whose second step follows after --delay seconds, then posts
alerts at --rate per second for --seconds. For each alert it prints, from the rows the
engine wrote:

  first page: request.created_at − the moment the client sent the webhook
  step timer: (step 2 created_at − step 1 created_at) − the step's delay

Both clocks are this machine's wall clock. Only 127.0.0.1 is contacted.

    ./dev bench escalation [--rate 100] [--seconds 10] [--database-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
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
from oncall_hookspecs import RuleActions
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from oncall.alerting import store
from oncall.escalation.policies import PolicyInput, Step, Target, create_policy
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


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--database-url", default=os.environ.get("ONCALL_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"))
    ap.add_argument("--rate", type=float, default=100.0, help="alerts per second")
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--delay", type=int, default=1, help="seconds between step 1 and step 2")
    args = ap.parse_args()

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
        policy = await create_policy(pool, PolicyInput(name="bench", steps=[
            Step(0, (Target("user", "alice"),)), Step(args.delay, (Target("user", "bob"),))]))
        await rules.set_default(pool, RuleActions(escalation_policy_id=policy.id))
        _, key = await store.create_integration(pool, "generic", "bench")

        port = free_port()
        env = dict(os.environ, ONCALL_DATABASE_URL=db_url, ONCALL_HTTP_ADDR=f"127.0.0.1:{port}",
                   ONCALL_GRPC_ADDR=f"127.0.0.1:{free_port()}", ONCALL_LOG_LEVEL="WARNING")
        proc = subprocess.Popen([sys.executable, "-m", "oncall.cli", "serve"], env=env)
        url = f"http://127.0.0.1:{port}"
        async with aiohttp.ClientSession() as http:
            for _ in range(300):
                try:
                    async with http.get(f"{url}/readyz") as r:
                        if r.status == 200:
                            break
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.1)
            sent: dict[int, float] = {}
            n = int(args.rate * args.seconds)
            interval = 1.0 / args.rate
            start = time.monotonic()

            async def one(i: int) -> None:
                t = time.time()
                async with http.post(f"{url}/api/v1/webhooks/generic", json={"summary": f"bench {i}", "dedup": f"b{i}"},
                                     headers={"Authorization": f"Bearer {key}", "Accept": "application/json"}) as r:
                    sent[(await r.json())["AlertID"]] = t

            tasks = []
            for i in range(n):
                await asyncio.sleep(max(0.0, start + i * interval - time.monotonic()))
                tasks.append(asyncio.create_task(one(i)))
            await asyncio.gather(*tasks)
        await asyncio.sleep(args.delay + 2)

        async with pool.connection() as conn:
            cur = await conn.execute(
                "SELECT alert_id, step, created_at FROM alerting.notification_requests ORDER BY alert_id, step")
            rows = await cur.fetchall()
        await pool.close()
        first: dict[int, float] = {}
        second: dict[int, float] = {}
        for r in rows:
            (first if r["step"] == 0 else second)[r["alert_id"]] = r["created_at"].timestamp()
        lat = [(first[a] - t) * 1000 for a, t in sent.items() if a in first]
        drift = [(second[a] - first[a] - args.delay) * 1000 for a in first if a in second]
        print(f"alerts sent: {len(sent)} at {args.rate:g}/s; first pages recorded: {len(lat)}; second steps: {len(drift)}")
        if lat:
            print(f"first page after webhook: p50 {statistics.median(lat):.1f} ms  p99 {pct(lat, 99):.1f} ms  max {max(lat):.1f} ms")
        if drift:
            print(f"step timer lateness:      p50 {statistics.median(drift):.1f} ms  p99 {pct(drift, 99):.1f} ms  max {max(drift):.1f} ms")
    finally:
        if proc is not None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(dbname)))


if __name__ == "__main__":
    asyncio.run(main())
