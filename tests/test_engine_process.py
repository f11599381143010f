"""The escalation engine in real ``oncall serve`` processes: killed mid-policy, and two at once."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import pytest
from oncall_hookspecs import RuleActions

from oncall.alerting import store
from oncall.escalation.policies import PolicyInput, Step, Target, create_policy
from oncall.routing import rules
from oncall.store.database import open_pool
from oncall.store.migrate import apply_migrations


pytestmark = pytest.mark.slow

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


STEP_DELAY = 2  # seconds between steps: short, but long enough to kill a process mid-policy


class Serve:
    def __init__(self, db_url: str, log: Path) -> None:
        self.http_port, self.grpc_port = free_port(), free_port()
        env = dict(os.environ)
        env.update(
            ONCALL_DATABASE_URL=db_url,
            ONCALL_HTTP_ADDR=f"127.0.0.1:{self.http_port}",
            ONCALL_GRPC_ADDR=f"127.0.0.1:{self.grpc_port}",
            ONCALL_LOG_LEVEL="INFO",
        )
        self.log = log
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "oncall.cli", "serve"], env=env,
            stdout=log.open("w"), stderr=subprocess.STDOUT,
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    async def ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        async with aiohttp.ClientSession() as http:
            while time.monotonic() < deadline:
                assert self.proc.poll() is None, self.log.read_text()
                try:
                    async with http.get(f"{self.url}/readyz") as r:
                        if r.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.1)
        raise AssertionError("server did not become ready:\n" + self.log.read_text())

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(10)

    def terminate(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(20)


async def _setup(db_url: str) -> tuple[object, str]:
    await apply_migrations(db_url)
    pool = await open_pool(db_url, 1, 4)
    policy = await create_policy(pool, PolicyInput(name="p", steps=[
        Step(0, (Target("user", "alice"),)),
        Step(STEP_DELAY, (Target("user", "bob"),)),
        Step(STEP_DELAY, (Target("user", "carol"), Target("channel", "slack:#ops"))),
    ]))
    await rules.set_default(pool, RuleActions(escalation_policy_id=policy.id))
    _, key = await store.create_integration(pool, "generic", "load")
    return pool, key


async def _post(url: str, key: str, n: int, prefix: str) -> None:
    async with aiohttp.ClientSession() as http:
        for i in range(n):
            async with http.post(f"{url}/api/v1/webhooks/generic", json={"summary": f"{prefix} {i}", "dedup": f"{prefix}-{i}"},
                                 headers={"Authorization": f"Bearer {key}"}) as r:
                assert r.status == 204, await r.text()


async def _wait_all_done(pool, n_alerts: int, timeout: float = 40) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        async with pool.connection() as conn:
            cur = await conn.execute("SELECT count(*) AS n FROM alerting.escalations WHERE state = 'done'")
            if (await cur.fetchone())["n"] == n_alerts:
                return
        await asyncio.sleep(0.2)
    raise AssertionError("escalations did not finish in time")


async def _requests_per_alert(pool) -> dict[int, list[str]]:
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT alert_id, step, target_id FROM alerting.notification_requests ORDER BY alert_id, id"
        )
        out: dict[int, list[str]] = {}
        for r in await cur.fetchall():
            out.setdefault(r["alert_id"], []).append(f"{r['step']}:{r['target_id']}")
    return out


EXPECTED = ["0:alice", "1:bob", "2:carol", "2:slack:#ops"]


async def test_a_killed_engine_restarted_mid_policy_loses_no_step_and_doubles_none(fresh_database, tmp_path):
    db_url = fresh_database()
    pool, key = await _setup(db_url)
    try:
        first = Serve(db_url, tmp_path / "first.log")
        await first.ready()
        await _post(first.url, key, 20, "kill")
        await asyncio.sleep(STEP_DELAY + 0.5)  # step 1 has fired, step 2 is pending
        first.kill()
        async with pool.connection() as conn:
            cur = await conn.execute("SELECT count(*) AS n FROM alerting.escalations WHERE state = 'active'")
            assert (await cur.fetchone())["n"] == 20  # the kill landed mid-policy
        second = Serve(db_url, tmp_path / "second.log")
        await second.ready()
        await _wait_all_done(pool, 20)
        assert second.terminate() == 0
        per_alert = await _requests_per_alert(pool)
        assert len(per_alert) == 20
        assert all(reqs == EXPECTED for reqs in per_alert.values()), per_alert
    finally:
        await pool.close()


async def test_two_servers_on_one_database_record_exactly_what_one_would(fresh_database, tmp_path):
    db_url = fresh_database()
    pool, key = await _setup(db_url)
    try:
        a, b = Serve(db_url, tmp_path / "a.log"), Serve(db_url, tmp_path / "b.log")
        await asyncio.gather(a.ready(), b.ready())
        await asyncio.gather(_post(a.url, key, 15, "a"), _post(b.url, key, 15, "b"))
        await _wait_all_done(pool, 30)
        assert a.terminate() == 0 and b.terminate() == 0
        per_alert = await _requests_per_alert(pool)
        assert len(per_alert) == 30
        assert all(reqs == EXPECTED for reqs in per_alert.values()), per_alert
    finally:
        await pool.close()


async def test_first_page_is_recorded_within_a_second_of_the_webhook(fresh_database, tmp_path):
    db_url = fresh_database()
    pool, key = await _setup(db_url)
    try:
        srv = Serve(db_url, tmp_path / "srv.log")
        await srv.ready()
        async with aiohttp.ClientSession() as http:
            for i in range(10):
                sent = time.time()
                async with http.post(f"{srv.url}/api/v1/webhooks/generic", json={"summary": "t", "dedup": f"t{i}"},
                                     headers={"Authorization": f"Bearer {key}", "Accept": "application/json"}) as r:
                    alert_id = (await r.json())["AlertID"]
                deadline = time.monotonic() + 5
                while time.monotonic() < deadline:
                    async with pool.connection() as conn:
                        cur = await conn.execute(
                            "SELECT created_at FROM alerting.notification_requests WHERE alert_id = %s", (alert_id,))
                        row = await cur.fetchone()
                    if row:
                        break
                    await asyncio.sleep(0.01)
                assert row is not None, "no page recorded within 5 s"
                # Recorded, by the engine's own clock, soon after the webhook was sent. Timing
                # figures belong to bench/escalation.py; this bounds only gross regressions.
                assert row["created_at"].timestamp() - sent < 5
        assert srv.terminate() == 0
    finally:
        await pool.close()
