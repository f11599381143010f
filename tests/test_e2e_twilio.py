"""Twilio end to end: webhook in → alice paged by SMS or a call → she replies (or presses a key) →
acknowledged, escalation stopped; forged callbacks refused; STOP honoured; delivery reports,
retries and permanent failures recorded where people look."""

from __future__ import annotations

import asyncio
import re
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest
from fixtures.paging import (
    alert_row,
    assert_escalation_stopped,
    attempts,
    deliveries,
    page,
    paging_server,
    post_alert,
    timeline_notes,
    wait_for_delivery,
)
from oncall_testkit.twilio_api import FakeTwilio, fake_twilio
from twilio.request_validator import RequestValidator

from oncall.alerting import store

SID = "AC" + "e2" * 16
TOKEN = "9b1d3f5a7c9e1b3d5f7a9c1e3b5d7f90"
FROM = "+15005550006"
ALICE = "+14155550100"
STRANGER = "+14155550199"
INVALID = "+15005550001"  # Twilio's magic number: 21211 invalid 'To'


@pytest.fixture
async def twilio() -> AsyncIterator[FakeTwilio]:
    async with fake_twilio(SID, TOKEN) as fake:
        yield fake


def twilio_env(fake: FakeTwilio) -> dict[str, str]:
    return {
        "ONCALL_TWILIO_ACCOUNT_SID": SID,
        "ONCALL_TWILIO_AUTH_TOKEN": TOKEN,
        "ONCALL_TWILIO_FROM_NUMBER": FROM,
        "ONCALL_TWILIO_API_URL": fake.url,
    }


@pytest.fixture
async def sms_server(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, twilio: FakeTwilio) -> AsyncIterator[Any]:
    async with paging_server(db_url, tmp_path, monkeypatch, ("sms", ALICE), **twilio_env(twilio)) as running:
        yield running


@pytest.fixture
async def voice_server(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, twilio: FakeTwilio) -> AsyncIterator[Any]:
    async with paging_server(db_url, tmp_path, monkeypatch, ("voice", ALICE), **twilio_env(twilio)) as running:
        yield running


async def twilio_callback(server: Any, path: str, fields: dict[str, str], *, token: str = TOKEN,
                          signed_url: str | None = None, signature: str | None = None) -> tuple[int, str]:
    """POST a callback exactly as Twilio does: form fields, X-Twilio-Signature over the full URL and the fields.

    ``path`` is under /api/v1/channels and may carry a query string; ``signed_url`` signs another
    URL than the one called (a replayed request); ``signature=""`` sends none.
    """
    url = f"{server.http_url}/api/v1/channels{path}"
    if signature is None:
        signature = RequestValidator(token).compute_signature(signed_url or url, fields)
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if signature:
        headers["X-Twilio-Signature"] = signature
    async with aiohttp.ClientSession() as http:
        async with http.post(url, data=urlencode(fields).encode(), headers=headers) as r:
            return r.status, await r.text()


def sms_from(number: str, body: str) -> dict[str, str]:
    """An inbound SMS webhook's fields, as Twilio posts them."""
    return {
        "ToCountry": "US", "SmsMessageSid": "SM" + "1f" * 16, "NumMedia": "0", "SmsSid": "SM" + "1f" * 16,
        "SmsStatus": "received", "Body": body, "To": FROM, "NumSegments": "1", "MessageSid": "SM" + "1f" * 16,
        "AccountSid": SID, "From": number, "ApiVersion": "2010-04-01",
    }


def message_status(sid: str | None, status: str, **extra: str) -> dict[str, str]:
    """A message status callback's fields, as Twilio posts them."""
    return {"MessageSid": sid or "", "SmsSid": sid or "", "MessageStatus": status, "SmsStatus": status,
            "To": ALICE, "From": FROM, "AccountSid": SID, "ApiVersion": "2010-04-01", **extra}


def said(twiml: str) -> str:
    """Everything a TwiML answer says or texts back."""
    return " ".join(t.strip() for t in ET.fromstring(twiml).itertext() if t.strip())


def reply_code(body: str) -> str:
    match = re.search(r"Reply (\d+)a to ack", body)
    assert match, body
    return match.group(1)


async def wait_for_deliveries(
    server: Any, alert_id: int, done: Callable[[list[dict[str, Any]]], bool], timeout: float = 30.0,
) -> None:
    """Until the alert's deliveries satisfy ``done``."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not done(rows := await deliveries(server, alert_id)):
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"alert {alert_id}'s deliveries never got there: {rows}")
        await asyncio.sleep(0.05)


# --------------------------------------------------------------------------- SMS


async def test_an_sms_reply_acknowledges_and_stops_escalation(sms_server: Any, twilio: FakeTwilio) -> None:
    alert_id = await page(sms_server, "Disk full on db-1", "/var is 98% used")
    delivery = await wait_for_delivery(sms_server, alert_id, ("sent",))
    [sent] = twilio.sent("Messages")
    assert sent.get("To") == ALICE and sent.get("From") == FROM
    body = sent.get("Body") or ""
    assert f"#{alert_id}" in body and "Disk full on db-1" in body
    code = reply_code(body)
    assert delivery["destination"] == ALICE and delivery["provider_id"] == sent.sid
    assert sent.get("StatusCallback") == f"{sms_server.http_url}/api/v1/channels/sms/status"

    reply = sms_from(ALICE, f"{code}a")
    # forged (wrong token), unsigned, and signed for another request: refused, and nothing changes
    assert (await twilio_callback(sms_server, "/sms/inbound", reply, token="0" * 32))[0] == 401
    assert (await twilio_callback(sms_server, "/sms/inbound", reply, signature=""))[0] == 401
    other = {**reply, "Body": "hello"}
    forged = RequestValidator(TOKEN).compute_signature(f"{sms_server.http_url}/api/v1/channels/sms/inbound", other)
    assert (await twilio_callback(sms_server, "/sms/inbound", reply, signature=forged))[0] == 401
    assert (await twilio_callback(sms_server, "/sms/inbound", reply,
                                  signed_url=f"{sms_server.http_url}/api/v1/channels/sms/status"))[0] == 401
    # a stranger who guesses the code: the code names only alerts sent to the sender's number
    status, answer = await twilio_callback(sms_server, "/sms/inbound", sms_from(STRANGER, f"{code}a"))
    assert status == 200 and said(answer) == f"Unknown code {code}."
    assert (await alert_row(sms_server, alert_id))["status"] == "triggered"

    status, answer = await twilio_callback(sms_server, "/sms/inbound", reply)
    assert status == 200, answer
    assert said(answer) == f"Acknowledged alert #{alert_id}: Disk full on db-1"
    row = await alert_row(sms_server, alert_id)
    assert row["status"] == "acknowledged" and row["acknowledged_by"] == "alice"  # the number mapped to alice
    await assert_escalation_stopped(sms_server, alert_id)
    assert len(twilio.sent("Messages")) == 1


async def test_a_bare_c_resolves_the_last_alert(sms_server: Any, twilio: FakeTwilio) -> None:
    alert_id = await page(sms_server, "Replication lag on db-2", "lag is 120 s")
    await wait_for_delivery(sms_server, alert_id, ("sent",))

    status, answer = await twilio_callback(sms_server, "/sms/inbound", sms_from(ALICE, "c"))
    assert status == 200 and said(answer) == f"Closed alert #{alert_id}: Replication lag on db-2"
    row = await alert_row(sms_server, alert_id)
    assert row["status"] == "resolved" and row["resolved_by"] == "alice"
    await assert_escalation_stopped(sms_server, alert_id)


async def test_stop_opts_the_number_out_until_start(sms_server: Any, twilio: FakeTwilio) -> None:
    first = await page(sms_server, "Disk full on db-1", "/var is 98% used")
    await wait_for_delivery(sms_server, first, ("sent",))

    status, answer = await twilio_callback(sms_server, "/sms/inbound", sms_from(ALICE, "STOP"))
    assert status == 200 and said(answer) == ""  # Twilio confirms STOP itself

    second = await post_alert(sms_server, "CPU hot on web-3", "load 40", dedup="web-3-cpu")
    failed = await wait_for_delivery(sms_server, second, ("failed",))
    assert "opted out" in failed["last_error"]
    assert ("SMS to user alice: failed (the destination opted out (STOP); send START to opt back in)"
            in await timeline_notes(sms_server, second, "notification"))
    # the first alert's second step, a second later, is not sent either
    await wait_for_deliveries(sms_server, first, lambda rows: len(rows) >= 2 and rows[1]["status"] == "failed")
    assert len(twilio.sent("Messages")) == 1

    # closed elsewhere, so their later steps page nobody once the number is back
    for alert_id in (first, second):
        await store.resolve(sms_server.ctx.pool, alert_id, "bob")
    status, answer = await twilio_callback(sms_server, "/sms/inbound", sms_from(ALICE, "START"))
    assert status == 200 and said(answer) == "You will receive OnCall alerts by SMS again."
    third = await post_alert(sms_server, "Queue backlog on mq-1", "12k messages", dedup="mq-1-backlog")
    await wait_for_delivery(sms_server, third, ("sent",))
    assert "Queue backlog on mq-1" in (twilio.sent("Messages")[1].get("Body") or "")


async def test_a_replayed_reply_or_stop_is_refused_at_any_time_and_acts_once(sms_server: Any, twilio: FakeTwilio) -> None:
    # Twilio signs no timestamp: without the core remembering it, a captured "3e" would
    # escalate again whenever it was sent, and a captured STOP silence the number again
    alert_id = await page(sms_server, "Disk full on db-1", "/var is 98% used")
    await wait_for_delivery(sms_server, alert_id, ("sent",))
    escalate = sms_from(ALICE, f"{reply_code(twilio.sent('Messages')[0].get('Body') or '')}e")
    assert (await twilio_callback(sms_server, "/sms/inbound", escalate))[0] == 200
    status, answer = await twilio_callback(sms_server, "/sms/inbound", escalate)
    assert status == 401 and "replayed" in answer
    async with sms_server.ctx.pool.connection() as conn:
        cur = await conn.execute(
            "SELECT count(*) AS n FROM alerting.alert_events WHERE alert_id = %s AND kind = 'escalate_requested'",
            (alert_id,),
        )
        assert (await cur.fetchone())["n"] == 1

    stop = sms_from(ALICE, "STOP")
    assert (await twilio_callback(sms_server, "/sms/inbound", stop))[0] == 200
    assert (await twilio_callback(sms_server, "/sms/inbound", sms_from(ALICE, "START")))[0] == 200
    assert (await twilio_callback(sms_server, "/sms/inbound", stop))[0] == 401
    async with sms_server.ctx.pool.connection() as conn:
        cur = await conn.execute("SELECT count(*) AS n FROM notification.opt_outs")
        assert (await cur.fetchone())["n"] == 0  # still opted in


async def test_a_status_callback_marks_the_sms_delivered(sms_server: Any, twilio: FakeTwilio) -> None:
    alert_id = await page(sms_server)
    delivery = await wait_for_delivery(sms_server, alert_id, ("sent",))
    sent = twilio.sent("Messages")[0]
    report = message_status(sent.sid, "delivered")

    assert (await twilio_callback(sms_server, "/sms/status", report, token="0" * 32))[0] == 401
    assert (await deliveries(sms_server, alert_id))[0]["status"] == "sent"

    status, _ = await twilio_callback(sms_server, "/sms/status", report)
    assert status == 204
    [row, *_] = await deliveries(sms_server, alert_id)
    assert row["id"] == delivery["id"] and row["status"] == "delivered" and row["delivered_at"] is not None
    assert "SMS to user alice: delivered" in await timeline_notes(sms_server, alert_id, "notification")


async def test_an_undelivered_report_fails_the_delivery_with_twilios_error(sms_server: Any, twilio: FakeTwilio) -> None:
    alert_id = await page(sms_server)
    await wait_for_delivery(sms_server, alert_id, ("sent",))
    sent = twilio.sent("Messages")[0]
    report = message_status(sent.sid, "undelivered", ErrorCode="30003", ErrorMessage="Unreachable destination handset")
    assert (await twilio_callback(sms_server, "/sms/status", report))[0] == 204
    row = (await deliveries(sms_server, alert_id))[0]
    assert row["status"] == "failed"
    reason = "undelivered: Twilio error 30003 (Unreachable destination handset)"
    assert row["last_error"] == reason
    assert f"SMS to user alice: failed ({reason})" in await timeline_notes(sms_server, alert_id, "notification")


async def test_status_callbacks_out_of_order_leave_the_sms_delivered(sms_server: Any, twilio: FakeTwilio) -> None:
    """Twilio does not promise its status callbacks arrive in order: a late "sent" after
    "delivered" says nothing new and must not take the delivery back to sent."""
    alert_id = await page(sms_server)
    await wait_for_delivery(sms_server, alert_id, ("sent",))
    sent = twilio.sent("Messages")[0]
    for status in ("delivered", "sent"):
        assert (await twilio_callback(sms_server, "/sms/status", message_status(sent.sid, status)))[0] == 204
    row = (await deliveries(sms_server, alert_id))[0]
    assert row["status"] == "delivered", row


async def test_twilio_429_is_retried_after_retry_after_then_sent(sms_server: Any, twilio: FakeTwilio) -> None:
    twilio.fail_next(429, 20429, "Too Many Requests", retry_after="1")
    alert_id = await page(sms_server)
    await wait_for_delivery(sms_server, alert_id, ("sent",))
    tried = await attempts(sms_server, alert_id)
    assert [a["outcome"] for a in tried[:2]] == ["retrying", "sent"]
    assert tried[0]["response"] == "Twilio error 20429: Too Many Requests (HTTP 429)"
    assert tried[0]["retry_after"] == 1.0
    assert "Disk full on db-1" in (twilio.sent("Messages")[-1].get("Body") or "")


async def test_twilio_500_is_retried_then_sent(sms_server: Any, twilio: FakeTwilio) -> None:
    twilio.fail_next(500, 20500, "Internal Server Error")
    alert_id = await page(sms_server)
    await wait_for_delivery(sms_server, alert_id, ("sent",))
    assert [a["outcome"] for a in (await attempts(sms_server, alert_id))[:2]] == ["retrying", "sent"]


async def test_an_invalid_number_fails_for_good_on_the_alert_timeline(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, twilio: FakeTwilio,
) -> None:
    async with paging_server(db_url, tmp_path, monkeypatch, ("sms", INVALID), **twilio_env(twilio)) as server:
        alert_id = await page(server)
        failed = await wait_for_delivery(server, alert_id, ("failed",))
        assert failed["attempts"] == 1  # permanent: not retried
        reason = f"Twilio error 21211: The 'To' number {INVALID} is not a valid phone number. (HTTP 400)"
        assert failed["last_error"] == reason
        assert f"SMS to user alice: failed ({reason})" in await timeline_notes(server, alert_id, "notification")


# --------------------------------------------------------------------------- voice


async def test_a_call_reads_the_alert_and_4_acknowledges(voice_server: Any, twilio: FakeTwilio) -> None:
    alert_id = await page(voice_server, "Disk full on db-1", "/var is 98% used")
    await wait_for_delivery(voice_server, alert_id, ("sent",))
    [call] = twilio.sent("Calls")
    assert call.get("To") == ALICE and call.get("From") == FROM
    assert call.get("StatusCallback") == f"{voice_server.http_url}/api/v1/channels/voice/status"
    twiml = ET.fromstring(call.get("Twiml") or "")
    gathers = twiml.findall("Gather")
    assert gathers and "Disk full on db-1" in " ".join(twiml.itertext())
    gather_url = gathers[0].get("action") or ""
    path = f"/voice/gather?alert={alert_id}"
    assert gather_url == f"{voice_server.http_url}/api/v1/channels{path}"

    pressed = {"AccountSid": SID, "CallSid": call.sid or "", "CallStatus": "in-progress", "Digits": "4",
               "Direction": "outbound-api", "From": FROM, "To": ALICE, "ApiVersion": "2010-04-01",
               "FinishedOnKey": ""}
    assert (await twilio_callback(voice_server, path, pressed, token="0" * 32))[0] == 401
    # signed for another alert's URL: the query is part of what Twilio signs
    assert (await twilio_callback(voice_server, path, pressed,
                                  signed_url=gather_url.replace(f"alert={alert_id}", f"alert={alert_id + 1}")))[0] == 401
    assert (await alert_row(voice_server, alert_id))["status"] == "triggered"

    status, answer = await twilio_callback(voice_server, path, pressed)
    assert status == 200, answer
    spoken = said(answer)
    assert spoken.startswith(f"Acknowledged alert #{alert_id}: Disk full on db-1") and spoken.endswith("Goodbye.")
    assert ET.fromstring(answer).find("Hangup") is not None
    row = await alert_row(voice_server, alert_id)
    assert row["status"] == "acknowledged" and row["acknowledged_by"] == "alice"
    await assert_escalation_stopped(voice_server, alert_id)
    assert len(twilio.sent("Calls")) == 1

    # the call's end, reported to the status callback Twilio was given
    ended = {"AccountSid": SID, "CallSid": call.sid or "", "CallStatus": "completed", "CallDuration": "21",
             "Direction": "outbound-api", "From": FROM, "To": ALICE, "ApiVersion": "2010-04-01"}
    assert (await twilio_callback(voice_server, "/voice/status", ended, token="0" * 32))[0] == 401
    assert (await twilio_callback(voice_server, "/voice/status", ended))[0] == 204
    assert (await deliveries(voice_server, alert_id))[0]["status"] == "delivered"
    assert "Voice call to user alice: delivered" in await timeline_notes(voice_server, alert_id, "notification")
