"""Email end to end: webhook in → alice emailed through a real SMTP relay (STARTTLS, AUTH) →
she opens the Acknowledge link → acknowledged, escalation stopped; links work once, made-up and
expired ones are refused; a relay's 4xx is retried, its 5xx is a failure on the alert's timeline."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import aiohttp
import pytest
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
from oncall_testkit.smtp_server import SmtpServer, smtp_server

ALICE = "alice@example.com"
SENDER = "OnCall <oncall@example.com>"


@pytest.fixture
async def relay(tmp_path: Path) -> AsyncIterator[SmtpServer]:
    """A relay that wants STARTTLS and then AUTH, like a provider's submission port."""
    async with smtp_server(tmp_path) as running:
        yield running


@pytest.fixture
async def server(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, relay: SmtpServer) -> AsyncIterator[Any]:
    async with paging_server(
        db_url, tmp_path, monkeypatch, ("email", ALICE),
        ONCALL_EMAIL_SMTP_HOST=relay.host, ONCALL_EMAIL_SMTP_PORT=str(relay.port), ONCALL_EMAIL_FROM=SENDER,
        ONCALL_EMAIL_SECURITY="starttls", ONCALL_EMAIL_CA_FILE=str(relay.ca_file),
        ONCALL_EMAIL_USERNAME=relay.username or "", ONCALL_EMAIL_PASSWORD=relay.password or "",
    ) as running:
        yield running


def parts(message: EmailMessage) -> dict[str, str]:
    return {part.get_content_type(): part.get_content() for part in message.iter_parts()}


def link(text: str, label: str) -> str:
    match = re.search(rf"^{label}: (\S+)$", text, re.MULTILINE)
    assert match, text
    return match.group(1)


async def test_an_email_link_acknowledges_and_stops_escalation(server: Any, relay: SmtpServer) -> None:
    alert_id = await page(server, "Disk full on db-1", "/var is 98% used")
    delivery = await wait_for_delivery(server, alert_id, ("sent",))
    [mail] = relay.received
    assert mail.rcpt_tos == [ALICE] and mail.tls_version is not None and mail.login == relay.username
    msg = mail.message
    assert msg.get_content_type() == "multipart/alternative"
    assert "Disk full on db-1" in str(msg["Subject"]) and msg["X-OnCall-Alert-Id"] == str(alert_id)
    assert delivery["provider_id"] == str(msg["Message-ID"])
    body = parts(msg)
    assert set(body) == {"text/plain", "text/html"}
    text, html = body["text/plain"], body["text/html"]
    for shown in (text, html):
        assert "Disk full on db-1" in shown and "/var is 98% used" in shown
    acknowledge, resolve, escalate = link(text, "Acknowledge"), link(text, "Resolve"), link(text, "Escalate")
    for url in (acknowledge, resolve, escalate):
        assert url.startswith(f"{server.http_url}/a/")
        assert f'href="{url}"' in html  # the same link behind the HTML button

    # a made-up token, a stale link, and a HEAD (a link scanner) act on nothing
    assert (await open_link(f"{server.http_url}/a/not-a-token-at-all-0123456789"))[0] == 401
    await expire_link(server, escalate)
    status, page_html = await open_link(escalate)
    assert status == 401 and "expired" in page_html
    async with aiohttp.ClientSession() as http, http.head(acknowledge) as r:
        assert r.status == 405
    assert (await alert_row(server, alert_id))["status"] == "triggered"

    status, page_html = await open_link(acknowledge)
    assert status == 200 and page_html.lstrip().startswith("<!doctype html>")
    assert f"Acknowledged alert #{alert_id}: Disk full on db-1" in page_html
    row = await alert_row(server, alert_id)
    assert row["status"] == "acknowledged" and row["acknowledged_by"] == "alice"  # the link was made for alice

    status, page_html = await open_link(acknowledge)  # replayed (a second click, a forwarded mail)
    assert status == 401 and "already used" in page_html
    await assert_escalation_stopped(server, alert_id)
    assert len(relay.received) == 1
    assert "Email to user alice: sent" in await timeline_notes(server, alert_id, "notification")

    # the other links of the same email still work, once each
    status, page_html = await open_link(resolve)
    assert status == 200 and f"Resolved alert #{alert_id}" in page_html
    row = await alert_row(server, alert_id)
    assert row["status"] == "resolved" and row["resolved_by"] == "alice"


async def test_a_451_from_the_relay_is_retried_then_sent(server: Any, relay: SmtpServer) -> None:
    relay.reply_next("RCPT", "451 4.3.0 Try again later")
    alert_id = await page(server)
    await wait_for_delivery(server, alert_id, ("sent",))
    tried = await attempts(server, alert_id)
    assert [a["outcome"] for a in tried[:2]] == ["retrying", "sent"]
    assert tried[0]["response"] == "SMTP 451 4.3.0 Try again later (at RCPT)"
    assert "Disk full on db-1" in str(relay.received[0].message["Subject"])


async def test_a_550_from_the_relay_fails_for_good_on_the_alert_timeline(server: Any, relay: SmtpServer) -> None:
    relay.reply_next("RCPT", "550 5.1.1 No such user")
    alert_id = await page(server)
    failed = await wait_for_delivery(server, alert_id, ("failed",))
    assert failed["attempts"] == 1
    assert ("Email to user alice: failed (SMTP 550 5.1.1 No such user (at RCPT))"
            in await timeline_notes(server, alert_id, "notification"))
