"""The renderers plugin: rendered template parts → each channel's payload, and the channel rules it checks.

Renderers come from the real plugin registry (``oncall-renderers`` installed through its
entry point), and template output from the core's sandbox, so each test follows the path a
send takes: template → parts → renderer → the payload a channel plugin receives.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from oncall_hookspecs import RenderedPayload, Renderer
from oncall_renderers import sanitize_email_html, sms_segments

from fixtures.channels import Channel
from oncall.notification import BUNDLE_SAMPLE_CONTEXT, SAMPLE_CONTEXT, RenderError, Template, render
from oncall.plugins import load_plugins

NOW = datetime(2026, 3, 14, 9, 31, 53, tzinfo=UTC)
SAMPLES = {"single": SAMPLE_CONTEXT, "bundle": BUNDLE_SAMPLE_CONTEXT}


@pytest.fixture(scope="module")
def renderers() -> dict[str, Renderer]:
    _, registry = load_plugins(())
    return registry.renderers


def send(renderers: dict[str, Renderer], channel: str, context: Any, template: Template | None = None
         ) -> RenderedPayload:
    """Render ``template`` (the defaults) for ``channel`` as a send does: sandbox, then the renderer."""
    parts = render(template or Template(), Channel(channel), context, now=NOW).parts
    return renderers[channel].render(parts, context)


def one(renderers: dict[str, Renderer], channel: str, source: str | dict[str, str],
        context: Any = SAMPLE_CONTEXT) -> RenderedPayload:
    return send(renderers, channel, context, Template.from_mapping({channel: source}))


def bundle_of(n: int, **alert: Any) -> dict[str, Any]:
    base = BUNDLE_SAMPLE_CONTEXT["alert"]
    alerts = [{**base, "id": 5000 + i, "summary": f"Disk full on db-{i}", **alert} for i in range(n)]
    return {**BUNDLE_SAMPLE_CONTEXT, "bundle": {"count": n, "alerts": alerts, "group": "payments-db"}}


# ------------------------------------------------------------------------------ the plugin


def test_the_plugin_registers_one_renderer_and_one_spec_per_channel(renderers: dict[str, Renderer]) -> None:
    _, registry = load_plugins(())
    [info] = [p for p in registry.plugins if p.name == "renderers"]
    assert (info.distribution, info.status, info.hooks) == (
        "oncall-renderers", "ok", ["register_channel_specs", "register_renderers"])
    assert sorted(info.provides["renderers"]) == sorted(c.value for c in Channel)
    assert sorted(info.provides["channel_specs"]) == sorted(c.value for c in Channel)
    for name, renderer in renderers.items():
        assert renderer.channel == name and isinstance(renderer, Renderer)


# ------------------------------------------------------------------------------ the defaults' payloads


@pytest.mark.parametrize("sample", SAMPLES, ids=list(SAMPLES))
@pytest.mark.parametrize("channel", [c.value for c in Channel])
def test_every_default_renders_a_valid_payload(renderers: dict[str, Renderer], channel: str, sample: str) -> None:
    out = send(renderers, channel, SAMPLES[sample])
    assert (out.channel, out.errors, out.warnings) == (channel, [], [])
    assert out.payload is not None
    json.dumps(out.payload)  # what a preview shows and a JSON channel sends


def test_slack_payload_is_text_and_blocks(renderers: dict[str, Renderer]) -> None:
    payload = send(renderers, "slack", SAMPLE_CONTEXT).payload
    assert payload.keys() == {"text", "blocks"}
    assert payload["text"] == "TRIGGERED: High error rate on payments-api (5.2% &gt; 1%)"
    assert [b["type"] for b in payload["blocks"]] == ["header", "section", "section", "context", "context"]

    bundle = send(renderers, "slack", BUNDLE_SAMPLE_CONTEXT).payload
    assert bundle["blocks"][0]["text"]["text"] == "3 alerts for payments-db"
    assert bundle["text"].startswith("3 alerts for payments-db: #4301 Disk full on payments-db-1")


def test_teams_payload_is_a_message_carrying_the_card(renderers: dict[str, Renderer]) -> None:
    payload = send(renderers, "teams", SAMPLE_CONTEXT).payload
    [attachment] = payload["attachments"]
    assert payload["type"] == "message"
    assert attachment.keys() == {"contentType", "contentUrl", "content"}
    assert (attachment["contentType"], attachment["contentUrl"]) == ("application/vnd.microsoft.card.adaptive", None)
    card = attachment["content"]
    assert (card["type"], card["version"]) == ("AdaptiveCard", "1.4")
    assert card["body"][0]["text"] == "TRIGGERED: High error rate on payments-api (5.2% > 1%)"


def test_a_template_that_writes_the_whole_teams_message_is_wrapped_the_same_way(renderers: dict[str, Renderer]) -> None:
    card = {"type": "AdaptiveCard", "version": "1.4", "body": [{"type": "TextBlock", "text": "hi"}]}
    message = {"type": "message", "attachments": [
        {"contentType": "application/vnd.microsoft.card.adaptive", "content": card}]}
    out = one(renderers, "teams", json.dumps(message))
    assert out.errors == [] and out.payload["attachments"] == [
        {"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None, "content": card}]


def test_email_payload_is_subject_sanitized_html_and_text(renderers: dict[str, Renderer]) -> None:
    payload = send(renderers, "email", SAMPLE_CONTEXT).payload
    assert payload.keys() == {"subject", "html", "text"}
    assert payload["subject"] == "[TRIGGERED] High error rate on payments-api (5.2% > 1%)"
    assert payload["html"] == sanitize_email_html(payload["html"])  # already clean: sanitizing changes nothing
    assert "<h2" in payload["html"] and "Payments primary, step 1 of 3" in payload["text"]
    assert send(renderers, "email", BUNDLE_SAMPLE_CONTEXT).payload["subject"] == "[3 ALERTS] payments-db"


def test_sms_payload_counts_segments_and_encoding(renderers: dict[str, Renderer]) -> None:
    assert send(renderers, "sms", SAMPLE_CONTEXT).payload == {
        "text": "TRIGGERED #4217: High error rate on payments-api (5.2% > 1%)", "segments": 1, "encoding": "GSM-7"}
    emoji = one(renderers, "sms", "🔥 {{ alert.summary }}").payload
    assert (emoji["encoding"], emoji["segments"]) == ("UCS-2", 1)


def test_voice_payload_is_the_speech(renderers: dict[str, Renderer]) -> None:
    assert send(renderers, "voice", SAMPLE_CONTEXT).payload == {
        "text": "This is On Call. Alert 4217 from prod-alertmanager. Severity critical. "
                "High error rate on payments-api (5.2% > 1%)."}


PRIORITIES = [("critical", "triggered", 5), ("error", "triggered", 4), ("high", "triggered", 4),
              ("warning", "triggered", 3), ("info", "triggered", 2), ("unknown", "triggered", 3),
              ("critical", "acknowledged", 5), ("critical", "resolved", 2)]


@pytest.mark.parametrize(("severity", "status", "priority"), PRIORITIES)
def test_push_priority_follows_severity_and_a_resolved_alert_is_low(
    renderers: dict[str, Renderer], severity: str, status: str, priority: int,
) -> None:
    ctx = {**SAMPLE_CONTEXT, "alert": {**SAMPLE_CONTEXT["alert"], "severity": severity, "status": status}}
    payload = send(renderers, "push", ctx).payload
    assert payload.keys() == {"title", "message", "priority", "tags"}
    assert payload["priority"] == priority
    assert payload["tags"][1] == severity
    assert payload["tags"][0] == ("white_check_mark" if status == "resolved" else payload["tags"][0])


def test_push_payload_for_a_bundle_takes_its_most_urgent_alert(renderers: dict[str, Renderer]) -> None:
    payload = send(renderers, "push", BUNDLE_SAMPLE_CONTEXT).payload  # critical, warning, error
    assert payload == {
        "title": "[3 ALERTS] payments-db",
        "message": "#4301 TRIGGERED critical: Disk full on payments-db-1 (/var/lib/postgresql 97%)\n"
                   "#4302 TRIGGERED warning: Replication lag on payments-db-2 is 45s\n"
                   "#4303 TRIGGERED error: Connection pool exhausted on payments-db-1",
        "priority": 5,
        "tags": ["rotating_light", "critical"],
    }
    assert send(renderers, "push", bundle_of(3, status="resolved")).payload["priority"] == 2


def test_webhook_payload_is_the_json_the_template_rendered(renderers: dict[str, Renderer]) -> None:
    payload = send(renderers, "webhook", SAMPLE_CONTEXT).payload
    assert payload["event"] == "alert.triggered" and payload["alert"] == SAMPLE_CONTEXT["alert"]
    bundle = send(renderers, "webhook", BUNDLE_SAMPLE_CONTEXT).payload
    assert bundle["event"] == "alert.bundle"
    assert (bundle["bundle"]["count"], bundle["bundle"]["group"]) == (3, "payments-db")
    leaner = ("annotations", "integration_id")  # a bundle's alerts leave these out, to stay small
    assert bundle["bundle"]["alerts"] == [
        {k: v for k, v in a.items() if k not in leaner} for a in BUNDLE_SAMPLE_CONTEXT["bundle"]["alerts"]]
    assert one(renderers, "webhook", "[1, {{ alert.id }}]").payload == [1, 4217]
    assert one(renderers, "webhook", "{{ alert.id }}").payload == 4217


# ------------------------------------------------------------------------------ bundles at their limits


def test_a_big_bundle_shows_ten_alerts_and_says_how_many_more(renderers: dict[str, Renderer]) -> None:
    ctx = bundle_of(14)
    slack = send(renderers, "slack", ctx)
    assert slack.errors == [] and slack.payload["blocks"][0]["text"]["text"] == "14 alerts for payments-db"
    lines = slack.payload["blocks"][1]["text"]["text"].split("\n")
    assert len(lines) == 11 and lines[0].startswith("• *#5000* TRIGGERED") and lines[-1] == "_and 4 more_"
    assert slack.payload["text"].endswith("; and 11 more")

    card = send(renderers, "teams", ctx).payload["attachments"][0]["content"]
    assert len(card["body"][1]["facts"]) == 10 and card["body"][2]["text"] == "and 4 more"
    assert send(renderers, "voice", ctx).payload["text"].endswith("And 11 more.")
    assert send(renderers, "push", ctx).payload["message"].endswith("\nand 9 more")
    assert "and 4 more" not in send(renderers, "email", ctx).payload["text"]  # email lists up to 50


def test_a_bundle_of_long_alerts_stays_within_every_channels_limits(renderers: dict[str, Renderer]) -> None:
    ctx = bundle_of(60, summary="<!channel> " + "disk full & more " * 300, details="x" * 50_000)
    for channel in Channel:
        out = send(renderers, channel.value, ctx)
        assert out.errors == [], (channel, out.errors)
    sms = send(renderers, "sms", ctx).payload
    assert sms["segments"] == 1 and sms["text"].startswith("60 alerts for payments-db: #5000 <!channel> disk full")
    assert len(send(renderers, "webhook", ctx).payload["bundle"]["alerts"]) == 25
    assert "<!channel>" not in json.dumps(send(renderers, "slack", ctx).payload)


def test_sms_ends_with_the_reply_codes_when_the_channel_takes_replies(renderers: dict[str, Renderer]) -> None:
    ctx = {**SAMPLE_CONTEXT, "reply_code": "3"}
    assert send(renderers, "sms", ctx).payload["text"] == \
        "TRIGGERED #4217: High error rate on payments-api (5.2% > 1%) Reply 3a to ack, 3c to close."
    long = {**ctx, "alert": {**ctx["alert"], "summary": "word " * 60}}
    text = send(renderers, "sms", long).payload
    assert text["segments"] == 1 and text["text"].endswith("... Reply 3a to ack, 3c to close.")
    # the incident's status decides (a re-rendered page keeps the alert as it was when it paged)
    resolved = {**ctx, "incident": {**ctx["incident"], "status": "resolved"}}
    assert send(renderers, "sms", resolved).payload["text"] == \
        "RESOLVED #4217: High error rate on payments-api (5.2% > 1%)"
    before_incidents = {k: v for k, v in ctx.items() if k != "incident"}
    resolved_alert = {**before_incidents, "alert": {**ctx["alert"], "status": "resolved"}}
    assert "Reply" not in send(renderers, "sms", resolved_alert).payload["text"]
    assert "Reply" not in send(renderers, "sms", {**BUNDLE_SAMPLE_CONTEXT, "reply_code": "3"}).payload["text"]


# ------------------------------------------------------------------------------ Slack rules


def slack(renderers: dict[str, Renderer], message: Any) -> RenderedPayload:
    return renderers["slack"].render({"body": json.dumps(message)}, SAMPLE_CONTEXT)


SECTION = {"type": "section", "text": {"type": "mrkdwn", "text": "x"}}


def test_slack_allows_fifty_blocks_and_refuses_more(renderers: dict[str, Renderer]) -> None:
    assert slack(renderers, {"text": "x", "blocks": [SECTION] * 50}).errors == []
    assert slack(renderers, {"text": "x", "blocks": [SECTION] * 51}).errors == ["51 blocks: Slack allows at most 50"]


SLACK_LIMITS = [
    ({"type": "section", "text": {"type": "mrkdwn", "text": "y" * 3001}},
     "block 1: section text is 3001 characters, at most 3000"),
    ({"type": "header", "text": {"type": "plain_text", "text": "h" * 151}},
     "block 1: header text is 151 characters, at most 150"),
    ({"type": "header", "text": {"type": "mrkdwn", "text": "h"}},
     "block 1: a header's text must be a plain_text object"),
    ({"type": "section", "fields": [{"type": "mrkdwn", "text": "f" * 2001}]},
     "block 1: a field's text is 2001 characters, at most 2000"),
    ({"type": "section", "fields": [{"type": "mrkdwn", "text": "f"}] * 11}, "block 1: a section has at most 10 fields"),
    ({"type": "section"}, 'block 1: a section needs "text" or "fields"'),
    ({"type": "section", "text": "plain string"}, "block 1: a section's text must be a mrkdwn or plain_text object"),
    ({"type": "context", "elements": []}, "block 1: a context block has 1 to 10 elements"),
    ({"type": "context", "elements": [{"type": "mrkdwn", "text": "c" * 3001}]},
     "block 1: a context element's text is 3001 characters, at most 3000"),
    ({"type": "actions", "elements": []}, "block 1: an actions block has 1 to 25 elements"),
    ({"type": "divider", "block_id": "b" * 256}, "block 1: block_id must be a string of at most 255 characters"),
    ({"type": "banner"}, "block 1: unknown block type 'banner'"),
    ("divider", 'block 1: a block is an object with a "type"'),
]


@pytest.mark.parametrize(("block", "error"), SLACK_LIMITS, ids=[e for _, e in SLACK_LIMITS])
def test_slack_block_kit_structure_and_limits(renderers: dict[str, Renderer], block: Any, error: str) -> None:
    out = slack(renderers, {"text": "x", "blocks": [block]})
    assert out.errors == [error]
    assert out.payload == {"text": "x", "blocks": [block]}  # still shown in a preview


def test_slack_body_must_be_a_json_object_with_text_or_blocks(renderers: dict[str, Renderer]) -> None:
    broken = one(renderers, "slack", '{"text": "{{ alert.summary }}",}')
    assert broken.payload is None and broken.errors[0].startswith("rendered output is not valid JSON")
    assert one(renderers, "slack", '["x"]').errors == ["rendered output must be a JSON object"]
    assert slack(renderers, {}).errors == ['a Slack message needs "text" or "blocks"']
    assert slack(renderers, {"text": "x" * 40_001}).errors == ['"text" must be a string of at most 40000 characters']
    assert slack(renderers, {"text": "x", "blocks": {}}).errors == ['"blocks" must be a list']


def test_slack_without_text_falls_back_to_the_first_block_and_says_so(renderers: dict[str, Renderer]) -> None:
    header = {"type": "header", "text": {"type": "plain_text", "text": "Disk full"}}
    out = slack(renderers, {"blocks": [{"type": "divider"}, header], "attachments": []})
    assert out.payload == {"text": "Disk full", "blocks": [{"type": "divider"}, header]}
    assert out.errors == [] and out.warnings == [
        'ignored attachments: a Slack notification carries "text" and "blocks" only',
        "no top-level \"text\": notifications show the first block's text"]
    assert slack(renderers, {"text": "only text"}).payload == {"text": "only text", "blocks": []}


# ------------------------------------------------------------------------------ Teams rules


def teams(renderers: dict[str, Renderer], card: Any) -> RenderedPayload:
    return renderers["teams"].render({"body": json.dumps(card)}, SAMPLE_CONTEXT)


def card(*body: Any, **extra: Any) -> dict[str, Any]:
    return {"type": "AdaptiveCard", "version": "1.4", "body": list(body), **extra}


def test_a_bad_adaptive_card_is_refused(renderers: dict[str, Renderer]) -> None:
    assert teams(renderers, {"type": "Card", "body": {}}).errors == [
        '"type" must be "AdaptiveCard"', '"version" must be a string like "1.4"', '"body" must be a list of elements']
    assert teams(renderers, card({"type": "TextBlock"}, {"text": "no type"}, {"type": "FactSet", "facts": [{}]},
                                 {"type": "Image"})).errors == [
        'body element 1: a TextBlock needs a "text" string',
        'body element 2: an element is an object with a "type"',
        'body element 3: a FactSet needs "facts", a list of {"title", "value"} strings',
        'body element 4: an Image needs a "url" string',
    ]
    nested = card({"type": "Container", "items": [{"type": "ColumnSet", "columns": [
        {"type": "Column", "items": [{"type": "TextBlock", "text": 3}]}]}]})
    assert teams(renderers, nested).errors == [
        'body element 1, item 1, column 1, item 1: a TextBlock needs a "text" string']
    actions = card(actions=[{"type": "Action.OpenUrl"}, {"type": "Action.Http"}])
    assert teams(renderers, actions).errors == [
        'actions 1: an Action.OpenUrl needs a "url" string',
        'actions 2: "type" must be one of Action.Execute, Action.OpenUrl, Action.ShowCard, Action.Submit, '
        'Action.ToggleVisibility',
    ]
    message = teams(renderers, {"type": "message", "attachments": [{"contentType": "text/html", "content": "x"}]})
    assert message.payload is None
    assert message.errors == ["a Teams message needs an attachment of type application/vnd.microsoft.card.adaptive"]


def test_teams_warns_about_elements_it_would_skip_and_refuses_oversized_cards(renderers: dict[str, Renderer]) -> None:
    unknown = teams(renderers, card({"type": "Carousel"}))
    assert unknown.errors == []
    assert unknown.warnings == ["body element 1: Teams skips elements of unknown type 'Carousel'"]
    huge = teams(renderers, card(*[{"type": "TextBlock", "text": "x" * 1000}] * 30))
    assert len(huge.errors) == 1 and huge.errors[0].endswith("bytes: Teams accepts at most 28672")


# ------------------------------------------------------------------------------ email, SMS, voice, push, webhook rules


def test_email_html_outside_the_allow_list_is_an_error_and_removed(renderers: dict[str, Renderer]) -> None:
    out = one(renderers, "email", {"html": '<p style="color: red" onclick="x()">hi</p><form><input></form>'
                                           '<img src="data:image/png;base64,AAAA"><style>p {}</style>'})
    assert out.errors == [
        "html: line 1 of the rendered HTML: attribute 'onclick' is not allowed on <p>",
        "html: line 1 of the rendered HTML: <form> is not allowed in email HTML",
        "html: line 1 of the rendered HTML: <input> is not allowed in email HTML",
        "html: line 1 of the rendered HTML: data: URLs are not allowed in src",
        "html: line 1 of the rendered HTML: <style> is not allowed in email HTML",
    ]
    assert out.payload["html"] == '<p style="color: red">hi</p><img>'


def test_email_needs_a_subject_and_a_body_and_keeps_the_subject_on_one_line(renderers: dict[str, Renderer]) -> None:
    empty = renderers["email"].render({"subject": "", "html": "", "text": ""}, SAMPLE_CONTEXT)
    assert empty.errors == ["subject: the subject is empty", "text: the email has neither text nor HTML"]
    folded = renderers["email"].render({"subject": "a\r\nBcc: x@example.com", "html": "", "text": "t"}, SAMPLE_CONTEXT)
    assert folded.payload["subject"] == "a Bcc: x@example.com"
    assert folded.warnings == ["subject: line breaks in the subject are sent as spaces"]


def test_sms_segments_count_like_a_carrier() -> None:
    assert (sms_segments("a" * 160).segments, sms_segments("a" * 161).segments) == (1, 2)
    assert (sms_segments("a" * 306).segments, sms_segments("a" * 307).segments) == (2, 3)
    assert sms_segments("[" * 80) == sms_segments("a" * 160)  # extension characters cost two septets
    assert sms_segments("é" * 160).encoding == "GSM-7"
    assert (sms_segments("ą" * 70).segments, sms_segments("ą" * 71).segments) == (1, 2)
    assert (sms_segments("ą" * 134).segments, sms_segments("ą" * 135).segments) == (2, 3)
    assert sms_segments("🔥" * 35).units == 70 and sms_segments("🔥" * 35).segments == 1
    assert sms_segments("").segments == 0


def test_sms_over_one_segment_warns_and_over_ten_is_an_error(renderers: dict[str, Renderer]) -> None:
    two = renderers["sms"].render({"text": "a" * 200}, SAMPLE_CONTEXT)
    assert two.errors == [] and two.warnings == ["200 GSM-7 characters: sent as 2 segments"]
    assert two.payload == {"text": "a" * 200, "segments": 2, "encoding": "GSM-7"}
    huge = renderers["sms"].render({"text": "ą" * 700}, SAMPLE_CONTEXT)
    assert huge.errors == ["700 UCS-2 characters is 11 segments; at most 10 are sent"]
    empty = renderers["sms"].render({"text": ""}, SAMPLE_CONTEXT)
    assert (empty.payload, empty.errors) == (None, ["the message is empty"])


def test_voice_must_say_something_short_enough_to_hear(renderers: dict[str, Renderer]) -> None:
    assert renderers["voice"].render({"text": ""}, SAMPLE_CONTEXT).errors == ["the message is empty"]
    assert renderers["voice"].render({"text": "x" * 1001}, SAMPLE_CONTEXT).warnings == [
        "1001 characters is a long call: keep spoken messages short"]
    assert renderers["voice"].render({"text": "x" * 4097}, SAMPLE_CONTEXT).errors == [
        "4097 characters: text-to-speech takes at most 4096"]


def test_push_needs_content_within_what_push_services_take(renderers: dict[str, Renderer]) -> None:
    empty = renderers["push"].render({"title": "", "body": ""}, SAMPLE_CONTEXT)
    assert (empty.payload, empty.errors) == (None, ["body: the notification is empty"])
    big = renderers["push"].render({"title": "t" * 251, "body": "é" * 2049}, SAMPLE_CONTEXT)
    assert big.errors == ["body: the message is 4098 bytes; push services take at most 4096"]
    assert big.warnings == ["title: 251 characters; push apps show about 250 at most"]


def test_webhook_body_must_be_valid_json(renderers: dict[str, Renderer]) -> None:
    out = one(renderers, "webhook", '{"summary": "{{ alert.summary }}"')
    assert out.payload is None and len(out.errors) == 1
    assert out.errors[0].startswith("rendered output is not valid JSON: ")
    assert one(renderers, "webhook", '{"n": NaN}').payload is None


# ------------------------------------------------------------------------------ hostile input


def test_alert_text_cannot_change_a_json_payloads_structure(renderers: dict[str, Renderer]) -> None:
    evil = '"}]}, "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "<!channel>'
    ctx = {**SAMPLE_CONTEXT, "alert": {**SAMPLE_CONTEXT["alert"], "summary": evil, "labels": {evil: evil}}}
    for channel in ("slack", "teams", "webhook"):
        out = send(renderers, channel, ctx)
        assert out.errors == [], (channel, out.errors)
    blocks = send(renderers, "slack", ctx).payload["blocks"]
    assert [b["type"] for b in blocks] == ["header", "section", "section", "context", "context"]
    assert blocks[0]["text"]["text"].startswith('TRIGGERED: "}]}, "blocks": [{"type"')
    assert "<!channel>" not in json.dumps(blocks[3])  # mrkdwn escaped: no mention
    assert send(renderers, "webhook", ctx).payload["alert"]["summary"] == evil


def test_hostile_templates_fail_before_reaching_a_renderer(renderers: dict[str, Renderer]) -> None:
    with pytest.raises(RenderError, match="'__class__'"):
        one(renderers, "slack", '{"text": "{{ \'\'.__class__.__mro__ }}"}')
    with pytest.raises(RenderError, match="output longer than 100000"):
        one(renderers, "webhook", "[{% for i in range(10000) %}{{ '1' * 20 }},{% endfor %}1]")


def test_pathological_json_is_an_error_not_a_crash(renderers: dict[str, Renderer]) -> None:
    deep = one(renderers, "webhook", "{{ '[' * 5000 }}{{ ']' * 5000 }}")
    assert deep.payload is None and deep.errors[0].startswith("rendered output is not valid JSON")
    nested: Any = {"type": "TextBlock", "text": "x"}
    for _ in range(40):
        nested = {"type": "Container", "items": [nested]}
    out = teams(renderers, card(nested))
    assert len(out.errors) == 1 and out.errors[0].endswith("elements nested more than 16 deep")
    assert one(renderers, "slack", '{"text": 1e999}').payload is None  # orjson refuses infinity
