"""A third-party source and a third-party lifecycle listener work end to end with no core change (issue 11).

``tests/fixtures/third_party/oncall-statuspage`` (a webhook source for Statuspage-style
incidents, carrying the integration key in its own header) and ``oncall-audit-log`` (a
lifecycle listener appending each event it hears to a file) are written outside the
project, depending on ``oncall-hookspecs`` alone. Each is built from a copy of its directory
and pip-installed into this venv (``fixtures.installed``, shared with the Discord test) and
uninstalled afterwards. Their own tests, the kit's contract checks, run against the
installed copies; then the real server finds both by their entry points: webhooks through
the source are stored, deduplicated and resolved, garbage gets a 4xx and writes nothing,
and the listener hears created, acknowledged and resolved in order across a restart.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from conftest import run_server, server_settings
from fixtures.installed import install

from oncall.alerting import store
from oncall.store.database import open_pool

WEBHOOK = "/api/v1/webhooks/statuspage"
INCIDENT = {"id": "p31zjtct2jer", "name": "Checkout is slow", "status": "investigating", "impact": "major",
            "body": "We are looking into it", "component": "checkout"}

pytestmark = pytest.mark.slow  # two pip installs and a server restart


@pytest.fixture(scope="module")
def statuspage(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    with install("oncall-statuspage", "oncall_statuspage", tmp_path_factory.mktemp("third-party")) as build:
        yield build


@pytest.fixture(scope="module")
def audit_log(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    with install("oncall-audit-log", "oncall_audit_log", tmp_path_factory.mktemp("third-party")) as build:
        yield build


@pytest.fixture
def audit_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "audit.jsonl"
    monkeypatch.setenv("ONCALL_AUDIT_LOG_FILE", str(path))
    return path


@pytest.fixture
async def server(statuspage: Path, audit_log: Path, audit_file: Path, db_url: str) -> AsyncIterator[Any]:
    async with run_server(server_settings(db_url)) as running:
        yield running


async def _post(server: Any, body: Any, key: str | None, raw: bytes | None = None) -> tuple[int, Any]:
    headers = {"X-Statuspage-Key": key} if key is not None else {}
    async with aiohttp.ClientSession() as http:
        kwargs: dict[str, Any] = {"data": raw, "headers": {**headers, "Content-Type": "application/json"}} \
            if raw is not None else {"json": body, "headers": headers}
        async with http.post(f"{server.http_url}{WEBHOOK}", **kwargs) as r:
            text = await r.text()
            return r.status, json.loads(text) if text.strip().startswith("{") else text


async def _alerts(pool: Any) -> list[dict[str, Any]]:
    async with pool.connection() as conn:
        cur = await conn.execute(
            """SELECT a.id, a.status, i.source, a.summary, a.severity, a.duplicate_count, a.dedup_key, a.labels
               FROM alerting.alerts a JOIN alerting.integrations i ON i.id = a.integration_id ORDER BY a.id""")
        return await cur.fetchall()


def _heard(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


async def _until(what: Callable[[], Any], message: str, timeout: float = 30.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not what():
        assert asyncio.get_running_loop().time() < deadline, message
        await asyncio.sleep(0.05)


@pytest.mark.parametrize("distribution", ["statuspage", "audit_log"])
def test_the_distributions_own_tests_run_the_kits_contract_checks_and_pass(
    distribution: str, request: pytest.FixtureRequest,
) -> None:
    build: Path = request.getfixturevalue(distribution)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "ONCALL_"))}
    # run from its tests directory, so its package is imported from where pip installed it
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-W", "ignore", "."],
                          cwd=build / "tests", env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert re.search(r"^1 passed", done.stdout, re.M), done.stdout  # its one contract test ran


async def test_a_third_party_source_stores_deduplicates_and_resolves_and_refuses_garbage(server: Any) -> None:
    registry = server.ctx.registry
    [info] = [p for p in registry.plugins if p.name == "statuspage"]
    assert (info.distribution, info.status, info.provides) == ("oncall-statuspage", "ok", {"sources": ["statuspage"]})
    integration_id, key = await server.integration("statuspage")
    pool = server.ctx.pool

    # the key in the source's own header (key_from); a wrong or missing one is refused, nothing written
    assert (await _post(server, {"incident": INCIDENT}, "not-the-key"))[0] == 401
    assert (await _post(server, {"incident": INCIDENT}, None))[0] == 401
    assert await _alerts(pool) == []

    status, body = await _post(server, {"incident": INCIDENT}, key)
    assert status == 200, body
    [created] = body["alerts"]
    assert (created["dedup_key"], created["outcome"]) == ("p31zjtct2jer", "created")
    [alert] = await _alerts(pool)
    assert (alert["id"], alert["status"], alert["source"], alert["summary"], alert["severity"]) == (
        created["id"], "triggered", "statuspage", "Checkout is slow", "error")
    assert alert["labels"]["component"] == "checkout"

    # the same incident again (an update) is a duplicate of the open alert
    status, body = await _post(server, {"incident": {**INCIDENT, "status": "identified"}}, key)
    assert status == 200 and body["alerts"][0]["outcome"] == "duplicate"
    [alert] = await _alerts(pool)
    assert (alert["id"], alert["duplicate_count"]) == (created["id"], 1)

    # garbage: a 4xx with the source's own sentence, and nothing written
    for garbage, raw, word in [
        ({"incident": {**INCIDENT, "status": "on fire"}}, None, "incident.status"),
        ({"incident": {"id": "x", "status": "investigating"}}, None, "incident.name"),
        ({"page": {}}, None, "incident"),
        (None, b"{not json", ""),
        ([1, 2], None, "object"),
    ]:
        status, said = await _post(server, garbage, key, raw)
        assert 400 <= status < 500, (garbage, raw, status, said)
        assert word in json.dumps(said), said
    assert [(a["id"], a["duplicate_count"]) for a in await _alerts(pool)] == [(created["id"], 1)]

    # resolved closes it; a new trigger of the same incident opens a new alert
    status, body = await _post(server, {"incident": {**INCIDENT, "status": "resolved"}}, key)
    assert status == 200 and body["alerts"][0]["outcome"] == "resolved", body
    assert [a["status"] for a in await _alerts(pool)] == ["resolved"]
    status, body = await _post(server, {"incident": INCIDENT}, f"  {key}  ")
    assert status == 200 and body["alerts"][0]["outcome"] == "created"
    assert [a["status"] for a in await _alerts(pool)] == ["resolved", "triggered"]
    assert integration_id


async def test_a_third_party_listener_hears_created_acknowledged_resolved_in_order_across_a_restart(
    statuspage: Path, audit_log: Path, audit_file: Path, db_url: str,
) -> None:
    lifecycle_kinds = ("created", "acknowledged", "resolved")

    def heard(alert_id: int) -> list[str]:
        return [e["kind"] for e in _heard(audit_file) if e["alert_id"] == alert_id and e["kind"] in lifecycle_kinds]

    async with run_server(server_settings(db_url)) as first:
        assert "audit-log" in first.ctx.registry.lifecycle_listeners
        _, key = await first.integration("statuspage")
        status, body = await _post(first, {"incident": INCIDENT}, key)
        assert status == 200, body
        alert_id = body["alerts"][0]["id"]
        await _until(lambda: heard(alert_id) == ["created"], f"created not heard: {_heard(audit_file)}")
        await store.acknowledge(first.ctx.pool, alert_id, "alice")
        await _until(lambda: heard(alert_id) == ["created", "acknowledged"], f"acknowledged not heard: {_heard(audit_file)}")

    # no server running: the resolve is committed with no one to hear it
    pool = await open_pool(db_url, 1, 2)
    try:
        await store.resolve(pool, alert_id, "bob")
    finally:
        await pool.close()
    assert heard(alert_id) == ["created", "acknowledged"]

    async with run_server(server_settings(db_url)):
        await _until(lambda: heard(alert_id) == list(lifecycle_kinds), f"resolved not heard after the restart: {_heard(audit_file)}")
    lines = _heard(audit_file)
    ids = [e["id"] for e in lines]
    assert ids == sorted(set(ids))  # each event once, in timeline order
    by_kind = {e["kind"]: e for e in lines if e["alert_id"] == alert_id}
    assert (by_kind["acknowledged"]["actor"], by_kind["resolved"]["actor"]) == ("alice", "bob")
    assert by_kind["resolved"]["status"] == "resolved"
