"""The Twilio REST client both channels share, and how its answers become DeliveryResults.

The SDK's own ``AsyncTwilioHttpClient`` is not used as the transport: it ignores its
``timeout`` (only a per-call timeout reaches aiohttp, and ``create_async`` passes none),
opens its aiohttp session in the constructor (before any event loop runs), and drops the
response headers by the time an error reaches us, so ``Retry-After`` is lost. The
transport below implements the SDK's ``AsyncHttpClient`` interface instead; everything
else (URL building, parameters, auth, error parsing) stays the SDK's.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import aiohttp
from oncall_hookspecs import DeliveryResult
from oncall_hookspecs.settings import parse_retry_after
from twilio.base.exceptions import TwilioRestException, TwilioServiceException
from twilio.http import AsyncHttpClient
from twilio.http.response import Response
from twilio.rest import Client

from .settings import E164, TwilioSettings

log = logging.getLogger(__name__)

#: Twilio error codes that come with a 4xx but clear up by themselves
#: (21611: the sender's outbound queue is full).
_TRANSIENT_CODES = frozenset({21611})


class TwilioUnavailable(Exception):
    """Twilio answered 429 or 5xx: worth retrying, no sooner than ``retry_after`` seconds."""

    def __init__(self, status: int, retry_after: float | None, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.retry_after = retry_after
        self.description = description


class AiohttpTransport(AsyncHttpClient):  # type: ignore[misc]  # twilio ships no type information
    """The SDK's async HTTP interface on an aiohttp session made on the running loop.

    Answers Twilio means to be retried (429, 5xx) are raised as TwilioUnavailable with
    their ``Retry-After``; every other answer goes back to the SDK to parse.
    """

    def __init__(self, timeout_s: float, clock: Callable[[], float] = time.time) -> None:
        super().__init__(logger=log, is_async=True, timeout=timeout_s)
        self._clock = clock
        self._session: aiohttp.ClientSession | None = None
        self._session_loop: asyncio.AbstractEventLoop | None = None

    def _client(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        if self._session is None or self._session.closed or self._session_loop is not loop:
            self._session = aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar())
            self._session_loop = loop
        return self._session

    async def request(
        self,
        method: str,
        uri: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,
        allow_redirects: bool = False,
    ) -> Response:
        log.debug("twilio: %s %s", method.upper(), uri)  # never the body or the credentials
        headers = dict(headers or {})
        if auth is not None:
            headers["Authorization"] = _basic_auth(*auth)
        async with self._client().request(
            method.upper(),
            uri,
            params=_pairs(params),
            data=_pairs(data),
            headers=headers,
            timeout=aiohttp.ClientTimeout(total=timeout or self.timeout),
            allow_redirects=allow_redirects,
        ) as resp:
            text = await resp.text()
            if resp.status == 429 or resp.status >= 500:
                retry_after = parse_retry_after(resp.headers.get("Retry-After"), self._clock())
                raise TwilioUnavailable(resp.status, retry_after, describe_error(resp.status, text))
            return Response(resp.status, text, dict(resp.headers))

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None


def _basic_auth(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")


def _pairs(values: Mapping[str, object] | None) -> list[tuple[str, str]] | None:
    """Form or query fields as pairs: the SDK passes lists for repeated ones (StatusCallbackEvent)."""
    if values is None:
        return None
    pairs: list[tuple[str, str]] = []
    for key, value in values.items():
        for item in value if isinstance(value, (list, tuple)) else [value]:
            pairs.append((key, item if isinstance(item, str) else str(item)))
    return pairs


class TwilioApi:
    """The SDK client with its base URL and transport set from the settings."""

    def __init__(self, settings: TwilioSettings) -> None:
        self.settings = settings
        self.transport = AiohttpTransport(settings.timeout_s)
        self.client = Client(settings.account_sid, settings.auth_token, http_client=self.transport)
        if settings.api_url is not None:
            # Domain.base_url is what every API v2010 URL is built from
            self.client.api.base_url = settings.api_url
            # TWILIO_EDGE/TWILIO_REGION from the environment would rewrite the host again
            self.client.edge = None
            self.client.region = None

    def __repr__(self) -> str:
        return f"TwilioApi(account_sid={self.settings.account_sid!r}, api_url={self.settings.api_url!r})"

    async def aclose(self) -> None:
        await self.transport.close()

    async def call(self, what: Callable[[], Awaitable[Any]]) -> tuple[Any, DeliveryResult | None]:
        """Run one SDK request; ``(instance, None)`` on success, ``(None, failure)`` otherwise."""
        try:
            return await what(), None
        except TwilioUnavailable as exc:
            return None, DeliveryResult(ok=False, retry_after=exc.retry_after, response=exc.description)
        except TwilioRestException as exc:
            return None, _rest_failure(exc.status, exc.code, exc.msg)
        except TwilioServiceException as exc:
            return None, _rest_failure(exc.status, exc.code, exc.detail or exc.title)
        except TimeoutError:
            return None, DeliveryResult(
                ok=False, response=f"Twilio did not answer within {self.settings.timeout_s:g} s (timed out)"
            )
        except aiohttp.ClientError as exc:
            return None, DeliveryResult(ok=False, response=f"cannot reach Twilio: {type(exc).__name__}: {exc}")


def _rest_failure(status: int, code: int | None, message: str) -> DeliveryResult:
    # the SDK prefixes Twilio's message with its own "Unable to create record: "
    if message.startswith("Unable to ") and ": " in message:
        message = message.split(": ", 1)[1]
    text = f"Twilio error {code}: {message} (HTTP {status})" if code else f"HTTP {status}: {message}"
    retryable = status == 429 or status >= 500 or code in _TRANSIENT_CODES
    return DeliveryResult(ok=False, permanent=not retryable, response=text)


def describe_error(status: int, body: str) -> str:
    """A short line from a Twilio error body (``{"code", "message", …}``), or its start."""
    try:
        doc = json.loads(body)
    except ValueError:
        doc = None
    if isinstance(doc, dict) and doc.get("message"):
        code = doc.get("code")
        return f"Twilio error {code}: {doc['message']} (HTTP {status})" if code else f"HTTP {status}: {doc['message']}"
    snippet = " ".join(body.split())[:200]
    return f"HTTP {status}: {snippet}" if snippet else f"HTTP {status}"


def check_number(destination: str) -> tuple[str | None, DeliveryResult | None]:
    """The destination as an E.164 number (spaces, dashes, dots, brackets dropped), or a permanent failure."""
    number = "".join(ch for ch in destination.strip() if ch not in " -.()")
    if not E164.fullmatch(number):
        return None, DeliveryResult(
            ok=False, permanent=True, response=f"{destination!r} is not an E.164 phone number such as +15005550006"
        )
    return number, None


def payload_text(payload: Any) -> str | None:
    """The renderer's ``text`` (SMS body, speech), or None when the payload has none."""
    if isinstance(payload, Mapping):
        text = payload.get("text")
        if isinstance(text, str) and text.strip():
            return text
    return None
