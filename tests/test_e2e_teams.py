"""Teams end to end: webhook in → a card posted to alice's Workflows webhook ("ops") with one-click
buttons → she clicks Resolve → resolved, escalation stopped; a click works once; Workflows' 429/5xx
is retried (its echo of the signed URL never kept), a 4xx is a failure on the alert's timeline.

The local Workflows endpoint serves TLS with a self-signed certificate, as the channel only
posts to https; the server trusts it through ``ONCALL_TEAMS_CA_FILE``.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from fixtures.paging import (
    alert_row,
    assert_escalation_stopped,
    attempts,
    open_link,
    page,
    paging_server,
    timeline_notes,
    wait_for_delivery,
)
from oncall_testkit.teams_api import Certificate, WorkflowsServer, make_certificate, running_workflows

CARD = "application/vnd.microsoft.card.adaptive"
CA_FILE_VAR = "ONCALL_TEAMS_CA_FILE"


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Certificate:
    cert = make_certificate(tmp_path_factory.mktemp("teams-e2e-tls"))
    if cert is None:
        pytest.skip("openssl is needed to make a certificate")
    return cert


@pytest.fixture
async def workflows(certificate: Certificate) -> AsyncIterator[WorkflowsServer]:
    async with running_workflows(certificate) as running:
        yield running


@pytest.fixture
def ops_url(workflows: WorkflowsServer) -> str:
    return workflows.webhook_url()


@pytest.fixture
async def server(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, certificate: Certificate,
                 ops_url: str) -> AsyncIterator[Any]:
    async with paging_server(
        db_url, tmp_path, monkeypatch, ("teams", "ops"),
        ONCALL_TEAMS_WEBHOOKS=f"ops={ops_url}", **{CA_FILE_VAR: str(certificate.cert)},
    ) as running:
        yield running


def card_of(body: dict[str, Any]) -> dict[str, Any]:
    [attachment] = body["attachments"]
    assert attachment["contentType"] == CARD
    return attachment["content"]


def buttons_of(card: dict[str, Any]) -> dict[str, str]:
    return {a["title"]: a["url"] for b in card["body"] if b.get("type") == "ActionSet" for a in b["actions"]
            if a.get("type") == "Action.OpenUrl"}


async def test_the_cards_resolve_button_resolves_and_stops_escalation(server: Any, workflows: WorkflowsServer) -> None:
    alert_id = await page(server, "Disk full on db-1", "/var is 98% used")
    delivery = await wait_for_delivery(server, alert_id, ("delivered",))
    [received] = workflows.received
    assert delivery["provider_id"].startswith("08584")  # the flow run id Workflows answered with
    card = card_of(received.body)
    shown = json.dumps(card)
    assert card["type"] == "AdaptiveCard" and "Disk full on db-1" in shown and "/var is 98% used" in shown
    buttons = buttons_of(card)
    assert list(buttons) == ["Acknowledge", "Resolve", "Escalate"]
    assert all(url.startswith(f"{server.http_url}/a/") for url in buttons.values())

    assert (await open_link(f"{server.http_url}/a/not-a-token-at-all-0123456789"))[0] == 401
    assert (await alert_row(server, alert_id))["status"] == "triggered"

    status, page_html = await open_link(buttons["Resolve"])
    assert status == 200 and f"Resolved alert #{alert_id}: Disk full on db-1" in page_html
    row = await alert_row(server, alert_id)
    assert row["status"] == "resolved" and row["resolved_by"] == "alice"  # the link was made for alice
    assert (await open_link(buttons["Resolve"]))[0] == 401  # replayed
    await assert_escalation_stopped(server, alert_id)
    assert len(workflows.received) == 1
    assert "Teams to user alice: delivered" in await timeline_notes(server, alert_id, "notification")


async def test_a_429_is_retried_then_delivered(server: Any, workflows: WorkflowsServer) -> None:
    workflows.answer_next(429, '{"error": {"code": "WorkflowRequestsThrottled", "message": "slow down"}}',
                          {"Retry-After": "1"})
    alert_id = await page(server)
    await wait_for_delivery(server, alert_id, ("delivered",))
    tried = await attempts(server, alert_id)
    assert [a["outcome"] for a in tried[:2]] == ["retrying", "delivered"]
    assert tried[0]["retry_after"] == 1.0 and "HTTP 429" in tried[0]["response"]


async def test_a_500_echoing_the_signed_url_is_retried_and_the_url_never_kept(
    server: Any, workflows: WorkflowsServer, ops_url: str,
) -> None:
    workflows.answer_next(500, '{"error": {"code": "InternalServerError", "message": "failed: {url}"}}')
    alert_id = await page(server)
    await wait_for_delivery(server, alert_id, ("delivered",))
    tried = await attempts(server, alert_id)
    assert [a["outcome"] for a in tried[:2]] == ["retrying", "delivered"]
    assert "HTTP 500" in tried[0]["response"]
    signature = workflows.signature(ops_url)
    assert signature not in tried[0]["response"]
    assert all(signature not in note for note in await timeline_notes(server, alert_id))


async def test_a_404_fails_for_good_on_the_alert_timeline(server: Any, workflows: WorkflowsServer) -> None:
    workflows.answer_next(404, '{"error": {"code": "WorkflowNotFound", "message": "The workflow could not be found."}}')
    alert_id = await page(server)
    failed = await wait_for_delivery(server, alert_id, ("failed",))
    assert failed["attempts"] == 1
    notes = await timeline_notes(server, alert_id, "notification")
    assert any(n.startswith("Teams to user alice: failed (ops: HTTP 404 Not Found:") and "WorkflowNotFound" in n
               for n in notes), notes
