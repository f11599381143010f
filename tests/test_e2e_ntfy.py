"""ntfy end to end: webhook in → alice's topic gets a push with Acknowledge/Resolve buttons → the
app POSTs the Acknowledge URL → acknowledged, escalation stopped; a tap works once; a server's
429/5xx is retried, a refusal is a failure on the alert's timeline."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from oncall_testkit.ntfy_api import NtfyServer, running_ntfy, subscribe_poll
from fixtures.paging import (
    alert_row,
    assert_escalation_stopped,
    attempts,
    expire_link,
    open_link,
    page,
    paging_server,
    timeline_notes,
    wait_for_delivery,
)

TOPIC = "oncall-alice-7Gq2x"
TOKEN = "tk_e2e0ncallpublish3r0000000001"


@pytest.fixture
async def ntfy() -> AsyncIterator[NtfyServer]:
    """An ntfy server that denies anonymous access; OnCall publishes with an access token."""
    async with running_ntfy(tokens={TOKEN}) as running:
        yield running


@pytest.fixture
async def server(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ntfy: NtfyServer) -> AsyncIterator[Any]:
    async with paging_server(
        db_url, tmp_path, monkeypatch, ("push", TOPIC), ONCALL_NTFY_URL=ntfy.url, ONCALL_NTFY_TOKEN=TOKEN,
    ) as running:
        yield running


async def test_the_apps_acknowledge_button_acknowledges_and_stops_escalation(server: Any, ntfy: NtfyServer) -> None:
    alert_id = await page(server, "Disk full on db-1", "/var is 98% used")
    delivery = await wait_for_delivery(server, alert_id, ("delivered",))
    [notification] = await subscribe_poll(ntfy, TOPIC, f"Bearer {TOKEN}")  # what alice's phone gets
    assert delivery["provider_id"] == notification["id"]
    assert "Disk full on db-1" in notification["title"]
    assert "/var is 98% used" in notification["message"]
    [published] = ntfy.requests
    assert published.body["priority"] == notification["priority"] == 5  # a generic alert is critical: urgent
    assert notification["tags"][0] == "rotating_light"
    buttons = {a["label"]: a for a in notification["actions"]}
    assert list(buttons) == ["Acknowledge", "Resolve", "Escalate"]
    for button in buttons.values():
        assert button["action"] == "http" and button["method"] == "POST" and button["clear"] is True
        assert button["url"].startswith(f"{server.http_url}/a/")
    acknowledge = buttons["Acknowledge"]["url"]

    # a made-up URL and a stale one act on nothing
    assert (await open_link(f"{server.http_url}/a/not-a-token-at-all-0123456789", "POST"))[0] == 401
    await expire_link(server, buttons["Escalate"]["url"])
    assert (await open_link(buttons["Escalate"]["url"], "POST"))[0] == 401
    assert (await alert_row(server, alert_id))["status"] == "triggered"

    # the app POSTs with an empty body, and clears the notification on a 2xx
    status, _ = await open_link(acknowledge, "POST")
    assert status == 200
    row = await alert_row(server, alert_id)
    assert row["status"] == "acknowledged" and row["acknowledged_by"] == "alice"
    assert (await open_link(acknowledge, "POST"))[0] == 401  # a second tap (or a replay)
    await assert_escalation_stopped(server, alert_id)
    assert len(ntfy.messages) == 1
    assert "Push to user alice: delivered" in await timeline_notes(server, alert_id, "notification")


async def test_a_429_is_retried_then_delivered(server: Any, ntfy: NtfyServer) -> None:
    ntfy.answer_next(429, {"code": 42901, "http": 429, "error": "limit reached: too many requests"}, {"Retry-After": "1"})
    alert_id = await page(server)
    await wait_for_delivery(server, alert_id, ("delivered",))
    tried = await attempts(server, alert_id)
    assert [a["outcome"] for a in tried[:2]] == ["retrying", "delivered"]
    assert tried[0]["retry_after"] == 1.0
    assert "limit reached" in tried[0]["response"]
    assert len(await subscribe_poll(ntfy, TOPIC, f"Bearer {TOKEN}")) >= 1


async def test_a_502_is_retried_then_delivered(server: Any, ntfy: NtfyServer) -> None:
    ntfy.answer_next(502, "<html>Bad Gateway</html>")
    alert_id = await page(server)
    await wait_for_delivery(server, alert_id, ("delivered",))
    assert [a["outcome"] for a in (await attempts(server, alert_id))[:2]] == ["retrying", "delivered"]


async def test_a_refusal_fails_for_good_on_the_alert_timeline(server: Any, ntfy: NtfyServer) -> None:
    ntfy.answer_next(403, {"code": 40301, "http": 403, "error": "forbidden"})
    alert_id = await page(server)
    failed = await wait_for_delivery(server, alert_id, ("failed",))
    assert failed["attempts"] == 1
    assert ("Push to user alice: failed (127.0.0.1: HTTP 403 Forbidden: forbidden (ntfy code 40301))"
            in await timeline_notes(server, alert_id, "notification"))
