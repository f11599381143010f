"""What the REST transcoder costs over gRPC: the same reads through both doors of one server.

Starts the server in this process on a throwaway database with 200 alerts, then times, one
call at a time (keep-alive HTTP/1.1 with aiohttp, one gRPC channel), GetAlert and a
ListAlerts page of 50 (filtered by status and a label) through REST and through gRPC.
Prints p50/p99 per call and calls/s. Client and server share this process and its event
loop, so the figures are the whole round trip of each door, client work included.

    ./dev bench rest_overhead [--calls 2000] [--database-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import aiohttp
import grpc
import psycopg
from oncall.alerting.v1 import alerting_pb2 as pb
from oncall.alerting.v1 import alerting_pb2_grpc
from oncall.auth import keys
from oncall.auth.principal import CLI
from oncall.config import Settings
from oncall.context import Context
from oncall.server import serve
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo


class _Keyed:
    """A stub whose every call sends the API key."""

    def __init__(self, stub: alerting_pb2_grpc.AlertServiceStub, metadata: tuple[tuple[str, str], ...]) -> None:
        self._stub = stub
        self._metadata = metadata

    def __getattr__(self, name: str) -> Callable[..., Awaitable[object]]:
        method = getattr(self._stub, name)
        return lambda request: method(request, metadata=self._metadata)


async def measure(fn: Callable[[], Awaitable[object]], calls: int) -> list[float]:
    for _ in range(min(100, calls)):  # warm-up
        await fn()
    took = []
    for _ in range(calls):
        started = time.perf_counter()
        await fn()
        took.append(time.perf_counter() - started)
    return took


def report(name: str, took: list[float]) -> None:
    q = statistics.quantiles(took, n=100)
    print(f"{name:<28} p50 {q[49] * 1e3:6.2f} ms   p99 {q[98] * 1e3:6.2f} ms   {len(took) / sum(took):8.0f} calls/s")


async def run(db_url: str, calls: int) -> None:
    settings = Settings(database_url=db_url, http_addr="127.0.0.1:0", grpc_addr="127.0.0.1:0", engine=False,
                        notifier=False, shutdown_grace_s=2.0)
    stop = asyncio.Event()
    ready: asyncio.Future[Context] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(serve(settings, stop=stop, on_ready=ready.set_result))
    ctx = await ready
    base = f"http://127.0.0.1:{ctx.http_port}"
    _, token = await keys.create(ctx.pool, name="bench", role="admin", created_by=CLI, created_by_name="cli",
                                 now=datetime.now(UTC))
    auth = (("authorization", f"Bearer {token}"),)
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{ctx.grpc_port}") as channel, \
                aiohttp.ClientSession(base_url=base, headers=dict(auth)) as http:
            stub = _Keyed(alerting_pb2_grpc.AlertServiceStub(channel), auth)
            for i in range(200):
                await stub.CreateAlert(pb.CreateAlertRequest(summary=f"bench {i}", dedup_key=f"b{i}",
                                                             labels={"env": "prod" if i % 2 else "dev"}))
            alert_id = (await stub.ListAlerts(pb.ListAlertsRequest(page_size=1))).alerts[0].id
            list_request = pb.ListAlertsRequest(statuses=[pb.ALERT_STATUS_TRIGGERED], labels={"env": "prod"},
                                                page_size=50)
            list_params = {"statuses": "ALERT_STATUS_TRIGGERED", "labels[env]": "prod", "page_size": "50"}

            async def rest_get() -> object:
                async with http.get(f"/api/v1/alerts/{alert_id}") as r:
                    assert r.status == 200
                    return await r.read()

            async def rest_list() -> object:
                async with http.get("/api/v1/alerts", params=list_params) as r:
                    assert r.status == 200
                    return await r.read()

            print(f"{calls} calls each, one at a time")
            report("gRPC GetAlert", await measure(lambda: stub.GetAlert(pb.GetAlertRequest(alert_id=alert_id)), calls))
            report("REST GET /alerts/{id}", await measure(rest_get, calls))
            report("gRPC ListAlerts (50)", await measure(lambda: stub.ListAlerts(list_request), calls))
            report("REST GET /alerts (50)", await measure(rest_list, calls))
    finally:
        stop.set()
        await task


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--database-url",
                    default=os.environ.get("ONCALL_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"),
                    help="a server to create the throwaway database on")
    ap.add_argument("--calls", type=int, default=2000, help="timed calls per door and method")
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
