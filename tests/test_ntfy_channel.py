"""The ntfy push channel: notifications published to a local ntfy server with action buttons,
authentication, result classification, topics, settings, and credentials kept out of sight."""

from __future__ import annotations

import base64
import logging
from collections.abc import AsyncIterator, Callable

import pytest
from oncall_testkit.ntfy_api import NtfyServer, running_ntfy, subscribe_poll
from oncall.plugins import load_plugins
from oncall_hookspecs import ChannelMessage
from oncall_ntfy import NtfyChannel, load_settings

TOKEN = "tk_5ecr3tacce55t0ken0f0ncall01"
PASSWORD = "pa55-w0rd-n0t-f0r-l0gs"
ACTIONS = {
    "acknowledge": "https://oncall.example.com/a/ack-7f3e9c",
    "resolve": "https://oncall.example.com/a/res-0b41d2",
}
PUSH = {"title": "FIRING: Disk full on db-1", "message": "98 % used on /var/lib/postgresql", "priority": 5,
        "tags": ["rotating_light", "critical"]}


def message(topic: str = "oncall-alice", payload: object = None, actions: dict[str, str] | None = None) -> ChannelMessage:
    return ChannelMessage(
        delivery_id="dlv-0002",
        idempotency_key="alert-42:step-1:push",
        destination=topic,
        payload=dict(PUSH) if payload is None else payload,
        alert_id=42,
        user_id="alice",
        channel="push",
        actions=ACTIONS if actions is None else actions,
    )


@pytest.fixture
async def ntfy() -> AsyncIterator[NtfyServer]:
    """An ntfy server that lets anyone publish."""
    async with running_ntfy() as server:
        yield server


@pytest.fixture
async def private_ntfy() -> AsyncIterator[NtfyServer]:
    """An ntfy server that denies anonymous access: one access token, one user."""
    async with running_ntfy(tokens={TOKEN}, users={"oncall": PASSWORD}) as server:
        yield server


@pytest.fixture
async def make_channel() -> AsyncIterator[Callable[..., NtfyChannel]]:
    """Channels built from settings as the plugin reads them."""
    channels: list[NtfyChannel] = []

    def make(server: NtfyServer, **env: str) -> NtfyChannel:
        settings, unknown = load_settings({"ONCALL_NTFY_URL": server.url, "ONCALL_NTFY_TIMEOUT_S": "5",
                                           **{f"ONCALL_NTFY_{k.upper()}": v for k, v in env.items()}})
        assert settings is not None and unknown == []
        channel = NtfyChannel(settings)
        channels.append(channel)
        return channel

    yield make
    for channel in channels:
        await channel.aclose()


# --------------------------------------------------------------------------- what the subscriber gets


async def test_the_notification_reaches_the_topic_with_acknowledge_and_resolve_buttons(ntfy, make_channel):
    result = await make_channel(ntfy).send(message())

    assert result.ok and result.delivered and not result.permanent
    [stored] = ntfy.messages
    assert result.provider_id == stored["id"]
    assert result.response == f"127.0.0.1: HTTP 200 OK: message {stored['id']}"
    [published] = ntfy.requests
    assert published.headers["Content-Type"] == "application/json"
    assert published.body == {
        "topic": "oncall-alice",
        "title": "FIRING: Disk full on db-1",
        "message": "98 % used on /var/lib/postgresql",
        "priority": 5,
        "tags": ["rotating_light", "critical"],
        "actions": [
            {"action": "http", "label": "Acknowledge", "url": ACTIONS["acknowledge"], "method": "POST", "clear": True},
            {"action": "http", "label": "Resolve", "url": ACTIONS["resolve"], "method": "POST", "clear": True},
        ],
    }
    # what the ntfy app subscribed to the topic receives
    [seen] = await subscribe_poll(ntfy, "oncall-alice")
    assert seen["title"] == "FIRING: Disk full on db-1" and seen["priority"] == 5
    assert [(a["label"], a["url"]) for a in seen["actions"]] == [
        ("Acknowledge", ACTIONS["acknowledge"]), ("Resolve", ACTIONS["resolve"])]
    assert await subscribe_poll(ntfy, "oncall-bob") == []


async def test_escalate_is_a_third_button_when_offered_and_none_without_links(ntfy, make_channel):
    channel = make_channel(ntfy)
    await channel.send(message(actions={**ACTIONS, "escalate": "https://oncall.example.com/a/esc-1"}))
    await channel.send(message(actions={}))

    first, second = ntfy.messages
    assert [a["label"] for a in first["actions"]] == ["Acknowledge", "Resolve", "Escalate"]
    assert "actions" not in second


async def test_a_click_link_in_the_payload_opens_on_tap(ntfy, make_channel):
    await make_channel(ntfy).send(message(payload={**PUSH, "click": "https://grafana.example.com/d/disk"}))
    assert ntfy.messages[0]["click"] == "https://grafana.example.com/d/disk"


@pytest.mark.parametrize(("given", "sent"), [(9, 5), (0, 1), ("high", 4), ("urgent", 5), ("loud", 3), (None, 3), (2, 2)])
async def test_priority_is_kept_within_ntfys_1_to_5(ntfy, make_channel, given, sent):
    result = await make_channel(ntfy).send(message(payload={**PUSH, "priority": given}))
    assert result.ok
    assert ntfy.requests[0].body["priority"] == sent


async def test_a_title_alone_is_sent_as_the_message_too(ntfy, make_channel):
    result = await make_channel(ntfy).send(message(payload={"title": "RESOLVED: db-1", "message": "", "priority": 2}))
    assert result.ok
    assert ntfy.messages[0]["message"] == "RESOLVED: db-1"


@pytest.mark.parametrize("payload", [{"title": "", "message": " "}, ["not", "an", "object"], "text"])
async def test_an_empty_or_malformed_payload_fails_permanently_unsent(ntfy, make_channel, payload):
    result = await make_channel(ntfy).send(message(payload=payload))
    assert not result.ok and result.permanent
    assert ntfy.requests == []


async def test_test_send_publishes_a_labelled_notification(ntfy, make_channel):
    result = await make_channel(ntfy).test_send("oncall-alice")
    assert result.ok and result.delivered
    [seen] = await subscribe_poll(ntfy, "oncall-alice")
    assert seen["title"] == "OnCall test notification"
    assert "No alert is involved" in seen["message"]
    assert "actions" not in seen


# --------------------------------------------------------------------------- topics


@pytest.mark.parametrize(
    "topic", ["", "alice/alerts", "https://ntfy.sh/alice", "with space", "ümlaut", "x" * 65]
)
async def test_a_destination_that_is_not_an_ntfy_topic_fails_permanently_unsent(ntfy, make_channel, topic):
    channel = make_channel(ntfy)
    for result in (await channel.send(message(topic)), await channel.test_send(topic)):
        assert not result.ok and result.permanent
        assert "not an ntfy topic" in result.response
    assert ntfy.requests == []


async def test_the_longest_topic_ntfy_allows_is_accepted(ntfy, make_channel):
    topic = "a-Z_9" + "x" * 59
    assert (await make_channel(ntfy).send(message(topic))).ok
    assert ntfy.messages[0]["topic"] == topic


# --------------------------------------------------------------------------- authentication


async def test_an_access_token_is_sent_as_a_bearer_token(private_ntfy, make_channel):
    result = await make_channel(private_ntfy, token=TOKEN).send(message())
    assert result.ok
    assert private_ntfy.requests[0].headers["Authorization"] == f"Bearer {TOKEN}"


async def test_a_username_and_password_are_sent_as_basic_auth(private_ntfy, make_channel):
    result = await make_channel(private_ntfy, username="oncall", password=PASSWORD).send(message())
    assert result.ok
    expected = base64.b64encode(f"oncall:{PASSWORD}".encode()).decode()
    assert private_ntfy.requests[0].headers["Authorization"] == f"Basic {expected}"


async def test_a_wrong_token_is_a_permanent_401(private_ntfy, make_channel):
    result = await make_channel(private_ntfy, token="tk_wrong").send(message())
    assert not result.ok and result.permanent
    assert result.response == "127.0.0.1: HTTP 401 Unauthorized: unauthorized (ntfy code 40101)"
    assert private_ntfy.messages == []


async def test_no_credentials_on_a_private_server_is_a_permanent_403(private_ntfy, make_channel):
    result = await make_channel(private_ntfy).send(message())
    assert not result.ok and result.permanent
    assert result.response == "127.0.0.1: HTTP 403 Forbidden: forbidden (ntfy code 40301)"


# --------------------------------------------------------------------------- results


async def test_429_is_retryable_no_sooner_than_retry_after(ntfy, make_channel):
    ntfy.answer_next(429, {"code": 42901, "http": 429, "error": "limit reached: too many messages, please be nice"},
                     {"Retry-After": "30"})
    result = await make_channel(ntfy).send(message())
    assert not result.ok and not result.permanent
    assert result.retry_after == 30.0
    assert "limit reached: too many messages" in result.response


async def test_a_server_error_is_retryable(ntfy, make_channel):
    ntfy.answer_next(500, {"code": 50001, "http": 500, "error": "internal server error"})
    result = await make_channel(ntfy).send(message())
    assert not result.ok and not result.permanent and result.retry_after is None
    assert result.response == "127.0.0.1: HTTP 500 Internal Server Error: internal server error (ntfy code 50001)"


async def test_a_request_ntfy_refuses_is_permanent(ntfy, make_channel):
    ntfy.answer_next(400, {"code": 40018, "http": 400, "error": "invalid request: actions invalid"})
    result = await make_channel(ntfy).send(message())
    assert not result.ok and result.permanent
    assert result.response == "127.0.0.1: HTTP 400 Bad Request: invalid request: actions invalid (ntfy code 40018)"


async def test_an_error_that_is_not_ntfy_json_keeps_its_first_300_characters(ntfy, make_channel):
    ntfy.answer_next(413, "<html>" + "too large " * 100 + "</html>")
    result = await make_channel(ntfy).send(message())
    assert not result.ok and result.permanent
    assert result.response == "127.0.0.1: HTTP 413 Request Entity Too Large: " + ("<html>" + "too large " * 100)[:300]


async def test_a_2xx_that_is_not_an_ntfy_message_is_not_counted_as_delivered(ntfy, make_channel):
    ntfy.answer_next(200, "<html>Welcome to the hotel wifi</html>")
    result = await make_channel(ntfy).send(message())
    assert not result.ok and result.permanent
    assert "not an ntfy message" in result.response


async def test_an_unreachable_server_is_retryable(make_channel):
    from fixtures.processes import free_port

    gone = NtfyServer(url=f"http://127.0.0.1:{free_port()}")
    result = await make_channel(gone).send(message())
    assert not result.ok and not result.permanent
    assert "127.0.0.1: connection failed" in result.response


# --------------------------------------------------------------------------- secrets


async def test_credentials_stay_out_of_repr_logs_and_results(private_ntfy, make_channel, caplog):
    caplog.set_level(logging.DEBUG)
    token_channel = make_channel(private_ntfy, token=TOKEN)
    user_channel = make_channel(private_ntfy, username="oncall", password=PASSWORD)
    # a misbehaving proxy that echoes the request's credentials back
    private_ntfy.answer_next(502, f"upstream refused Authorization: Bearer {TOKEN}")
    results = [
        await token_channel.send(message()),
        await token_channel.send(message()),
        await user_channel.send(message()),
        await user_channel.test_send("oncall-alice"),
    ]

    assert [r.ok for r in results] == [False, True, True, True]
    assert "[redacted]" in results[0].response
    assert repr(token_channel) == f"NtfyChannel(NtfySettings(url='{private_ntfy.url}', auth=token, timeout_s=5))"
    assert repr(user_channel) == f"NtfyChannel(NtfySettings(url='{private_ntfy.url}', auth=user 'oncall', timeout_s=5))"
    shown = "\n".join([repr(token_channel), repr(user_channel), caplog.text, *(r.response for r in results)])
    basic = base64.b64encode(f"oncall:{PASSWORD}".encode()).decode()
    for secret in (TOKEN, PASSWORD, basic):
        assert secret not in shown


# --------------------------------------------------------------------------- settings and discovery


def _loaded(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]):
    for name in ("URL", "TOKEN", "USERNAME", "PASSWORD", "TIMEOUT_S"):
        monkeypatch.delenv(f"ONCALL_NTFY_{name}", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    _, registry = load_plugins()
    [info] = [p for p in registry.plugins if p.name == "ntfy"]
    return registry, info


def test_the_plugin_registers_the_push_channel(monkeypatch, caplog):
    caplog.set_level(logging.DEBUG)
    registry, info = _loaded(monkeypatch, {"ONCALL_NTFY_URL": "https://ntfy.example.com", "ONCALL_NTFY_TOKEN": TOKEN})

    channel = registry.channels["push"]
    assert isinstance(channel, NtfyChannel)
    assert info.status == "ok" and info.distribution == "oncall-ntfy"
    assert channel.bundles is True
    assert channel.rate_limits == {"destination": (10, 60.0)}
    assert TOKEN not in caplog.text and TOKEN not in repr(channel)


def test_without_a_server_url_the_plugin_registers_nothing_and_says_why(monkeypatch, caplog):
    with caplog.at_level(logging.DEBUG):
        registry, info = _loaded(monkeypatch, {"ONCALL_NTFY_TOKEN": TOKEN})
    assert "push" not in registry.channels
    assert info.status == "ok" and info.provides == {}
    assert any(r.getMessage() == "ntfy push channel not registered: ONCALL_NTFY_URL is not set" for r in caplog.records)


@pytest.mark.parametrize(
    ("env", "error"),
    [
        ({"ONCALL_NTFY_URL": "ntfy.example.com"}, "ONCALL_NTFY_URL must be an http or https URL with a host"),
        ({"ONCALL_NTFY_URL": "ftp://ntfy.example.com"}, "ONCALL_NTFY_URL must be an http or https URL with a host"),
        ({"ONCALL_NTFY_URL": "https://ntfy.example.com/?topic=x"}, "without a query or fragment"),
        ({"ONCALL_NTFY_URL": f"https://oncall:{PASSWORD}@ntfy.example.com"},
         "ONCALL_NTFY_URL must not contain credentials"),
        ({"ONCALL_NTFY_URL": "https://ntfy.example.com:http"}, "ONCALL_NTFY_URL"),
        ({"ONCALL_NTFY_URL": "https://ntfy.example.com", "ONCALL_NTFY_TOKEN": TOKEN, "ONCALL_NTFY_USERNAME": "oncall",
          "ONCALL_NTFY_PASSWORD": PASSWORD}, "set either ONCALL_NTFY_TOKEN or ONCALL_NTFY_USERNAME/ONCALL_NTFY_PASSWORD"),
        ({"ONCALL_NTFY_URL": "https://ntfy.example.com", "ONCALL_NTFY_USERNAME": "oncall"},
         "ONCALL_NTFY_PASSWORD is required when ONCALL_NTFY_USERNAME is set"),
        ({"ONCALL_NTFY_URL": "https://ntfy.example.com", "ONCALL_NTFY_PASSWORD": PASSWORD},
         "ONCALL_NTFY_USERNAME is required when ONCALL_NTFY_PASSWORD is set"),
        ({"ONCALL_NTFY_URL": "https://ntfy.example.com", "ONCALL_NTFY_TIMEOUT_S": "0"},
         "ONCALL_NTFY_TIMEOUT_S must be a positive number of seconds, got '0'"),
    ],
)
def test_a_malformed_setting_fails_the_plugin_naming_the_variable(monkeypatch, caplog, env, error):
    registry, info = _loaded(monkeypatch, env)
    assert "push" not in registry.channels
    assert info.status == "failed"
    assert error in info.error
    assert PASSWORD not in info.error and TOKEN not in info.error
    assert PASSWORD not in caplog.text and TOKEN not in caplog.text


def test_credentials_for_a_plain_http_server_elsewhere_draw_a_warning(caplog):
    with caplog.at_level(logging.WARNING):
        load_settings({"ONCALL_NTFY_URL": "http://ntfy.lan:8080", "ONCALL_NTFY_TOKEN": TOKEN})
        load_settings({"ONCALL_NTFY_URL": "http://127.0.0.1:8080", "ONCALL_NTFY_TOKEN": TOKEN})
        load_settings({"ONCALL_NTFY_URL": "http://ntfy.lan:8080"})
    assert [r.getMessage() for r in caplog.records] == [
        "ntfy credentials go to ntfy.lan in clear text: use an https ONCALL_NTFY_URL"]


def test_a_server_under_a_path_publishes_to_that_path():
    settings, _ = load_settings({"ONCALL_NTFY_URL": "https://example.com/ntfy"})
    assert settings is not None
    assert str(settings.publish_url) == "https://example.com/ntfy/"
