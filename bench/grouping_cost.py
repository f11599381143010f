"""What a grouping rule adds to ingesting one alert, in-process: CPU µs per alert without and with it.

    .venv/bin/python bench/grouping_cost.py [--batch 12] [--batches 300] [--rounds 3] [--database-url URL]

bench/ingest.py measures the whole server over HTTP, where throughput, and so CPU per
alert, swings with whatever else the machine runs. This measures only the ingest path, in
one process on a throwaway database, by CPU time rather than wall time: Alertmanager
webhooks (as bench/ingest.py sends them, every alert new) parsed by the alertmanager
source, then ``Ingestor.prepare`` (where grouping rules are evaluated), then the batch
statement applied as the ingestor applies it (``_statements``, one statement, autocommit),
``--batch`` alerts a statement. Figures: Python CPU of prepare, Python CPU of building and
sending the statement (psycopg included), and the PostgreSQL backend's CPU (from /proc),
each per alert; the best of ``--rounds`` interleaved rounds. Rules: none, the
alertname-and-cluster key (condition ``true``, 15 minute window, 50 alerts a key) and the
``alertmanager-group`` preset (``annotations.groupKey``: one incident in all).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from ingest import BENCH_RULES, DEFAULT_ADMIN_URL, alertmanager_body, throwaway_database  # the sibling's helpers
from oncall_alertmanager.source import AlertmanagerSource
from oncall_cel_routing.router import CelRouter
from oncall_hookspecs import AlertEvent, InboundRequest

from oncall.alerting import store
from oncall.alerting.ingest import Ingestor, _statements
from oncall.alerting.models import Integration
from oncall.grouping.assign import GroupingCache, StoredRule
from oncall.store.database import Pool, open_pool


def _backend_cpu_s(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` (a PostgreSQL backend on this machine)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _rule(name: str) -> StoredRule:
    r = BENCH_RULES[name]
    return StoredRule(id=f"00000000-0000-0000-0000-00000000000{list(BENCH_RULES).index(name) + 1}", name=name,
                      condition=r.condition, key=r.key, integration_id=None, window_seconds=r.window_seconds,
                      idle_seconds=None, resolve_on=r.resolve_on, title_template="", repage_on_new_alert=False,
                      position=0, version=1)


async def _round(pool: Pool, integration: Integration, ingestor: Ingestor, bodies: list[list[AlertEvent]]
                 ) -> tuple[float, float, float]:
    """(prepare, statement, PostgreSQL) CPU µs per alert for ``bodies``."""
    n = sum(len(b) for b in bodies)
    t0 = time.process_time()
    prepared = [ingestor.prepare(events, integration) for events in bodies]
    t_prepare = time.process_time() - t0
    async with pool.connection() as conn:
        cur = await conn.execute("SELECT pg_backend_pid() AS pid")
        row = await cur.fetchone()
        assert row is not None
        pid = int(row["pid"])
        c0, t0 = _backend_cpu_s(pid), time.process_time()
        for batch in prepared:
            for sql, params, _, _ in _statements([(integration.id, batch)], ingestor._clock.now()):
                cur = await conn.execute(sql, params)
                await cur.fetchall()
        t_sql, c_pg = time.process_time() - t0, _backend_cpu_s(pid) - c0
    return t_prepare / n * 1e6, t_sql / n * 1e6, c_pg / n * 1e6


async def run(args: argparse.Namespace) -> None:
    with throwaway_database(args.database_url) as url:
        env = {k: v for k, v in os.environ.items() if not k.startswith("ONCALL_")}
        subprocess.run([sys.executable, "-m", "oncall.cli", "migrate"], env=dict(env, ONCALL_DATABASE_URL=url),
                       check=True, capture_output=True)
        pool = await open_pool(url, 1, 2)
        try:
            integration, _ = await store.create_integration(pool, "alertmanager", "bench")
            source, tag = AlertmanagerSource(), secrets.token_hex(4)
            router = CelRouter()
            ingestors: dict[str, Ingestor] = {"none": Ingestor(pool)}
            for name in BENCH_RULES:
                cache = GroupingCache(pool, router)
                cache.install(1, [_rule(name)])
                ingestors[name] = Ingestor(pool, grouping=cache)
            seq = 0
            best: dict[str, list[float]] = {}
            for _ in range(args.rounds):
                for name, ingestor in ingestors.items():
                    bodies = []
                    for _ in range(args.batches):
                        body = alertmanager_body(tag, seq, args.batch)
                        seq += 1
                        bodies.append(source.parse(InboundRequest("POST", "/", {}, {}, body, "application/json")))
                    got = await _round(pool, integration, ingestor, bodies)
                    best[name] = [min(a, b) for a, b in zip(best.get(name, got), got, strict=True)]
        finally:
            await pool.close()
    print(f"{args.batch} alerts a statement, {args.batches} statements a round, best of {args.rounds} rounds "
          f"({router.engine.name}); CPU µs per alert")
    print(f"{'rule':<20} {'prepare':>8} {'statement':>10} {'PostgreSQL':>11} {'total':>8} {'vs none':>9}")
    base = sum(best["none"])
    for name, (prep, sql, pg) in best.items():
        total = prep + sql + pg
        change = "" if name == "none" else f"{(total - base) / base * 100:+.1f} %"
        print(f"{name:<20} {prep:>8.1f} {sql:>10.1f} {pg:>11.1f} {total:>8.1f} {change:>9}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--batch", type=int, default=12, help="alerts a statement (default %(default)s; bench/ingest.py's "
                                                          "x1 commits ~12-15, x10 ~100-140)")
    ap.add_argument("--batches", type=int, default=300)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--database-url", default=os.environ.get("ONCALL_DATABASE_URL") or DEFAULT_ADMIN_URL)
    asyncio.run(run(ap.parse_args()))


if __name__ == "__main__":
    main()
