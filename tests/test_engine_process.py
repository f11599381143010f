"""The escalation engine in real ``oncall serve`` processes: killed mid-policy, and two at once."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from fixtures.processes import ServeProcess, oncall_env
from oncall_hookspecs import RuleActions

from oncall.alerting import store
from oncall.escalation.policies import PolicyInput, Step, Target, create_policy
from oncall.routing import rules
from oncall.store.database import open_pool
from oncall.store.migrate import apply_migrations


pytestmark = pytest.mark.slow

STEP_DELAY = 2  # seconds between steps: short, but long enough to kill a process mid-policy


@dataclass
class Escalating:
    """A migrated database of its own whose every alert escalates through three steps."""

    db_url: str
    pool: Any
    key: str  # a generic integration's


@pytest.fixture
async def escalating(fresh_database: Callable[[], str]) -> AsyncIterator[Escalating]:
    db_url = fresh_database()
    await apply_migrations(db_url)
    pool = await open_pool(db_url, 1, 4)
    try:
        policy = await create_policy(pool, PolicyInput(name="p", steps=[
            Step(0, (Target("user", "alice"),)),
            Step(STEP_DELAY, (Target("user", "bob"),)),
            Step(STEP_DELAY, (Target("user", "carol"), Target("channel", "slack:#ops"))),
        ]))
        await rules.set_default(pool, RuleActions(escalation_policy_id=policy.id))
        _, key = await store.create_integration(pool, "generic", "load")
        yield Escalating(db_url, pool, key)
    finally:
        await pool.close()


@pytest.fixture
def serve(escalating: Escalating, tmp_path: Path) -> Iterator[Callable[[str], ServeProcess]]:
    """Starts ``oncall serve`` processes on the escalating database, each logging to ``<name>.log``.

    Whatever is still running at the end of the test is killed.
    """
    started: list[ServeProcess] = []

    def start(name: str) -> ServeProcess:
        process = ServeProcess.start(oncall_env(escalating.db_url, ONCALL_LOG_LEVEL="INFO"), tmp_path / f"{name}.log")
        started.append(process)
        return process

    yield start
    for process in started:
        process.kill()


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


async def _assert_each_paged_exactly_once_per_step(pool, n_alerts: int) -> None:
    per_alert = await _requests_per_alert(pool)
    assert len(per_alert) == n_alerts
    assert all(reqs == EXPECTED for reqs in per_alert.values()), per_alert


async def test_a_killed_engine_restarted_mid_policy_loses_no_step_and_doubles_none(escalating, serve):
    pool = escalating.pool
    first = serve("first")
    first.wait_until_serving("/readyz")
    await _post(first.http_url, escalating.key, 20, "kill")
    await asyncio.sleep(STEP_DELAY + 0.5)  # step 1 has fired, step 2 is pending
    first.kill()
    async with pool.connection() as conn:
        cur = await conn.execute("SELECT count(*) AS n FROM alerting.escalations WHERE state = 'active'")
        assert (await cur.fetchone())["n"] == 20  # the kill landed mid-policy
    second = serve("second")
    second.wait_until_serving("/readyz")
    await _wait_all_done(pool, 20)
    assert second.terminate() == 0
    await _assert_each_paged_exactly_once_per_step(pool, 20)


async def test_two_servers_on_one_database_record_exactly_what_one_would(escalating, serve):
    a, b = serve("a"), serve("b")
    a.wait_until_serving("/readyz")
    b.wait_until_serving("/readyz")
    key = escalating.key
    await asyncio.gather(_post(a.http_url, key, 15, "a"), _post(b.http_url, key, 15, "b"))
    await _wait_all_done(escalating.pool, 30)
    assert a.terminate() == 0 and b.terminate() == 0
    await _assert_each_paged_exactly_once_per_step(escalating.pool, 30)


async def test_first_page_is_recorded_within_a_second_of_the_webhook(escalating, serve):
    srv = serve("srv")
    srv.wait_until_serving("/readyz")
    async with aiohttp.ClientSession() as http:
        for i in range(10):
            sent = time.time()
            async with http.post(f"{srv.http_url}/api/v1/webhooks/generic", json={"summary": "t", "dedup": f"t{i}"},
                                 headers={"Authorization": f"Bearer {escalating.key}",
                                          "Accept": "application/json"}) as r:
                alert_id = (await r.json())["AlertID"]
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                async with escalating.pool.connection() as conn:
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


async def test_worker_processes_without_an_engine_and_a_separate_engine_page_as_one_server_would(
    escalating, tmp_path
):
    import subprocess
    import sys

    env = oncall_env(escalating.db_url, ONCALL_LOG_LEVEL="INFO")
    # two HTTP/gRPC processes sharing their ports, neither running the engine ...
    servers = ServeProcess.start({**env, "ONCALL_WORKERS": "2", "ONCALL_ENGINE": "off"}, tmp_path / "servers.log")
    # ... and the engine on its own
    with (tmp_path / "engine.log").open("wb") as log:
        engine = subprocess.Popen([sys.executable, "-m", "oncall.cli", "engine"], env=env, stdout=log,
                                  stderr=subprocess.STDOUT)
    try:
        servers.wait_until_serving("/readyz")
        await _post(servers.http_url, escalating.key, 20, "w")
        await _wait_all_done(escalating.pool, 20)
        engine.send_signal(subprocess.signal.SIGTERM)
        assert engine.wait(30) == 0, (tmp_path / "engine.log").read_text()
        assert servers.terminate() == 0, servers.output()
        assert "started 1 worker process" in servers.output()
        await _assert_each_paged_exactly_once_per_step(escalating.pool, 20)
    finally:
        servers.kill()
        if engine.poll() is None:
            engine.kill()
