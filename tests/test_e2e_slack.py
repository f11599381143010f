"""Slack end to end: webhook in → alice paged by DM → button clicked → acknowledged, escalation stopped,
message edited; forged clicks refused; a state change elsewhere edits the message too."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlencode

import aiohttp
import pytest
from fixtures.paging import alert_row, assert_escalation_stopped, page, paging_server, timeline_notes, wait_for_delivery
from oncall_testkit.slack_api import FakeSlack, block_actions
from slack_sdk.signature import SignatureVerifier

from oncall.alerting import store

TOKEN = "xoxb-e2e-token"
SECRET = "e2e-signing-secret"
ALICE_SLACK = "U0ALICE"


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    fake = FakeSlack(token=TOKEN)
    await fake.start()
    yield fake
    await fake.close()


@pytest.fixture
async def server(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, slack: FakeSlack) -> AsyncIterator[object]:
    async with paging_server(
        db_url, tmp_path, monkeypatch, ("slack", ALICE_SLACK),
        ONCALL_SLACK_BOT_TOKEN=TOKEN, ONCALL_SLACK_SIGNING_SECRET=SECRET, ONCALL_SLACK_API_URL=slack.url,
    ) as running:
        yield running


def signed(payload: dict, secret: str = SECRET, ts: int | str | None = None) -> tuple[bytes, dict[str, str]]:
    """An interaction's body and headers, signed as Slack signs them."""
    body = urlencode({"payload": json.dumps(payload)}).encode()
    stamp = str(int(time.time()) if ts is None else ts)
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": stamp,
        "X-Slack-Signature": SignatureVerifier(secret).generate_signature(timestamp=stamp, body=body),
    }
    return body, headers


async def post(server: object, body: bytes, headers: dict[str, str]) -> tuple[int, dict]:
    url = f"{server.http_url}/api/v1/channels/slack/interactivity"  # type: ignore[attr-defined]
    async with aiohttp.ClientSession() as http, http.post(url, data=body, headers=headers) as r:
        return r.status, (await r.json() if r.content_type == "application/json" else {})


async def click(server: object, payload: dict, secret: str = SECRET, ts: int | str | None = None) -> int:
    return (await post(server, *signed(payload, secret, ts)))[0]


def buttons(blocks: list | None) -> list[str]:
    """The action ids of the buttons in a message's blocks."""
    return [e["action_id"] for b in blocks or [] if b.get("type") == "actions" for e in b["elements"]]


async def test_a_slack_button_acknowledges_and_stops_escalation(server: object, slack: FakeSlack) -> None:
    alert_id = await page(server, "Disk full on db-1")
    delivery = await wait_for_delivery(server, alert_id)
    assert delivery["status"] == "delivered" and delivery["destination"] == ALICE_SLACK
    message = slack.only_message()
    posted = slack.calls_to("chat.postMessage")[0].args
    assert posted["channel"] == ALICE_SLACK
    assert "Disk full on db-1" in json.dumps(posted)
    rendered = [b for b in message.blocks or [] if not b.get("block_id", "").startswith("oncall_")]
    assert rendered and "Disk full on db-1" in json.dumps(rendered)
    assert buttons(message.blocks) == ["oncall_acknowledge", "oncall_resolve", "oncall_escalate"]
    assert message.attachments is None

    payload = block_actions(user=ALICE_SLACK, channel=message.channel, message_ts=message.ts,
                            action_id="oncall_acknowledge", value=str(alert_id), blocks=message.blocks)
    # forged, stale: refused, and nothing changes
    assert await click(server, payload, secret="not-the-secret") == 401
    assert await click(server, payload, ts=int(time.time()) - 600) == 401
    assert (await alert_row(server, alert_id))["status"] == "triggered"

    assert await click(server, payload) == 200
    row = await alert_row(server, alert_id)
    assert row["status"] == "acknowledged" and row["acknowledged_by"] == "alice"  # the Slack user mapped to alice
    await slack.wait_for(lambda s: s.only_message().edits >= 1)
    updated = slack.only_message().blocks
    # the message is rendered again as the incident is now: its header shows the incident's
    # status (the page's alert in the context is still the triggered one), the rest as it was
    assert updated[0]["text"]["text"] == "ACKNOWLEDGED: Disk full on db-1" == rendered[0]["text"]["text"].replace(
        "TRIGGERED", "ACKNOWLEDGED")
    # (the fields after it say how long ago it started: time has passed)
    assert updated[2:len(rendered)] == rendered[2:] and len(updated) == len(rendered) + 2  # + status line, buttons
    assert "Acknowledged" in json.dumps(updated) and buttons(updated) == ["oncall_resolve"]
    await assert_escalation_stopped(server, alert_id)
    assert "Slack to user alice: delivered" in await timeline_notes(server, alert_id, "notification")


async def test_resolving_elsewhere_updates_the_slack_message(server: object, slack: FakeSlack) -> None:
    alert_id = await page(server)
    await wait_for_delivery(server, alert_id)
    rendered = slack.only_message().blocks[:-1]  # less the buttons
    await store.resolve(server.ctx.pool, alert_id, "bob")  # type: ignore[attr-defined]
    await slack.wait_for(lambda s: s.only_message().edits >= 1)
    updated = slack.only_message().blocks
    # rendered again from the page's template and context, with the incident as it is now
    assert updated[0]["text"]["text"] == rendered[0]["text"]["text"].replace("TRIGGERED", "RESOLVED")
    assert updated[0]["text"]["text"].startswith("RESOLVED: ")
    assert updated[2:len(rendered)] == rendered[2:] and len(updated) == len(rendered) + 1
    assert "Resolved by bob" in json.dumps(updated[-1]) and buttons(updated) == []


async def test_a_click_in_a_channel_maps_the_slack_user_through_the_directory(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, slack: FakeSlack,
) -> None:
    # the route posts to #ops at once; alice, whose first page is minutes away, clicks there.
    # OnCall never messaged her Slack id: it is found among her contact methods in the
    # directory, because she is a target of the policy
    from fixtures.paging import USER
    from oncall_hookspecs import RuleActions

    from oncall.escalation.policies import PolicyInput, Step, Target, create_policy
    from oncall.routing import rules

    slack.add_channel("#ops", "C0OPS")
    users = tmp_path / "alice-with-slack.yaml"
    users.write_text(
        f"users:\n  - id: {USER}\n    name: Alice\n    contact_methods:\n"
        f"      - {{id: cm-1, type: sms, address: \"+15555550100\"}}\n"
        f"      - {{id: cm-2, type: slack, address: \"{ALICE_SLACK}\"}}\n"
    )
    async with paging_server(
        db_url, tmp_path, monkeypatch, ("sms", "+15555550100"),
        ONCALL_SLACK_BOT_TOKEN=TOKEN, ONCALL_SLACK_SIGNING_SECRET=SECRET, ONCALL_SLACK_API_URL=slack.url,
        ONCALL_LOCAL_DIRECTORY_FILE=str(users),
    ) as running:
        pool = running.ctx.pool
        policy = await create_policy(pool, PolicyInput(name="primary", steps=[Step(300, (Target("user", USER),))]))
        await rules.set_default(pool, RuleActions(escalation_policy_id=policy.id, channel_destinations=["slack:#ops"]))
        _, key = await running.integration("generic")
        async with aiohttp.ClientSession() as http:
            async with http.post(f"{running.http_url}/api/v1/webhooks/generic",
                                 headers={"Authorization": f"Bearer {key}", "Accept": "application/json"},
                                 json={"summary": "Disk full on db-1", "dedup": "db-1-disk"}) as r:
                alert_id = (await r.json())["AlertID"]
        await slack.wait_for(lambda s: len(s.messages) == 1)
        message = slack.only_message()
        assert message.channel == "C0OPS"
        payload = block_actions(user=ALICE_SLACK, channel=message.channel, message_ts=message.ts,
                                action_id="oncall_acknowledge", value=str(alert_id))
        assert await click(running, payload) == 200
        row = await alert_row(running, alert_id)
        assert row["status"] == "acknowledged" and row["acknowledged_by"] == USER


async def test_a_timestamp_of_5000_digits_is_a_401_not_a_500(server: object, slack: FakeSlack) -> None:
    alert_id = await page(server)
    await wait_for_delivery(server, alert_id)
    message = slack.only_message()
    payload = block_actions(user=ALICE_SLACK, channel=message.channel, message_ts=message.ts,
                            action_id="oncall_resolve", value=str(alert_id))
    for stamp in ("9" * 5000, "9" * 400):  # int() refuses the first; the second overflows a float
        status, body = await post(server, *signed(payload, ts=stamp))
        assert (status, body["error"]) == (401, "invalid_signature")
        assert body["detail"] == "X-Slack-Request-Timestamp is not a Unix time"
    assert (await alert_row(server, alert_id))["status"] == "triggered"


async def test_a_genuine_click_replayed_at_another_replica_is_refused_and_acts_once(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, slack: FakeSlack, server: object,
) -> None:
    # a second replica on the same database, with its own process memory: only the database
    # can tell it that the first replica already acted on this exact request
    async with paging_server(
        db_url, tmp_path, monkeypatch, ("slack", ALICE_SLACK),
        ONCALL_SLACK_BOT_TOKEN=TOKEN, ONCALL_SLACK_SIGNING_SECRET=SECRET, ONCALL_SLACK_API_URL=slack.url,
    ) as replica:
        alert_id = await page(server)
        await wait_for_delivery(server, alert_id)
        message = slack.only_message()
        request = signed(block_actions(user=ALICE_SLACK, channel=message.channel, message_ts=message.ts,
                                       action_id="oncall_escalate", value=str(alert_id)))

        assert (await post(server, *request))[0] == 200
        replayed = await post(replica, *request)
        again = await post(server, *request)

        assert replayed == (401, {"error": "invalid_signature", "detail": "this request was already received (replayed)"})
        assert again[0] == 401
        # escalated once: one request on the timeline, and the rows show one step fired by hand
        async with server.ctx.pool.connection() as conn:  # type: ignore[attr-defined]
            cur = await conn.execute(
                "SELECT actor FROM alerting.alert_events WHERE alert_id = %s AND kind = 'escalate_requested'",
                (alert_id,),
            )
            assert [r["actor"] for r in await cur.fetchall()] == ["alice"]
            cur = await conn.execute("SELECT count(*) AS n FROM notification.seen_requests")
            assert (await cur.fetchone())["n"] == 1
        # and a click made fresh (a new signature) still acts, at either replica
        assert await click(replica, block_actions(user=ALICE_SLACK, channel=message.channel, message_ts=message.ts,
                                                  action_id="oncall_acknowledge", value=str(alert_id))) == 200
        assert (await alert_row(server, alert_id))["status"] == "acknowledged"
