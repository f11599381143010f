"""The Slack channel through the real slack-sdk against a local Slack Web API: posting, failures,
signed button clicks acting on alerts, and messages edited as their incident changes."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from fixtures.processes import free_port
from oncall_testkit.slack_api import FakeSlack, Failure, block_actions, interaction_request
from oncall.plugins import load_plugins
from oncall_hookspecs import ActionResult, ChannelHost, ChannelMessage, DeliveryResult, InboundRequest, MessageEdit
from oncall_slack import SlackChannel, SlackSettings

TOKEN = "xoxb-test-1111-2222-secret-bot-token"
SECRET = "8f14e45fceea167a5a36dedd4bea2543"

BLOCKS = [
    {"type": "header", "text": {"type": "plain_text", "text": "CRITICAL: High error rate on payments-api"}},
    {"type": "section", "text": {"type": "mrkdwn", "text": "Error rate over the last 5 minutes is 5.2%."}},
]
PAYLOAD = {"text": "[critical] High error rate on payments-api", "blocks": BLOCKS}


@dataclass
class FakeHost:
    """The core's side of two-way actions: alerts with a status, and a directory of Slack users."""

    public_url: str = "https://oncall.example.com"
    statuses: dict[int, str] = field(default_factory=lambda: {42: "triggered"})
    directory: dict[str, str] = field(default_factory=lambda: {"U0ALICE": "user-alice"})
    sent: dict[int, list[tuple[str, str]]] = field(default_factory=dict)
    acts: list[tuple[int, str, str | None, str]] = field(default_factory=list)
    #: provider id → the rendered payload delivered with it, as the core stores it (see ``deliver``)
    payloads: dict[str, Any] = field(default_factory=dict)
    payload_lookups: list[tuple[str, str]] = field(default_factory=list)
    #: first_seen keys, as the core's table would hold them (every replica sharing it)
    seen: set[str] = field(default_factory=set)

    async def act(self, alert_id: int, action: str, *, user_id: str | None, actor: str) -> ActionResult:
        self.acts.append((alert_id, action, user_id, actor))
        status = self.statuses.get(alert_id)
        if status is None:
            return ActionResult(False, alert_id, action, "", f"alert #{alert_id} does not exist")
        if status == "resolved":
            return ActionResult(False, alert_id, action, status, f"alert #{alert_id} is already resolved")
        after = {"acknowledge": "acknowledged", "resolve": "resolved", "escalate": status}[action]
        self.statuses[alert_id] = after
        return ActionResult(True, alert_id, action, after, f"{action}d", summary="High error rate on payments-api")

    async def find_user(self, kind: str, address: str) -> str | None:
        return self.directory.get(address) if kind == "slack" else None

    async def alert_for_reply(self, channel: str, destination: str, code: str | None) -> int | None:
        return None

    async def set_opt_out(self, channel: str, destination: str, opted_out: bool) -> None:
        return None

    async def update_delivery(self, channel: str, provider_id: str, status: str, detail: str = "") -> bool:
        return False

    async def sent_messages(self, alert_id: int, channel: str) -> list[tuple[str, str]]:
        return list(self.sent.get(alert_id, [])) if channel == "slack" else []

    async def sent_payload(self, channel: str, provider_id: str) -> Any:
        self.payload_lookups.append((channel, provider_id))
        return self.payloads.get(provider_id) if channel == "slack" else None

    async def first_seen(self, key: str, ttl_s: float) -> bool:
        first = key not in self.seen
        self.seen.add(key)
        return first


async def deliver(channel: SlackChannel, host: FakeHost, sent: ChannelMessage) -> DeliveryResult:
    """Send as the core does: the rendered payload is kept with the delivery's provider id."""
    result = await channel.send(sent)
    if result.ok and result.provider_id:
        host.payloads[result.provider_id] = sent.payload
    return result


@pytest.fixture
async def slack(monkeypatch) -> AsyncIterator[FakeSlack]:
    for proxy in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"):
        monkeypatch.delenv(proxy, raising=False)  # the SDK would send loopback traffic through a proxy
    fake = FakeSlack(token=TOKEN)
    fake.add_channel("#ops", "C0OPS")
    await fake.start()
    yield fake
    await fake.close()


@pytest.fixture
async def make_channel(slack) -> AsyncIterator[Callable[..., SlackChannel]]:
    channels: list[SlackChannel] = []

    def make(token: str = TOKEN, api_url: str | None = None, timeout_s: float = 10.0,
             host: ChannelHost | None = None) -> SlackChannel:
        channel = SlackChannel(SlackSettings(bot_token=token, signing_secret=SECRET,
                                             api_url=api_url or slack.url, timeout_s=timeout_s))
        if host is not None:
            channel.bind(host)
        channels.append(channel)
        return channel

    yield make
    for channel in channels:
        await channel.aclose()


def message(destination: str = "#ops", *, alert_id: int | None = 42, status: str = "triggered",
            payload: Any = None) -> ChannelMessage:
    return ChannelMessage(
        delivery_id="dlv-1", idempotency_key="alert-42:step-1:user-alice", destination=destination,
        payload=PAYLOAD if payload is None else payload, alert_id=alert_id, channel="slack",
        alert={"id": alert_id, "status": status, "summary": "High error rate on payments-api"} if alert_id else {},
    )


def buttons(blocks: list[dict[str, Any]] | None) -> list[tuple[str, str, str]]:
    """(label, action_id, value) of every button in the message's blocks."""
    return [(e["text"]["text"], e["action_id"], e["value"]) for b in blocks or [] if b["type"] == "actions"
            for e in b["elements"]]


def context_lines(blocks: list[dict[str, Any]] | None) -> list[str]:
    return [e["text"] for b in blocks or [] if b["type"] == "context" for e in b["elements"]]


def ours(blocks: list[dict[str, Any]] | None) -> list[str]:
    """The block ids of OnCall's own blocks, in order (status line, then buttons)."""
    return [b["block_id"] for b in blocks or [] if b.get("block_id", "").startswith("oncall_")]


ALL_BUTTONS = [("Acknowledge", "oncall_acknowledge", "42"), ("Resolve", "oncall_resolve", "42"),
               ("Escalate", "oncall_escalate", "42")]


# --------------------------------------------------------------------------- posting


async def test_an_alert_is_posted_to_a_channel_with_its_blocks_and_three_buttons(slack, make_channel):
    result = await make_channel().send(message("#ops"))

    assert result.ok and result.delivered and not result.permanent
    posted = slack.only_message()
    assert result.provider_id == f"C0OPS:{posted.ts}"
    assert posted.text == PAYLOAD["text"]
    assert posted.blocks[:2] == BLOCKS  # the rendered blocks, then the buttons in a block of their own
    assert [(b["type"], b.get("block_id")) for b in posted.blocks[2:]] == [("actions", "oncall_actions")]
    assert buttons(posted.blocks) == ALL_BUTTONS
    assert context_lines(posted.blocks) == []  # a new alert needs no status line
    assert posted.attachments is None
    assert f"C0OPS at {posted.ts}" in result.response
    [call] = slack.calls_to("chat.postMessage")
    assert call.content_type == "application/json" and call.args["channel"] == "#ops"


async def test_a_user_id_destination_is_a_direct_message_updated_through_its_dm_id(slack, make_channel):
    result = await make_channel().send(message("U0ALICE"))

    assert result.ok
    posted = slack.only_message()
    assert posted.channel == "D0ALICE"
    assert result.provider_id == f"D0ALICE:{posted.ts}"


async def test_no_buttons_for_a_resolved_alert_or_a_message_about_no_alert(slack, make_channel):
    channel = make_channel()
    await channel.send(message(status="resolved"))
    await channel.send(message(alert_id=None))

    assert [m.blocks for m in slack.messages.values()] == [BLOCKS, BLOCKS]
    assert [m.attachments for m in slack.messages.values()] == [None, None]


async def test_an_acknowledged_alert_offers_only_resolve(slack, make_channel):
    await make_channel().send(message(status="acknowledged"))

    posted = slack.only_message()
    assert posted.blocks[:2] == BLOCKS
    assert ours(posted.blocks) == ["oncall_status", "oncall_actions"]  # the status line comes first
    assert buttons(posted.blocks) == [("Resolve", "oncall_resolve", "42")]
    assert context_lines(posted.blocks) == [":eyes: Acknowledged"]


async def test_a_templates_own_attachments_are_passed_on_and_oncall_adds_none(slack, make_channel):
    own = [{"color": "#439FE0", "text": "runbook: restart the pods"}]
    await make_channel().send(message(payload={**PAYLOAD, "attachments": own}))

    posted = slack.only_message()
    assert posted.attachments == own
    assert buttons(posted.blocks) == ALL_BUTTONS


async def test_too_many_rendered_blocks_lose_their_tail_but_keep_status_and_buttons(slack, make_channel):
    many = [{"type": "section", "text": {"type": "mrkdwn", "text": f"line {n}"}} for n in range(60)]
    result = await make_channel().send(message(status="acknowledged", payload={"text": "t", "blocks": many}))

    assert result.ok, result.response  # Slack refuses more than 50 blocks
    posted = slack.only_message()
    assert len(posted.blocks) == 50
    assert posted.blocks[:48] == many[:48]
    assert ours(posted.blocks) == ["oncall_status", "oncall_actions"]


async def test_the_test_message_is_labelled_and_has_no_buttons(slack, make_channel):
    result = await make_channel().test_send("#ops")

    assert result.ok
    posted = slack.only_message()
    assert "OnCall test message" in posted.text
    assert buttons(posted.blocks) == [] and ours(posted.blocks) == []
    assert posted.attachments is None


async def test_a_payload_that_is_not_a_slack_message_fails_permanently_without_calling_slack(slack, make_channel):
    channel = make_channel()
    for payload in (["not", "an", "object"], {"username": "x"}):
        result = await channel.send(message(payload=payload))
        assert not result.ok and result.permanent
    assert slack.calls == []


# --------------------------------------------------------------------------- failures


async def test_429_is_retried_no_sooner_than_retry_after(slack, make_channel):
    slack.fail_next("chat.postMessage", Failure(status=429, retry_after="30"))
    result = await make_channel().send(message())

    assert not result.ok and not result.permanent
    assert result.retry_after == 30.0
    assert result.response == "HTTP 429: Slack error ratelimited"


@pytest.mark.parametrize("failure", [
    Failure(status=500, body="upstream connect error"),
    Failure(status=503, error="service_unavailable"),
    Failure(status=200, error="ratelimited", retry_after="5"),
    Failure(status=200, error="internal_error"),
])
async def test_server_errors_and_passing_slack_errors_are_retryable(slack, make_channel, failure):
    slack.fail_next("chat.postMessage", failure)
    result = await make_channel().send(message())

    assert not result.ok and not result.permanent
    assert f"HTTP {failure.status}" in result.response
    assert (failure.error or failure.body) in result.response
    assert result.retry_after == (float(failure.retry_after) if failure.retry_after else None)


@pytest.mark.parametrize("error", ["channel_not_found", "not_in_channel", "is_archived", "account_inactive",
                                   "token_revoked", "invalid_blocks", "msg_too_long"])
async def test_slack_errors_that_will_not_pass_are_permanent(slack, make_channel, error):
    slack.fail_next("chat.postMessage", Failure(error=error))
    result = await make_channel().send(message())

    assert not result.ok and result.permanent
    assert result.response == f"HTTP 200: Slack error {error}"


async def test_an_unknown_channel_is_a_permanent_failure(slack, make_channel):
    result = await make_channel().send(message("#nowhere"))
    assert not result.ok and result.permanent
    assert "channel_not_found" in result.response


async def test_a_wrong_token_is_a_permanent_invalid_auth_that_never_shows_the_token(slack, make_channel):
    wrong = "xoxb-wrong-3333-token"
    result = await make_channel(token=wrong).send(message())

    assert not result.ok and result.permanent
    assert "invalid_auth" in result.response
    assert wrong not in result.response and TOKEN not in result.response
    assert slack.messages == {}


async def test_a_slack_that_does_not_answer_in_time_is_a_retryable_timeout(slack, make_channel):
    slack.fail_next("chat.postMessage", Failure(hang=True))
    result = await make_channel(timeout_s=0.3).send(message())

    assert not result.ok and not result.permanent
    assert "timed out" in result.response and "0.3 s" in result.response


async def test_a_refused_connection_is_retryable(make_channel):
    result = await make_channel(api_url=f"http://127.0.0.1:{free_port()}/api/").send(message())

    assert not result.ok and not result.permanent
    assert "connection failed" in result.response


# --------------------------------------------------------------------------- button clicks


async def click(channel: SlackChannel, slack: FakeSlack, action: str, *, user: str = "U0ALICE",
                alert: str = "42", shown: bool = True) -> Any:
    """Press a button on the first message; Slack sends the message's blocks along unless not ``shown``."""
    posted = next(iter(slack.messages.values()))
    payload = block_actions(user=user, channel=posted.channel, message_ts=posted.ts,
                            action_id=f"oncall_{action}", value=alert, blocks=posted.blocks if shown else None)
    answer = await channel.handle_interactivity(interaction_request(SECRET, payload))
    await channel.drain()
    return answer


async def test_acknowledge_acts_as_the_directory_user_and_leaves_the_message_to_the_core(slack, make_channel):
    host = FakeHost()
    channel = make_channel(host=host)
    await deliver(channel, host, message())

    answer = await click(channel, slack, "acknowledge")

    assert answer.status == 200 and answer.body is None
    assert host.acts == [(42, "acknowledge", "user-alice", "slack:U0ALICE")]
    # the core edits every message about the incident (``edit``); the click itself rewrites nothing
    assert slack.calls_to("chat.update") == [] and slack.ephemerals == []


async def test_a_replayed_genuine_click_is_refused_and_acts_once(slack, make_channel):
    host = FakeHost()
    channel = make_channel(host=host)
    await deliver(channel, host, message())
    posted = slack.only_message()
    request = interaction_request(SECRET, block_actions(
        user="U0ALICE", channel=posted.channel, message_ts=posted.ts, action_id="oncall_acknowledge", value="42"))

    first = await channel.handle_interactivity(request)
    again = await channel.handle_interactivity(request)
    await channel.drain()

    assert first.status == 200
    assert again.status == 401 and "replayed" in again.body["detail"]
    assert host.acts == [(42, "acknowledge", "user-alice", "slack:U0ALICE")]


@pytest.mark.parametrize("action", ["resolve", "escalate"])
async def test_resolve_and_escalate_from_a_dm_act_as_the_clicker(slack, make_channel, action):
    host = FakeHost()
    channel = make_channel(host=host)
    await deliver(channel, host, message("U0ALICE"))

    await click(channel, slack, action)

    assert host.acts == [(42, action, "user-alice", "slack:U0ALICE")]
    assert slack.only_message().channel == "D0ALICE" and slack.ephemerals == []


async def test_a_slack_user_unknown_to_the_directory_still_acts_as_slack_user(slack, make_channel):
    host = FakeHost()
    channel = make_channel(host=host)
    await deliver(channel, host, message())

    await click(channel, slack, "acknowledge", user="U0STRANGER")

    assert host.acts == [(42, "acknowledge", None, "slack:U0STRANGER")]


async def test_a_refused_action_leaves_the_message_and_tells_only_the_clicker(slack, make_channel):
    host = FakeHost(statuses={42: "resolved"})
    channel = make_channel(host=host)
    await deliver(channel, host, message())

    answer = await click(channel, slack, "acknowledge")

    assert answer.status == 200
    posted = slack.only_message()
    assert posted.edits == 0 and buttons(posted.blocks) == ALL_BUTTONS and posted.blocks[:2] == BLOCKS
    assert slack.ephemerals == [{"channel": "C0OPS", "user": "U0ALICE",
                                 "text": "Could not acknowledge alert #42: alert #42 is already resolved"}]


FORGERIES = ("wrong-secret", "stale-timestamp", "future-timestamp", "no-headers", "no-signature", "no-timestamp",
             "bad-timestamp", "tampered-body", "timestamp-of-5000-digits", "timestamp-of-400-digits",
             "timestamp-of-13-digits", "timestamp-in-other-digits", "timestamp-with-a-superscript")


def _forged(slack_payload: dict[str, Any], kind: str) -> InboundRequest:
    """Built when the test runs: a timestamp made at collection would age into the window."""
    now = int(time.time())
    good = interaction_request(SECRET, slack_payload)
    ts, sig = good.headers["X-Slack-Request-Timestamp"], good.headers["X-Slack-Signature"]
    return {
        "wrong-secret": lambda: interaction_request("not-the-secret", slack_payload),
        "stale-timestamp": lambda: interaction_request(SECRET, slack_payload, timestamp=now - 6 * 60),
        "future-timestamp": lambda: interaction_request(SECRET, slack_payload, timestamp=now + 6 * 60),
        "no-headers": lambda: interaction_request(SECRET, slack_payload, headers={}),
        "no-signature": lambda: interaction_request(SECRET, slack_payload, headers={"X-Slack-Request-Timestamp": ts}),
        "no-timestamp": lambda: interaction_request(SECRET, slack_payload, headers={"X-Slack-Signature": sig}),
        "bad-timestamp": lambda: interaction_request(
            SECRET, slack_payload, headers={"X-Slack-Request-Timestamp": "yesterday", "X-Slack-Signature": sig}),
        "tampered-body": lambda: interaction_request(SECRET, slack_payload, body=good.body.replace(b"42", b"43")),
        # signed over the timestamp they carry, so only the timestamp can refuse them: int()
        # refuses over 4,300 digits, and 400 overflow the arithmetic with a float clock
        "timestamp-of-5000-digits": lambda: interaction_request(SECRET, slack_payload, timestamp="9" * 5000),
        "timestamp-of-400-digits": lambda: interaction_request(SECRET, slack_payload, timestamp="9" * 400),
        "timestamp-of-13-digits": lambda: interaction_request(SECRET, slack_payload, timestamp=f"000{now}"),
        "timestamp-in-other-digits": lambda: interaction_request(
            SECRET, slack_payload, timestamp=str(now).translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩"))),
        "timestamp-with-a-superscript": lambda: interaction_request(SECRET, slack_payload, timestamp=f"{now}²"),
    }[kind]()


@pytest.mark.parametrize("kind", FORGERIES)
async def test_a_forged_stale_or_unsigned_click_is_refused_and_changes_nothing(slack, make_channel, kind):
    host = FakeHost()
    channel = make_channel(host=host)
    await channel.send(message())

    answer = await channel.handle_interactivity(_forged(block_actions(
        user="U0ALICE", channel="C0OPS", message_ts="1700000001.000001", action_id="oncall_resolve", value="42"), kind))
    await channel.drain()

    assert answer.status == 401 and answer.body["error"] == "invalid_signature"
    assert host.acts == []
    assert slack.calls_to("chat.update") == [] and slack.ephemerals == []
    assert host.statuses == {42: "triggered"}


async def test_interactions_that_are_not_oncall_buttons_are_answered_and_ignored(slack, make_channel):
    host = FakeHost()
    channel = make_channel(host=host)
    other = block_actions(user="U0ALICE", channel="C0OPS", message_ts="1.2", action_id="someone_elses", value="42")
    for payload in ({"type": "view_submission", "user": {"id": "U0ALICE"}}, other):
        answer = await channel.handle_interactivity(interaction_request(SECRET, payload))
        assert answer.status == 200
    assert host.acts == []


@pytest.mark.parametrize("value", ["9" * 5000, "9" * 400, "99999999999999999999", "²", "-1", "0", "4_2", " ", ""])
async def test_a_button_value_that_is_no_alert_id_acts_on_nothing(slack, make_channel, value):
    host = FakeHost()
    channel = make_channel(host=host)
    answer = await channel.handle_interactivity(interaction_request(SECRET, block_actions(
        user="U0ALICE", channel="C0OPS", message_ts="1700000001.000001", action_id="oncall_resolve", value=value)))
    await channel.drain()
    assert answer.status == 200
    assert host.acts == [] and host.seen == set()  # nothing to act on, nothing remembered
    assert slack.calls == []


@pytest.mark.parametrize(
    ("payload", "error"),
    [
        ('{"type": "block_actions", "actions": ' + "[" * 100_000 + "]" * 100_000 + "}", "invalid_json"),
        ('{"type": "block_actions", "n": ' + "9" * 5000 + "}", "invalid_json"),
        (json.dumps(block_actions(user="U0AL\x00ICE", channel="C0OPS", message_ts="1.2", action_id="oncall_resolve",
                                  value="42")), "invalid_field"),
        (json.dumps(block_actions(user="U0ALICE", channel="C0OPS\ud800", message_ts="1.2", action_id="oncall_resolve",
                                  value="42")), "invalid_field"),
        (json.dumps(block_actions(user="U0ALICE", channel="C0OPS", message_ts="1.2" * 100, action_id="oncall_resolve",
                                  value="42")), "invalid_field"),
        (json.dumps({**block_actions(user="U0ALICE", channel="C0OPS", message_ts="1.2", action_id="oncall_resolve",
                                     value="42"), "user": {"id": ["U0ALICE"]}}), "invalid_field"),
    ],
    ids=["nested-100000-deep", "integer-of-5000-digits", "nul-in-user-id", "surrogate-in-channel-id", "long-ts",
         "user-id-not-a-string"],
)
async def test_a_signed_interaction_that_cannot_be_slacks_is_a_bad_request(slack, make_channel, payload, error):
    host = FakeHost()
    channel = make_channel(host=host)
    answer = await channel.handle_interactivity(interaction_request(SECRET, payload))
    await channel.drain()
    assert answer.status == 400 and answer.body["error"] == error
    assert host.acts == [] and slack.calls == []


async def test_a_signed_request_without_a_payload_is_a_bad_request(make_channel):
    host = FakeHost()
    answer = await make_channel(host=host).handle_interactivity(interaction_request(SECRET, None))
    assert answer.status == 400 and answer.body["error"] == "missing_field"
    assert host.acts == []


# --------------------------------------------------------------------------- edits as the incident changes

INCIDENT_BLOCKS = [
    {"type": "header", "text": {"type": "plain_text", "text": "Incident #12 · 3 alerts · payments-db"}},
    {"type": "section", "text": {"type": "mrkdwn", "text": "• #42 DiskFull\n• #43 ReplicationLag\n• #44 PoolExhausted"}},
]


def edit_of(provider_id: str, status: str, actor: str | None = None, *, blocks: Any = None,
            destination: str = "#ops", text: str = "Incident #12 · 3 alerts · payments-db") -> MessageEdit:
    return MessageEdit(channel="slack", destination=destination, provider_id=provider_id,
                       payload={"text": text, "blocks": INCIDENT_BLOCKS if blocks is None else blocks},
                       alert_id=42, incident_id=12, status=status, actor=actor,
                       incident={"id": 12, "status": status, "alert_count": 3})


async def test_an_edit_rewrites_the_message_with_its_new_render_our_status_and_the_buttons_left(
        slack, make_channel):
    channel = make_channel(host=FakeHost())
    sent = await channel.send(message())

    result = await channel.edit(edit_of(sent.provider_id, "acknowledged", "slack:U0ALICE"))

    assert result.ok and result.delivered
    posted = slack.only_message()
    assert posted.edits == 1
    assert posted.blocks[:2] == INCIDENT_BLOCKS  # the re-rendered message replaces the first render
    assert ours(posted.blocks) == ["oncall_status", "oncall_actions"]
    assert context_lines(posted.blocks) == [":eyes: Acknowledged by <@U0ALICE>"]
    assert buttons(posted.blocks) == [("Resolve", "oncall_resolve", "42")]
    assert posted.text == ":eyes: Acknowledged by <@U0ALICE> — Incident #12 · 3 alerts · payments-db"
    [update] = slack.calls_to("chat.update")
    assert update.args["channel"] == posted.channel and update.args["ts"] == posted.ts


async def test_a_resolved_incident_leaves_no_buttons_and_a_triggered_one_all_three(slack, make_channel):
    channel = make_channel(host=FakeHost())
    sent = await channel.send(message("U0ALICE"))

    await channel.edit(edit_of(sent.provider_id, "triggered", destination="U0ALICE"))
    posted = slack.only_message()
    assert posted.channel == "D0ALICE"
    assert buttons(posted.blocks) == ALL_BUTTONS and context_lines(posted.blocks) == []

    await channel.edit(edit_of(sent.provider_id, "resolved", "slack:U0BOB", destination="U0ALICE"))
    posted = slack.only_message()
    assert posted.edits == 2 and buttons(posted.blocks) == []
    assert context_lines(posted.blocks) == [":white_check_mark: Resolved by <@U0BOB>"]
    assert posted.blocks[:2] == INCIDENT_BLOCKS and ours(posted.blocks) == ["oncall_status"]


async def test_a_directory_user_who_clicked_in_slack_is_named_as_their_slack_self(slack, make_channel):
    host = FakeHost()
    channel = make_channel(host=host)
    sent = await deliver(channel, host, message())
    await click(channel, slack, "acknowledge")

    await channel.edit(edit_of(sent.provider_id, "resolved", "user-alice"))

    assert context_lines(slack.only_message().blocks) == [":white_check_mark: Resolved by <@U0ALICE>"]


async def test_actor_names_are_escaped_so_they_cannot_mention_or_link(slack, make_channel):
    channel = make_channel(host=FakeHost())
    sent = await channel.send(message())

    await channel.edit(edit_of(sent.provider_id, "acknowledged", "<!channel> & co"))

    assert context_lines(slack.only_message().blocks) == [":eyes: Acknowledged by &lt;!channel&gt; &amp; co"]


async def test_a_failed_edit_is_a_retryable_result_and_the_message_stays(slack, make_channel):
    channel = make_channel(host=FakeHost())
    sent = await channel.send(message())
    slack.fail_next("chat.update", Failure(status=500, body="oops"))

    result = await channel.edit(edit_of(sent.provider_id, "resolved"))

    assert not result.ok and not result.permanent
    posted = slack.only_message()
    assert posted.edits == 0 and posted.blocks[:2] == BLOCKS


@pytest.mark.parametrize("provider_id", ["", "C0OPS", ":1700000001.000001"])
async def test_an_edit_of_no_slack_message_fails_permanently_without_calling_slack(slack, make_channel, provider_id):
    channel = make_channel(host=FakeHost())

    result = await channel.edit(edit_of(provider_id, "resolved"))

    assert not result.ok and result.permanent and slack.calls == []


# --------------------------------------------------------------------------- secrets, settings, discovery


async def test_secrets_stay_out_of_repr_and_logs(slack, make_channel, caplog):
    caplog.set_level(logging.DEBUG)
    host = FakeHost()
    channel = make_channel(host=host)
    await channel.send(message())
    slack.fail_next("chat.postMessage", Failure(status=429, retry_after="1"))
    await channel.send(message())
    await click(channel, slack, "acknowledge")
    await channel.handle_interactivity(interaction_request("forged", block_actions(
        user="U0ALICE", channel="C0OPS", message_ts="1.2", action_id="oncall_resolve", value="42")))
    await make_channel(token="xoxb-wrong").send(message())

    assert any(r.name == "oncall_slack.sdk" for r in caplog.records)  # the SDK logged its requests and answers
    for secret in (TOKEN, SECRET):
        assert secret not in caplog.text
        assert secret not in repr(channel)
        assert secret not in repr(SlackSettings(bot_token=TOKEN, signing_secret=SECRET))
    assert repr(channel) == f"SlackChannel(api_url={slack.url!r}, timeout_s=10)"


def test_the_plugin_registers_the_slack_channel_with_its_interactivity_route(monkeypatch, caplog):
    monkeypatch.setenv("ONCALL_SLACK_BOT_TOKEN", TOKEN)
    monkeypatch.setenv("ONCALL_SLACK_SIGNING_SECRET", SECRET)
    monkeypatch.setenv("ONCALL_SLACK_API_URL", "http://127.0.0.1:9/api")
    monkeypatch.setenv("ONCALL_SLACK_TIMEOUT_S", "2.5")
    caplog.set_level(logging.DEBUG)
    _, registry = load_plugins()

    channel = registry.channels["slack"]
    assert isinstance(channel, SlackChannel)
    assert repr(channel) == "SlackChannel(api_url='http://127.0.0.1:9/api/', timeout_s=2.5)"
    assert [(r.method, r.path) for r in channel.routes] == [("POST", "/interactivity")]
    assert channel.bundles is False
    assert channel.rate_limits["destination"] == (5, 1.0)
    [info] = [p for p in registry.plugins if p.name == "slack"]
    assert info.status == "ok" and info.distribution == "oncall-slack"
    assert TOKEN not in caplog.text and SECRET not in caplog.text


def test_without_a_token_the_plugin_registers_nothing(monkeypatch, caplog):
    monkeypatch.delenv("ONCALL_SLACK_BOT_TOKEN", raising=False)
    with caplog.at_level(logging.DEBUG):
        _, registry = load_plugins()

    assert "slack" not in registry.channels
    [info] = [p for p in registry.plugins if p.name == "slack"]
    assert info.status == "ok" and info.provides == {}
    assert "slack channel not registered: ONCALL_SLACK_BOT_TOKEN is not set" in caplog.text


@pytest.mark.parametrize(("variable", "value", "error"), [
    ("ONCALL_SLACK_SIGNING_SECRET", "", "ONCALL_SLACK_SIGNING_SECRET is required when ONCALL_SLACK_BOT_TOKEN is set"),
    ("ONCALL_SLACK_TIMEOUT_S", "soon", "ONCALL_SLACK_TIMEOUT_S must be a number of seconds, got 'soon'"),
    ("ONCALL_SLACK_TIMEOUT_S", "-1", "ONCALL_SLACK_TIMEOUT_S must be a positive number of seconds, got '-1'"),
    ("ONCALL_SLACK_API_URL", "slack.internal/api", "ONCALL_SLACK_API_URL must be an http(s) URL"),
])
def test_a_missing_or_malformed_setting_fails_the_plugin_naming_the_variable(monkeypatch, caplog, variable, value,
                                                                             error):
    monkeypatch.setenv("ONCALL_SLACK_BOT_TOKEN", TOKEN)
    monkeypatch.setenv("ONCALL_SLACK_SIGNING_SECRET", SECRET)
    monkeypatch.setenv(variable, value)
    _, registry = load_plugins()

    assert "slack" not in registry.channels
    [info] = [p for p in registry.plugins if p.name == "slack"]
    assert info.status == "failed"
    assert error in info.error
    assert TOKEN not in info.error and SECRET not in info.error and TOKEN not in caplog.text


def test_buttons_carry_the_alert_id_in_a_form_slack_accepts():
    from oncall_slack import oncall_blocks

    blocks = oncall_blocks(7, "triggered", None)
    assert json.loads(json.dumps(blocks)) == blocks
    [actions] = blocks
    assert actions["type"] == "actions" and actions["block_id"] == "oncall_actions"
    assert [(e["action_id"], e["value"], e.get("style")) for e in actions["elements"]] == [
        ("oncall_acknowledge", "7", "primary"), ("oncall_resolve", "7", None), ("oncall_escalate", "7", "danger")]
