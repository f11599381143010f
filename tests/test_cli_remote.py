"""The ``oncall`` executable run remotely: ONCALL_SERVER_URL and an API key, from a directory with
no database in reach, against a running server; every command goes through the REST API."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
from pathlib import Path

import aiohttp
from fixtures.auth import make_key
from fixtures.grouping import rows
from fixtures.processes import oncall_env

from oncall.auth.access import BAD_KEY

#: a database no command may open: nothing listens on port 1
NO_DATABASE = "postgresql://postgres@127.0.0.1:1/nowhere?connect_timeout=2"


def remote(cwd: Path, url: str, key: str | None, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """``oncall ARGS`` in ``cwd`` against the server at ``url`` with ``key``, and no reachable database."""
    environ = oncall_env(NO_DATABASE, ONCALL_SERVER_URL=url, **env)
    if key is not None:
        environ["ONCALL_API_KEY"] = key
    return subprocess.run([sys.executable, "-m", "oncall.cli", *args], env=environ, cwd=cwd,
                          capture_output=True, text=True, encoding="utf-8", timeout=120)


async def post_alert(server, key: str, dedup: str) -> None:
    async with aiohttp.ClientSession() as http, http.post(
        f"{server.http_url}/api/v1/webhooks/generic", json={"summary": f"disk full {dedup}", "dedup": dedup},
        headers={"Authorization": f"Bearer {key}"},
    ) as r:
        assert r.status == 204, await r.text()


async def alert_row(server, dedup: str) -> dict:
    [row] = await rows(server.ctx.pool, "SELECT id, status, acknowledged_by, incident_id FROM alerting.alerts "
                       "WHERE dedup_key = %s", dedup)
    return row


async def test_a_responder_works_an_alert_from_a_laptop(server, tmp_path):
    def cli(*args: str, key: str = server.admin_key, **env: str):
        return asyncio.to_thread(remote, tmp_path, server.http_url, key, *args, **env)

    made = await cli("integrations", "create", "--source", "generic", "--name", "laptop")
    assert made.returncode == 0, made.stderr
    key = re.search(r"^key:\s+(\S+)$", made.stdout, re.MULTILINE).group(1)
    assert re.search(rf"^webhook URL: \S+/api/v1/webhooks/generic\?token={re.escape(key)}$", made.stdout, re.MULTILINE)

    await post_alert(server, key, "db-1")
    alert = await alert_row(server, "db-1")
    _, responder = await make_key(server.ctx.pool, "responder", name="ann-laptop")

    listed = await cli("alerts", "list", "--status", "triggered", "--label", "unknown=none", key=responder)
    assert listed.returncode == 0 and listed.stdout.splitlines()[1:] == [], listed.stderr
    listed = await cli("alerts", "list", "--status", "triggered", key=responder)
    assert listed.returncode == 0, listed.stderr
    assert re.search(rf"^\s+{alert['id']}\s+triggered\s+.*disk full db-1$", listed.stdout, re.MULTILINE)

    # a key acts for the user the command names: ONCALL_USER here
    acked = await cli("alerts", "ack", str(alert["id"]), key=responder, ONCALL_USER="ann")
    assert (acked.returncode, acked.stdout) == (0, f"alert {alert['id']} acknowledged\n"), acked.stderr
    noted = await cli("alerts", "note", str(alert["id"]), "--text", "rebooting db-1", "--user", "ann", key=responder)
    assert noted.returncode == 0, noted.stderr
    shown = await cli("alerts", "show", str(alert["id"]), key=responder)
    assert shown.returncode == 0, shown.stderr
    assert "status acknowledged" in shown.stdout and "acknowledged by ann" in shown.stdout
    assert re.search(r"note\s+ann\s+rebooting db-1$", shown.stdout, re.MULTILINE)

    incidents = await cli("incidents", "list", "--json", key=responder)
    assert incidents.returncode == 0, incidents.stderr
    # --json is the REST API's JSON: proto field names, enums by name, int64 as a string
    [incident] = json.loads(incidents.stdout)["incidents"]
    assert (incident["id"], incident["status"]) == (str(alert["incident_id"]), "INCIDENT_STATUS_ACKNOWLEDGED")
    resolved = await cli("incidents", "resolve", str(alert["incident_id"]), "--user", "ann", key=responder)
    assert resolved.stdout == f"incident {alert['incident_id']} resolved\n", resolved.stderr
    assert (await alert_row(server, "db-1"))["status"] == "resolved"

    # nobody named: refused before any call
    nobody = await cli("incidents", "ack", str(alert["incident_id"]), key=responder)
    assert nobody.returncode == 2 and "give --user USER or set ONCALL_USER" in nobody.stderr


async def test_the_remote_cli_is_refused_what_the_key_may_not_do(server, tmp_path):
    integ_id, key = await server.integration("generic")
    await post_alert(server, key, "web-1")
    alert = await alert_row(server, "web-1")
    _, viewer = await make_key(server.ctx.pool, "viewer", name="vic")

    refused = await asyncio.to_thread(remote, tmp_path, server.http_url, viewer, "alerts", "ack", str(alert["id"]),
                                      "--user", "vic")
    assert refused.returncode == 1
    assert refused.stderr.startswith("oncall: ") and "(viewer) may not alerts:ack (AcknowledgeAlert)" in refused.stderr
    assert await alert_row(server, "web-1") == alert

    bad = "oncall_nope_" + "x" * 40
    unknown = await asyncio.to_thread(remote, tmp_path, server.http_url, bad, "alerts", "list")
    assert unknown.returncode == 1 and unknown.stderr == f"oncall: {BAD_KEY}\n"
    assert bad not in unknown.stderr + unknown.stdout and "nope" not in unknown.stderr


def test_a_server_url_without_a_key_is_refused_naming_the_variable(tmp_path):
    result = remote(tmp_path, "http://127.0.0.1:1", None, "alerts", "list")
    assert result.returncode == 2
    assert "ONCALL_API_KEY" in result.stderr and "Traceback" not in result.stderr


async def test_silences_heartbeats_keys_and_the_audit_log_work_remotely(server, tmp_path):
    def cli(*args: str, **env: str):
        return asyncio.to_thread(remote, tmp_path, server.http_url, server.admin_key, *args, **env)

    silenced = await cli("silences", "create", "--matcher", "team=db", "--duration", "2h", "--comment", "deploy",
                         ONCALL_USER="ann")
    assert silenced.returncode == 0 and "active" in silenced.stdout and "by ann: deploy" in silenced.stdout, \
        silenced.stderr
    beat = await cli("heartbeats", "create", "--name", "nightly", "--timeout", "25h")
    assert beat.returncode == 0 and "/api/v1/heartbeat/" in beat.stdout, beat.stderr
    keys = await cli("keys", "create", "--name", "grafana", "--role", "viewer")
    assert keys.returncode == 0 and "created API key" in keys.stdout, keys.stderr
    audited = await cli("audit", "--method", "CreateApiKey", "--json")
    assert audited.returncode == 0, audited.stderr
    [event] = [json.loads(line) for line in audited.stdout.splitlines()]
    # made by the admin key the command was called with, and the new key is not in the log
    assert event["principal"].startswith("api_key:") and event["outcome"] == "OK"
    assert re.search(r"^key: (\S+)$", keys.stdout, re.MULTILINE).group(1) not in audited.stdout
    assert [r["created_by"] for r in await rows(server.ctx.pool, "SELECT created_by FROM alerting.silences")] == ["ann"]
    assert [r["name"] for r in await rows(server.ctx.pool, "SELECT name FROM alerting.heartbeats")] == ["nightly"]


async def test_status_asks_the_servers_readiness_and_says_who_the_key_is(server, tmp_path):
    _, viewer = await make_key(server.ctx.pool, "viewer", name="laptop")
    found = await asyncio.to_thread(remote, tmp_path, server.http_url, viewer, "status")
    assert found.returncode == 0, found.stderr
    assert f"server at {server.http_url}: ready" in found.stdout
    assert "calling as api_key:laptop (role viewer)" in found.stdout
    refused = await asyncio.to_thread(remote, tmp_path, server.http_url, "oncall_abcdef12_" + "x" * 43, "status")
    assert refused.returncode == 1 and "the key is refused there" in refused.stderr
    assert "x" * 43 not in refused.stderr + refused.stdout
    gone = await asyncio.to_thread(remote, tmp_path, "http://127.0.0.1:1", viewer, "status")
    assert gone.returncode == 1 and "cannot reach http://127.0.0.1:1" in gone.stderr
