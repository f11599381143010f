"""The Teams channel: cards with one-click buttons posted to a local Workflows endpoint, result
classification, destinations, settings, and the webhook URLs (secrets) kept out of sight."""

from __future__ import annotations

import copy
import logging
from collections.abc import AsyncIterator, Callable

import pytest
from oncall_testkit.teams_api import Certificate, WorkflowsServer, make_certificate, running_workflows
from oncall.plugins import load_plugins
from oncall_hookspecs import ChannelMessage
from oncall_teams import TeamsChannel, TeamsSettingsError, load_settings

CARD = "application/vnd.microsoft.card.adaptive"
ACTIONS = {
    "acknowledge": "https://oncall.example.com/a/ack-7f3e9c",
    "resolve": "https://oncall.example.com/a/res-0b41d2",
    "escalate": "https://oncall.example.com/a/esc-55aa01",
}


def teams_message(summary: str = "Disk full on db-1 — 98 %") -> dict:
    """A message as the teams renderer makes it from the default template."""
    return {
        "type": "message",
        "attachments": [{
            "contentType": CARD,
            "contentUrl": None,
            "content": {
                "type": "AdaptiveCard",
                "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                "version": "1.4",
                "body": [
                    {"type": "TextBlock", "size": "Large", "weight": "Bolder", "wrap": True, "color": "Attention",
                     "text": f"FIRING: {summary}"},
                    {"type": "FactSet", "facts": [{"title": "Severity", "value": "critical"},
                                                  {"title": "Source", "value": "prometheus-prod"}]},
                ],
            },
        }],
    }


def message(destination: str, payload: object = None, actions: dict[str, str] | None = None) -> ChannelMessage:
    return ChannelMessage(
        delivery_id="dlv-0001",
        idempotency_key="alert-42:step-1:teams",
        destination=destination,
        payload=teams_message() if payload is None else payload,
        alert_id=42,
        channel="teams",
        actions=ACTIONS if actions is None else actions,
        alert={"id": 42, "status": "firing", "summary": "Disk full on db-1 — 98 %", "severity": "critical"},
    )


def card_of(body: dict) -> dict:
    [attachment] = body["attachments"]
    assert attachment["contentType"] == CARD
    return attachment["content"]


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Certificate:
    cert = make_certificate(tmp_path_factory.mktemp("teams-tls"))
    if cert is None:
        pytest.skip("openssl is needed to make a certificate")
    return cert


@pytest.fixture
async def workflows(certificate: Certificate) -> AsyncIterator[WorkflowsServer]:
    async with running_workflows(certificate) as server:
        yield server


@pytest.fixture
async def make_channel(certificate: Certificate) -> AsyncIterator[Callable[..., TeamsChannel]]:
    """Channels built from settings as the plugin reads them, trusting the local server's certificate."""
    channels: list[TeamsChannel] = []

    def make(webhooks: str = "", allow_urls: bool = False, timeout_s: float = 5.0) -> TeamsChannel:
        settings, unknown = load_settings({
            "ONCALL_TEAMS_WEBHOOKS": webhooks,
            "ONCALL_TEAMS_ALLOW_URL_DESTINATIONS": "true" if allow_urls else "",
            "ONCALL_TEAMS_TIMEOUT_S": str(timeout_s),
        })
        assert settings is not None and unknown == []
        channel = TeamsChannel(settings, ssl_context=certificate.client_context())
        channels.append(channel)
        return channel

    yield make
    for channel in channels:
        await channel.aclose()


# --------------------------------------------------------------------------- what Teams receives


async def test_the_card_arrives_with_the_alert_and_one_click_buttons(workflows, make_channel):
    result = await make_channel(f"ops={workflows.webhook_url()}").send(message("ops"))

    assert result.ok and result.delivered and not result.permanent
    assert result.response == "ops: HTTP 202 Accepted"
    assert result.provider_id and result.provider_id.startswith("08584")  # the flow run's id
    [got] = workflows.received
    assert got.headers["Content-Type"] == "application/json"
    assert got.body["type"] == "message"
    card = card_of(got.body)
    assert card["body"][0]["text"] == "FIRING: Disk full on db-1 — 98 %"
    assert card["body"][1]["facts"][0] == {"title": "Severity", "value": "critical"}
    assert card["body"][-1] == {
        "type": "ActionSet",
        "actions": [
            {"type": "Action.OpenUrl", "title": "Acknowledge", "url": ACTIONS["acknowledge"]},
            {"type": "Action.OpenUrl", "title": "Resolve", "url": ACTIONS["resolve"]},
            {"type": "Action.OpenUrl", "title": "Escalate", "url": ACTIONS["escalate"]},
        ],
    }


async def test_each_name_posts_to_its_own_workflow(workflows, make_channel):
    ops, dba = workflows.webhook_url(), workflows.webhook_url()
    channel = make_channel(f"ops={ops}, dba={dba}")
    assert (await channel.send(message("dba"))).ok
    assert (await channel.send(message("ops"))).ok
    assert [r.workflow for r in workflows.received] == [dba.split("/")[4], ops.split("/")[4]]


async def test_the_callers_payload_is_left_alone_so_a_retry_posts_the_same_card(workflows, make_channel):
    channel = make_channel(f"ops={workflows.webhook_url()}")
    payload = teams_message()
    before = copy.deepcopy(payload)
    for _ in range(2):
        assert (await channel.send(message("ops", payload))).ok

    assert payload == before
    first, second = (r.body for r in workflows.received)
    assert first == second
    assert [e["type"] for e in card_of(second)["body"]] == ["TextBlock", "FactSet", "ActionSet"]


@pytest.mark.parametrize(
    ("offered", "titles"),
    [({"acknowledge": ACTIONS["acknowledge"], "resolve": ACTIONS["resolve"]}, ["Acknowledge", "Resolve"]),
     ({"resolve": ACTIONS["resolve"]}, ["Resolve"])],
)
async def test_only_the_offered_actions_become_buttons(workflows, make_channel, offered, titles):
    await make_channel(f"ops={workflows.webhook_url()}").send(message("ops", actions=offered))
    [got] = workflows.received
    assert [a["title"] for a in card_of(got.body)["body"][-1]["actions"]] == titles


async def test_without_action_links_the_card_goes_out_as_rendered(workflows, make_channel):
    await make_channel(f"ops={workflows.webhook_url()}").send(message("ops", actions={}))
    [got] = workflows.received
    assert got.body == teams_message()


async def test_a_bare_adaptive_card_is_posted_as_a_teams_message(workflows, make_channel):
    card = teams_message()["attachments"][0]["content"]
    result = await make_channel(f"ops={workflows.webhook_url()}").send(message("ops", card))
    assert result.ok
    [got] = workflows.received
    assert got.body["attachments"][0]["contentUrl"] is None
    assert card_of(got.body)["body"][:2] == card["body"]


@pytest.mark.parametrize("payload", [{"text": "not a card"}, {"type": "message", "attachments": []}, "FIRING"])
async def test_a_payload_that_is_not_a_teams_card_fails_permanently_unsent(workflows, make_channel, payload):
    result = await make_channel(f"ops={workflows.webhook_url()}").send(message("ops", payload))
    assert not result.ok and result.permanent
    assert "Teams message" in result.response
    assert workflows.received == []


async def test_test_send_posts_a_labelled_card_without_buttons(workflows, make_channel):
    result = await make_channel(f"ops={workflows.webhook_url()}").test_send("ops")
    assert result.ok and result.delivered
    [got] = workflows.received
    texts = [e["text"] for e in card_of(got.body)["body"]]
    assert texts[0] == "OnCall test message"
    assert "Teams webhook 'ops'" in texts[1]
    assert all(e["type"] == "TextBlock" for e in card_of(got.body)["body"])


# --------------------------------------------------------------------------- results


async def test_200_is_delivered_as_well_as_202(workflows, make_channel):
    workflows.answer_next(200)
    result = await make_channel(f"ops={workflows.webhook_url()}").send(message("ops"))
    assert result.ok and result.delivered
    assert result.response == "ops: HTTP 200 OK"


async def test_429_is_retryable_no_sooner_than_retry_after(workflows, make_channel):
    workflows.answer_next(429, '{"error":{"code":"WorkflowRequestsThrottled","message":"slow down"}}',
                          {"Retry-After": "12"})
    result = await make_channel(f"ops={workflows.webhook_url()}").send(message("ops"))
    assert not result.ok and not result.permanent
    assert result.retry_after == 12.0
    assert "ops: HTTP 429 Too Many Requests" in result.response and "WorkflowRequestsThrottled" in result.response


async def test_a_server_error_is_retryable(workflows, make_channel):
    workflows.answer_next(500, "internal error")
    result = await make_channel(f"ops={workflows.webhook_url()}").send(message("ops"))
    assert not result.ok and not result.permanent and result.retry_after is None
    assert result.response == "ops: HTTP 500 Internal Server Error: internal error"


async def test_a_rejected_card_is_permanent_with_the_start_of_the_answer_and_no_url(workflows, make_channel):
    url = workflows.webhook_url()
    workflows.answer_next(
        400, '{"error":{"code":"InvalidTemplate","message":"Unable to process the request to {url}: ' + "x" * 500 + '"}}'
    )
    result = await make_channel(f"ops={url}").send(message("ops"))

    assert not result.ok and result.permanent
    assert result.response.startswith('ops: HTTP 400 Bad Request: {"error":{"code":"InvalidTemplate"')
    assert "[redacted]" in result.response
    assert len(result.response) == len("ops: HTTP 400 Bad Request: ") + 300
    assert workflows.signature(url) not in result.response and "/workflows/" not in result.response


async def test_a_wrong_signature_is_permanent(workflows, make_channel):
    url = workflows.webhook_url()
    forged = url[: -len(workflows.signature(url))] + "A" * 43
    result = await make_channel(f"ops={forged}").send(message("ops"))
    assert not result.ok and result.permanent
    assert "HTTP 401" in result.response and "DirectApiInvalidAuthorizationSignature" in result.response
    assert workflows.received == []


async def test_a_workflow_that_does_not_answer_in_time_is_retryable(workflows, make_channel):
    workflows.hang_next()
    result = await make_channel(f"ops={workflows.webhook_url()}", timeout_s=0.3).send(message("ops"))
    assert not result.ok and not result.permanent
    assert result.response == "ops: no response within 0.3 s (timed out)"


# --------------------------------------------------------------------------- destinations


async def test_an_unknown_destination_name_is_permanent_and_names_the_configured_ones(workflows, make_channel):
    channel = make_channel(f"ops={workflows.webhook_url()},dba={workflows.webhook_url()}")
    result = await channel.send(message("platform"))
    assert not result.ok and result.permanent
    assert result.response == (
        "no Teams webhook is named 'platform' in ONCALL_TEAMS_WEBHOOKS (configured: dba, ops)"
    )
    assert workflows.received == []


async def test_url_destinations_are_refused_unless_allowed_and_the_url_is_not_repeated(workflows, make_channel):
    url = workflows.webhook_url()
    result = await make_channel(f"ops={workflows.webhook_url()}").send(message(url))
    assert not result.ok and result.permanent
    assert "URL destinations are disabled" in result.response and "ONCALL_TEAMS_ALLOW_URL_DESTINATIONS" in result.response
    assert workflows.signature(url) not in result.response
    assert workflows.received == []


async def test_an_allowed_url_destination_is_posted_and_named_by_its_host(workflows, make_channel):
    channel = make_channel(allow_urls=True)
    result = await channel.send(message(workflows.webhook_url()))
    assert result.ok and result.delivered
    assert result.response == "127.0.0.1: HTTP 202 Accepted"
    assert len(workflows.received) == 1


async def test_plain_http_is_accepted_to_a_loopback_endpoint_only(make_channel):
    from oncall_testkit.receiver import receiver

    async with receiver() as local:
        channel = make_channel(f"local={local.url}/workflows/x?sig=abc")
        result = await channel.send(message("local"))
    assert result.ok and result.delivered
    [got] = local.requests
    assert got.path == "/workflows/x" and b"AdaptiveCard" in got.body
    with pytest.raises(TeamsSettingsError, match="ONCALL_TEAMS_WEBHOOKS"):
        load_settings({"ONCALL_TEAMS_WEBHOOKS": "ops=http://teams.example/x?sig=abc"})


@pytest.mark.parametrize("destination", ["http://10.0.0.9:9/workflows/x?sig=abc", "http://teams.example/x?sig=abc",
                                         "ftp://127.0.0.1/x", "https://"])
async def test_a_url_destination_must_be_https(workflows, make_channel, destination):
    result = await make_channel(allow_urls=True).send(message(destination))
    assert not result.ok and result.permanent
    assert result.response == "the destination is not an https URL with a host"


# --------------------------------------------------------------------------- secrets


async def test_webhook_urls_stay_out_of_repr_logs_and_results(workflows, make_channel, caplog, free_port_url):
    url = workflows.webhook_url()
    channel = make_channel(f"ops={url},down={free_port_url}")
    caplog.set_level(logging.DEBUG)
    workflows.answer_next(400, "bad request for {url}")
    results = [
        await channel.send(message("ops")),  # an answer that quotes the URL
        await channel.send(message("ops")),
        await channel.send(message("down")),  # nothing listens there
        await channel.send(message("nobody")),
        await channel.test_send("ops"),
    ]

    assert [r.ok for r in results] == [False, True, False, False, True]
    assert "down: connection failed" in results[2].response
    shown = "\n".join([repr(channel), caplog.text, *(r.response for r in results)])
    assert repr(channel) == "TeamsChannel(TeamsSettings(webhooks=['down', 'ops'], allow_url_destinations=False, timeout_s=5))"
    for secret in (workflows.signature(url), url.split("?")[1], url, free_port_url.split("?")[1]):
        assert secret not in shown


@pytest.fixture
def free_port_url() -> str:
    """An https webhook URL on a loopback port where nothing listens (the connection is refused)."""
    from fixtures.processes import free_port

    return f"https://127.0.0.1:{free_port()}/workflows/0f0f/triggers/manual/paths/invoke?sv=1.0&sig=Zq9" + "y" * 40


# --------------------------------------------------------------------------- settings and discovery


def _loaded(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]):
    for name in ("ONCALL_TEAMS_WEBHOOKS", "ONCALL_TEAMS_ALLOW_URL_DESTINATIONS", "ONCALL_TEAMS_TIMEOUT_S"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    _, registry = load_plugins()
    [info] = [p for p in registry.plugins if p.name == "teams"]
    return registry, info


SIG = "k3Y-s1gnature-" + "Q" * 30
OPS_URL = ("https://prod-12.westus.logic.azure.com:443/workflows/6f1c7e2a9b3d4e5f8a7b6c5d4e3f2a1b/triggers/manual"
           f"/paths/invoke?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig={SIG}")


def test_the_plugin_registers_the_teams_channel_with_named_webhooks(monkeypatch, caplog):
    caplog.set_level(logging.DEBUG)
    registry, info = _loaded(monkeypatch, {"ONCALL_TEAMS_WEBHOOKS": f"ops={OPS_URL}", "ONCALL_TEAMS_TIMEOUT_S": "4"})

    channel = registry.channels["teams"]
    assert isinstance(channel, TeamsChannel)
    assert info.status == "ok" and info.distribution == "oncall-teams"
    assert channel.rate_limits == {"destination": (4, 1.0)}
    assert channel.bind(object()) is None  # nothing to bind: the buttons are the core's links
    assert repr(channel) == "TeamsChannel(TeamsSettings(webhooks=['ops'], allow_url_destinations=False, timeout_s=4))"
    assert SIG not in caplog.text


def test_url_destinations_alone_are_enough_to_register(monkeypatch):
    registry, _ = _loaded(monkeypatch, {"ONCALL_TEAMS_ALLOW_URL_DESTINATIONS": "yes"})
    assert isinstance(registry.channels["teams"], TeamsChannel)


def test_without_settings_the_plugin_registers_nothing_and_says_why(monkeypatch, caplog):
    with caplog.at_level(logging.DEBUG):
        registry, info = _loaded(monkeypatch, {})
    assert "teams" not in registry.channels
    assert info.status == "ok" and info.provides == {}
    assert any("teams channel not registered: ONCALL_TEAMS_WEBHOOKS is not set" in r.getMessage()
               for r in caplog.records)


@pytest.mark.parametrize(
    ("variable", "value", "error"),
    [
        ("ONCALL_TEAMS_WEBHOOKS", OPS_URL, "ONCALL_TEAMS_WEBHOOKS: entry 1 is not name=URL"),
        ("ONCALL_TEAMS_WEBHOOKS", f"ops={OPS_URL},dba", "ONCALL_TEAMS_WEBHOOKS: entry 2 is not name=URL"),
        ("ONCALL_TEAMS_WEBHOOKS", f"ops={OPS_URL.replace('https', 'http', 1)}",
         "ONCALL_TEAMS_WEBHOOKS: the URL for 'ops' must be an https URL"),
        ("ONCALL_TEAMS_WEBHOOKS", "ops=", "ONCALL_TEAMS_WEBHOOKS: the URL for 'ops' must be an https URL"),
        ("ONCALL_TEAMS_WEBHOOKS", f"ops={OPS_URL}, ops={OPS_URL}", "ONCALL_TEAMS_WEBHOOKS: the name 'ops' is given twice"),
        ("ONCALL_TEAMS_WEBHOOKS", f"on call={OPS_URL}", "ONCALL_TEAMS_WEBHOOKS: entry 1 is not name=URL"),
        ("ONCALL_TEAMS_ALLOW_URL_DESTINATIONS", "maybe",
         "ONCALL_TEAMS_ALLOW_URL_DESTINATIONS must be true or false, got 'maybe'"),
        ("ONCALL_TEAMS_TIMEOUT_S", "soon", "ONCALL_TEAMS_TIMEOUT_S must be a number of seconds, got 'soon'"),
        ("ONCALL_TEAMS_TIMEOUT_S", "-1", "ONCALL_TEAMS_TIMEOUT_S must be a positive number of seconds, got '-1'"),
    ],
)
def test_a_malformed_setting_fails_the_plugin_naming_the_variable_not_the_url(
    monkeypatch, caplog, variable, value, error
):
    env = {"ONCALL_TEAMS_WEBHOOKS": f"ops={OPS_URL}", variable: value}
    registry, info = _loaded(monkeypatch, env)

    assert "teams" not in registry.channels
    assert info.status == "failed"
    assert error in info.error
    assert SIG not in info.error and SIG not in caplog.text


def test_settings_read_names_and_urls_exactly_as_written():
    settings, _ = load_settings({"ONCALL_TEAMS_WEBHOOKS": f" ops = {OPS_URL} ,dba.eu-1={OPS_URL.replace(SIG, 'x' * 43)},"})
    assert settings is not None
    assert sorted(settings.webhooks) == ["dba.eu-1", "ops"]
    # the signed query goes out byte for byte (%2F stays encoded)
    assert settings.webhooks["ops"].raw_query_string == OPS_URL.split("?")[1]
    assert SIG not in repr(settings)

