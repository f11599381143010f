"""Large but valid alerts are paged: every channel's default fits what the channel takes.

A 60,000-character description or 3,000 labels used to make the default webhook template
overrun its render budget and the Teams card pass 28 KB, and the page was never sent
(issue 10, item 3). Now each default cuts what it must, counted the way its channel counts
(Slack's block limits after mrkdwn escaping, Teams' 28 KB of JSON, SMS segments, push bytes,
the webhook's JSON through ``fit``), and a send whose template fails anyway falls back to the
channel's default and then to a minimal message made without Jinja, with the failure on the
alert's timeline.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from oncall_testkit.receiver import Receiver, receiver
from fixtures.webhooks import post_json
from oncall_hookspecs import Renderer, RuleActions
from oncall_renderers.push import MESSAGE_MAX_BYTES
from oncall_renderers.sms import SMS_MAX_SEGMENTS, sms_segments
from oncall_renderers.teams import MAX_BYTES as TEAMS_MAX_BYTES
from oncall_renderers.voice import VOICE_MAX
from psycopg.types.json import Jsonb

from fixtures.channels import Channel
from oncall.alerting.incident_context import sample_grouped_incident, sample_incident
from oncall.notification import SAMPLE_CONTEXT, ChannelTemplate, RenderLimits, Template, TemplateRenderer
from oncall.notification.pipeline import (
    SendJob,
    fallback_note,
    payload_bytes,
    render_for,
    render_minimal,
    render_send,
)
from oncall.plugins import load_plugins
from oncall.routing import rules

# each of these is worse than a plain character under some escaping: JSON (", \, control),
# HTML (<, &, "), Slack mrkdwn (<, &, >), UTF-8 bytes and UTF-16 units (an emoji)
NASTY = '"\\<&>\'\x01\U0001F6A8 é'
HUGE = 60_000


def big(n: int) -> str:
    return (NASTY * (n // len(NASTY) + 1))[:n]


def alert(**fields: Any) -> dict[str, Any]:
    return {**SAMPLE_CONTEXT["alert"], **fields}


def many_labels(n: int, width: int = 30) -> dict[str, str]:
    return {f"label_{i:04d}": big(width) for i in range(n)}


def _shapes() -> dict[str, dict[str, Any]]:
    everything = alert(summary=big(HUGE), details=big(HUGE), severity=big(HUGE), integration=big(HUGE),
                       dedup_key=big(HUGE), labels={**many_labels(3000), "service": big(HUGE)},
                       annotations={**many_labels(3000), "runbook_url": big(HUGE)})
    normal = [alert(id=5000 + i, summary=f"alert {i} on db-{i}") for i in range(200)]
    huge = [dict(everything, id=6000 + i) for i in range(50)]
    return {
        "huge description": {"alert": alert(details=big(HUGE))},
        "huge summary": {"alert": alert(summary=big(HUGE))},
        "3,000 labels": {"alert": alert(labels=many_labels(3000))},
        "huge annotations": {"alert": alert(annotations={**many_labels(3000), "runbook_url": big(HUGE)})},
        "huge label values": {"alert": alert(labels={**{f"k{i}": big(HUGE) for i in range(5)}, "service": big(HUGE)})},
        "huge severity, source and key": {"alert": alert(severity=big(HUGE), integration=big(HUGE),
                                                          source=big(HUGE), dedup_key=big(HUGE))},
        "all of it, with a huge policy name": {"alert": everything, "escalation": {
            "policy": big(HUGE), "step": 1, "steps": 3, "repeat": 0}},
        "a bundle of 200 alerts": {"alert": normal[0], "bundle": {"count": 200, "alerts": normal, "group": "db"}},
        "a bundle of 50 huge alerts": {"alert": huge[0], "escalation": {"policy": big(HUGE), "step": 1, "steps": 1},
                                       "bundle": {"count": 50, "alerts": huge, "group": big(HUGE)}},
        "all of it, as its own incident": {"alert": everything, "incident": sample_incident(everything)},
        "a grouped incident of 200 alerts": {
            "alert": normal[0], "incident": sample_grouped_incident(12, "db", "triggered", "db", normal)},
        "a grouped incident of 50 huge alerts": {
            "alert": huge[0], "escalation": {"policy": big(HUGE), "step": 1, "steps": 1},
            "incident": {**sample_grouped_incident(12, big(HUGE), "triggered", big(HUGE), huge),
                         "integration": big(HUGE), "severity": big(HUGE)}},
    }


SHAPES = _shapes()


@pytest.fixture(scope="module")
def renderers() -> dict[str, Renderer]:
    _, registry = load_plugins(())
    return registry.renderers


def within_the_channels_limits(channel: Channel, payload: Any) -> None:
    """What each channel's provider accepts, measured as it measures it (the renderer checks the rest)."""
    sent = payload_bytes(payload)
    if channel is Channel.TEAMS:
        assert len(sent) <= TEAMS_MAX_BYTES
    elif channel is Channel.PUSH:
        assert len(payload["message"].encode()) <= MESSAGE_MAX_BYTES
    elif channel is Channel.SMS:
        assert sms_segments(payload["text"]).segments <= SMS_MAX_SEGMENTS
    elif channel is Channel.VOICE:
        assert len(payload["text"]) <= VOICE_MAX
    elif channel is Channel.SLACK:
        assert len(payload["text"]) <= 300 and len(payload["blocks"]) <= 50
    elif channel is Channel.EMAIL:
        assert len(payload["subject"]) <= 250
    elif channel is Channel.WEBHOOK:
        assert len(sent) <= 100_000


@pytest.mark.parametrize("channel", list(Channel), ids=[c.value for c in Channel])
@pytest.mark.parametrize("shape", list(SHAPES))
def test_every_default_renders_a_large_alert_within_budget_and_the_channels_limits(
    shape: str, channel: Channel, renderers: dict[str, Renderer],
) -> None:
    context = SHAPES[shape]
    rendered = render_for(Template(), channel.value, context, renderers)
    assert rendered.errors == [], rendered.errors
    within_the_channels_limits(channel, rendered.payload)


def test_what_fits_is_sent_whole_and_what_does_not_is_cut_and_said(renderers: dict[str, Renderer]) -> None:
    whole = render_for(Template(), "webhook", SAMPLE_CONTEXT, renderers).payload
    assert whole["alert"] == SAMPLE_CONTEXT["alert"] and whole["truncated"] is False
    cut = render_for(Template(), "webhook", SHAPES["huge description"], renderers).payload
    assert cut["truncated"] is True and cut["alert"]["details"].endswith("…")
    assert cut["alert"]["summary"] == SAMPLE_CONTEXT["alert"]["summary"]  # only the big field is cut
    # small values are kept whole, however short: they were left out when shorter than a cut string
    assert (cut["alert"]["id"], cut["alert"]["duplicate_count"]) == (4217, 3)
    labels = render_for(Template(), "webhook", SHAPES["3,000 labels"], renderers).payload["alert"]["labels"]
    assert 100 < len(labels) < 3000 and all(v == big(30) for v in labels.values())  # whole labels, the first ones
    slack = render_for(Template(), "slack", SHAPES["3,000 labels"], renderers).payload
    context_text = slack["blocks"][-2]["elements"][0]["text"]
    assert context_text.startswith("label_0000=") and context_text.endswith("…") and len(context_text) <= 2900


def test_a_grouped_incident_of_huge_alerts_is_summarised_cut_to_the_channels_limits(
    renderers: dict[str, Renderer],
) -> None:
    context = SHAPES["a grouped incident of 50 huge alerts"]
    slack = render_for(Template(), "slack", context, renderers).payload
    header = slack["blocks"][0]["text"]["text"]
    assert header.startswith("TRIGGERED: Incident #12 · 50 alerts · ") and header.endswith("…")
    assert len(header) <= 150 and slack["blocks"][2]["text"]["text"].endswith("_and 45 more_")
    hook = render_for(Template(), "webhook", context, renderers).payload
    assert hook["event"] == "incident.triggered" and hook["truncated"] is True
    assert hook["incident"]["alert_count"] == 50 and hook["incident"]["title"].endswith("…")
    sms = render_for(Template(), "sms", {**context, "reply_code": "7"}, renderers).payload["text"]
    assert sms.startswith("TRIGGERED incident #12: 50 alerts (50 open) ") and sms.endswith("Reply 7a to ack, 7c to close.")


# ------------------------------------------------------------------------------ when a template fails


BROKEN = Template({Channel.WEBHOOK: ChannelTemplate({"body": "{{ alert.labels|tojson(99) }}"})})


def test_a_failing_custom_template_falls_back_to_the_channels_default(renderers: dict[str, Renderer]) -> None:
    result = render_send(SendJob(BROKEN, "webhook", SAMPLE_CONTEXT), renderers)
    assert result.used == "default" and result.rendered.errors == []
    assert result.rendered.payload["alert"]["id"] == 4217
    note = fallback_note(result, "webhook", "broken", 3)
    assert note == ("template broken v3 failed for webhook: webhook.body, line 1: tojson indents by at most 8; "
                    "the default webhook message was sent")


@pytest.mark.parametrize("channel", list(Channel), ids=[c.value for c in Channel])
def test_when_the_default_fails_too_a_minimal_message_goes_out(channel: Channel, renderers: dict[str, Renderer]) -> None:
    starved = TemplateRenderer(RenderLimits(max_steps=1))  # every template fails on this budget
    custom = Template({channel: ChannelTemplate({part: "{{ alert.summary }}" for part in _parts(channel)})})
    context = {**SHAPES["all of it, with a huge policy name"], "reply_code": "7"}
    result = render_send(SendJob(custom, channel.value, context), renderers, renderer=starved)
    assert result.used == "minimal" and [stage for stage, _ in result.failures] == ["template", "default"]
    assert result.rendered.errors == [] and result.rendered.payload is not None
    within_the_channels_limits(channel, result.rendered.payload)
    assert "4217" in payload_bytes(result.rendered.payload).decode()
    note = fallback_note(result, channel.value, "mine", 2)
    assert note is not None and note.startswith(f"template mine v2 failed for {channel.value}: ")
    assert "the default" in note and note.endswith("a minimal message was sent instead")


def _parts(channel: Channel) -> list[str]:
    from oncall.notification import channels

    return list(channels.current().parts(channel))


@pytest.mark.parametrize("shape", list(SHAPES))
def test_the_minimal_message_is_made_for_any_alert(shape: str, renderers: dict[str, Renderer]) -> None:
    for channel in Channel:
        rendered = render_minimal(channel.value, SHAPES[shape], renderers)
        assert rendered.errors == [], (channel, rendered.errors)
        within_the_channels_limits(channel, rendered.payload)
    link = render_minimal("email", {"alert": alert(annotations={"runbook_url": "https://runbooks.example/db"})},
                          renderers)
    assert "https://runbooks.example/db" in link.payload["text"]
    strange = render_minimal("sms", {"alert": {"summary": {"not": "text"}, "id": None}}, renderers)
    assert strange.errors == [] and strange.payload["text"]


# ------------------------------------------------------------------------------ end to end


@pytest.fixture
async def hook() -> AsyncIterator[Receiver]:
    async with receiver() as rec:
        yield rec


@pytest.fixture
async def server(db_url: str, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Any]:
    from conftest import run_server, server_settings

    monkeypatch.setenv("ONCALL_WEBHOOK_ALLOWED_HOSTS", "127.0.0.1")
    async with run_server(server_settings(db_url)) as running:
        yield running


def alertmanager(name: str, description: str, labels: dict[str, str]) -> dict[str, Any]:
    return {"version": "4", "status": "firing", "receiver": "oncall", "groupKey": name, "alerts": [{
        "status": "firing", "fingerprint": name, "startsAt": "2026-03-14T09:26:53Z",
        "labels": {"alertname": name, **labels},
        "annotations": {"summary": f"{name} is failing", "description": description},
    }]}


async def alert_id_of(server: Any, name: str) -> int:
    async with server.ctx.pool.connection() as conn:
        cur = await conn.execute("SELECT id FROM alerting.alerts WHERE dedup_key = %s", (name,))
        return int((await cur.fetchone())["id"])


@pytest.mark.slow
async def test_a_huge_alertmanager_alert_reaches_the_receiver(server: Any, hook: Receiver) -> None:
    await rules.set_default(server.ctx.pool, RuleActions(channel_destinations=[f"webhook:{hook.url}/in"]))
    _, key = await server.integration("alertmanager")
    status, _ = await post_json(server, "/api/v1/webhooks/alertmanager",
                                alertmanager("HugeAlert", "x" * HUGE, {f"l{i:04d}": f"v{i}" for i in range(3000)}),
                                key=key)
    assert status == 200
    await hook.wait_for(1)
    sent = json.loads(hook.requests[0].body)
    assert sent["event"] == "alert.triggered" and sent["truncated"] is True
    assert sent["alert"]["summary"] == "HugeAlert is failing" and sent["alert"]["details"].startswith("xxx")
    assert sent["alert"]["labels"]["alertname"] == "HugeAlert"


@pytest.mark.slow
async def test_a_failing_template_still_pages_and_says_so_on_the_timeline(server: Any, hook: Receiver) -> None:
    pool = server.ctx.pool
    async with pool.connection() as conn:  # saved before the budget refused such templates
        await conn.execute("INSERT INTO notification.templates (id, name, current_version) VALUES ('wide', 'W', 1)")
        await conn.execute(
            "INSERT INTO notification.template_versions (template_id, version, channels) VALUES ('wide', 1, %s)",
            (Jsonb({"webhook": {"body": "{{ (['a' * 99999] * 99999)|sort|length }}"}}),))
    await rules.set_default(pool, RuleActions(template_id="wide", channel_destinations=[f"webhook:{hook.url}/in"]))
    _, key = await server.integration("alertmanager")
    status, _ = await post_json(server, "/api/v1/webhooks/alertmanager", alertmanager("Wide", "d", {}), key=key)
    assert status == 200
    await hook.wait_for(1)
    assert json.loads(hook.requests[0].body)["alert"]["summary"] == "Wide is failing"  # the default's payload
    alert_id = await alert_id_of(server, "Wide")
    for _ in range(100):
        async with pool.connection() as conn:
            cur = await conn.execute(
                "SELECT note, data FROM alerting.alert_events WHERE alert_id = %s AND kind = 'notification'"
                " ORDER BY id", (alert_id,))
            events = await cur.fetchall()
        if len(events) >= 2:
            break
        await asyncio.sleep(0.05)
    notes = [e["note"] for e in events]
    assert ("template wide v1 failed for webhook: webhook.body, line 1: template built a value longer than "
            "100000 items; the default webhook message was sent") in notes
    [failure] = [e["data"] for e in events if e["data"].get("failures")]
    assert failure["template_id"] == "wide" and failure["template_version"] == 1 and failure["sent"] == "default"
    assert any(n.startswith("Webhook to ") and n.endswith("delivered") for n in notes)
