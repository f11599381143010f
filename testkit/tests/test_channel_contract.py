"""The channel contract passes a channel that classifies its provider's answers and names one that doesn't."""

from __future__ import annotations

import time
from typing import Any

import aiohttp
import pytest
from oncall_hookspecs import ChannelMessage, DeliveryResult
from oncall_hookspecs.settings import parse_retry_after
from oncall_testkit import ContractViolation, channel_message, check_channel
from oncall_testkit.contract import channel as contract
from oncall_testkit.receiver import Receiver

TOKEN = "pager-secret-token-0123456789"


class Pager:
    """POSTs the payload to its URL; 5xx, 408 and 429 are retried, honouring Retry-After."""

    name = "pager"

    def __init__(self, url: str, timeout_s: float) -> None:
        self.url, self.timeout_s = url, timeout_s

    async def post(self, message: ChannelMessage) -> aiohttp.ClientResponse:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout_s)) as http:
            async with http.post(self.url, json=message.payload, headers={"Authorization": f"Bearer {TOKEN}"}) as r:
                await r.read()
                return r

    def classify(self, resp: aiohttp.ClientResponse) -> DeliveryResult:
        if resp.status < 300:
            return DeliveryResult(ok=True, delivered=True, response=f"HTTP {resp.status}")
        again = resp.status >= 500 or resp.status in (408, 429)
        return DeliveryResult(ok=False, permanent=not again, response=f"HTTP {resp.status}",
                              retry_after=parse_retry_after(resp.headers.get("Retry-After"), time.time()))

    async def send(self, message: ChannelMessage) -> DeliveryResult:
        try:
            return self.classify(await self.post(message))
        except (aiohttp.ClientError, TimeoutError) as exc:
            return DeliveryResult(ok=False, response=f"pager: {type(exc).__name__}")


def message(url: str) -> ChannelMessage:
    return channel_message("ann", {"text": "Disk full"}, "pager")


async def test_a_channel_that_keeps_the_contract_passes(receiver: Receiver) -> None:
    await check_channel(Pager, message, secrets=[TOKEN], receiver_fixture=receiver)
    assert receiver.requests[0].headers["Authorization"] == f"Bearer {TOKEN}"


class Raises(Pager):
    async def send(self, message: ChannelMessage) -> DeliveryResult:
        resp = await self.post(message)
        resp.raise_for_status()
        return self.classify(resp)


class EverythingPermanent(Pager):
    def classify(self, resp: aiohttp.ClientResponse) -> DeliveryResult:
        result = super().classify(resp)
        return result if result.ok else DeliveryResult(ok=False, permanent=True, response=result.response)


class IgnoresRetryAfter(Pager):
    def classify(self, resp: aiohttp.ClientResponse) -> DeliveryResult:
        result = super().classify(resp)
        result.retry_after = None
        return result


class SecondsOnly(Pager):
    """Reads Retry-After as a number only: an HTTP date is lost."""

    def classify(self, resp: aiohttp.ClientResponse) -> DeliveryResult:
        result = super().classify(resp)
        value = resp.headers.get("Retry-After", "")
        result.retry_after = float(value) if value.isdigit() else None
        return result


class RetriesItself(Pager):
    async def send(self, message: ChannelMessage) -> DeliveryResult:
        for _ in range(3):
            result = await super().send(message)
            if result.ok or result.permanent:
                return result
        return result


class Leaks(Pager):
    def classify(self, resp: aiohttp.ClientResponse) -> DeliveryResult:
        result = super().classify(resp)
        result.response += f" (sent with token {TOKEN})"
        return result


class RefusedIsPermanent(Pager):
    async def send(self, message: ChannelMessage) -> DeliveryResult:
        try:
            return self.classify(await self.post(message))
        except aiohttp.ClientConnectorError as exc:
            return DeliveryResult(ok=False, permanent=True, response=str(exc))
        except TimeoutError:
            return DeliveryResult(ok=False, response="timed out")


@pytest.mark.parametrize(
    ("channel", "violation"),
    [
        (Raises, "send raised ClientResponseError"),
        (EverythingPermanent, "500: got ok=False permanent=True"),
        (IgnoresRetryAfter, "must honour Retry-After"),
        (SecondsOnly, "Retry-After as an HTTP date"),
        (RetriesItself, "asked the provider 3 times"),
        (Leaks, "the result shows a secret"),
        (RefusedIsPermanent, "connection refused: got ok=False permanent=True"),
    ],
    ids=lambda v: v.__name__ if isinstance(v, type) else "",
)
async def test_a_channel_that_breaks_the_contract_is_named(receiver: Receiver, channel: type, violation: str) -> None:
    with pytest.raises(ContractViolation, match=violation):
        await check_channel(channel, message, secrets=[TOKEN], receiver_fixture=receiver)


class NoTimeout(Pager):
    async def post(self, message: ChannelMessage) -> Any:
        async with aiohttp.ClientSession() as http, http.post(self.url, json=message.payload) as r:
            await r.read()
            return r


async def test_a_channel_that_waits_past_its_timeout_is_named(
    receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(contract, "GRACE_S", 0.5)
    with pytest.raises(ContractViolation, match="send did not return within its timeout"):
        await check_channel(NoTimeout, message, timeout_s=0.2, receiver_fixture=receiver)
