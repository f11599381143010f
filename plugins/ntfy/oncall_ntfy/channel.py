"""The push channel: publish a notification to an ntfy topic and classify the server's answer."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

import aiohttp
from oncall_hookspecs import ChannelMessage, DeliveryResult
from oncall_hookspecs.settings import parse_retry_after

from .message import InvalidMessage, build, check_message, check_topic
from .settings import NtfySettings

log = logging.getLogger(__name__)

USER_AGENT = "OnCall-ntfy/0.1"
RESPONSE_TEXT_CHARS = 300
_READ_BYTES = 4096
_RETRYABLE_4XX = frozenset({408, 429})


class NtfyChannel:
    """Publishes push notifications (channel ``push``) to topics on one ntfy server."""

    name = "push"
    #: several alerts for one topic may go out as one notification
    bundles = True
    #: ntfy.sh allows a burst of 60 then one message per 5 s per visitor; stay well inside that per topic
    rate_limits: Mapping[str, tuple[int, float]] = {"destination": (10, 60.0)}

    def __init__(self, settings: NtfySettings, clock: Callable[[], float] = time.time) -> None:
        self._settings = settings
        self._clock = clock
        self._session: aiohttp.ClientSession | None = None
        self._session_loop: asyncio.AbstractEventLoop | None = None

    def __repr__(self) -> str:  # the settings hold the token: name only what is safe
        return f"NtfyChannel({self._settings!r})"

    def _client(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        if self._session is None or self._session.closed or self._session_loop is not loop:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self._settings.timeout_s),
                headers={"User-Agent": USER_AGENT},
                cookie_jar=aiohttp.DummyCookieJar(),
                trust_env=True,  # HTTPS_PROXY / NO_PROXY, for a server on the far side of a proxy
            )
            self._session_loop = loop
        return self._session

    async def aclose(self) -> None:
        """Close the HTTP session (the server calls this on shutdown)."""
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None

    async def send(self, message: ChannelMessage) -> DeliveryResult:
        try:
            body = build(check_topic(message.destination), message.payload, message.actions)
        except InvalidMessage as exc:
            return DeliveryResult(ok=False, permanent=True, response=str(exc))
        return await self._publish(body)

    async def test_send(self, destination: str) -> DeliveryResult:
        """Publish a clearly-labelled test notification (``oncall channels test push --to <topic>``)."""
        try:
            topic = check_topic(destination)
        except InvalidMessage as exc:
            return DeliveryResult(ok=False, permanent=True, response=str(exc))
        return await self._publish(check_message(topic))

    async def _publish(self, body: dict[str, Any]) -> DeliveryResult:
        try:
            data = json.dumps(body, ensure_ascii=False, allow_nan=False).encode("utf-8")
        except (TypeError, ValueError) as exc:
            return DeliveryResult(ok=False, permanent=True, response=f"payload is not JSON: {exc}")
        headers = {"Content-Type": "application/json"}
        authorization = self._settings.authorization()
        if authorization is not None:
            headers["Authorization"] = authorization
        server = self._settings.url.host or "ntfy"
        try:
            async with self._client().post(
                self._settings.publish_url, data=data, headers=headers, allow_redirects=False
            ) as resp:
                text = await _read_some(resp)
                result = _classify(server, resp, self._scrub(text), self._clock())
        except TimeoutError:
            result = DeliveryResult(
                ok=False, response=f"{server}: no response within {self._settings.timeout_s:g} s (timed out)"
            )
        except aiohttp.ClientError as exc:
            result = DeliveryResult(
                ok=False, response=f"{server}: connection failed: {self._scrub(f'{type(exc).__name__}: {exc}')}"
            )
        log.debug("ntfy: %s", result.response)
        return result

    def _scrub(self, text: str) -> str:
        """``text`` without the credentials, should the server (or a proxy) ever echo them."""
        credentials = (self._settings.authorization() or " ").partition(" ")[2]  # the token, or base64 user:password
        for secret in (credentials, self._settings.token, self._settings.password):
            if secret:
                text = text.replace(secret, "[redacted]")
        return text


async def _read_some(resp: aiohttp.ClientResponse) -> str:
    data = await resp.content.read(_READ_BYTES)
    if not resp.content.at_eof():
        resp.close()  # the rest is unread: drop the connection rather than drain it
    return data.decode("utf-8", "replace")


def _classify(server: str, resp: aiohttp.ClientResponse, body: str, now: float) -> DeliveryResult:
    status = resp.status
    summary = f"{server}: HTTP {status} {resp.reason or ''}".rstrip()
    if 200 <= status < 300:
        try:
            answer = json.loads(body)
        except ValueError:
            answer = None
        message_id = answer.get("id") if isinstance(answer, dict) else None
        if not isinstance(message_id, str) or not message_id:
            # something answered 2xx that is not ntfy (a captive portal, a misrouted proxy)
            return DeliveryResult(
                ok=False, permanent=True, response=f"{summary}: the answer is not an ntfy message (no id)"
            )
        return DeliveryResult(
            ok=True, delivered=True, provider_id=message_id, response=f"{summary}: message {message_id}"
        )
    text = _error_text(body)
    described = f"{summary}: {text}" if text else summary
    if 300 <= status < 400:
        return DeliveryResult(ok=False, permanent=True, response=f"{summary}: redirects are not followed")
    if status >= 500 or status in _RETRYABLE_4XX:
        return DeliveryResult(
            ok=False, retry_after=parse_retry_after(resp.headers.get("Retry-After"), now), response=described
        )
    return DeliveryResult(ok=False, permanent=True, response=described)


def _error_text(body: str) -> str:
    """ntfy's error (``{"code": 40101, "error": "unauthorized", …}``) or the body's first characters."""
    try:
        answer = json.loads(body)
    except ValueError:
        answer = None
    if isinstance(answer, dict) and isinstance(answer.get("error"), str):
        code = answer.get("code")
        text = f"{answer['error']} (ntfy code {code})" if isinstance(code, int) else answer["error"]
    else:
        text = " ".join(body.split())
    return text[:RESPONSE_TEXT_CHARS]
