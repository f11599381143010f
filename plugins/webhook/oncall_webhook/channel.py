"""The webhook channel: POST a rendered payload (signed when a secret is set) to a guarded URL; classify the answer."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

import aiohttp
from oncall_hookspecs import ChannelMessage, DeliveryResult
from oncall_hookspecs.settings import parse_retry_after
from yarl import URL

from .guard import DestinationRefused, GuardedResolver, check_addresses, check_host_name, literal_address
from .settings import WebhookSettings
from .signing import encode_body, sign

log = logging.getLogger(__name__)

UNSIGNED_WARNING = (
    "webhook deliveries are not signed: set ONCALL_WEBHOOK_SIGNING_SECRET so receivers can verify them"
)

RESPONSE_CAPTURE_BYTES = 2048
USER_AGENT = "OnCall-Webhook/0.1"
#: statuses worth trying again; other 4xx mean the request itself is wrong
_RETRYABLE_4XX = frozenset({408, 429})


class WebhookChannel:
    """Delivers ``ChannelMessage.payload`` as JSON to ``ChannelMessage.destination`` (a URL)."""

    name = "webhook"

    def __init__(self, settings: WebhookSettings, clock: Callable[[], float] = time.time) -> None:
        self._settings = settings
        self._clock = clock
        self._session: aiohttp.ClientSession | None = None
        self._session_loop: asyncio.AbstractEventLoop | None = None
        self._warned_unsigned = False

    def __repr__(self) -> str:  # the settings hold the secret: name only what is safe
        return f"WebhookChannel(timeout_s={self._settings.timeout_s})"

    def _client(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        if self._session is None or self._session.closed or self._session_loop is not loop:
            connector = aiohttp.TCPConnector(
                resolver=GuardedResolver(self._settings.allowed_hosts, public_only=self._settings.public_only),
                # every new connection resolves and checks again
                use_dns_cache=False,
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                # no proxies from the environment: a proxy would resolve the host beyond the guard
                trust_env=False,
                # one destination's cookies must never travel to another
                cookie_jar=aiohttp.DummyCookieJar(),
                timeout=aiohttp.ClientTimeout(total=self._settings.timeout_s),
                headers={"User-Agent": USER_AGENT},
            )
            self._session_loop = loop
        return self._session

    async def aclose(self) -> None:
        """Close the HTTP session (the server calls this on shutdown)."""
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None

    async def test_send(self, destination: str) -> DeliveryResult:
        """``oncall channels test webhook --to URL``: a labelled test event, signed like any other."""
        stamp = int(self._clock())
        return await self.send(ChannelMessage(
            delivery_id=f"test-{stamp}", idempotency_key=f"oncall-test-{stamp}", destination=destination,
            payload={"event": "test", "message": "OnCall test notification: this channel works."},
            channel=self.name,
        ))

    async def send(self, message: ChannelMessage) -> DeliveryResult:
        try:
            url = _parse_destination(message.destination)
            host = url.raw_host or ""
            check_host_name(host)  # a metadata host name is refused before anything resolves it
            literal = literal_address(host)
            if literal is not None:
                # aiohttp connects to an IP literal without asking the resolver: check it here
                check_addresses(
                    host, [literal], self._settings.allowed_hosts, public_only=self._settings.public_only
                )
            body = encode_body(message.payload)
        except DestinationRefused as exc:
            return DeliveryResult(ok=False, permanent=True, response=str(exc))
        except (TypeError, ValueError) as exc:
            return DeliveryResult(ok=False, permanent=True, response=f"payload is not JSON: {exc}")

        timestamp = int(self._clock())
        headers = {
            "Content-Type": "application/json",
            "X-OnCall-Delivery": message.delivery_id,
            "Idempotency-Key": message.idempotency_key,
            "X-OnCall-Timestamp": str(timestamp),
        }
        if self._settings.signing_secret is not None:
            headers["X-OnCall-Signature"] = sign(self._settings.signing_secret, timestamp, body)
        elif not self._warned_unsigned:
            # still useful unsigned (a receiver on a trusted network), but anyone who learns the
            # URL can forge a delivery: say so once, in the log of the process that sends, and
            # not in every CLI command that merely loads the plugins
            self._warned_unsigned = True
            log.warning(UNSIGNED_WARNING)
        try:
            async with self._client().post(url, data=body, headers=headers, allow_redirects=False) as resp:
                captured = await _read_capped(resp)
                return _classify(resp, captured, self._clock())
        except DestinationRefused as exc:
            return DeliveryResult(ok=False, permanent=True, response=str(exc))
        except aiohttp.InvalidURL as exc:
            return DeliveryResult(ok=False, permanent=True, response=f"invalid destination URL: {exc}")
        except TimeoutError:
            return DeliveryResult(
                ok=False, response=f"{host}: no response within {self._settings.timeout_s:g} s (timed out)"
            )
        except aiohttp.ClientError as exc:
            return DeliveryResult(ok=False, response=f"{host}: connection failed: {type(exc).__name__}: {exc}")


def _parse_destination(destination: str) -> URL:
    try:
        url = URL(destination)
    except (TypeError, ValueError) as exc:
        raise DestinationRefused(f"the destination is not a URL: {exc}") from None
    if url.scheme not in ("http", "https"):
        scheme = url.scheme or "no scheme"
        raise DestinationRefused(f"refused: only http and https destinations are allowed, not {scheme!r}")
    if not url.raw_host:
        raise DestinationRefused("refused: the destination URL has no host")
    return url


async def _read_capped(resp: aiohttp.ClientResponse) -> str:
    """The first RESPONSE_CAPTURE_BYTES of the body: enough to explain a failure, never a flood."""
    chunks: list[bytes] = []
    size = 0
    while size < RESPONSE_CAPTURE_BYTES:
        chunk = await resp.content.read(RESPONSE_CAPTURE_BYTES - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    if not resp.content.at_eof():
        resp.close()  # the rest is unread: drop the connection rather than drain it
    return b"".join(chunks).decode("utf-8", "replace")


def _classify(resp: aiohttp.ClientResponse, body: str, now: float) -> DeliveryResult:
    status = resp.status
    summary = f"HTTP {status} {resp.reason or ''}".rstrip()
    text = f"{summary}: {body}" if body else summary
    if 200 <= status < 300:
        return DeliveryResult(ok=True, response=text, delivered=True)
    if 300 <= status < 400:
        location = resp.headers.get("Location", "(no Location header)")
        return DeliveryResult(
            ok=False, permanent=True, response=f"{summary}: redirects are not followed; Location: {location}"
        )
    if status >= 500 or status in _RETRYABLE_4XX:
        retry_after = parse_retry_after(resp.headers.get("Retry-After"), now)
        return DeliveryResult(ok=False, retry_after=retry_after, response=text)
    return DeliveryResult(ok=False, permanent=True, response=text)
