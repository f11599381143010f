"""The ``sms`` channel: alerts as text messages, replies that act on them, STOP/START, delivery reports."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from oncall_hookspecs import ChannelHost, ChannelMessage, DeliveryResult, InboundRequest, WebhookResponse
from twilio.twiml.messaging_response import MessagingResponse

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
from .replies import ReplyKind, parse_reply, reply_hint

log = logging.getLogger(__name__)

NAME = "sms"
TEST_TEXT = "OnCall test message: SMS alerts to this number work. No action is needed."
HELP_TEXT = (
    "OnCall alerts. Reply with the alert's code and a letter: 3a to acknowledge, 3c to close, "
    "3e to escalate. A bare a, c or e acts on the last alert. STOP stops these messages."
)

#: Twilio's MessageStatus → what the core records; interim states (queued, sending …) are not reported
_STATUSES = {"delivered": "delivered", "failed": "failed", "undelivered": "failed"}


class SmsChannel(TwilioChannel):
    """Sends ``payload["text"]`` (with a reply hint when the message has a reply code)."""

    name = NAME
    bundles = True
    #: like GoAlert: about one message a minute per number, with small bursts
    rate_limits: Mapping[str, tuple[int, float]] = {"destination": (3, 60.0)}

    def __init__(self, api: TwilioApi, signatures: Signatures) -> None:
        super().__init__(api, signatures, {"/inbound": self._inbound, "/status": self._status})

    async def send(self, message: ChannelMessage) -> DeliveryResult:
        text = payload_text(message.payload)
        if text is None:
            return DeliveryResult(ok=False, permanent=True, response='the sms payload has no "text"')
        if message.reply_code and f"{message.reply_code}a" not in text.lower():
            # the default template says how to reply; a custom one that doesn't gets the hint here
            text = f"{text}\n\n{reply_hint(message.reply_code)}"
        return await self._send(message.destination, text, callback_url(self._host, NAME, "/status"))

    async def test_send(self, destination: str) -> DeliveryResult:
        return await self._send(destination, TEST_TEXT, None)

    async def _send(self, destination: str, body: str, status_callback: str | None) -> DeliveryResult:
        number, refused = check_number(destination)
        if refused is not None:
            return refused
        extra: dict[str, Any] = {"status_callback": status_callback} if status_callback else {}
        settings = self._api.settings
        sent, failure = await self._api.call(
            lambda: self._api.client.messages.create_async(to=number, from_=settings.from_number, body=body, **extra)
        )
        if failure is not None:
            return failure
        # accepted, not delivered: Twilio reports delivery later through the status callback
        return DeliveryResult(ok=True, provider_id=sent.sid, response=f"accepted by Twilio as {sent.sid} ({sent.status})")

    # ----------------------------------------------------------------- callbacks

    async def _inbound(self, host: ChannelHost, request: InboundRequest) -> WebhookResponse:
        """An SMS to our number: a reply code, STOP/START, HELP, or something we answer with help.

        Each is acted on once: a captured reply sent again would act on whatever alert holds
        its code by then, and a replayed STOP would silence the number.
        """
        refused = await replayed(host, NAME, request)
        if refused is not None:
            return refused
        form = request.form()
        number = form.get("From", "").strip()
        reply = parse_reply(form.get("Body", ""))
        # with Advanced Opt-Out Twilio names the keyword it acted on, including custom ones
        opt_type = form.get("OptOutType", "").strip().upper()
        if opt_type == "STOP" or (not opt_type and reply.kind is ReplyKind.OPT_OUT):
            await host.set_opt_out(NAME, number, True)
            log.info("sms: %s opted out", number)
            # Twilio confirms the opt-out itself and refuses to send anything more to the number
            return twiml(MessagingResponse())
        if opt_type == "START" or (not opt_type and reply.kind is ReplyKind.OPT_IN):
            await host.set_opt_out(NAME, number, False)
            log.info("sms: %s opted back in", number)
            return _answer("You will receive OnCall alerts by SMS again.")
        if opt_type == "HELP" or reply.kind is ReplyKind.HELP:
            return _answer(HELP_TEXT)
        if reply.kind is ReplyKind.UNKNOWN or reply.action is None:
            return _answer("Sorry, that is not a reply OnCall understands. " + HELP_TEXT)

        alert_id = await host.alert_for_reply(NAME, number, reply.code)
        if alert_id is None:
            if reply.code:
                return _answer(f"Unknown code {reply.code}.")
            return _answer("There is no recent alert sent to this number to act on.")
        user_id = await host.find_user(NAME, number)
        result = await host.act(alert_id, reply.action, user_id=user_id, actor=f"sms:{number}")
        return _answer(outcome_text(result, reply.action))

    async def _status(self, host: ChannelHost, request: InboundRequest) -> WebhookResponse:
        """A message status callback: delivered, or failed with Twilio's error code."""
        form = request.form()
        sid = form.get("MessageSid") or form.get("SmsSid") or ""
        twilio_status = (form.get("MessageStatus") or form.get("SmsStatus") or "").strip().lower()
        status = _STATUSES.get(twilio_status)
        if sid and status is not None:
            detail = error_detail(form, twilio_status) if status == "failed" else twilio_status
            await report_status(host, NAME, sid, status, detail)
        return NO_CONTENT



def _answer(text: str) -> WebhookResponse:
    response = MessagingResponse()
    response.message(text)
    return twiml(response)
