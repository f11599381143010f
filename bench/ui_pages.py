"""How long the web UI's pages take to render server-side with many incidents stored.

Starts `oncall serve` on a throwaway database (as bench/ingest.py does), stores --open open
incidents (Alertmanager groups of new alerts, each alert its own incident), then fetches each
page --requests times, one at a time, as a responder's API key (a page accepts any principal
the access check knows), and prints p50 / p95 / max per page, from request to last byte.

    .venv/bin/python bench/ui_pages.py [--open 10000] [--requests 50]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import statistics
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from ingest import (  # the sibling benchmark's helpers
    DEFAULT_ADMIN_URL,
    _free_port,
    _process,
    _wait_http,
    alertmanager_body,
    create_integration,
    throwaway_database,
)

GROUP = 2000  # alerts per webhook


async def _responder_key(db_url: str) -> str:
    from oncall.auth import keys
    from oncall.auth.principal import CLI
    from oncall.store.database import open_pool

    pool = await open_pool(db_url, 1, 2)
    try:
        _, key = await keys.create(pool, name="bench-ui", role="responder", created_by=CLI, created_by_name="cli",
                                   now=datetime.now(UTC))
    finally:
        await pool.close()
    return key


def _get(url: str, key: str) -> tuple[int, float]:
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {key}"})
    t0 = time.perf_counter()
    with urllib.request.urlopen(req, timeout=60) as r:
        r.read()
        status = r.status
    return status, time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--open", type=int, default=10000, help="open incidents to store (default %(default)s)")
    ap.add_argument("--requests", type=int, default=50, help="fetches per page (default %(default)s)")
    ap.add_argument("--database-url", default=os.environ.get("ONCALL_DATABASE_URL") or DEFAULT_ADMIN_URL)
    ap.add_argument("--server-env", action="append", default=[], metavar="NAME=VALUE")
    args = ap.parse_args(argv)

    env = {k: v for k, v in os.environ.items() if not k.startswith("ONCALL_")}
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="oncall-bench-")))
        db_url = stack.enter_context(throwaway_database(args.database_url))
        port = _free_port()
        env.update(ONCALL_DATABASE_URL=db_url, ONCALL_HTTP_ADDR=f"127.0.0.1:{port}",
                   ONCALL_GRPC_ADDR=f"127.0.0.1:{_free_port()}", ONCALL_DATA_DIR=str(tmp / "data"),
                   ONCALL_LOG_LEVEL="WARNING")
        for item in args.server_env:
            name, _, value = item.partition("=")
            env[name] = value
        server = stack.enter_context(_process([sys.executable, "-m", "oncall.cli", "serve"], env, tmp / "server.log"))
        _wait_http(port, server, 60, "/readyz")
        integration_key = create_integration(env, "alertmanager")
        tag = secrets.token_hex(4)
        left, seq = args.open, 0
        while left > 0:
            body = alertmanager_body(tag, seq, min(GROUP, left))
            req = urllib.request.Request(
                f"http://127.0.0.1:{port}/api/v1/webhooks/alertmanager", data=body, method="POST",
                headers={"Authorization": f"Bearer {integration_key}", "Content-Type": "application/json"})
            with urllib.request.urlopen(req, timeout=300) as r:
                r.read()
            left -= GROUP
            seq += 1
        key = asyncio.run(_responder_key(db_url))
        base = f"http://127.0.0.1:{port}"
        with urllib.request.urlopen(urllib.request.Request(
                base + "/api/v1/incidents?page_size=1", headers={"Authorization": f"Bearer {key}"})) as r:
            newest = json.loads(r.read())["incidents"][0]["id"]
        pages = {
            "list (open)": "/incidents",
            "list (all, page of 200)": "/incidents?status=all&size=200",
            "list (text search)": "/incidents?q=zzz-no-match",
            "list (label filter)": "/incidents?label=severity%3Dcritical",
            "incident": f"/incidents/{newest}",
            "REST ListIncidents (50)": "/api/v1/incidents?page_size=50",
            "REST ListIncidents (500)": "/api/v1/incidents?page_size=500",
        }
        print(f"{args.open} open incidents stored; {args.requests} fetches per page, one at a time")
        print(f"{'page':<26} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}")
        for name, path in pages.items():
            _get(base + path, key)  # warm
            times = []
            for _ in range(args.requests):
                status, took = _get(base + path, key)
                if status != 200:
                    raise RuntimeError(f"{path} answered {status}")
                times.append(took * 1000)
            times.sort()
            p95 = times[min(len(times) - 1, int(len(times) * 0.95))]
            print(f"{name:<26} {statistics.median(times):>8.1f} {p95:>8.1f} {times[-1]:>8.1f}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
