"""One Alertmanager group of thousands of alerts in one webhook: how long until it is committed
and answered, and how much memory the server takes for it.

Starts `oncall serve` on a throwaway database (as bench/ingest.py does), then for each size
(default 3,000 and 10,000 alerts) sends one group of new alerts and reports the body size,
the time to the 200, the alerts stored, and the server's resident memory before and its
peak after (VmRSS and VmHWM from /proc). Every alert is new, so every one is an insert.

    .venv/bin/python bench/large_group.py [--sizes 3000,10000] [--server-env NAME=VALUE]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import sys
import tempfile
import time
import urllib.request
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


def _memory_kib(pid: int) -> dict[str, int]:
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            out[name] = int(value.split()[0])
    return out


def _count(db_url: str) -> int:
    import psycopg

    with psycopg.connect(db_url) as conn:
        row = conn.execute("SELECT count(*) FROM alerting.alerts").fetchone()
        assert row is not None
        return int(row[0])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="3000,10000", help="alerts per group, comma-separated (default %(default)s)")
    ap.add_argument("--database-url", default=os.environ.get("ONCALL_DATABASE_URL") or DEFAULT_ADMIN_URL)
    ap.add_argument("--server-env", action="append", default=[], metavar="NAME=VALUE")
    args = ap.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]

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
        key = create_integration(env, "alertmanager")
        print(f"{'alerts':>7} {'body MB':>8} {'answer s':>9} {'stored':>7} {'RSS before MB':>14} {'peak RSS MB':>12}")
        for n in sizes:
            before = _count(db_url)
            body = alertmanager_body(secrets.token_hex(4), 0, n)
            mem = _memory_kib(server.pid)
            req = urllib.request.Request(
                f"http://127.0.0.1:{port}/api/v1/webhooks/alertmanager", data=body, method="POST",
                headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
            )
            t0 = time.perf_counter()
            with urllib.request.urlopen(req, timeout=300) as r:
                r.read()
                status = r.status
            took = time.perf_counter() - t0
            stored = _count(db_url) - before
            peak = _memory_kib(server.pid)["VmHWM"]
            print(f"{n:>7} {len(body) / 1e6:>8.2f} {took:>9.2f} {stored:>7} {mem['VmRSS'] / 1024:>14.0f}"
                  f" {peak / 1024:>12.0f}" + ("" if status == 200 else f"  (HTTP {status})"), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
