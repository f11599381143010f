"""The Teams channel: post an Adaptive Card to a Workflows webhook and classify the answer.

The webhook URL is a credential (its ``sig`` query parameter signs the request), so a
destination is named in logs and results by its configured name, or by its host when it
is a URL, and anything the provider says back is scrubbed of the URL before it is kept.
"""

from __future__ import annotations

import asyncio
import json
import logging
import ssl
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import unquote

import aiohttp
from oncall_hookspecs import ChannelHost, ChannelMessage, DeliveryResult
from oncall_hookspecs.settings import parse_retry_after
from yarl import URL

from .card import NotACard, check_message, with_buttons
from .settings import ALLOW_URLS_VAR, WEBHOOKS_VAR, TeamsSettings, webhook_url

log = logging.getLogger(__name__)

USER_AGENT = "OnCall-Teams/0.1"
RESPONSE_TEXT_CHARS = 300
_READ_BYTES = 4096  # enough to scrub a URL out of before cutting to RESPONSE_TEXT_CHARS
_RETRYABLE_4XX = frozenset({408, 429})
REDACTED = "[redacted]"
_SECRET_MIN_CHARS = 16


class UnknownDestination(ValueError):
    """The destination names no configured webhook, or is a URL that may not be used."""


class TeamsChannel:
    """Delivers rendered Teams messages to Workflows webhooks, by configured name or URL."""

    name = "teams"
    #: Workflows throttles each flow; four posts a second keeps a burst inside it
    rate_limits: Mapping[str, tuple[int, float]] = {"destination": (4, 1.0)}

    def __init__(
        self,
        settings: TeamsSettings,
        *,
        ssl_context: ssl.SSLContext | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """``ssl_context`` replaces the system's trust store (a TLS-inspecting proxy's CA, a test server)."""
        self._settings = settings
        self._ssl = ssl_context
        self._clock = clock
        self._session: aiohttp.ClientSession | None = None
        self._session_loop: asyncio.AbstractEventLoop | None = None

    def __repr__(self) -> str:  # the settings hold the URLs: name only what is safe
        return f"TeamsChannel({self._settings!r})"

    def bind(self, host: ChannelHost) -> None:
        """Nothing to bind: the buttons are one-click links the core serves itself."""

    def _client(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        if self._session is None or self._session.closed or self._session_loop is not loop:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(ssl=self._ssl if self._ssl is not None else True),
                timeout=aiohttp.ClientTimeout(total=self._settings.timeout_s),
                headers={"User-Agent": USER_AGENT},
                cookie_jar=aiohttp.DummyCookieJar(),
                trust_env=True,  # HTTPS_PROXY / NO_PROXY: Teams is reached through corporate proxies
            )
            self._session_loop = loop
        return self._session

    async def aclose(self) -> None:
        """Close the HTTP session (the server calls this on shutdown)."""
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None

    def resolve(self, destination: str) -> tuple[str, URL]:
        """``(label, url)`` for a destination: a configured name, or an https URL when allowed.

        The label is what logs and results may show: the name, or the URL's host.
        """
        destination = destination.strip()
        url = self._settings.webhooks.get(destination)
        if url is not None:
            return destination, url
        if "://" in destination:
            if not self._settings.allow_url_destinations:
                raise UnknownDestination(
                    f"URL destinations are disabled: name a webhook configured in {WEBHOOKS_VAR}, "
                    f"or set {ALLOW_URLS_VAR}=true"
                )
            url = webhook_url(destination)
            if url is None:
                raise UnknownDestination("the destination is not an https URL with a host")
            return url.host or "", url
        names = ", ".join(sorted(self._settings.webhooks)) or "none"
        raise UnknownDestination(
            f"no Teams webhook is named {destination!r} in {WEBHOOKS_VAR} (configured: {names})"
        )

    async def send(self, message: ChannelMessage) -> DeliveryResult:
        try:
            label, url = self.resolve(message.destination)
            body = with_buttons(message.payload, message.actions)
        except (UnknownDestination, NotACard) as exc:
            return DeliveryResult(ok=False, permanent=True, response=str(exc))
        return await self._post(label, url, body)

    async def test_send(self, destination: str) -> DeliveryResult:
        """Post a clearly-labelled test card (``oncall channels test teams --to <destination>``)."""
        try:
            label, url = self.resolve(destination)
        except UnknownDestination as exc:
            return DeliveryResult(ok=False, permanent=True, response=str(exc))
        return await self._post(label, url, check_message(label))

    async def _post(self, label: str, url: URL, body: dict[str, Any]) -> DeliveryResult:
        try:
            data = json.dumps(body, ensure_ascii=False, allow_nan=False).encode("utf-8")
        except (TypeError, ValueError) as exc:
            return DeliveryResult(ok=False, permanent=True, response=f"payload is not JSON: {exc}")
        try:
            async with self._client().post(
                url, data=data, headers={"Content-Type": "application/json"}, allow_redirects=False
            ) as resp:
                text = scrub(await _read_some(resp), url)
                result = _classify(label, resp, text, self._clock())
        except TimeoutError:
            result = DeliveryResult(
                ok=False, response=f"{label}: no response within {self._settings.timeout_s:g} s (timed out)"
            )
        except aiohttp.ClientError as exc:
            detail = scrub(f"{type(exc).__name__}: {exc}", url)
            result = DeliveryResult(ok=False, response=f"{label}: connection failed: {detail}")
        log.debug("teams: %s", result.response)
        return result


async def _read_some(resp: aiohttp.ClientResponse) -> str:
    data = await resp.content.read(_READ_BYTES)
    if not resp.content.at_eof():
        resp.close()  # the rest is unread: drop the connection rather than drain it
    return data.decode("utf-8", "replace")


def scrub(text: str, url: URL) -> str:
    """``text`` with every form of ``url`` and of its query values replaced by ``[redacted]``.

    Providers echo what they were sent (an error quoting the request URL, the signature it
    refused); none of that may reach logs or the delivery record.
    """
    secrets = {str(url), url.human_repr(), url.raw_path_qs, url.path_qs, url.raw_query_string, url.query_string}
    for pair in url.raw_query_string.split("&"):
        value = pair.partition("=")[2]
        if len(value) >= _SECRET_MIN_CHARS:  # the signature; not api-version=2016-06-01
            secrets.update((value, unquote(value)))
    for secret in sorted((s for s in secrets if len(s) >= _SECRET_MIN_CHARS), key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    return text


def _classify(label: str, resp: aiohttp.ClientResponse, body: str, now: float) -> DeliveryResult:
    status = resp.status
    summary = f"{label}: HTTP {status} {resp.reason or ''}".rstrip()
    snippet = " ".join(body.split())[:RESPONSE_TEXT_CHARS]
    text = f"{summary}: {snippet}" if snippet else summary
    if 200 <= status < 300:
        # Workflows answers 202 once the flow run is queued; its run id is the only handle
        run_id = resp.headers.get("x-ms-workflow-run-id")
        return DeliveryResult(ok=True, delivered=True, provider_id=run_id, response=text)
    if 300 <= status < 400:
        # never followed: the body would go wherever the redirect points
        return DeliveryResult(ok=False, permanent=True, response=f"{summary}: redirects are not followed")
    if status >= 500 or status in _RETRYABLE_4XX:
        return DeliveryResult(
            ok=False, retry_after=parse_retry_after(resp.headers.get("Retry-After"), now), response=text
        )
    return DeliveryResult(ok=False, permanent=True, response=text)
