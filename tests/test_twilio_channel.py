"""The Twilio sms and voice channels: sends through the real SDK to a local fake API, signed callbacks, replies."""

from __future__ import annotations

import base64
import logging
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode

import pytest
from fixtures.processes import free_port
from oncall_testkit.twilio_api import FakeTwilio, fake_twilio
from multidict import CIMultiDict
from oncall.plugins import load_plugins
from oncall_hookspecs import ActionResult, ChannelMessage, InboundRequest, WebhookResponse
from oncall_twilio import SmsChannel, VoiceChannel, load_settings, make_channels, parse_reply
from oncall_twilio.replies import ReplyKind
from twilio.request_validator import RequestValidator

SID = "AC" + "5e" * 16
TOKEN = "f3c9a1e07b2d4c68a9e1d5b7c3f20a94"
FROM = "+15005550006"
PUBLIC = "https://oncall.example.com"
ANN = "+14155550100"  # a directory user's phone
STRANGER = "+14155550199"
MENU = "Press 4 to acknowledge, 5 to escalate, 6 to close."


# --------------------------------------------------------------------------- a fake ChannelHost


@dataclass
class FakeHost:
    """Records what the channels ask of the core; answers from small tables."""

    public_url: str = PUBLIC
    users: dict[tuple[str, str], str] = field(default_factory=lambda: {("sms", ANN): "u-ann", ("voice", ANN): "u-ann"})
    #: (channel, destination, code or None) → alert id
    reply_targets: dict[tuple[str, str, str | None], int] = field(default_factory=dict)
    summaries: dict[int, str] = field(default_factory=lambda: {12: "Disk full on db-1"})
    refuse: dict[int, str] = field(default_factory=dict)  # alert id → why act fails
    acts: list[tuple[int, str, str | None, str]] = field(default_factory=list)
    opt_outs: list[tuple[str, str, bool]] = field(default_factory=list)
    deliveries: list[tuple[str, str, str, str]] = field(default_factory=list)
    lookups: list[tuple[str, str, str | None]] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)  # first_seen keys

    async def act(self, alert_id: int, action: str, *, user_id: str | None, actor: str) -> ActionResult:
        if alert_id in self.refuse:
            return ActionResult(ok=False, alert_id=alert_id, action=action, status="closed", message=self.refuse[alert_id])
        self.acts.append((alert_id, action, user_id, actor))
        status = {"acknowledge": "acknowledged", "resolve": "closed", "escalate": "triggered"}[action]
        return ActionResult(ok=True, alert_id=alert_id, action=action, status=status, message="",
                            summary=self.summaries.get(alert_id, ""))

    async def find_user(self, kind: str, address: str) -> str | None:
        return self.users.get((kind, address))

    async def alert_for_reply(self, channel: str, destination: str, code: str | None) -> int | None:
        self.lookups.append((channel, destination, code))
        return self.reply_targets.get((channel, destination, code))

    async def set_opt_out(self, channel: str, destination: str, opted_out: bool) -> None:
        self.opt_outs.append((channel, destination, opted_out))

    async def update_delivery(self, channel: str, provider_id: str, status: str, detail: str = "") -> bool:
        self.deliveries.append((channel, provider_id, status, detail))
        return True

    async def sent_messages(self, alert_id: int, channel: str) -> list[tuple[str, str]]:
        return []

    async def first_seen(self, key: str, ttl_s: float) -> bool:
        first = key not in self.seen
        self.seen.add(key)
        return first


# --------------------------------------------------------------------------- fixtures and helpers


def env(api_url: str, **more: str) -> dict[str, str]:
    return {
        "ONCALL_TWILIO_ACCOUNT_SID": SID,
        "ONCALL_TWILIO_AUTH_TOKEN": TOKEN,
        "ONCALL_TWILIO_FROM_NUMBER": FROM,
        "ONCALL_TWILIO_API_URL": api_url,
        **more,
    }


@pytest.fixture
async def api() -> AsyncIterator[FakeTwilio]:
    async with fake_twilio(SID, TOKEN) as fake:
        yield fake


@pytest.fixture
def host() -> FakeHost:
    return FakeHost(reply_targets={("sms", ANN, "3"): 12, ("sms", ANN, None): 12})


@pytest.fixture
async def channels(api: FakeTwilio, host: FakeHost) -> AsyncIterator[tuple[SmsChannel, VoiceChannel]]:
    settings, unknown = load_settings(env(api.url))
    assert settings is not None and unknown == []
    sms, voice = make_channels(settings)
    sms.bind(host)
    voice.bind(host)
    yield sms, voice
    await sms.aclose()
    await voice.aclose()


@pytest.fixture
def sms(channels: tuple[SmsChannel, VoiceChannel]) -> SmsChannel:
    return channels[0]


@pytest.fixture
def voice(channels: tuple[SmsChannel, VoiceChannel]) -> VoiceChannel:
    return channels[1]


def message(channel: str, text: str = "TRIGGERED #12: Disk full on db-1", *, to: str = ANN,
            alert_id: int | None = 12, reply_code: str | None = "3") -> ChannelMessage:
    return ChannelMessage(delivery_id="d-1", idempotency_key="k-1", destination=to, payload={"text": text},
                          alert_id=alert_id, channel=channel, reply_code=reply_code)


def signed(path: str, fields: dict[str, str], *, query: str = "", token: str = TOKEN,
           signature: str | None = None, url: str | None = None) -> InboundRequest:
    """A callback exactly as Twilio sends it: form body, X-Twilio-Signature over URL + sorted fields."""
    public = f"{PUBLIC}/api/v1/channels{path}" + (f"?{query}" if query else "")
    headers = CIMultiDict({"Content-Type": "application/x-www-form-urlencoded"})
    if signature is None:
        signature = RequestValidator(token).compute_signature(public, fields)
    if signature:
        headers["X-Twilio-Signature"] = signature
    return InboundRequest(method="POST", path=path.split("/", 2)[-1], query=dict(parse_qsl(query)), headers=headers,
                          body=urlencode(fields).encode(), content_type="application/x-www-form-urlencoded",
                          url=url if url is not None else public)


async def call(channel: SmsChannel | VoiceChannel, path: str, request: InboundRequest) -> WebhookResponse:
    [route] = [r for r in channel.routes if r.path == path]
    assert route.method == "POST"
    return await route.handler(request)


def sms_in(body: str, sender: str = ANN) -> InboundRequest:
    return signed("/sms/inbound", {"From": sender, "To": FROM, "Body": body, "MessageSid": "SM" + "0" * 32,
                                   "AccountSid": SID, "NumMedia": "0"})


def said(response: WebhookResponse) -> list[str]:
    """The text of every <Message> or <Say> in a TwiML answer."""
    assert response.status == 200 and response.content_type == "text/xml"
    root = ET.fromstring(response.text or "")
    assert root.tag == "Response"
    return [el.text or "" for el in root.iter() if el.tag in ("Message", "Say")]


# --------------------------------------------------------------------------- sending SMS


async def test_an_sms_goes_out_with_its_text_reply_hint_and_status_callback(sms, api):
    result = await sms.send(message("sms"))

    [req] = api.sent("Messages")
    assert req.account_sid == SID and req.authorized
    assert req.get("To") == ANN and req.get("From") == FROM
    assert req.get("Body") == "TRIGGERED #12: Disk full on db-1\n\nReply 3a to ack, 3c to close, 3e to escalate."
    assert req.get("StatusCallback") == f"{PUBLIC}/api/v1/channels/sms/status"
    assert result.ok and not result.delivered and not result.permanent
    assert result.provider_id == req.sid and req.sid.startswith("SM")
    assert req.sid in result.response


async def test_the_sms_channel_bundles_and_limits_each_number_to_about_one_a_minute(sms):
    assert sms.name == "sms" and sms.bundles is True
    assert sms.rate_limits == {"destination": (3, 60.0)}
    assert {(r.method, r.path) for r in sms.routes} == {("POST", "/inbound"), ("POST", "/status")}


async def test_formatting_in_a_number_is_dropped_and_a_non_number_fails_without_calling_twilio(sms, api):
    ok = await sms.send(message("sms", to="+1 (415) 555-0100"))
    bad = await sms.send(message("sms", to="ann@example.com"))

    assert ok.ok and [r.get("To") for r in api.sent("Messages")] == [ANN]
    assert not bad.ok and bad.permanent and "E.164" in bad.response


async def test_a_payload_without_text_fails_permanently(sms, api):
    result = await sms.send(ChannelMessage(delivery_id="d", idempotency_key="k", destination=ANN, payload={"x": 1}))
    assert not result.ok and result.permanent and api.requests == []


async def test_without_a_public_url_there_is_no_status_callback(sms, api, host):
    host.public_url = ""
    assert (await sms.send(message("sms", reply_code=None))).ok
    [req] = api.sent("Messages")
    assert req.get("StatusCallback") is None and req.get("Body") == "TRIGGERED #12: Disk full on db-1"


async def test_a_test_sms_is_labelled_and_asks_for_no_callback(sms, api):
    result = await sms.test_send(ANN)
    [req] = api.sent("Messages")
    assert result.ok and result.provider_id == req.sid
    assert "test message" in req.get("Body") and req.get("StatusCallback") is None


# --------------------------------------------------------------------------- calling


def twiml_of(req: Any) -> ET.Element:
    root = ET.fromstring(req.get("Twiml"))
    assert root.tag == "Response"
    return root


async def test_a_call_reads_the_alert_and_offers_the_keypad_menu_twice(voice, api):
    result = await voice.send(message("voice", "This is On Call. Critical alert 12: Disk full on db-1."))

    [req] = api.sent("Calls")
    assert req.authorized and req.get("To") == ANN and req.get("From") == FROM
    assert req.get("StatusCallback") == f"{PUBLIC}/api/v1/channels/voice/status"
    root = twiml_of(req)
    gathers = root.findall("Gather")
    assert len(gathers) == 2
    for gather in gathers:
        assert gather.get("numDigits") == "1"
        assert gather.get("action") == f"{PUBLIC}/api/v1/channels/voice/gather?alert=12"
        assert [s.text for s in gather.findall("Say")] == ["This is On Call. Critical alert 12: Disk full on db-1.", MENU]
    assert result.ok and not result.delivered and result.provider_id == req.sid and req.sid.startswith("CA")
    assert voice.name == "voice" and voice.rate_limits == {"destination": (1, 60.0)}


async def test_a_very_long_speech_is_shortened_to_fit_twilios_inline_twiml_limit(voice, api):
    assert (await voice.send(message("voice", "word " * 2000))).ok
    [req] = api.sent("Calls")
    assert len(req.get("Twiml")) <= 4000 and len(twiml_of(req).findall("Gather")) == 2


async def test_a_test_call_only_speaks(voice, api):
    result = await voice.test_send(ANN)
    [req] = api.sent("Calls")
    root = twiml_of(req)
    assert result.ok and root.findall("Gather") == []
    assert "test call" in root.find("Say").text and req.get("StatusCallback") is None


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize("resource", ["Messages", "Calls"])
async def test_429_is_retryable_no_sooner_than_retry_after(channels, api, resource):
    channel = channels[0] if resource == "Messages" else channels[1]
    api.fail_next(429, 20429, "Too Many Requests", retry_after="30")
    result = await channel.send(message(channel.name))
    assert not result.ok and not result.permanent and result.retry_after == 30.0
    assert result.response == "Twilio error 20429: Too Many Requests (HTTP 429)"


async def test_a_server_error_is_retryable_and_keeps_twilios_message(sms, api):
    api.fail_next(500, 20500, "Internal Server Error")
    api.fail_next(503, 20503, "Service Unavailable", retry_after="Wed, 21 Oct 2015 07:28:00 GMT")
    first = await sms.send(message("sms"))
    second = await sms.send(message("sms"))
    third = await sms.send(message("sms"))

    assert not first.ok and not first.permanent and first.retry_after is None
    assert first.response == "Twilio error 20500: Internal Server Error (HTTP 500)"
    assert not second.ok and not second.permanent and second.retry_after == 0.0  # a date in the past
    assert third.ok  # the fake recovered


@pytest.mark.parametrize(
    ("to", "code", "words"),
    [
        ("+15005550001", 21211, "is not a valid phone number"),
        ("+15005550004", 21610, "unsubscribed recipient"),
        ("+15005550009", 21614, "not a valid mobile number"),
    ],
)
async def test_twilio_client_errors_are_permanent_with_code_and_message(sms, to, code, words):
    result = await sms.send(message("sms", to=to))
    assert not result.ok and result.permanent
    assert result.response.startswith(f"Twilio error {code}: ") and words in result.response
    assert result.response.endswith("(HTTP 400)")


async def test_a_full_outbound_queue_is_retryable(sms, api):
    api.fail_next(400, 21611, "This 'From' number has exceeded the maximum number of queued messages")
    result = await sms.send(message("sms"))
    assert not result.ok and not result.permanent and "21611" in result.response


async def test_an_invalid_number_call_fails_permanently(voice):
    result = await voice.send(message("voice", to="+15005550001"))
    assert not result.ok and result.permanent and "Twilio error 21211" in result.response


async def test_wrong_credentials_fail_permanently(api, host):
    settings, _ = load_settings(env(api.url, ONCALL_TWILIO_AUTH_TOKEN="0" * 32))
    sms, _voice = make_channels(settings)
    try:
        result = await sms.send(message("sms"))
    finally:
        await sms.aclose()
    assert not result.ok and result.permanent and result.response == "Twilio error 20003: Authenticate (HTTP 401)"
    [req] = api.requests
    assert not req.authorized


async def test_a_timeout_is_retryable(api):
    settings, _ = load_settings(env(api.url, ONCALL_TWILIO_TIMEOUT_S="0.2"))
    sms, _voice = make_channels(settings)
    api.hold()
    try:
        result = await sms.send(message("sms"))
    finally:
        await sms.aclose()
    assert not result.ok and not result.permanent and "timed out" in result.response


async def test_an_unreachable_api_is_retryable():
    settings, _ = load_settings(env(f"http://127.0.0.1:{free_port()}"))
    sms, voice = make_channels(settings)
    try:
        result = await voice.send(message("voice"))
    finally:
        await voice.aclose()
    assert not result.ok and not result.permanent and result.response.startswith("cannot reach Twilio")


# --------------------------------------------------------------------------- SMS replies


@pytest.mark.parametrize(
    ("body", "action", "answer"),
    [
        ("3a", "acknowledge", "Acknowledged alert #12: Disk full on db-1"),
        ("3c", "resolve", "Closed alert #12: Disk full on db-1"),
        ("3e", "escalate", "Escalated alert #12: Disk full on db-1"),
        ("  3A \n", "acknowledge", "Acknowledged alert #12: Disk full on db-1"),
        ("'3a'", "acknowledge", "Acknowledged alert #12: Disk full on db-1"),
        ("ack 3", "acknowledge", "Acknowledged alert #12: Disk full on db-1"),
        ("Close 3", "resolve", "Closed alert #12: Disk full on db-1"),
    ],
)
async def test_a_reply_with_a_code_acts_on_that_alert_as_the_sender(sms, host, body, action, answer):
    response = await call(sms, "/inbound", sms_in(body))

    assert said(response) == [answer]
    assert host.lookups == [("sms", ANN, "3")]
    assert host.acts == [(12, action, "u-ann", f"sms:{ANN}")]


@pytest.mark.parametrize(("body", "action"), [("a", "acknowledge"), ("C", "resolve"), ("e", "escalate"), ("ack", "acknowledge")])
async def test_a_bare_letter_acts_on_the_last_alert_sent_to_the_number(sms, host, body, action):
    response = await call(sms, "/inbound", sms_in(body))

    assert host.lookups == [("sms", ANN, None)]
    assert host.acts == [(12, action, "u-ann", f"sms:{ANN}")]
    assert said(response)[0].endswith("alert #12: Disk full on db-1")


async def test_an_unknown_code_is_answered_and_nothing_happens(sms, host):
    response = await call(sms, "/inbound", sms_in("7a"))
    assert said(response) == ["Unknown code 7."]
    assert host.acts == []


async def test_a_stranger_cannot_act_with_someone_elses_code(sms, host):
    response = await call(sms, "/inbound", sms_in("3a", sender=STRANGER))
    assert said(response) == ["Unknown code 3."] and host.lookups == [("sms", STRANGER, "3")] and host.acts == []


async def test_a_number_not_in_the_directory_acts_anonymously_named_by_its_number(sms, host):
    host.reply_targets[("sms", STRANGER, "5")] = 12
    await call(sms, "/inbound", sms_in("5c", sender=STRANGER))
    assert host.acts == [(12, "resolve", None, f"sms:{STRANGER}")]


async def test_when_the_core_refuses_the_reply_says_why(sms, host):
    host.refuse[12] = "Alert #12 is already closed."
    response = await call(sms, "/inbound", sms_in("3a"))
    assert said(response) == ["Alert #12 is already closed."]


@pytest.mark.parametrize("body", ["STOP", "stop", " Unsubscribe ", "STOPALL", "cancel", "END", "quit"])
async def test_stop_opts_the_number_out(sms, host, body):
    response = await call(sms, "/inbound", sms_in(body))
    assert host.opt_outs == [("sms", ANN, True)] and host.acts == []
    assert said(response) == []  # Twilio confirms the opt-out itself


@pytest.mark.parametrize("body", ["START", "unstop"])
async def test_start_opts_the_number_back_in(sms, host, body):
    response = await call(sms, "/inbound", sms_in(body))
    assert host.opt_outs == [("sms", ANN, False)]
    assert said(response) == ["You will receive OnCall alerts by SMS again."]


async def test_twilios_advanced_opt_out_type_is_honoured(sms, host):
    request = signed("/sms/inbound", {"From": ANN, "To": FROM, "Body": "arret", "OptOutType": "STOP"})
    await call(sms, "/inbound", request)
    assert host.opt_outs == [("sms", ANN, True)]


@pytest.mark.parametrize("body", ["hello?", "3x", "3a4", ""])
async def test_anything_else_is_answered_with_help(sms, host, body):
    response = await call(sms, "/inbound", sms_in(body))
    [text] = said(response)
    assert "3a to acknowledge" in text and "STOP" in text
    assert host.acts == [] and host.opt_outs == []


def test_reply_parsing_follows_goalert_first():
    assert parse_reply("12a").code == "12" and parse_reply("a12").code == "12"
    assert parse_reply("#4 ack").action == "acknowledge" and parse_reply("#4 ack").code == "4"
    assert parse_reply("escalate").action == "escalate" and parse_reply("escalate").code is None
    assert parse_reply("help").kind is ReplyKind.HELP
    assert parse_reply("aa").kind is ReplyKind.UNKNOWN


# --------------------------------------------------------------------------- signatures


FORGERIES = {
    "missing": lambda: signed("/sms/inbound", {"From": ANN, "Body": "3a"}, signature=""),
    "wrong token": lambda: signed("/sms/inbound", {"From": ANN, "Body": "3a"}, token="not-the-token"),
    "garbage": lambda: signed("/sms/inbound", {"From": ANN, "Body": "3a"}, signature="bm90IGEgc2lnbmF0dXJl"),
    "other url": lambda: signed("/sms/inbound", {"From": ANN, "Body": "3a"},
                                url="https://evil.example.com/api/v1/channels/sms/inbound"),
    "unknown url": lambda: signed("/sms/inbound", {"From": ANN, "Body": "3a"}, url=""),
}


@pytest.mark.parametrize("forgery", sorted(FORGERIES))
async def test_an_unsigned_or_forged_reply_gets_401_and_changes_nothing(sms, host, forgery):
    response = await call(sms, "/inbound", FORGERIES[forgery]())
    assert response.status == 401
    assert host.acts == [] and host.lookups == [] and host.opt_outs == []


async def test_a_tampered_body_fails_the_signature(sms, host):
    request = sms_in("3c")
    request.body = request.body.replace(b"3c", b"3a")
    assert (await call(sms, "/inbound", request)).status == 401
    assert host.acts == []


async def test_a_forged_stop_or_status_changes_nothing(sms, voice, host):
    stop = signed("/sms/inbound", {"From": ANN, "Body": "STOP"}, token="nope")
    status = signed("/sms/status", {"MessageSid": "SM1", "MessageStatus": "delivered"}, token="nope")
    call_status = signed("/voice/status", {"CallSid": "CA1", "CallStatus": "completed"}, signature="")
    assert (await call(sms, "/inbound", stop)).status == 401
    assert (await call(sms, "/status", status)).status == 401
    assert (await call(voice, "/status", call_status)).status == 401
    assert host.opt_outs == [] and host.deliveries == []


async def test_a_gather_for_another_alert_than_signed_is_refused(voice, host):
    request = signed("/voice/gather", {"Digits": "4", "To": ANN, "From": FROM}, query="alert=12")
    request.url = request.url.replace("alert=12", "alert=13")
    request.query = {"alert": "13"}
    assert (await call(voice, "/gather", request)).status == 401
    assert host.acts == []


# --------------------------------------------------------------------------- the keypad


@pytest.mark.parametrize(("digit", "action", "spoken"),
                         [("4", "acknowledge", "Acknowledged"), ("5", "escalate", "Escalated"), ("6", "resolve", "Closed")])
async def test_a_key_press_acts_on_the_alert_as_the_person_called(voice, host, digit, action, spoken):
    request = signed("/voice/gather", {"Digits": digit, "To": ANN, "From": FROM, "CallSid": "CA" + "1" * 32,
                                       "Direction": "outbound-api", "AccountSid": SID}, query="alert=12")
    response = await call(voice, "/gather", request)

    assert host.acts == [(12, action, "u-ann", f"voice:{ANN}")]
    assert said(response) == [f"{spoken} alert #12: Disk full on db-1. Goodbye."]
    assert ET.fromstring(response.text).find("Hangup") is not None


async def test_any_other_key_repeats_the_menu(voice, host):
    request = signed("/voice/gather", {"Digits": "9", "To": ANN, "From": FROM}, query="alert=12")
    response = await call(voice, "/gather", request)

    assert host.acts == []
    gather = ET.fromstring(response.text).find("Gather")
    assert gather.get("action") == f"{PUBLIC}/api/v1/channels/voice/gather?alert=12"
    assert [s.text for s in gather.findall("Say")] == [MENU]


async def test_a_replayed_reply_stop_or_key_press_is_refused_and_acts_once(sms, voice, host):
    reply, stop = sms_in("3e"), sms_in("STOP")
    press = signed("/voice/gather", {"Digits": "5", "To": ANN, "From": FROM, "CallSid": "CA" + "2" * 32},
                   query="alert=12")
    assert said(await call(sms, "/inbound", reply)) == ["Escalated alert #12: Disk full on db-1"]
    assert (await call(sms, "/inbound", stop)).status == 200
    assert (await call(voice, "/gather", press)).status == 200
    for channel, path, request in [(sms, "/inbound", reply), (sms, "/inbound", stop), (voice, "/gather", press)]:
        again = await call(channel, path, request)
        assert again.status == 401 and again.body == {
            "error": "invalid_signature", "detail": "this request was already received (replayed)"}
    assert host.acts == [(12, "escalate", "u-ann", f"sms:{ANN}"), (12, "escalate", "u-ann", f"voice:{ANN}")]
    assert host.opt_outs == [("sms", ANN, True)]


async def test_the_same_wrong_key_twice_repeats_the_menu_twice(voice, host):
    # only a press that acts is remembered: a caller may well press 9 twice
    request = signed("/voice/gather", {"Digits": "9", "To": ANN, "From": FROM, "CallSid": "CA" + "3" * 32},
                     query="alert=12")
    for _ in range(2):
        gather = ET.fromstring((await call(voice, "/gather", request)).text).find("Gather")
        assert [s.text for s in gather.findall("Say")] == [MENU]
    assert host.acts == [] and host.seen == set()


@pytest.mark.parametrize("alert", ["9" * 5000, "9" * 400, "99999999999999999999", "1_2", "-12", "0", "١٢", ""])
async def test_a_gather_url_naming_no_alert_id_acts_on_nothing(voice, host, alert):
    request = signed("/voice/gather", {"Digits": "4", "To": ANN, "From": FROM}, query=urlencode({"alert": alert}))
    assert said(await call(voice, "/gather", request)) == ["This call names no alert to act on. Goodbye."]
    assert host.acts == []


# --------------------------------------------------------------------------- status callbacks


async def test_sms_status_callbacks_update_the_delivery(sms, host):
    sid = "SM" + "a" * 32
    for fields in (
        {"MessageSid": sid, "MessageStatus": "queued"},
        {"MessageSid": sid, "MessageStatus": "sent"},
        {"MessageSid": sid, "MessageStatus": "delivered"},
        {"MessageSid": sid, "MessageStatus": "undelivered", "ErrorCode": "30003"},
        {"MessageSid": sid, "MessageStatus": "failed", "ErrorCode": "30006", "ErrorMessage": "Landline or unreachable carrier"},
    ):
        response = await call(sms, "/status", signed("/sms/status", {**fields, "AccountSid": SID, "To": ANN, "From": FROM}))
        assert response.status == 204

    assert host.deliveries == [  # "sent" says nothing new: the delivery was sent when Twilio took it
        ("sms", sid, "delivered", "delivered"),
        ("sms", sid, "failed", "undelivered: Twilio error 30003"),
        ("sms", sid, "failed", "failed: Twilio error 30006 (Landline or unreachable carrier)"),
    ]


async def test_call_status_callbacks_update_the_delivery(voice, host):
    sid = "CA" + "b" * 32
    for fields in (
        {"CallSid": sid, "CallStatus": "ringing"},
        {"CallSid": sid, "CallStatus": "completed", "CallDuration": "21"},
        {"CallSid": sid, "CallStatus": "no-answer"},
        {"CallSid": sid, "CallStatus": "busy"},
    ):
        response = await call(voice, "/status", signed("/voice/status", {**fields, "To": ANN, "From": FROM}))
        assert response.status == 204

    assert host.deliveries == [
        ("voice", sid, "delivered", "completed after 21 s"),
        ("voice", sid, "failed", "no-answer"),
        ("voice", sid, "failed", "busy"),
    ]


# --------------------------------------------------------------------------- settings, discovery, secrets


def test_the_plugin_registers_sms_and_voice_from_the_environment(monkeypatch, caplog):
    for key, value in env("http://127.0.0.1:9").items():
        monkeypatch.setenv(key, value)
    caplog.set_level(logging.DEBUG)
    _, registry = load_plugins()

    assert isinstance(registry.channels["sms"], SmsChannel) and isinstance(registry.channels["voice"], VoiceChannel)
    [info] = [p for p in registry.plugins if p.name == "twilio"]
    assert info.status == "ok" and info.distribution == "oncall-twilio"
    assert TOKEN not in caplog.text


def test_without_credentials_the_plugin_registers_nothing(monkeypatch, caplog):
    for key in ("ACCOUNT_SID", "AUTH_TOKEN", "FROM_NUMBER", "API_URL", "TIMEOUT_S"):
        monkeypatch.delenv(f"ONCALL_TWILIO_{key}", raising=False)
    with caplog.at_level(logging.DEBUG):
        _, registry = load_plugins()
    assert "sms" not in registry.channels and "voice" not in registry.channels
    [info] = [p for p in registry.plugins if p.name == "twilio"]
    assert info.status == "ok" and info.provides == {}


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"ONCALL_TWILIO_FROM_NUMBER": ""}, "must be set together; missing: ONCALL_TWILIO_FROM_NUMBER"),
        ({"ONCALL_TWILIO_AUTH_TOKEN": "", "ONCALL_TWILIO_FROM_NUMBER": ""},
         "missing: ONCALL_TWILIO_AUTH_TOKEN, ONCALL_TWILIO_FROM_NUMBER"),
        ({"ONCALL_TWILIO_ACCOUNT_SID": "SK123"}, "ONCALL_TWILIO_ACCOUNT_SID must be an account SID"),
        ({"ONCALL_TWILIO_FROM_NUMBER": "555-0100"}, "ONCALL_TWILIO_FROM_NUMBER must be an E.164 phone number"),
        ({"ONCALL_TWILIO_API_URL": "ftp://x"}, "ONCALL_TWILIO_API_URL must be an http(s) URL"),
        ({"ONCALL_TWILIO_TIMEOUT_S": "soon"}, "ONCALL_TWILIO_TIMEOUT_S must be a number of seconds"),
        ({"ONCALL_TWILIO_TIMEOUT_S": "-1"}, "ONCALL_TWILIO_TIMEOUT_S must be a positive number of seconds"),
    ],
)
def test_partial_or_malformed_settings_fail_the_plugin_naming_the_variable(monkeypatch, caplog, overrides, error):
    for key, value in {**env("http://127.0.0.1:9"), **overrides}.items():
        monkeypatch.setenv(key, value)
    _, registry = load_plugins()

    assert "sms" not in registry.channels
    [info] = [p for p in registry.plugins if p.name == "twilio"]
    assert info.status == "failed" and error in info.error
    assert TOKEN not in info.error and TOKEN not in caplog.text


async def test_the_auth_token_is_never_in_a_repr_or_a_log(api, caplog):
    caplog.set_level(logging.DEBUG)
    settings, _ = load_settings(env(api.url))
    sms, voice = make_channels(settings)
    sms.bind(FakeHost())
    voice.bind(FakeHost())
    try:
        await sms.send(message("sms"))
        await voice.send(message("voice"))
        api.fail_next(500, 20500, "Internal Server Error")
        failed = await sms.send(message("sms"))
        await call(sms, "/inbound", signed("/sms/inbound", {"From": ANN, "Body": "3a"}, token="forged"))
    finally:
        await sms.aclose()
    basic = base64.b64encode(f"{SID}:{TOKEN}".encode()).decode()
    for text in (repr(settings), repr(sms), repr(voice), repr(sms._api), failed.response, caplog.text):
        assert TOKEN not in text and basic not in text
    assert api.requests[0].headers["Authorization"] == f"Basic {basic}"  # it did travel, to the API only
