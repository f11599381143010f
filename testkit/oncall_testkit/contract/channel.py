"""The channel contract: every failure is classified (retry later, or give up), Retry-After is honoured, nothing raises.

``await check_channel(make, message)`` stands a receiver in for the provider and builds the
channel with ``make(endpoint_url, timeout_s)`` (the provider's base URL, or a destination
URL: ``message(endpoint_url)`` makes the message to send). The receiver answers each send
in turn: what the provider answers a delivery it takes (``accepted``), 500, 502, 503 with
``Retry-After`` in seconds and as an HTTP date, 429 with and without it, each status in
``permanent``, no answer until the channel's timeout, and then a port where nothing
listens. The channel must report each as a ``DeliveryResult`` (never an exception):
retryable for 5xx, 429, timeouts and refused connections, with ``retry_after`` from the
header; permanent for the others; within its timeout, asking the provider once (the core
retries, honouring ``retry_after``, so a channel that retries or sleeps itself holds a
worker); and with none of ``secrets`` in what it reports.

``await check_smtp_channel(make, message)`` does the same against the SMTP fake for a
channel that speaks SMTP: 4xx replies are retryable, 5xx permanent.
"""

from __future__ import annotations

import asyncio
import email.utils
import math
import socket
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from oncall_hookspecs import Channel, ChannelMessage, DeliveryResult

from ..receiver import Answer, Receiver, receiver
from ..registration import ContractViolation, check_shape

#: beyond the channel's own timeout, how long a send may take in the check: generous, for a busy machine
GRACE_S = 10.0


@dataclass(frozen=True)
class Case:
    """One provider answer and what the channel must make of it."""

    name: str
    answer: Answer
    want: str  # "ok", "retry" or "permanent"
    retry_after: tuple[float, float] | None = None  # the range retry_after must fall in


def _http_date(seconds_ahead: float) -> str:
    return email.utils.formatdate(time.time() + seconds_ahead, usegmt=True)


def http_cases(accepted: Answer, permanent: Sequence[int]) -> list[Case]:
    cases = [
        Case("the provider accepts it", accepted, "ok"),
        Case("500", (500, {}), "retry"),
        Case("502", (502, {}), "retry"),
        Case("503 with Retry-After: 120", (503, {"Retry-After": "120"}), "retry", retry_after=(119, 121)),
        Case("503 with Retry-After as an HTTP date", (503, {"Retry-After": _http_date(120)}), "retry",
             retry_after=(90, 125)),
        Case("429 with Retry-After: 30", (429, {"Retry-After": "30"}), "retry", retry_after=(29, 31)),
        Case("429 without Retry-After", (429, {}), "retry"),
    ]
    cases += [Case(str(status), (status, {}), "permanent") for status in permanent]
    return cases


def check_result(result: Any, case: str, secrets: Sequence[str] = ()) -> DeliveryResult:
    """``result`` is a DeliveryResult that says one thing and leaks no secret."""
    if not isinstance(result, DeliveryResult):
        raise ContractViolation(f"send must return a DeliveryResult, got {type(result).__name__} ({case})")
    if not isinstance(result.response, str):
        raise ContractViolation(f"response must be a string ({case})")
    if result.ok and result.permanent:
        raise ContractViolation(f"a result can't be ok and permanent ({case})")
    if not result.ok and result.delivered:
        raise ContractViolation(f"a failed result can't be delivered ({case})")
    if result.retry_after is not None and not (
        isinstance(result.retry_after, int | float) and math.isfinite(result.retry_after) and result.retry_after >= 0
    ):
        raise ContractViolation(f"retry_after must be None or seconds from now, got {result.retry_after!r} ({case})")
    for secret in secrets:
        if secret and (secret in result.response or secret in (result.provider_id or "")):
            raise ContractViolation(f"the result shows a secret ({case}): {result.response[:200]!r}")
    return result


def _expect(result: DeliveryResult, name: str, want: str, retry_after: tuple[float, float] | None = None) -> None:
    said = (f"{name}: got ok={result.ok} permanent={result.permanent} retry_after={result.retry_after} "
            f"({result.response[:200]!r})")
    if want == "ok":
        if not result.ok:
            raise ContractViolation(f"a delivery the provider accepted must be ok; {said}")
        return
    if result.ok:
        raise ContractViolation(f"a failure must not be ok; {said}")
    if result.permanent != (want == "permanent"):
        raise ContractViolation(f"must be {'permanent' if want == 'permanent' else 'retryable (permanent=False)'}; {said}")
    if retry_after is not None:
        low, high = retry_after
        if result.retry_after is None or not low <= result.retry_after <= high:
            raise ContractViolation(f"must honour Retry-After (retry_after between {low:g} and {high:g} s); {said}")


async def _send(channel: Channel, message: ChannelMessage, timeout_s: float, case: str,
                secrets: Sequence[str]) -> DeliveryResult:
    try:
        result = await asyncio.wait_for(channel.send(message), timeout_s + GRACE_S)
    except TimeoutError:
        raise ContractViolation(
            f"send did not return within its timeout ({timeout_s:g} s) and {GRACE_S:g} s more ({case}): "
            "a channel gives up and reports, the core retries"
        ) from None
    except Exception as exc:
        raise ContractViolation(f"send raised {type(exc).__name__} ({case}): {str(exc)[:300]}") from exc
    return check_result(result, case, secrets)


async def _close(channel: Any) -> None:
    aclose = getattr(channel, "aclose", None)
    if aclose is not None:
        await aclose()


def closed_port() -> int:
    """A loopback port where nothing listens (bound, then closed)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def check_channel(
    make: Callable[[str, float], Channel],
    message: Callable[[str], ChannelMessage],
    *,
    accepted: Answer = (200, {}, "ok"),
    permanent: Sequence[int] = (400, 401, 403, 404),
    secrets: Sequence[str] = (),
    timeout_s: float = 1.0,
    receiver_fixture: Receiver | None = None,
) -> None:
    """Run the channel contract against a channel of an HTTP provider; raises ContractViolation naming the case."""
    if receiver_fixture is not None:
        await _check_http(receiver_fixture, make, message, accepted, permanent, secrets, timeout_s)
        return
    async with receiver() as rec:
        await _check_http(rec, make, message, accepted, permanent, secrets, timeout_s)


async def _check_http(
    rec: Receiver, make: Callable[[str, float], Channel], message: Callable[[str], ChannelMessage],
    accepted: Answer, permanent: Sequence[int], secrets: Sequence[str], timeout_s: float,
) -> None:
    channel = make(rec.url, timeout_s)
    check_shape("channels", Channel, channel)
    try:
        for case in http_cases(accepted, permanent):
            rec.script, rec.default = [], case.answer
            before = len(rec.requests)
            result = await _send(channel, message(rec.url), timeout_s, case.name, secrets)
            asked = len(rec.requests) - before
            if asked == 0:
                raise ContractViolation(f"the channel asked nothing of the provider at {rec.url} ({case.name})")
            if asked > 1 and case.answer[0] >= 400:
                raise ContractViolation(
                    f"the channel asked the provider {asked} times for one send ({case.name}): leave retries to "
                    "the core, which honours retry_after"
                )
            _expect(result, case.name, case.want, case.retry_after)

        rec.default = accepted
        rec.hang = asyncio.Event()
        rec.hang.set()
        rec.release.clear()
        started = time.monotonic()
        try:
            result = await _send(channel, message(rec.url), timeout_s, "no answer", secrets)
        finally:
            rec.hang.clear()
            rec.release.set()
        _expect(result, "no answer within the timeout", "retry")
        if time.monotonic() - started > timeout_s + GRACE_S:
            raise ContractViolation("the channel waited past its timeout")
    finally:
        await _close(channel)

    nowhere = f"http://127.0.0.1:{closed_port()}"
    channel = make(nowhere, timeout_s)
    try:
        result = await _send(channel, message(nowhere), timeout_s, "connection refused", secrets)
    finally:
        await _close(channel)
    _expect(result, "connection refused", "retry")


SMTP_CASES = [
    ("RCPT", "550 5.1.1 No such user here", False),
    ("RCPT", "451 4.3.0 Try again later", True),
    ("DATA", "554 5.7.1 Message rejected", False),
    ("DATA", "421 4.7.0 Too many connections, try later", True),
]


async def check_smtp_channel(
    make: Callable[[str, int, float], Channel | Awaitable[Channel]],
    message: ChannelMessage,
    *,
    secrets: Sequence[str] = (),
    timeout_s: float = 1.0,
) -> None:
    """Run the channel contract against a channel that speaks SMTP to a relay.

    ``make(host, port, timeout_s)`` builds the channel for a plain-text relay without
    authentication on loopback. The relay accepts, then refuses RCPT and DATA with 5xx
    (permanent) and 4xx (retryable) replies, then never speaks (a timeout), then is gone.
    """
    from ..smtp_server import silent_server, smtp_server

    async def build(host: str, port: int) -> Channel:
        made = make(host, port, timeout_s)
        return await made if isinstance(made, Awaitable) else made

    with tempfile.TemporaryDirectory() as tmp:
        async with smtp_server(Path(tmp), mode="plain", username=None) as relay:
            channel = await build(relay.host, relay.port)
            check_shape("channels", Channel, channel)
            try:
                result = await _send(channel, message, timeout_s, "the relay accepts it", secrets)
                if not result.ok or len(relay.received) != 1:
                    raise ContractViolation(f"a message the relay accepted must be ok, got {result!r}")
                for command, reply, retryable in SMTP_CASES:
                    relay.reply_next(command, reply)  # type: ignore[arg-type]
                    case = f"{command} answered {reply!r}"
                    result = await _send(channel, message, timeout_s, case, secrets)
                    _expect(result, case, "retry" if retryable else "permanent")
            finally:
                await _close(channel)
    async with silent_server() as port:
        channel = await build("127.0.0.1", port)
        try:
            result = await _send(channel, message, timeout_s, "a relay that never speaks", secrets)
        finally:
            await _close(channel)
        _expect(result, "a relay that never speaks", "retry")
    channel = await build("127.0.0.1", closed_port())
    try:
        result = await _send(channel, message, timeout_s, "connection refused", secrets)
    finally:
        await _close(channel)
    _expect(result, "connection refused", "retry")
