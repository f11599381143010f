"""What the lock costs: an API key's lookup alone, an audit row alone, and whole gRPC calls through it.

    .venv/bin/python bench/access.py [--database-url URL] [--calls N]

On a throwaway database (created on --database-url, default $ONCALL_DATABASE_URL or
postgresql://postgres@127.0.0.1:5432/postgres, dropped afterwards): prints authentications
per second with their median and p99 (one indexed SELECT by the key's prefix, and a SHA-256;
for a session cookie, an HMAC check, then one indexed SELECT by the id's SHA-256),
audit rows written per second, and the median and p99 of a read call (ListPolicies: looked
up, allowed, not audited) and of a write call (CreateHeartbeat: looked up, allowed, audited)
over gRPC on 127.0.0.1, one call at a time.
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
from typing import Any

import grpc
import psycopg
from google.protobuf.duration_pb2 import Duration
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from oncall_hookspecs import AuthRequest

from oncall.alerting.v1 import escalation_pb2, escalation_pb2_grpc, heartbeats_pb2, heartbeats_pb2_grpc
from oncall.auth import audit, keys, sessions
from oncall.auth.access import Access
from oncall.auth.principal import CLI
from oncall.config import Settings
from oncall.server import serve
from oncall.store.database import open_pool
from oncall.store.migrate import apply_migrations


def _figures(name: str, took: list[float]) -> None:
    took = sorted(took)
    p99 = took[min(len(took) - 1, int(len(took) * 0.99))]
    print(f"{name}: {len(took) / sum(took):,.0f}/s one at a time, p50 {statistics.median(took) * 1e3:.2f} ms, "
          f"p99 {p99 * 1e3:.2f} ms")


async def _timed(count: int, call: Callable[[int], Awaitable[Any]]) -> list[float]:
    took = []
    for i in range(count):
        t0 = time.perf_counter()
        await call(i)
        took.append(time.perf_counter() - t0)
    return took


async def run(url: str, calls: int) -> None:
    await apply_migrations(url)
    pool = await open_pool(url, 1, 4)
    try:
        _, token = await keys.create(pool, name="bench", role="admin", created_by=CLI, created_by_name="cli",
                                     now=datetime.now(UTC))
        access = Access(pool)
        request = AuthRequest(transport="grpc", headers={"authorization": f"Bearer {token}"})
        await access.authenticate(request)
        _figures("API key authentication", await _timed(calls, lambda _: access.authenticate(request)))
        store = sessions.SessionStore(pool, sessions.Signer(await sessions.load_secret(pool, None)))
        by_cookie = Access(pool, sessions=sessions.SessionAuthenticator(store))
        _, cookie = await store.create(user_id="ann", role="responder", method="oidc", now=by_cookie.clock.now())
        browser = AuthRequest(transport="http", headers={"cookie": f"{sessions.COOKIE}={cookie}"})
        assert (await by_cookie.authenticate(browser)) is not None
        _figures("session cookie authentication", await _timed(calls, lambda _: by_cookie.authenticate(browser)))
        event = audit.AuditEvent(at=datetime.now(UTC), principal="api_key:1 (bench)", principal_kind="api_key",
                                 role="admin", method="/bench/Write", resource="bench/1", outcome="OK",
                                 summary={"name": "x", "steps": [{"targets": [{"id": "ann"}]}]})
        _figures("audit row written", await _timed(calls, lambda _: audit.record(pool, event)))
    finally:
        await pool.close()

    settings = Settings(database_url=url, http_addr="127.0.0.1:0", grpc_addr="127.0.0.1:0", shutdown_grace_s=2.0,
                        engine=False, notifier=False)
    stop = asyncio.Event()
    ready: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    server = asyncio.create_task(serve(settings, stop=stop, on_ready=ready.set_result))
    ctx = await ready
    try:
        key = (("authorization", f"Bearer {token}"),)
        async with grpc.aio.insecure_channel(f"127.0.0.1:{ctx.grpc_port}") as channel:
            policies = escalation_pb2_grpc.EscalationServiceStub(channel)
            beats = heartbeats_pb2_grpc.HeartbeatServiceStub(channel)
            await policies.ListPolicies(escalation_pb2.ListPoliciesRequest(), metadata=key)
            _figures("gRPC ListPolicies (read)", await _timed(
                calls, lambda _: policies.ListPolicies(escalation_pb2.ListPoliciesRequest(), metadata=key)))
            run_id = uuid.uuid4().hex[:6]
            _figures("gRPC CreateHeartbeat (write, audited)", await _timed(calls, lambda i: beats.CreateHeartbeat(
                heartbeats_pb2.CreateHeartbeatRequest(name=f"bench-{run_id}-{i}", timeout=Duration(seconds=60)),
                metadata=key)))
    finally:
        stop.set()
        await server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=os.environ.get("ONCALL_DATABASE_URL")
                        or "postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--calls", type=int, default=2000)
    args = parser.parse_args()
    name = f"oncall_bench_access_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(args.database_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = make_conninfo(**{**conninfo_to_dict(args.database_url), "dbname": name})
    try:
        asyncio.run(run(url, args.calls))
    finally:
        with psycopg.connect(args.database_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


if __name__ == "__main__":
    main()
