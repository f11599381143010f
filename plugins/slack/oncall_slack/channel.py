"""The Slack channel: post pages with buttons, act on clicks, and edit posted messages as their incident changes."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
from oncall_hookspecs import (
    ActionResult,
    BadRequest,
    CallbackRoute,
    ChannelHost,
    ChannelMessage,
    DeliveryResult,
    InboundRequest,
    MessageEdit,
    WebhookResponse,
)
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse

from . import results
from .blocks import ACTIONS, escape, mention, message_blocks, oncall_blocks, status_line
from .settings import SlackSettings
from .signing import TOLERANCE_S, request_signature, signature_problem

log = logging.getLogger(__name__)
#: the SDK logs requests at debug level (with the Authorization header redacted)
sdk_log = logging.getLogger("oncall_slack.sdk")

#: payload keys passed on to chat.postMessage besides text, blocks and attachments
_PASSED_ON = ("unfurl_links", "unfurl_media", "mrkdwn")
#: how many directory-user → Slack-user pairs to remember for naming actors
_KNOWN_PEOPLE = 1024
#: how long a click's signature is remembered: a timestamp accepted now (up to 5 minutes
#: behind) stays acceptable for at most 10 minutes more
REPLAY_WINDOW_S = 2 * TOLERANCE_S
#: Slack's ids (users U…/W…, conversations C…/D…/G…) and message timestamps (1700000000.000100)
_SLACK_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
#: the largest alert id (PostgreSQL bigint)
_MAX_ID = 2**63 - 1

Outcome = Mapping[str, Any] | DeliveryResult


@dataclass(frozen=True, slots=True)
class Click:
    """One button press from a ``block_actions`` interaction."""

    action: str
    alert_id: int
    slack_user: str
    channel_id: str
    message_ts: str


class SlackChannel:
    """Posts ``ChannelMessage.payload`` ({"text", "blocks"}) to a channel, or to a user as a DM."""

    name = "slack"
    # chat.postMessage takes no idempotency key: a retry after a timeout may post twice
    bundles = False  # one message per page, so its buttons name exactly one alert (and so its incident)
    #: (burst, seconds per token): Slack allows about one message a second per conversation
    #: with short bursts, and a few hundred a minute per workspace
    rate_limits: Mapping[str, tuple[int, float]] = {"destination": (5, 1.0), "channel": (50, 0.2)}

    def __init__(self, settings: SlackSettings, clock: Callable[[], float] = time.time) -> None:
        self._settings = settings
        self._clock = clock
        self._host: ChannelHost | None = None
        self._web: AsyncWebClient | None = None
        self._session: aiohttp.ClientSession | None = None
        self._session_loop: asyncio.AbstractEventLoop | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._slack_ids: OrderedDict[str, str] = OrderedDict()
        self.routes = (CallbackRoute("POST", "/interactivity", self.handle_interactivity),)

    def __repr__(self) -> str:  # the settings hold the token and the signing secret
        api = self._settings.api_url or "default"
        return f"SlackChannel(api_url={api!r}, timeout_s={self._settings.timeout_s:g})"

    # ------------------------------------------------------------------ lifecycle

    def bind(self, host: ChannelHost) -> None:
        """Keep the core's host: clicks act through it, updates find messages through it."""
        self._host = host

    def _client(self) -> AsyncWebClient:
        loop = asyncio.get_running_loop()
        if self._web is None or self._session is None or self._session.closed or self._session_loop is not loop:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self._settings.timeout_s),
                cookie_jar=aiohttp.DummyCookieJar(),
            )
            self._session_loop = loop
            extra: dict[str, Any] = {"base_url": self._settings.api_url} if self._settings.api_url else {}
            self._web = AsyncWebClient(
                token=self._settings.bot_token,
                session=self._session,  # its ClientTimeout bounds every call
                # no SDK retries: the core retries with backoff and records every attempt
                retry_handlers=[],
                logger=sdk_log,
                **extra,
            )
        return self._web

    async def drain(self) -> None:
        """Wait for the message updates that button clicks started in the background."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def aclose(self) -> None:
        """Finish pending updates (briefly), then close the HTTP session."""
        if self._tasks:
            try:
                await asyncio.wait_for(self.drain(), self._settings.timeout_s)
            except TimeoutError:
                for task in list(self._tasks):
                    task.cancel()
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None
        self._web = None

    # ------------------------------------------------------------------ sending

    async def send(self, message: ChannelMessage) -> DeliveryResult:
        try:
            args = post_arguments(message)
        except ValueError as exc:
            return DeliveryResult(ok=False, permanent=True, response=str(exc))
        outcome = await self._call(lambda web: web.chat_postMessage(**args))
        if isinstance(outcome, DeliveryResult):
            return outcome
        return results.posted(outcome, message.destination)

    async def test_send(self, destination: str) -> DeliveryResult:
        """Post a clearly labelled test message (``oncall channels test slack --to …``)."""
        text = "OnCall test message: Slack delivery works. No alert is involved."
        payload = {
            "text": text,
            "blocks": [{
                "type": "section",
                "text": {"type": "mrkdwn", "text": ":wave: *OnCall test message*\n"
                         "If you can read this, OnCall can post here. No alert is involved; nothing to do."},
            }],
        }
        return await self.send(ChannelMessage(
            delivery_id="test", idempotency_key="test", destination=destination, payload=payload, channel=self.name
        ))

    async def _call(self, request: Callable[[AsyncWebClient], Awaitable[AsyncSlackResponse]]) -> Outcome:
        """Slack's answer data, or the failure as a DeliveryResult (never an exception)."""
        try:
            response = await request(self._client())
        except SlackApiError as exc:
            answer = exc.response  # an AsyncSlackResponse, or aiohttp's response when the body was not JSON
            status = getattr(answer, "status_code", None) or getattr(answer, "status", None)
            return results.failed(status, getattr(answer, "headers", None) or {}, getattr(answer, "data", None))
        except TimeoutError:
            return DeliveryResult(
                ok=False, response=f"Slack: no response within {self._settings.timeout_s:g} s (timed out)"
            )
        except aiohttp.ClientError as exc:
            return DeliveryResult(ok=False, response=f"Slack: connection failed: {type(exc).__name__}: {exc}")
        return response.data if isinstance(response.data, Mapping) else {}

    # ------------------------------------------------------------------ button clicks

    async def handle_interactivity(self, request: InboundRequest) -> WebhookResponse:
        """Slack's interactivity request URL: verify, act on the click, update the message.

        A click is acted on once: its signature must be valid and fresh, and new to every
        replica (``ChannelHost.first_seen``). Slack wants an answer within 3 seconds, so only the action itself happens before
        the answer; the message update (or the note to the clicker) follows in the background.
        """
        problem = signature_problem(self._settings.signing_secret, request.headers, request.body, self._clock())
        if problem:
            return _refused(problem)
        try:
            clicks = parse_clicks(request)
        except BadRequest as exc:
            return WebhookResponse(status=exc.status, body={"error": exc.error, "detail": exc.detail})
        if not clicks:
            return WebhookResponse(status=200)  # nothing OnCall acts on, so nothing to replay
        host = self._host
        if host is None:
            return WebhookResponse(status=503, body={"error": "not_ready", "detail": "the server is starting"})
        # seen by every replica and across restarts: a genuine click captured and sent again
        # within its 5 minutes must not act twice (the signature names the exact request)
        key = "slack:" + request_signature(request.headers)
        try:
            fresh = await host.first_seen(key, REPLAY_WINDOW_S)
        except Exception:
            log.warning("slack interactivity: could not check the click against replays; answered 503", exc_info=True)
            return WebhookResponse(status=503, body={
                "error": "unavailable", "detail": "OnCall could not record the click; try again",
            })
        if not fresh:
            return _refused("this request was already received (replayed)")
        for click in clicks:
            await self._act(host, click)
        return WebhookResponse(status=200)

    async def _act(self, host: ChannelHost, click: Click) -> None:
        try:
            user_id = await host.find_user("slack", click.slack_user)
        except Exception:
            log.exception("slack: looking up the directory user for %s failed", click.slack_user)
            user_id = None
        if user_id:
            self._remember(user_id, click.slack_user)
        result: ActionResult | None
        try:
            result = await host.act(click.alert_id, click.action, user_id=user_id, actor=f"slack:{click.slack_user}")
        except Exception:
            log.exception("slack: %s of alert %s failed", click.action, click.alert_id)
            result = None
        if result is not None and result.ok:
            return  # the core edits every message about the incident (``edit``), this one included
        if not click.channel_id:
            return  # nowhere to answer (Slack always sends it for message buttons)
        reason = result.message if result is not None else "OnCall could not record it (internal error)"
        note = f"Could not {click.action} alert #{click.alert_id}: {reason}"
        self._spawn(self._tell(click.channel_id, click.slack_user, note))

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _tell(self, channel_id: str, slack_user: str, text: str) -> None:
        """An ephemeral note only the clicker sees: the message itself stays as it is."""
        outcome = await self._call(lambda web: web.chat_postEphemeral(channel=channel_id, user=slack_user, text=text))
        if isinstance(outcome, DeliveryResult):
            log.warning("slack: could not tell %s in %s: %s", slack_user, channel_id, outcome.response)

    def _remember(self, user_id: str, slack_user: str) -> None:
        self._slack_ids[user_id] = slack_user
        self._slack_ids.move_to_end(user_id)
        while len(self._slack_ids) > _KNOWN_PEOPLE:
            self._slack_ids.popitem(last=False)

    # ------------------------------------------------------------------ keeping messages current

    async def edit(self, edit: MessageEdit) -> DeliveryResult:
        """Rewrite a posted message as its incident is now (``chat.update``): the re-rendered
        blocks, then the status line (who acknowledged or resolved it) and the buttons still offered.

        The core calls this once per change (or per few seconds in a storm), from one replica.
        """
        channel_id, _, ts = edit.provider_id.partition(":")
        if not (channel_id and ts):
            return DeliveryResult(ok=False, permanent=True, response=f"Slack: {edit.provider_id!r} names no message")
        payload = edit.payload
        if not isinstance(payload, Mapping):
            return DeliveryResult(ok=False, permanent=True, response="Slack: the re-rendered payload is not an object")
        line = status_line(edit.status, self._name(edit.actor)) if edit.status != "triggered" else None
        ours = oncall_blocks(edit.alert_id, edit.status, line) if edit.alert_id is not None else []
        blocks = message_blocks(payload.get("blocks"), ours)
        text = str(payload.get("text") or "")
        if line:
            text = f"{line} — {text}" if text else line
        # the template's own attachments, or none: clears what an older OnCall attached
        attachments = list(payload.get("attachments") or [])
        outcome = await self._call(lambda web: web.chat_update(
            channel=channel_id, ts=ts, text=text, blocks=blocks, attachments=attachments))
        if isinstance(outcome, DeliveryResult):
            return outcome
        return DeliveryResult(ok=True, provider_id=edit.provider_id, delivered=True, response="Slack: message edited")

    def _name(self, actor: str | None) -> str | None:
        """How an actor appears in the message: Slack users as mentions, others as plain text."""
        if not actor:
            return None
        if actor.startswith("slack:") and len(actor) > len("slack:"):
            return mention(actor[len("slack:"):])
        if actor in self._slack_ids:
            return mention(self._slack_ids[actor])
        return escape(actor)


def _refused(problem: str) -> WebhookResponse:
    log.info("slack interactivity refused: %s", problem)
    return WebhookResponse(status=401, body={"error": "invalid_signature", "detail": problem})


def post_arguments(message: ChannelMessage) -> dict[str, Any]:
    """The chat.postMessage arguments for a message; ValueError when it cannot be a Slack message."""
    destination = message.destination.strip()
    if not destination:
        raise ValueError("no Slack destination: expected a channel (#ops, C0123…) or a user id (U0123…)")
    payload = message.payload
    if not isinstance(payload, Mapping):
        raise ValueError(f"the rendered payload is not a Slack message object, got {type(payload).__name__}")
    text, blocks = payload.get("text"), payload.get("blocks")
    if not text and not blocks:
        raise ValueError("the rendered Slack message has neither \"text\" nor \"blocks\"")
    attachments = list(payload.get("attachments") or [])
    alert_id = message.alert_id
    status = str(message.alert.get("status") or "triggered")
    ours: list[dict[str, Any]] = []
    if alert_id is not None and status != "resolved":
        ours = oncall_blocks(alert_id, status, status_line(status, None) if status != "triggered" else None)
    if ours:
        blocks = message_blocks(blocks, ours)
    args: dict[str, Any] = {"channel": destination, "text": text or None, "blocks": blocks or None}
    if attachments:
        args["attachments"] = attachments
    args.update({k: payload[k] for k in _PASSED_ON if k in payload})
    return args


def parse_clicks(request: InboundRequest) -> list[Click]:
    """The OnCall button presses in a signed interaction; other interactions yield none."""
    raw = request.form().get("payload")
    if raw is None:
        raise BadRequest("missing_field", "the interaction has no \"payload\" form field")
    try:
        doc = json.loads(raw)
    except RecursionError:
        raise BadRequest("invalid_json", "the interaction payload is nested too deeply") from None
    except ValueError:  # also a number of more than 4,300 digits
        raise BadRequest("invalid_json", "the interaction payload is not valid JSON") from None
    if not isinstance(doc, dict):
        raise BadRequest("invalid_type", "the interaction payload must be a JSON object")
    if doc.get("type") != "block_actions":
        return []
    user = _obj(doc.get("user")).get("id")
    container = _obj(doc.get("container"))
    shown = _obj(doc.get("message"))
    channel_id = _slack_id(container.get("channel_id") or _obj(doc.get("channel")).get("id"), "channel id")
    message_ts = _slack_id(container.get("message_ts") or shown.get("ts"), "message ts")
    if not user:
        return []
    user = _slack_id(user, "user id")
    actions = doc.get("actions")
    clicks = []
    for action in actions if isinstance(actions, list) else []:
        what = ACTIONS.get(str(_obj(action).get("action_id")))
        alert_id = _int(_obj(action).get("value"))
        if what and alert_id is not None:
            clicks.append(Click(what, alert_id, user, channel_id, message_ts))
    return clicks


def _slack_id(value: Any, what: str) -> str:
    """A Slack id or message ts as the payload gives it ("" when absent); BadRequest when it
    cannot be one, so it never reaches the database or the Web API."""
    if value is None or value == "":
        return ""
    if isinstance(value, str) and _SLACK_ID.fullmatch(value):
        return value
    raise BadRequest("invalid_field", f"the interaction's {what} is not a Slack id")


def _obj(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _int(value: Any) -> int | None:
    """An alert id (a positive bigint), or None: what a button's ``value`` must hold to act."""
    if isinstance(value, str):
        value = value.strip()
        # isdigit alone lets through "²", which int() refuses, and digits by the thousand
        if not (value.isascii() and value.isdigit() and len(value) <= 19):
            return None
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value if 0 < value <= _MAX_ID else None
