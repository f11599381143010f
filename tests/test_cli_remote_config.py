"""The ``oncall`` executable run remotely: ONCALL_SERVER_URL and an API key, no database.

Each command runs as a real subprocess from an empty directory, with ONCALL_DATABASE_URL
pointing at a port nothing listens on, so a command that opened the database would fail:
everything it does goes through the running server's REST API, as the key's role allows.
Subprocesses are slow, so one server and few calls (issue 14 item 8).
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from fixtures.auth import make_key
from fixtures.processes import oncall_env

#: where no PostgreSQL listens: a command that tried to open the database would fail
UNREACHABLE_DB = "postgresql://nobody@127.0.0.1:1/nothing?connect_timeout=2"


async def oncall(cwd: Path, url: str, key: str, *argv: str) -> subprocess.CompletedProcess[str]:
    env = oncall_env(UNREACHABLE_DB, ONCALL_SERVER_URL=url, ONCALL_API_KEY=key, ONCALL_LOG_LEVEL="WARNING")
    return await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "oncall.cli", *argv], env=env, cwd=cwd, capture_output=True,
        text=True, encoding="utf-8", timeout=120,
    )


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    return result.stdout


def bracketed_id(text: str) -> str:
    found = re.search(r"\[([0-9a-f-]{36})\]", text)
    assert found, text
    return found.group(1)


async def _counts(pool: Any) -> dict[str, int]:
    async with pool.connection() as conn:
        out = {}
        for table in ("alerting.escalation_policies", "alerting.routing_rules", "alerting.schedules",
                      "alerting.schedule_overrides", "alerting.grouping_rules", "notification.templates"):
            cur = await conn.execute(f"SELECT count(*) AS n FROM {table}")  # noqa: S608 - our own table names
            out[table] = (await cur.fetchone())["n"]
        return out


async def test_an_engineer_sets_up_on_call_from_a_laptop_with_an_editor_key(server: Any, tmp_path: Path) -> None:
    editor_row, editor = await make_key(server.ctx.pool, "editor", name="laptop-editor")
    _, viewer = await make_key(server.ctx.pool, "viewer", name="laptop-viewer")
    url = server.http_url

    async def run(*argv: str, key: str = editor) -> subprocess.CompletedProcess[str]:
        return await oncall(tmp_path, url, key, *argv)

    # a schedule with a rotation and an override; a viewer may ask who is on call
    created = ok(await run("schedule", "create", "--name", "db", "--tz", "Europe/Berlin"))
    schedule_id = bracketed_id(created)
    shown = ok(await run("schedule", "add-rotation", "db", "--name", "daily", "--users", "alice,bob", "--shift", "1d",
                         "--handoff", "09:00", "--start", "2026-03-27"))
    assert "layer 0: 'daily'  alice, bob  every 1 day, handoff 09:00, from 2026-03-27 09:00 CET" in shown
    assert "version 2" in shown
    added = ok(await run("schedule", "override", "db", "--replace-with", "dave", "--user", "alice",
                         "--from", "2026-03-27T12:00", "--to", "2026-03-27T14:00"))
    override_id, _, rest = added.strip().partition("  ")
    assert rest == "2026-03-27 12:00 CET → 2026-03-27 14:00 CET  dave replaces alice"
    assert ok(await run("schedule", "who", "db", "--at", "2026-03-27T13:00", key=viewer)) == (
        f"on call on 'db' at 2026-03-27 13:00 CET (2026-03-27 12:00 UTC):\n  dave  override {override_id}\n")

    # a policy paging the schedule, and a routing rule sending the db team's alerts to it
    policy = ok(await run("policies", "create", "--name", "db-primary", "--step", f"0:schedule={schedule_id}",
                          "--step", "10m:user=carol", "--repeat", "1"))
    policy_id = bracketed_id(policy)
    assert f"1. after 0:00:00: schedule={schedule_id}" in policy and "2. after 0:10:00: user=carol" in policy
    rule = ok(await run("rules", "create", "--name", "db-team", "--when", 'labels.team == "db"', "--policy", policy_id))
    assert f'then: {{"escalation_policy_id": "{policy_id}"}}' in rule
    routed = ok(await run("route", "test", "--label", "team=db"))
    assert "  MATCH  db-team" in routed and f'"escalation_policy_id": "{policy_id}"' in routed

    # a template, previewed as a send renders it (on the server, with its renderers)
    template = ok(await run("templates", "create", "--id", "db-pages", "--name", "DB pages",
                            "--part", "sms.text=DB: {{ alert.summary }}"))
    assert template.startswith("db-pages  'DB pages'  version 1 of 1")
    preview = ok(await run("templates", "preview", "db-pages", "--channel", "sms"))
    assert preview.startswith("# template db-pages version 1\n=== sms\n")
    assert json.loads(preview.splitlines()[2])["text"].startswith("DB: High error rate")

    # a grouping rule from a preset, tested against the stored alerts (none yet)
    grouping = ok(await run("grouping", "create", "--preset", "alertname-cluster-15m"))
    grouping_id = bracketed_id(grouping)
    assert "window 0:15:00" in grouping
    tested = json.loads(ok(await run("grouping", "test", "--rule", grouping_id, "--json")))
    assert (tested["alerts_replayed"], tested["incidents"]) == (0, [])

    # every change was made by the server as the editor's key, and audited so
    async with server.ctx.pool.connection() as conn:
        cur = await conn.execute(
            "SELECT DISTINCT key_id, role, user_agent FROM access.audit_events WHERE method LIKE %s",
            ("%/Create%",))
        assert await cur.fetchall() == [{"key_id": editor_row.id, "role": "editor", "user_agent": "oncall-cli"}]

    # a viewer's key may read, not write: one sentence, exit 1, nothing changed
    before = await _counts(server.ctx.pool)
    refused = await run("policies", "create", "--name", "sneaky", "--step", "0:user=mallory", key=viewer)
    assert refused.returncode == 1 and refused.stdout == ""
    assert re.fullmatch(r"error: .+ \(viewer\) may not policies:write \(CreatePolicy\)\n", refused.stderr), refused.stderr
    assert await _counts(server.ctx.pool) == before

    # a command that works on the server's database, or with its plugins, runs there only, and says so
    for argv in (("channels", "test", "slack", "--to", "#ops"), ("migrate",)):
        local_only = await run(*argv)
        assert local_only.returncode == 2 and local_only.stdout == ""
        assert local_only.stderr.startswith(f"oncall: `oncall {' '.join(argv[:2 if len(argv) > 1 else 1])}` runs on "
                                            "the server ("), local_only.stderr
        assert len(local_only.stderr.splitlines()) == 1
