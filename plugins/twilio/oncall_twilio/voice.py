"""The ``voice`` channel: a phone call that reads the alert and takes 4/5/6 on the keypad."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from oncall_hookspecs import ChannelHost, ChannelMessage, DeliveryResult, InboundRequest, WebhookResponse
from twilio.twiml.voice_response import VoiceResponse

from .api import TwilioApi, check_number, payload_text
from .inbound import (
    NO_CONTENT,
    Signatures,
    TwilioChannel,
    callback_url,
    error_detail,
    outcome_text,
    replayed,
    report_status,
    twiml,
)

log = logging.getLogger(__name__)

NAME = "voice"
MENU = "Press 4 to acknowledge, 5 to escalate, 6 to close."
TEST_SPEECH = "This is a test call from On Call. Voice alerts to this number work. No action is needed. Goodbye."
DIGITS = {"4": "acknowledge", "5": "escalate", "6": "resolve"}
GATHER_TIMEOUT_S = 5
#: Twilio refuses inline TwiML longer than this; the speech is shortened to fit
TWIML_LIMIT = 4000

#: Twilio's CallStatus → what the core records; queued, initiated and ringing are not reported
_STATUSES = {
    "in-progress": "delivered",
    "completed": "delivered",
    "busy": "failed",
    "no-answer": "failed",
    "failed": "failed",
    "canceled": "failed",
}


class VoiceChannel(TwilioChannel):
    """Calls the destination and speaks ``payload["text"]``, then the keypad menu, twice."""

    name = NAME
    bundles = False
    #: a call a minute per number at most: calls are the loudest thing we send
    rate_limits: Mapping[str, tuple[int, float]] = {"destination": (1, 60.0)}

    def __init__(self, api: TwilioApi, signatures: Signatures) -> None:
        super().__init__(api, signatures, {"/gather": self._gather, "/status": self._status})

    async def send(self, message: ChannelMessage) -> DeliveryResult:
        speech = payload_text(message.payload)
        if speech is None:
            return DeliveryResult(ok=False, permanent=True, response='the voice payload has no "text"')
        gather = self._gather_url(message.alert_id) if message.alert_id is not None else None
        return await self._call(message.destination, call_twiml(speech, gather), callback_url(self._host, NAME, "/status"))

    async def test_send(self, destination: str) -> DeliveryResult:
        return await self._call(destination, call_twiml(TEST_SPEECH, None), None)

    async def _call(self, destination: str, response: VoiceResponse, status_callback: str | None) -> DeliveryResult:
        number, refused = check_number(destination)
        if refused is not None:
            return refused
        extra: dict[str, Any] = {"status_callback": status_callback} if status_callback else {}
        settings = self._api.settings
        call, failure = await self._api.call(
            lambda: self._api.client.calls.create_async(
                to=number, from_=settings.from_number, twiml=str(response), **extra
            )
        )
        if failure is not None:
            return failure
        # placed, not answered: the status callback says whether anyone picked up
        return DeliveryResult(ok=True, provider_id=call.sid, response=f"call placed by Twilio as {call.sid} ({call.status})")

    def _gather_url(self, alert_id: int) -> str | None:
        url = callback_url(self._host, NAME, "/gather")
        return f"{url}?alert={alert_id}" if url else None

    # ----------------------------------------------------------------- callbacks

    async def _gather(self, host: ChannelHost, request: InboundRequest) -> WebhookResponse:
        """The digit pressed during the call: act on the alert named in the URL, or repeat the menu."""
        form = request.form()
        response = VoiceResponse()
        alert_id = _alert_id(request.query.get("alert", ""))
        if alert_id is None:
            response.say("This call names no alert to act on. Goodbye.")
            response.hangup()
            return twiml(response)
        action = DIGITS.get(form.get("Digits", "").strip())
        if action is None:
            gather = response.gather(
                num_digits=1, action=self._gather_url(alert_id), method="POST", timeout=GATHER_TIMEOUT_S
            )
            gather.say(MENU)
            response.say("Goodbye.")
            return twiml(response)
        # acting ends the call, so the same key press arriving again is a captured request replayed
        refused = await replayed(host, NAME, request)
        if refused is not None:
            return refused
        # on a call we placed, "To" is the person we called
        number = form.get("To", "").strip()
        user_id = await host.find_user(NAME, number)
        result = await host.act(alert_id, action, user_id=user_id, actor=f"voice:{number}")
        said = outcome_text(result, action).rstrip()
        response.say(said + ("" if said.endswith((".", "!", "?")) else ".") + " Goodbye.")
        response.hangup()
        return twiml(response)

    async def _status(self, host: ChannelHost, request: InboundRequest) -> WebhookResponse:
        """A call status callback: answered (delivered), or busy, unanswered or failed."""
        form = request.form()
        sid = form.get("CallSid", "")
        twilio_status = form.get("CallStatus", "").strip().lower()
        status = _STATUSES.get(twilio_status)
        if sid and status is not None:
            if status == "failed":
                detail = error_detail(form, twilio_status)
            elif form.get("CallDuration"):
                detail = f"{twilio_status} after {form['CallDuration']} s"
            else:
                detail = twilio_status
            await report_status(host, NAME, sid, status, detail)
        return NO_CONTENT


def _alert_id(text: str) -> int | None:
    """The ``alert`` query parameter as an alert id (a positive bigint), None when it is not one."""
    text = text.strip()
    # int() would take "1_0" and fail on 5,000 digits; 19 digits may overflow the bigint column
    if not (text.isascii() and text.isdigit() and len(text) <= 18):
        return None
    return int(text) or None


def call_twiml(speech: str, gather_url: str | None) -> VoiceResponse:
    """Say the alert inside a one-digit Gather, twice, so a key press can cut in; without a
    callback URL (no public URL, a test call) there is nothing to press, so just say it."""
    while True:
        response = VoiceResponse()
        if gather_url is None:
            response.say(speech)
        else:
            for _ in range(2):
                gather = response.gather(num_digits=1, action=gather_url, method="POST", timeout=GATHER_TIMEOUT_S)
                gather.say(speech)
                gather.say(MENU)
            response.say("Goodbye.")
        if len(str(response)) <= TWIML_LIMIT or len(speech) <= 40:
            return response
        speech = speech[: int(len(speech) * 0.8)].rstrip() + "."
