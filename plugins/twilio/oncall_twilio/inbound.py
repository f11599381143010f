"""What both channels' callback routes share: Twilio's request signature, TwiML answers, delivery statuses."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl

from multidict import MultiDict
from collections.abc import Awaitable, Callable, Mapping

from oncall_hookspecs import ActionResult, CallbackRoute, ChannelHost, InboundRequest, WebhookResponse
from twilio.request_validator import RequestValidator
from twilio.twiml import TwiML

if TYPE_CHECKING:
    from .api import TwilioApi

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Twilio-Signature"

UNAUTHORIZED = WebhookResponse(
    status=401, body={"error": "invalid_signature", "detail": "the X-Twilio-Signature header is missing or wrong"}
)
NOT_READY = WebhookResponse(status=503, body={"error": "not_ready", "detail": "the channel is not bound yet"})
REPLAYED = WebhookResponse(
    status=401, body={"error": "invalid_signature", "detail": "this request was already received (replayed)"}
)
UNAVAILABLE = WebhookResponse(
    status=503, body={"error": "unavailable", "detail": "OnCall could not record the request; try again"}
)
#: Twilio signs no timestamp, so a captured callback stays valid for ever: one that acts is
#: remembered for as long as what it could act on lives (a reply code is kept 30 days)
REPLAY_WINDOW_S = 30 * 24 * 3600
NO_CONTENT = WebhookResponse(status=204)


class Signatures:
    """Checks ``X-Twilio-Signature``: HMAC-SHA1 with the auth token over the URL and sorted form fields."""

    def __init__(self, auth_token: str) -> None:
        self._validator = RequestValidator(auth_token)

    def __repr__(self) -> str:
        return "Signatures()"

    def verify(self, request: InboundRequest) -> bool:
        signature = request.headers.get(SIGNATURE_HEADER, "")
        if not signature or not request.url:
            log.warning("twilio callback %s refused: %s", request.path,
                        "no signature" if not signature else "the request URL is unknown")
            return False
        try:
            body = request.body.decode("utf-8")
        except UnicodeDecodeError:
            return False
        # every value of a repeated field is signed, so the validator gets a MultiDict (getall)
        params = MultiDict(parse_qsl(body, keep_blank_values=True))
        if not self._validator.validate(request.url, params, signature):
            log.warning("twilio callback %s refused: the signature does not match", request.path)
            return False
        return True


Handler = Callable[[ChannelHost, InboundRequest], Awaitable[WebhookResponse]]


class TwilioChannel:
    """What the sms and voice channels share: the API client, the host, and callback routes
    that answer 401 to an unsigned or forged request and 503 before ``bind``."""

    name: str
    # Twilio takes no idempotency key for Messages or Calls: a retry after a timeout may send twice

    def __init__(self, api: TwilioApi, signatures: Signatures, routes: Mapping[str, Handler]) -> None:
        self._api = api
        self._signatures = signatures
        self._host: ChannelHost | None = None
        self.routes = tuple(CallbackRoute("POST", path, self._guarded(handler)) for path, handler in routes.items())

    def __repr__(self) -> str:
        return f"{type(self).__name__}(from_number={self._api.settings.from_number!r})"

    def bind(self, host: ChannelHost) -> None:
        self._host = host

    async def aclose(self) -> None:
        await self._api.aclose()

    def _guarded(self, handler: Handler) -> Callable[[InboundRequest], Awaitable[WebhookResponse]]:
        async def route(request: InboundRequest) -> WebhookResponse:
            if not self._signatures.verify(request):
                return UNAUTHORIZED
            if self._host is None:
                return NOT_READY
            return await handler(self._host, request)

        return route


async def replayed(host: ChannelHost, channel: str, request: InboundRequest) -> WebhookResponse | None:
    """REPLAYED when any replica has acted on this exact signed request before (UNAVAILABLE
    when that cannot be told); None when it is new, and now remembered.

    The signature covers the URL and every field, Twilio's unique MessageSid or CallSid
    among them, so it names the request.
    """
    key = f"twilio-{channel}:" + request.headers.get(SIGNATURE_HEADER, "")
    try:
        fresh = await host.first_seen(key, REPLAY_WINDOW_S)
    except Exception:
        log.warning("twilio %s callback: could not check it against replays; answered 503", channel, exc_info=True)
        return UNAVAILABLE
    if not fresh:
        log.info("twilio %s callback %s refused: replayed", channel, request.path)
        return REPLAYED
    return None


def twiml(response: TwiML) -> WebhookResponse:
    return WebhookResponse(text=str(response), content_type="text/xml")


async def report_status(host: ChannelHost, channel: str, provider_id: str, status: str, detail: str) -> None:
    updated = await host.update_delivery(channel, provider_id, status, detail)
    if not updated:
        log.info("twilio %s status %s for unknown %s", channel, status, provider_id)


def error_detail(form: dict[str, str], status: str) -> str:
    """``status``, with Twilio's ErrorCode (and ErrorMessage, when sent) for the timeline."""
    code = form.get("ErrorCode", "").strip()
    message = form.get("ErrorMessage", "").strip()
    detail = status
    if code:
        detail += f": Twilio error {code}"
        if message:
            detail += f" ({message})"
    return detail


#: what an action is called once done, in replies and spoken confirmations
DONE = {"acknowledge": "Acknowledged", "resolve": "Closed", "escalate": "Escalated"}


def outcome_text(result: ActionResult, action: str) -> str:
    """One sentence on what ``ChannelHost.act`` did, for an SMS reply or a spoken confirmation."""
    if result.ok:
        text = f"{DONE.get(action, action.capitalize())} alert #{result.alert_id}"
        return f"{text}: {result.summary}" if result.summary else f"{text}."
    return result.message or f"Could not {action} alert #{result.alert_id}."


def callback_url(host: ChannelHost | None, channel: str, path: str) -> str | None:
    """``<public_url>/api/v1/channels/<channel><path>``, or None when no public URL is known."""
    base = (host.public_url if host is not None else "") or ""
    if not base.strip():
        return None
    return f"{base.rstrip('/')}/api/v1/channels/{channel}{path}"
