"""The webhook channel: deliveries (signed or not) to a local receiver, results, the SSRF guard, settings."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import os
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import pytest
from aiohttp import web
from fixtures.network import connections, stub_dns
from oncall.plugins import load_plugins
from oncall_hookspecs import ChannelMessage
from oncall_webhook import (
    UNSIGNED_WARNING,
    AllowList,
    DestinationRefused,
    WebhookChannel,
    WebhookSettings,
    encode_body,
    parse_retry_after,
    verify_signature,
)
from oncall_webhook.guard import GuardedResolver, check_addresses, check_host_name, literal_address

SECRET = "test-signing-secret-5f1c"


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    url: str
    port: int
    requests: list[Received] = field(default_factory=list)
    release_slow: asyncio.Event = field(default_factory=asyncio.Event)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    """A local webhook receiver on 127.0.0.1 that records every request it gets."""
    rec = Receiver(url="", port=0)

    async def handle(request: web.Request) -> web.StreamResponse:
        rec.requests.append(Received(request.path, dict(request.headers), await request.read()))
        name = request.match_info["name"]
        if name == "ok":
            return web.Response(text="received")
        if name == "fail":
            return web.Response(status=500, text="database is down")
        if name == "busy":
            return web.Response(status=429, text="slow down", headers={"Retry-After": "7"})
        if name == "missing":
            return web.Response(status=404, text="no such hook")
        if name == "redirect":
            raise web.HTTPFound(location=f"{rec.url}/ok")
        if name == "big":
            return web.Response(text="x" * 10_000)
        if name == "slow":
            await rec.release_slow.wait()
            return web.Response(text="too late")
        return web.Response(status=400, text="unknown route")

    app = web.Application()
    app.router.add_post("/{name}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    rec.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    rec.url = f"http://127.0.0.1:{rec.port}"
    yield rec
    rec.release_slow.set()
    await runner.cleanup()


@pytest.fixture
async def make_channel() -> AsyncIterator[Callable[..., WebhookChannel]]:
    channels: list[WebhookChannel] = []

    def make(
        allowed_hosts: str = "127.0.0.1", timeout_s: float = 5.0, public_only: bool = False, secret: str | None = SECRET
    ) -> WebhookChannel:
        channel = WebhookChannel(
            WebhookSettings(
                signing_secret=secret,
                timeout_s=timeout_s,
                allowed_hosts=AllowList.parse(allowed_hosts),
                public_only=public_only,
            )
        )
        channels.append(channel)
        return channel

    yield make
    for channel in channels:
        await channel.aclose()


def message(destination: str, payload: object = None, key: str = "alert-42:step-1:user-7") -> ChannelMessage:
    return ChannelMessage(
        delivery_id="dlv-0001",
        idempotency_key=key,
        destination=destination,
        payload={"alert": {"id": 42, "summary": "Disk full on db-1 — 98 %"}, "status": "firing"}
        if payload is None
        else payload,
        alert_id=42,
        user_id="user-7",
    )


# --------------------------------------------------------------------------- delivery and signature


async def test_delivery_arrives_with_the_exact_signed_body(receiver, make_channel):
    payload = {"summary": "Disk full — db-1", "labels": {"team": "storage", "env": "prod"}, "count": 3}
    result = await make_channel().send(message(f"{receiver.url}/ok", payload))

    assert result.ok and not result.permanent
    assert result.response == "HTTP 200 OK: received"
    [got] = receiver.requests
    assert got.body == encode_body(payload)
    assert json.loads(got.body) == payload
    ts, sig = got.headers["X-OnCall-Timestamp"], got.headers["X-OnCall-Signature"]
    assert sig.startswith("v1=")
    assert verify_signature(SECRET, ts, got.body, sig)


async def test_a_tampered_body_a_wrong_secret_or_an_old_timestamp_fails_verification(receiver, make_channel):
    await make_channel().send(message(f"{receiver.url}/ok"))
    [got] = receiver.requests
    ts, sig = got.headers["X-OnCall-Timestamp"], got.headers["X-OnCall-Signature"]

    assert verify_signature(SECRET, ts, got.body, sig, now=int(ts) + 300)
    assert not verify_signature(SECRET, ts, got.body.replace(b"firing", b"resolved"), sig)
    assert not verify_signature("another-secret", ts, got.body, sig)
    assert not verify_signature(SECRET, ts, got.body, sig, now=int(ts) + 301)
    assert not verify_signature(SECRET, str(int(ts) + 1), got.body, sig, now=int(ts))
    assert not verify_signature(SECRET, "yesterday", got.body, sig)


async def test_verification_accepts_any_of_several_signatures_for_secret_rotation(receiver, make_channel):
    await make_channel().send(message(f"{receiver.url}/ok"))
    [got] = receiver.requests
    ts, sig = got.headers["X-OnCall-Timestamp"], got.headers["X-OnCall-Signature"]
    assert verify_signature(SECRET, ts, got.body, f"v1=00ff, {sig}")


async def test_delivery_and_idempotency_headers_travel_with_every_attempt(receiver, make_channel):
    channel = make_channel()
    for _ in range(2):  # a retry of the same delivery
        await channel.send(message(f"{receiver.url}/ok", key="alert-42:step-1:user-7"))

    assert [r.headers["Idempotency-Key"] for r in receiver.requests] == ["alert-42:step-1:user-7"] * 2
    assert [r.headers["X-OnCall-Delivery"] for r in receiver.requests] == ["dlv-0001"] * 2
    assert all(r.headers["Content-Type"] == "application/json" for r in receiver.requests)


async def test_without_a_secret_a_delivery_is_sent_unsigned(receiver, make_channel):
    sent = message(f"{receiver.url}/ok")
    result = await make_channel(secret=None).send(sent)

    assert result.ok
    [got] = receiver.requests
    assert "X-OnCall-Signature" not in got.headers
    assert got.headers["X-OnCall-Delivery"] == "dlv-0001"
    assert got.headers["Idempotency-Key"] == "alert-42:step-1:user-7"
    assert got.headers["X-OnCall-Timestamp"].isdigit()
    assert got.body == encode_body(sent.payload)


# --------------------------------------------------------------------------- results


async def test_a_server_error_is_retryable_and_keeps_the_response(receiver, make_channel):
    result = await make_channel().send(message(f"{receiver.url}/fail"))
    assert not result.ok and not result.permanent
    assert result.retry_after is None
    assert result.response == "HTTP 500 Internal Server Error: database is down"


async def test_429_with_retry_after_asks_to_retry_no_sooner(receiver, make_channel):
    result = await make_channel().send(message(f"{receiver.url}/busy"))
    assert not result.ok and not result.permanent
    assert result.retry_after == 7.0


def test_retry_after_as_an_http_date_counts_from_now():
    now = 1_790_000_000.0  # 2026-09-21T14:13:20Z
    assert parse_retry_after("Mon, 21 Sep 2026 14:15:20 GMT", now) == 120.0
    assert parse_retry_after("Mon, 21 Sep 2026 14:00:00 GMT", now) == 0.0  # already past
    assert parse_retry_after("soon", now) is None
    assert parse_retry_after(None, now) is None


async def test_a_client_error_is_permanent(receiver, make_channel):
    result = await make_channel().send(message(f"{receiver.url}/missing"))
    assert not result.ok and result.permanent
    assert result.response == "HTTP 404 Not Found: no such hook"


async def test_a_receiver_slower_than_the_timeout_is_a_retryable_timeout(receiver, make_channel):
    result = await make_channel(timeout_s=0.2).send(message(f"{receiver.url}/slow"))
    assert not result.ok and not result.permanent
    assert "timed out" in result.response and "0.2 s" in result.response


async def test_a_redirect_is_not_followed_and_fails_permanently(receiver, make_channel):
    result = await make_channel().send(message(f"{receiver.url}/redirect"))
    assert not result.ok and result.permanent
    assert f"Location: {receiver.url}/ok" in result.response
    assert [r.path for r in receiver.requests] == ["/redirect"]


async def test_only_the_first_2_kib_of_a_response_is_kept(receiver, make_channel):
    result = await make_channel().send(message(f"{receiver.url}/big"))
    assert result.ok
    assert result.response == "HTTP 200 OK: " + "x" * 2048


async def test_a_payload_that_is_not_json_fails_permanently(receiver, make_channel):
    result = await make_channel().send(message(f"{receiver.url}/ok", payload={"value": float("nan")}))
    assert not result.ok and result.permanent
    assert "payload is not JSON" in result.response
    assert receiver.requests == []


# --------------------------------------------------------------------------- the destination guard


@pytest.mark.parametrize("allowed", ["", "169.254.0.0/16"])
@pytest.mark.parametrize(
    "destination", ["http://169.254.169.254/latest/meta-data/", "http://[::ffff:169.254.169.254]/", "http://[fe80::1]/"]
)
async def test_link_local_metadata_addresses_are_refused_even_when_allowed(make_channel, destination, allowed):
    result = await make_channel(allowed_hosts=allowed, timeout_s=0.2).send(message(destination))
    assert not result.ok and result.permanent
    assert "link-local" in result.response


@pytest.mark.parametrize(
    ("destination", "listed", "reason"),
    [
        ("http://169.254.169.254/latest/meta-data/", "169.254.169.254", "a link-local address"),
        ("http://[::ffff:169.254.169.254]/latest/meta-data/", "::ffff:169.254.169.254", "a link-local address"),
        ("http://[fd00:ec2::254]/latest/meta-data/", "fd00:ec2::254", "a cloud metadata address (AWS"),
        ("http://100.100.100.200/latest/meta-data/", "100.100.100.200", "a cloud metadata address (Alibaba"),
        (
            "http://metadata.google.internal/computeMetadata/v1/",
            "metadata.google.internal",
            "the name of a cloud metadata service",
        ),
    ],
)
@pytest.mark.parametrize("extra", ["", ", 0.0.0.0/0, ::/0"])
async def test_metadata_endpoints_are_refused_even_when_allowlisted(make_channel, destination, listed, reason, extra):
    channel = make_channel(allowed_hosts=listed + extra, timeout_s=0.2)
    result = await channel.send(message(destination))
    assert not result.ok and result.permanent
    assert reason in result.response
    assert result.response.endswith("which webhooks may never reach")


@pytest.mark.parametrize("public_only", [False, True])
async def test_metadata_endpoints_are_refused_with_no_allowlist_either(make_channel, public_only):
    for destination in ["http://[fd00:ec2::254]/", "http://100.100.100.200/", "http://metadata/computeMetadata/v1/"]:
        result = await make_channel(allowed_hosts="", public_only=public_only, timeout_s=0.2).send(message(destination))
        assert not result.ok and result.permanent
        assert "which webhooks may never reach" in result.response


async def test_metadata_host_names_are_refused_before_they_are_resolved():
    for name in ["metadata.google.internal", "METADATA.google.internal.", "metadata.goog", "metadata", "metadata."]:
        with pytest.raises(DestinationRefused, match="is the name of a cloud metadata service"):
            check_host_name(name)
    check_host_name("metadata.example.com")  # only the exact names
    # the resolver refuses the name itself: no lookup, so no DNS traffic leaves the machine
    with pytest.raises(DestinationRefused, match="refused metadata.google.internal: it is the name"):
        await GuardedResolver(AllowList.parse("metadata.google.internal")).resolve("metadata.google.internal", 80)


async def test_with_no_settings_a_loopback_receiver_gets_the_delivery(receiver, make_channel):
    result = await make_channel(allowed_hosts="").send(message(f"{receiver.url}/ok"))
    assert result.ok
    assert len(receiver.requests) == 1


async def test_public_only_refuses_a_loopback_address_without_connecting(receiver, make_channel):
    result = await make_channel(allowed_hosts="", public_only=True).send(message(f"{receiver.url}/ok"))
    assert not result.ok and result.permanent
    assert result.response.startswith(
        "refused 127.0.0.1: it resolves to 127.0.0.1, a loopback address, and ONCALL_WEBHOOK_PUBLIC_ONLY "
        "allows public addresses only"
    )
    assert receiver.requests == []


@pytest.mark.parametrize("public_only", [False, True])
async def test_a_loopback_address_outside_a_set_allowlist_is_refused_without_connecting(
    receiver, make_channel, public_only
):
    channel = make_channel(allowed_hosts="10.0.0.0/8, hooks.example.com", public_only=public_only)
    result = await channel.send(message(f"{receiver.url}/ok"))
    assert not result.ok and result.permanent
    assert result.response == (
        "refused 127.0.0.1: it resolves to 127.0.0.1, which ONCALL_WEBHOOK_ALLOWED_HOSTS "
        "(hooks.example.com, 10.0.0.0/8) does not allow"
    )
    assert receiver.requests == []


async def test_localhost_is_refused_with_public_only_unless_allowlisted(receiver, make_channel):
    url = f"http://localhost:{receiver.port}/ok"
    result = await make_channel(allowed_hosts="", public_only=True).send(message(url))
    assert not result.ok and result.permanent
    assert "refused localhost: it resolves to 127.0.0.1, a loopback address" in result.response
    assert receiver.requests == []

    # an allowlist is the whole list: naming localhost in it is how to reach it, PUBLIC_ONLY or not
    allowed = await make_channel(allowed_hosts="localhost", public_only=True).send(message(url))
    assert allowed.ok
    default = await make_channel(allowed_hosts="").send(message(url))
    assert default.ok
    assert len(receiver.requests) == 2


@pytest.mark.parametrize("destination", ["ftp://127.0.0.1/upload", "file:///etc/passwd", "/relative/path"])
async def test_only_http_and_https_destinations_are_allowed(receiver, make_channel, destination):
    result = await make_channel().send(message(destination))
    assert not result.ok and result.permanent
    assert "only http and https" in result.response
    assert receiver.requests == []


def embeddings(ipv4: str) -> dict[str, str]:
    """Every IPv6 form that carries ``ipv4``, built bit by bit from the RFCs (not by the guard)."""
    v4 = int(ipaddress.IPv4Address(ipv4))
    local = int(ipaddress.IPv6Address("64:ff9b:1::"))
    public = int(ipaddress.IPv4Address("65.54.227.120"))  # a Teredo server / client elsewhere
    forms = {
        "ipv4-mapped": 0xFFFF << 32 | v4,  # ::ffff:a.b.c.d
        "ipv4-compatible": v4,  # ::a.b.c.d
        "ipv4-translated": 0xFFFF << 48 | v4,  # ::ffff:0:a.b.c.d
        "nat64": 0x0064_FF9B << 96 | v4,  # 64:ff9b::a.b.c.d
        "nat64-local-96": local | v4,  # 64:ff9b:1::a.b.c.d, a /96 inside the /48
        "nat64-local-48": local | (v4 >> 16) << 64 | (v4 & 0xFFFF) << 40,  # bits 48-63, then 72-87
        "6to4": 0x2002 << 112 | v4 << 80 | 1,  # 2002:aabb:ccdd::1
        "teredo-client": 0x2001_0000 << 96 | public << 64 | 0x8000_63BF << 32 | v4 ^ 0xFFFFFFFF,
        "teredo-server": 0x2001_0000 << 96 | v4 << 64 | 0x8000_63BF << 32 | public ^ 0xFFFFFFFF,
    }
    return {name: str(ipaddress.IPv6Address(n)) for name, n in forms.items()}


METADATA_FORMS = embeddings("169.254.169.254")


@pytest.mark.parametrize("via", ["literal", "name"])
@pytest.mark.parametrize("settings", ["none", "public-only", "allow-everything"])
@pytest.mark.parametrize("form", sorted(METADATA_FORMS))
async def test_every_ipv6_form_of_the_metadata_address_is_refused_before_connecting(make_channel, form, settings, via):
    address = METADATA_FORMS[form]
    channel = make_channel(allowed_hosts={"allow-everything": "0.0.0.0/0, ::/0"}.get(settings, ""),
                           public_only=settings == "public-only")
    url = f"http://[{address}]/latest/meta-data/" if via == "literal" else "http://imds.oncall.test/latest/meta-data/"
    with stub_dns({"imds.oncall.test": [address]}), connections() as connects:
        result = await channel.send(message(url))
    assert not result.ok and result.permanent
    assert f"it resolves to {address}, which embeds 169.254.169.254 (" in result.response
    assert result.response.endswith("a link-local address (where cloud metadata services live), "
                                    "which webhooks may never reach")
    assert connects == []


LOOPBACK_FORMS = embeddings("127.0.0.1")


@pytest.mark.parametrize("via", ["literal", "name"])
@pytest.mark.parametrize(("form", "target"), [(f, "127.0.0.1") for f in sorted(LOOPBACK_FORMS)]
                         + [(f, "10.1.2.3") for f in sorted(LOOPBACK_FORMS)])
async def test_public_only_refuses_ipv6_forms_of_loopback_and_private_addresses(receiver, make_channel, form, target, via):
    address = embeddings(target)[form]
    url = f"http://[{address}]:{receiver.port}/ok" if via == "literal" else f"http://hook.oncall.test:{receiver.port}/ok"
    with stub_dns({"hook.oncall.test": [address]}), connections() as connects:
        result = await make_channel(allowed_hosts="", public_only=True).send(message(url))
    assert not result.ok and result.permanent
    assert f"it resolves to {address}, " in result.response
    if form.startswith("nat64-local"):
        # read at every RFC 6052 position, one of which is 0.0.0.0 here: refused whatever is set
        assert "which embeds 0.0.0.0 (local-use NAT64 with a /" in result.response
    elif form.startswith("teredo"):
        assert "a private address, and ONCALL_WEBHOOK_PUBLIC_ONLY" in result.response  # 2001::/32 itself
    else:
        kind = "a loopback address" if target == "127.0.0.1" else "a private address"
        assert f"which embeds {target} (" in result.response
        assert f"{kind}, and ONCALL_WEBHOOK_PUBLIC_ONLY allows public addresses only" in result.response
    assert connects == [] and receiver.requests == []


async def test_one_embedded_form_among_good_addresses_refuses_the_name(receiver, make_channel):
    answers = {"mixed.oncall.test": ["127.0.0.1", METADATA_FORMS["nat64"]]}
    with stub_dns(answers), connections() as connects:
        result = await make_channel(allowed_hosts="").send(message(f"http://mixed.oncall.test:{receiver.port}/ok"))
    assert not result.ok and "which embeds 169.254.169.254 (NAT64)" in result.response
    assert connects == [] and receiver.requests == []


@pytest.mark.parametrize("ipv4", ["93.184.216.34", "8.8.8.8"])
def test_public_ipv4_through_nat64_6to4_or_mapped_stays_reachable_with_public_only(ipv4):
    # an IPv6-only host reaches IPv4 receivers through NAT64: that must keep working
    forms = embeddings(ipv4)
    for form in ("ipv4-mapped", "nat64", "6to4"):
        check_addresses("hooks.example.com", [ipaddress.ip_address(forms[form])], AllowList(), public_only=True)
    # an allowlist that names the IPv4 receiver covers its translated forms too
    check_addresses("x", [ipaddress.ip_address(forms["nat64"])], AllowList.parse(f"{ipv4}/32"))
    with pytest.raises(DestinationRefused, match="does not allow"):
        check_addresses("x", [ipaddress.ip_address(forms["nat64"])], AllowList.parse("10.0.0.0/8"))


@pytest.mark.parametrize("host", ["127.1", "2130706433", "0177.0.0.1", "169.254.43518", "[::ffff:127.1]"])
async def test_a_numeric_host_that_is_no_standard_address_is_refused_before_connecting(receiver, make_channel, host):
    # aiohttp takes all-digit hosts for IP literals and never asks the resolver; the socket
    # layer may read 127.1 or 2130706433 as 127.0.0.1
    with connections() as connects:
        result = await make_channel(allowed_hosts="", public_only=True).send(message(f"http://{host}:{receiver.port}/ok"))
    assert not result.ok and result.permanent
    assert connects == [] and receiver.requests == []


async def test_a_page_to_a_nat64_form_of_the_metadata_address_fails_on_the_timeline_without_connecting(
    db_url, tmp_path, monkeypatch,
):
    from fixtures.paging import page, paging_server, timeline_notes, wait_for_delivery

    _clear_webhook_env(monkeypatch)
    destination = "http://imds.oncall.test/latest/meta-data/iam/security-credentials/"
    with connections() as connects:
        async with paging_server(db_url, tmp_path, monkeypatch, ("webhook", destination),
                                 ONCALL_WEBHOOK_PUBLIC_ONLY="true", ONCALL_WEBHOOK_SIGNING_SECRET=SECRET) as server:
            with stub_dns({"imds.oncall.test": [METADATA_FORMS["nat64"]]}):
                alert_id = await page(server)
                delivery = await wait_for_delivery(server, alert_id, ("failed",))
            notes = await timeline_notes(server, alert_id, "notification")
    reason = ("refused imds.oncall.test: it resolves to 64:ff9b::a9fe:a9fe, which embeds 169.254.169.254 (NAT64), "
              "a link-local address (where cloud metadata services live), which webhooks may never reach")
    assert delivery["last_error"] == reason
    assert f"Webhook to user alice: failed ({reason})" in notes
    assert not any("64:ff9b" in str(address) for address in connects)


def test_allowlist_entries_match_names_wildcards_and_cidrs():
    allow = AllowList.parse("hooks.example.com, *.corp.example, 10.20.0.0/16")
    private = [ipaddress.ip_address("10.99.0.1")]
    check_addresses("hooks.example.com", private, allow)
    check_addresses("HOOKS.example.com.", private, allow)
    check_addresses("a.b.corp.example", private, allow)
    check_addresses("anything.example.org", [ipaddress.ip_address("10.20.3.4")], allow)
    for host, addrs in [
        ("corp.example", private),  # a wildcard covers subdomains only
        ("other.example.com", [ipaddress.ip_address("93.184.216.34")]),  # a set allowlist is the whole list
        ("anything.example.org", [ipaddress.ip_address("10.20.3.4"), ipaddress.ip_address("10.21.0.1")]),
    ]:
        with pytest.raises(DestinationRefused):
            check_addresses(host, addrs, allow)


def test_an_empty_allowlist_allows_any_address_the_guard_does_not_always_refuse():
    for addr in ["93.184.216.34", "10.0.0.1", "192.168.1.1", "172.16.0.1", "100.64.0.1", "127.0.0.1", "::1", "fc00::1"]:
        check_addresses("somewhere", [ipaddress.ip_address(addr)], AllowList())
    for addr in ["0.0.0.0", "::", "224.0.0.1", "ff02::1", "169.254.1.1", "::ffff:100.100.100.200"]:
        with pytest.raises(DestinationRefused, match="which webhooks may never reach"):
            check_addresses("somewhere", [ipaddress.ip_address(addr)], AllowList())
    # one bad address among good ones refuses the host
    mixed = [ipaddress.ip_address("10.0.0.1"), ipaddress.ip_address("169.254.169.254")]
    with pytest.raises(DestinationRefused, match="link-local"):
        check_addresses("mixed", mixed, AllowList())


def test_public_only_allows_public_addresses_only():
    check_addresses("example.com", [ipaddress.ip_address("93.184.216.34")], AllowList(), public_only=True)
    for addr in ["10.0.0.1", "192.168.1.1", "172.16.0.1", "100.64.0.1", "::1", "fc00::1", "0.0.0.0", "224.0.0.1"]:
        with pytest.raises(DestinationRefused):
            check_addresses("somewhere", [ipaddress.ip_address(addr)], AllowList(), public_only=True)
    assert literal_address("[::1]") == ipaddress.ip_address("::1")
    assert literal_address("example.com") is None


# --------------------------------------------------------------------------- settings and discovery


def test_the_plugin_registers_its_channel_when_the_secret_is_set(monkeypatch, caplog):
    monkeypatch.setenv("ONCALL_WEBHOOK_SIGNING_SECRET", SECRET)
    monkeypatch.setenv("ONCALL_WEBHOOK_TIMEOUT_S", "3.5")
    monkeypatch.setenv("ONCALL_WEBHOOK_ALLOWED_HOSTS", "127.0.0.1, *.corp.example")
    caplog.set_level(logging.DEBUG)
    _, registry = load_plugins()

    channel = registry.channels["webhook"]
    assert isinstance(channel, WebhookChannel)
    assert repr(channel) == "WebhookChannel(timeout_s=3.5)"
    [info] = [p for p in registry.plugins if p.name == "webhook"]
    assert info.status == "ok" and info.distribution == "oncall-webhook"
    assert SECRET not in caplog.text


def _clear_webhook_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [n for n in os.environ if n.startswith("ONCALL_WEBHOOK_")]:
        monkeypatch.delenv(name)


def _webhook_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.name.startswith("oncall_webhook") and r.levelno == logging.WARNING]


async def test_with_no_settings_the_channel_registers_quietly_sends_unsigned_and_warns_at_the_first_send(
    monkeypatch, caplog, receiver,
):
    _clear_webhook_env(monkeypatch)
    with caplog.at_level(logging.DEBUG):
        _, registry = load_plugins()

    channel = registry.channels["webhook"]
    assert isinstance(channel, WebhookChannel)
    [info] = [p for p in registry.plugins if p.name == "webhook"]
    assert info.status == "ok"
    # loading the plugins (every CLI command does) says nothing
    assert _webhook_warnings(caplog) == []
    try:
        # zero configuration: the loopback receiver is reachable and the delivery is unsigned
        with caplog.at_level(logging.DEBUG):
            result = await channel.send(message(f"{receiver.url}/ok"))
            again = await channel.send(message(f"{receiver.url}/ok"))
    finally:
        await channel.aclose()
    assert result.ok and again.ok
    # the process that sends unsigned says so, once
    assert _webhook_warnings(caplog) == [
        "webhook deliveries are not signed: set ONCALL_WEBHOOK_SIGNING_SECRET so receivers can verify them"
    ]
    assert UNSIGNED_WARNING == _webhook_warnings(caplog)[0]
    got = receiver.requests[0]
    assert "X-OnCall-Signature" not in got.headers
    assert {"X-OnCall-Timestamp", "X-OnCall-Delivery", "Idempotency-Key"} <= set(got.headers)


def test_with_a_secret_there_is_no_unsigned_warning_and_the_secret_stays_out_of_repr(monkeypatch, caplog):
    _clear_webhook_env(monkeypatch)
    monkeypatch.setenv("ONCALL_WEBHOOK_SIGNING_SECRET", SECRET)
    with caplog.at_level(logging.DEBUG):
        _, registry = load_plugins()

    assert "webhook" in registry.channels
    assert not [r for r in caplog.records if r.name == "oncall_webhook" and r.levelno >= logging.WARNING]
    assert SECRET not in repr(WebhookSettings(signing_secret=SECRET)) and SECRET not in caplog.text


def test_public_only_alongside_an_allowlist_is_reported_as_having_no_effect(monkeypatch, caplog):
    _clear_webhook_env(monkeypatch)
    monkeypatch.setenv("ONCALL_WEBHOOK_SIGNING_SECRET", SECRET)
    monkeypatch.setenv("ONCALL_WEBHOOK_ALLOWED_HOSTS", "hooks.example.com")
    monkeypatch.setenv("ONCALL_WEBHOOK_PUBLIC_ONLY", "true")
    with caplog.at_level(logging.WARNING):
        _, registry = load_plugins()

    assert "webhook" in registry.channels
    assert any("ONCALL_WEBHOOK_PUBLIC_ONLY has no effect" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(
    ("variable", "value", "error"),
    [
        ("ONCALL_WEBHOOK_TIMEOUT_S", "ten", "ONCALL_WEBHOOK_TIMEOUT_S must be a number of seconds, got 'ten'"),
        ("ONCALL_WEBHOOK_TIMEOUT_S", "0", "ONCALL_WEBHOOK_TIMEOUT_S must be a positive number of seconds, got '0'"),
        ("ONCALL_WEBHOOK_ALLOWED_HOSTS", "10.0.0.0/33", "ONCALL_WEBHOOK_ALLOWED_HOSTS: '10.0.0.0/33' is not a valid IP address or CIDR"),
        ("ONCALL_WEBHOOK_ALLOWED_HOSTS", "hooks.example.com:8443", "ONCALL_WEBHOOK_ALLOWED_HOSTS: 'hooks.example.com:8443' is not a host name"),
        ("ONCALL_WEBHOOK_PUBLIC_ONLY", "maybe", "ONCALL_WEBHOOK_PUBLIC_ONLY must be true or false, got 'maybe'"),
    ],
)
def test_a_malformed_setting_fails_the_plugin_naming_the_variable(monkeypatch, caplog, variable, value, error):
    monkeypatch.setenv("ONCALL_WEBHOOK_SIGNING_SECRET", SECRET)
    monkeypatch.setenv(variable, value)
    _, registry = load_plugins()

    assert "webhook" not in registry.channels
    [info] = [p for p in registry.plugins if p.name == "webhook"]
    assert info.status == "failed"
    assert error in info.error
    assert SECRET not in info.error and SECRET not in caplog.text
