"""Pages about incidents through the whole server and the real slack-sdk: one Slack message per
incident, edited (never posted again) as alerts join and resolve, at most once per few seconds
per message, by one replica; its buttons act on the whole incident.

Alertmanager storms arrive through its real webhook; a grouping rule keyed on the group makes
them one incident. The page's template shows the incident's counters, so each edit can be read
back from what Slack shows.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from conftest import RunningServer
from fixtures.grouping import add_rule, am_entry, am_group, incidents, rows
from fixtures.paging import USER, paging_server
from fixtures.webhooks import post_json
from oncall_hookspecs import RuleActions
from oncall_testkit.slack_api import FakeSlack, Message, block_actions, interaction_request

from oncall.clock import SYSTEM_CLOCK
from oncall.escalation.policies import PolicyInput, Step, Target, create_policy
from oncall.notification.alerting_port import ALERTING
from oncall.notification.delivery import edits
from oncall.notification.store import create_template
from oncall.routing import rules

TOKEN = "xoxb-incident-token"
SECRET = "incident-signing-secret"
ALICE_SLACK = "U0ALICE"
PATH = "/api/v1/webhooks/alertmanager"
LINE = "Incident #{{ incident.id }} · {{ incident.alert_count }} alerts · {{ incident.open_alerts }} open"
SLACK_BODY = '{"text": "' + LINE + '", "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "' + LINE + '"}}]}'
#: the Slack channel spec's edit interval
INTERVAL_S = 3.0


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    fake = FakeSlack(token=TOKEN)
    await fake.start()
    yield fake
    await fake.close()


def slack_env(slack: FakeSlack) -> dict[str, str]:
    return {"ONCALL_SLACK_BOT_TOKEN": TOKEN, "ONCALL_SLACK_SIGNING_SECRET": SECRET, "ONCALL_SLACK_API_URL": slack.url}


@pytest.fixture
async def server(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                 slack: FakeSlack) -> AsyncIterator[RunningServer]:
    async with paging_server(db_url, tmp_path, monkeypatch, ("slack", ALICE_SLACK), **slack_env(slack)) as running:
        yield running


async def set_up(server: RunningServer) -> str:
    """Alice paged once per incident through a template that shows the incident; the group
    rule on; returns the Alertmanager integration's key."""
    ctx = server.ctx
    policy = await create_policy(ctx.pool, PolicyInput(name="db", steps=[Step(0, (Target("user", USER),))]))
    saved = await create_template(ctx.pool, renderers=ctx.registry.renderers, name="incident",
                                  channels={"slack": {"body": SLACK_BODY}})
    await rules.set_default(ctx.pool, RuleActions(escalation_policy_id=policy.id, template_id=saved.template.id))
    await add_rule(ctx, name="Alertmanager group", key="annotations.groupKey")
    _, key = await server.integration("alertmanager")
    return key


async def send(server: RunningServer, key: str, entries: list[dict[str, Any]]) -> None:
    status, body = await post_json(server, PATH, am_group(entries), key=key)
    assert status == 200, body


def shows(slack: FakeSlack, text: str) -> bool:
    return any(text in (m.text or "") for m in slack.messages.values())


async def click(server: RunningServer, message: Message, action: str, alert_id: int) -> int:
    request = interaction_request(SECRET, block_actions(user=ALICE_SLACK, channel=message.channel,
                                                        message_ts=message.ts, action_id=f"oncall_{action}",
                                                        value=str(alert_id)))
    async with aiohttp.ClientSession() as http, http.post(
        f"{server.http_url}/api/v1/channels/slack/interactivity", data=request.body, headers=dict(request.headers),
    ) as r:
        return r.status


def buttons(message: Message) -> list[str]:
    return [e["action_id"] for b in message.blocks or [] if b.get("type") == "actions" for e in b["elements"]]


async def test_one_message_per_incident_is_edited_as_alerts_join_act_and_resolve(server, slack):
    key = await set_up(server)
    await send(server, key, [am_entry(0)])
    await slack.wait_for(lambda s: len(s.calls_to("chat.postMessage")) == 1)
    [incident] = await incidents(server.ctx.pool)
    assert shows(slack, f"Incident #{incident['id']} · 1 alerts · 1 open")

    # the storm goes on: nine more alerts in the group join the incident
    for n in range(2, 11):
        await send(server, key, [am_entry(i) for i in range(n)])
    await slack.wait_for(lambda s: shows(s, f"Incident #{incident['id']} · 10 alerts · 10 open"))
    message = slack.only_message()
    assert message.edits >= 1 and buttons(message) == ["oncall_acknowledge", "oncall_resolve", "oncall_escalate"]

    # Acknowledge on the message acknowledges the incident: every one of its alerts, by alice
    first = incident["first_alert_id"]
    assert await click(server, message, "acknowledge", first) == 200
    [incident] = await incidents(server.ctx.pool)
    assert incident["status"] == "acknowledged" and incident["n_triggered"] == 0
    acked = await rows(server.ctx.pool, "SELECT DISTINCT acknowledged_by FROM alerting.alerts")
    assert acked == [{"acknowledged_by": USER}]
    await slack.wait_for(lambda s: buttons(s.only_message()) == ["oncall_resolve"])
    assert "Acknowledged by <@U0ALICE>" in (slack.only_message().text or "")

    # Alertmanager resolves the group: the incident resolves, the message says so, no buttons left
    await send(server, key, [am_entry(i, "resolved") for i in range(10)])
    await slack.wait_for(lambda s: shows(s, "10 alerts · 0 open") and buttons(s.only_message()) == [])
    assert "Resolved" in (slack.only_message().text or "")
    assert len(slack.calls_to("chat.postMessage")) == 1  # one message, edited; never posted again
    assert [c.args["ts"] for c in slack.calls_to("chat.update")] == [message.ts] * len(slack.calls_to("chat.update"))


async def test_a_storm_edits_each_message_at_most_once_per_interval(server, slack):
    key = await set_up(server)
    await send(server, key, [am_entry(0)])
    await slack.wait_for(lambda s: len(s.calls_to("chat.postMessage")) == 1)
    [incident] = await incidents(server.ctx.pool)

    # forty notifications from Alertmanager in about as many tenths of a second, each with one more alert
    for n in range(2, 42):
        await send(server, key, [am_entry(i) for i in range(n)])
    await slack.wait_for(lambda s: shows(s, f"Incident #{incident['id']} · 41 alerts · 41 open"), timeout=60)

    updates = slack.calls_to("chat.update")
    posted = slack.calls_to("chat.postMessage")[0]
    stamps = [posted.at, *(u.at for u in updates)]
    gaps = [b - a for a, b in zip(stamps, stamps[1:], strict=False)]
    # the slack, for the spacing measured on a loaded machine: the database's clock decides
    assert all(gap >= INTERVAL_S - 0.5 for gap in gaps), gaps
    assert len(updates) <= (stamps[-1] - stamps[0]) / (INTERVAL_S - 0.5) + 1


async def test_two_replicas_edit_a_message_once_per_change(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, slack: FakeSlack, server: RunningServer,
):
    async with paging_server(db_url, tmp_path, monkeypatch, ("slack", ALICE_SLACK), **slack_env(slack)):
        key = await set_up(server)
        await send(server, key, [am_entry(0)])
        await slack.wait_for(lambda s: len(s.calls_to("chat.postMessage")) == 1)
        await asyncio.sleep(INTERVAL_S)  # past the first interval: the next change edits at once

        await send(server, key, [am_entry(0), am_entry(1)])
        await slack.wait_for(lambda s: shows(s, "2 alerts · 2 open"))
        # both replicas heard the change and marked the message; one edited it, and the
        # other's mark, due an interval later, finds nothing new to show
        await asyncio.sleep(INTERVAL_S + 1.5)
        assert len(slack.calls_to("chat.update")) == 1
        [row] = await rows(server.ctx.pool, "SELECT claims, pending FROM notification.message_edits")
        assert row["pending"] is False


async def test_a_change_announced_while_nobody_listened_is_caught_up_after_a_reconnect(server, slack):
    key = await set_up(server)
    await send(server, key, [am_entry(0)])
    await slack.wait_for(lambda s: len(s.calls_to("chat.postMessage")) == 1)
    [incident] = await incidents(server.ctx.pool)
    await asyncio.sleep(INTERVAL_S + 1)  # whatever the page's own announcements marked is settled
    assert await rows(server.ctx.pool, "SELECT 1 FROM notification.message_edits WHERE pending") == []
    assert slack.only_message().edits == 0

    # acknowledged behind every listener's back (no announcement), then the LISTEN connection dies
    async with server.ctx.pool.connection() as conn:
        await conn.execute("""UPDATE alerting.incidents SET status = 'acknowledged', acknowledged_by = 'bob'
                              WHERE id = %s""", (incident["id"],))
        await conn.execute("""SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                              WHERE application_name = 'oncall-listen' AND datname = current_database()""")

    # live again, the editor looks at every open incident's messages and edits the one that changed
    await slack.wait_for(lambda s: buttons(s.only_message()) == ["oncall_resolve"])
    message = slack.only_message()
    assert message.edits == 1 and "Acknowledged by bob" in (message.text or "")


async def test_a_catch_up_edits_only_messages_whose_incident_shows_differently(server, slack):
    key = await set_up(server)
    await send(server, key, [am_entry(0)])
    await slack.wait_for(lambda s: len(s.calls_to("chat.postMessage")) == 1)
    await asyncio.sleep(INTERVAL_S + 1)
    # another editor (a replica's, say) catching up on everything open: the message shows the
    # incident as it is, so nothing is edited, and nothing stays pending
    editor = edits.Editor(server.ctx, edits.editors(server.ctx.registry.channels), ALERTING, SYSTEM_CLOCK)
    editor.heard(None)
    assert await editor.run_once() == 0
    await asyncio.sleep(INTERVAL_S)  # a mark waits out the interval since the last look; then it is looked at
    assert await editor.run_once() == 0
    assert slack.calls_to("chat.update") == []
    assert await rows(server.ctx.pool, "SELECT 1 FROM notification.message_edits WHERE pending") == []
