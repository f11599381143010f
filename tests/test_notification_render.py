"""Notification templates: defaults per channel, the sandbox, channel escaping, filters and validation."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from oncall.notification import (
    SAMPLE_CONTEXT,
    Channel,
    ChannelTemplate,
    RenderError,
    Template,
    TemplateRenderer,
    render,
    sms_segments,
    validate,
)
from oncall.notification.templates import TemplateShapeError
from oncall.notification.validate import check_slack, sanitize_email_html

NOW = datetime(2026, 3, 14, 9, 31, 53, tzinfo=UTC)  # five minutes after the sample alert started


def context(**alert: Any) -> dict[str, Any]:
    return {**SAMPLE_CONTEXT, "alert": {**SAMPLE_CONTEXT["alert"], **alert}}


def one(channel: Channel, part: str, source: str, ctx: dict[str, Any] | None = None) -> str:
    template = Template({channel: ChannelTemplate({part: source})})
    return render(template, channel, ctx or context(), now=NOW).parts[part]


# ------------------------------------------------------------------------------ defaults


def test_defaults_render_every_channel_with_the_alert() -> None:
    for channel in Channel:
        parts = render(Template(), channel, SAMPLE_CONTEXT, now=NOW).parts
        assert all(parts.values()), channel
        assert any("payments-api" in text for text in parts.values()), channel

    slack = json.loads(render(Template(), Channel.SLACK, SAMPLE_CONTEXT, now=NOW).parts["body"])
    assert slack["blocks"][0] == {"type": "header", "text": {
        "type": "plain_text", "text": "TRIGGERED: High error rate on payments-api (5.2% > 1%)", "emoji": True}}
    assert "*Started*\n5 minutes ago" in [f["text"] for f in slack["blocks"][1]["fields"]]
    assert slack["text"] == "TRIGGERED: High error rate on payments-api (5.2% &gt; 1%)"

    card = json.loads(render(Template(), Channel.TEAMS, SAMPLE_CONTEXT, now=NOW).parts["body"])
    assert card["type"] == "AdaptiveCard"
    assert {"title": "Escalation", "value": "Payments primary, step 1 of 3"} in card["body"][1]["facts"]

    email = render(Template(), Channel.EMAIL, SAMPLE_CONTEXT, now=NOW).parts
    assert email["subject"] == "[TRIGGERED] High error rate on payments-api (5.2% > 1%)"
    assert "2026-03-14 09:26 UTC (5 minutes ago)" in email["text"]
    assert "alertname=HighErrorRate, env=prod, service=payments-api" in email["html"]

    assert render(Template(), Channel.SMS, SAMPLE_CONTEXT, now=NOW).parts["text"] == \
        "TRIGGERED #4217: High error rate on payments-api (5.2% > 1%)"
    hook = json.loads(render(Template(), Channel.WEBHOOK, SAMPLE_CONTEXT, now=NOW).parts["body"])
    assert hook["alert"] == SAMPLE_CONTEXT["alert"]
    assert hook["escalation"]["policy"] == "Payments primary"


def test_defaults_render_without_escalation_or_optional_fields() -> None:
    bare = {"alert": {**SAMPLE_CONTEXT["alert"], "details": "", "labels": {}}}
    for channel in Channel:
        assert all(render(Template(), channel, bare, now=NOW).parts.values()), channel
    for channel in (Channel.SLACK, Channel.TEAMS, Channel.WEBHOOK):
        json.loads(render(Template(), channel, bare, now=NOW).parts["body"])
    assert json.loads(render(Template(), Channel.WEBHOOK, bare, now=NOW).parts["body"])["escalation"] is None


def test_defaults_pass_their_own_validation() -> None:
    result = validate(Template(), channels=list(Channel))
    assert result.ok and result.errors == [] and result.warnings == []


def test_a_template_overrides_one_part_and_keeps_the_default_for_the_rest() -> None:
    template = Template.from_mapping({"email": {"subject": "Page: {{ alert.summary }}"}})
    parts = render(template, Channel.EMAIL, SAMPLE_CONTEXT, now=NOW).parts
    assert parts["subject"] == "Page: High error rate on payments-api (5.2% > 1%)"
    assert parts["text"].startswith("TRIGGERED: High error rate")


def test_unknown_channels_and_parts_are_refused() -> None:
    with pytest.raises(TemplateShapeError, match="unknown channel 'fax'"):
        Template.from_mapping({"fax": {"body": "x"}})
    with pytest.raises(TemplateShapeError, match="unknown part 'html'"):
        Template.from_mapping({"sms": {"html": "x"}})


# ------------------------------------------------------------------------------ the sandbox

HOSTILE = [
    ("{{ ''.__class__.__mro__ }}", "'__class__' of 'str' object is not allowed"),
    ("{{ ''.__class__.__mro__[1].__subclasses__() }}", "'__class__'"),
    ("{{ cycler.__init__.__globals__.os.popen('id').read() }}", "'__init__'"),
    ("{{ self.__init__.__globals__.__builtins__ }}", "'__init__'"),
    ("{{ alert.items.__self__ }}", "'__self__'"),
    ("{{ namespace.__init__.__globals__ }}", "'__init__'"),
    ("{% for c in [].__class__.__base__.__subclasses__() %}{{ c }}{% endfor %}", "'__class__'"),
    ("{{ [1, 2].append(3) }}", "'append'"),
    ("{{ lipsum(1000000) }}", "'lipsum' is undefined"),
    ("{{ '{:999999999}'.format(1) }}", "use the |format filter"),
    ("{% for i in range(10**9) %}{% endfor %}", "range() is limited to 10000 items"),
    ("{% for i in range(10000) %}{% for j in range(10000) %}{% endfor %}{% endfor %}", "too much work"),
    ("{% set r = range(10000)|list %}{% for i in r %}{% for j in r %}{% endfor %}{% endfor %}", "too much work"),
    ("{{ 'x' * 10**9 }}", "longer than 100000"),
    ("{{ 99**99**99 }}", "number too large"),
    ("{{ '%999999999s'|format(1) }}", "format width too large"),
    ("{{ '%999999999s' % 1 }}", "format width too large"),
    ("{{ 'a'.ljust(10**9) }}", "ljust argument too large"),
    ("{{ 'x'|center(1000000000) }}", "center argument too large"),
    ("{{ range(10)|batch(1000000000, 'x')|list }}", "batch argument too large"),
    ("{{ ('x' * 50000)|replace('', 'yyyyyyyyyy') }}", "replace would build a value too long"),
    ("{{ range(10000)|map('string')|join('y' * 50000) }}", "join would build a value too long"),
    ("{% set ns = namespace(s='xxxxxxxxxx') %}{% for i in range(60) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}",
     "longer than 100000"),
    ("{% set ns = namespace(s=[1]) %}{% for i in range(60) %}{% set ns.s = ns.s + ns.s %}{% endfor %}",
     "longer than 100000"),
    ("{% for i in range(10000) %}{{ 'x' * 1000 }}{% endfor %}", "output longer than 100000 characters"),
    ("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}", "recursed too deeply"),
]


@pytest.mark.parametrize(("source", "message"), HOSTILE, ids=[s for s, _ in HOSTILE])
def test_hostile_templates_fail_with_a_clear_error(source: str, message: str) -> None:
    with pytest.raises(RenderError) as caught:
        one(Channel.SMS, "text", source)
    assert message in str(caught.value)
    assert caught.value.channel is Channel.SMS and caught.value.part == "text"


def test_a_slow_template_stops_at_the_time_budget() -> None:
    # well within the step limit, but every iteration is made slow: the clock stops it
    from oncall.notification.render import RenderLimits

    renderer = TemplateRenderer(RenderLimits(time_budget_s=0.05, max_steps=10**9))
    slow = "{% for i in range(10000) %}{% for j in range(10000) %}{{ (j|string)|replace('1', '22') }}" \
        "{% endfor %}{% endfor %}"
    with pytest.raises(RenderError, match="took longer than 0.05s"):
        renderer.render_part(Channel.VOICE, "text", slow, context())


def test_errors_name_the_template_line() -> None:
    with pytest.raises(RenderError) as caught:
        one(Channel.EMAIL, "text", "line one\nline two\n{{ alert.__class__ }}\n")
    assert caught.value.line == 3
    assert "email.text, line 3" in str(caught.value)


def test_a_hostile_template_leaves_the_renderer_working() -> None:
    with pytest.raises(RenderError):
        one(Channel.SMS, "text", "{% for i in range(10000) %}{% for j in range(10000) %}{% endfor %}{% endfor %}")
    assert one(Channel.SMS, "text", "{{ alert.id }}") == "4217"


# ------------------------------------------------------------------------------ escaping per channel


def test_alert_text_is_html_escaped_in_email_html_only() -> None:
    evil = '<script>alert("x")</script> & <b>bold</b>'
    ctx = context(summary=evil)
    html = one(Channel.EMAIL, "html", "<p>{{ alert.summary }}</p>", ctx)
    assert html == "<p>&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; &lt;b&gt;bold&lt;/b&gt;</p>"
    assert one(Channel.EMAIL, "text", "{{ alert.summary }}", ctx) == evil
    assert validate(Template({Channel.EMAIL: ChannelTemplate({"html": "<p>{{ alert.summary }}</p>"})}), ctx).ok


def test_email_subject_cannot_carry_a_header() -> None:
    ctx = context(summary="disk full\r\nBcc: everyone@example.com")
    assert one(Channel.EMAIL, "subject", "{{ alert.summary }}", ctx) == "disk full Bcc: everyone@example.com"


TRICKY = 'He said "stop"\nthen left \\ with a tab\t and </script> and \u2028'


@pytest.mark.parametrize("channel", [Channel.SLACK, Channel.TEAMS, Channel.WEBHOOK])
def test_json_payloads_stay_valid_and_round_trip_quotes_and_newlines(channel: Channel) -> None:
    ctx = context(summary=TRICKY, details=TRICKY, labels={"quote\"key": TRICKY})
    custom = '{"text": "{{ alert.summary }}", "n": {{ alert.id }}, "labels": {{ alert.labels|tojson }}}'
    payload = json.loads(one(channel, "body", custom, ctx))
    assert payload == {"text": TRICKY, "n": 4217, "labels": {"quote\"key": TRICKY}}

    default = json.loads(render(Template(), channel, ctx, now=NOW).parts["body"])
    if channel is Channel.SLACK:
        assert default["blocks"][0]["text"]["text"] == f"TRIGGERED: {TRICKY}"
    if channel is Channel.WEBHOOK:
        assert default["alert"]["summary"] == TRICKY
    if channel is Channel.TEAMS:
        assert default["body"][0]["text"] == f"TRIGGERED: {TRICKY}"


def test_slack_default_escapes_mentions_in_alert_text() -> None:
    ctx = context(summary="<!channel> db down", details="see <https://evil.example|here>")
    slack = json.loads(render(Template(), Channel.SLACK, ctx, now=NOW).parts["body"])
    assert slack["text"] == "TRIGGERED: &lt;!channel&gt; db down"
    assert slack["blocks"][2]["text"]["text"] == "see &lt;https://evil.example|here&gt;"


# ------------------------------------------------------------------------------ filters


def test_localtime_shows_a_time_in_an_iana_zone() -> None:
    assert one(Channel.SMS, "text", "{{ alert.created_at|localtime('America/New_York') }}") == "2026-03-14 05:26 EDT"
    assert one(Channel.SMS, "text", "{{ alert.created_at|localtime('Asia/Kolkata', '%H:%M') }}") == "14:56"
    assert one(Channel.SMS, "text", "{{ alert.created_at|localtime }}") == "2026-03-14 09:26 UTC"
    with pytest.raises(RenderError, match="unknown time zone 'Mars/Olympus'"):
        one(Channel.SMS, "text", "{{ alert.created_at|localtime('Mars/Olympus') }}")


def test_ago_and_duration_read_like_a_person_wrote_them() -> None:
    def ago(when: datetime) -> str:
        return one(Channel.SMS, "text", "{{ t|ago }}", {"t": when})

    assert ago(NOW - timedelta(minutes=5)) == "5 minutes ago"
    assert ago(NOW - timedelta(seconds=1)) == "1 second ago"
    assert ago(NOW - timedelta(hours=1, minutes=59)) == "1 hour ago"
    assert ago(NOW - timedelta(days=3)) == "3 days ago"
    assert ago(NOW + timedelta(hours=2)) == "in 2 hours"
    assert ago(NOW) == "just now"
    assert one(Channel.SMS, "text", "{{ 3900|duration }} / {{ 45|duration }} / {{ 183600|duration }}") == \
        "1h 5m / 45s / 2d 3h"


def test_labels_and_truncation() -> None:
    assert one(Channel.SMS, "text", "{{ alert.labels|labels }}") == \
        "alertname=HighErrorRate, env=prod, service=payments-api"
    assert one(Channel.SMS, "text", "{{ alert.labels|labels(' ', exclude=['alertname']) }}") == \
        "env=prod service=payments-api"
    assert one(Channel.SMS, "text", "{{ alert.summary|truncate(20) }}") == "High error rate..."
    assert one(Channel.SMS, "text", "{{ alert.summary|truncate(12, true, '…', 0) }}") == "High error …"


def test_missing_values_render_empty_rather_than_failing_a_page() -> None:
    assert one(Channel.SMS, "text", "[{{ alert.runbook.url }}][{{ nothing }}][{{ none }}]") == "[][][]"


# ------------------------------------------------------------------------------ validation


def test_syntax_errors_block_the_save_with_their_line() -> None:
    template = Template.from_mapping({"email": {"text": "Alert\n{% if alert.status %}\n{{ alert.summary }\n"}})
    result = validate(template)
    assert not result.ok
    [error] = result.errors
    assert (error.channel, error.part, error.line) == (Channel.EMAIL, "text", 3)
    assert "syntax error" in error.message


def test_unknown_variables_are_warnings_with_lines() -> None:
    template = Template.from_mapping({"sms": "{{ alert.summary }}\n{{ alert.sumary }}\n{% if incident %}{{ x }}{% endif %}"
                                            "\n{{ alert.labels.team }} {{ alert.summary.upper() }}"})
    result = validate(template)
    assert result.ok
    assert {(w.message, w.line) for w in result.warnings} == {
        ("'alert.sumary' is not in the sample context", 2),
        ("'incident' is not in the sample context", 3),
        ("'x' is not in the sample context", 3),
        ("'alert.labels.team' is not in the sample context", 4),
    }


def test_hostile_templates_are_refused_on_save() -> None:
    result = validate(Template.from_mapping({"sms": "ok\n{{ ''.__class__.__mro__ }}"}))
    assert [(e.line, e.message) for e in result.errors] == [
        (2, "access to attribute '__class__' of 'str' object is not allowed")]


def test_email_html_outside_the_whitelist_is_an_error() -> None:
    html = ('<p onclick="steal()">hi</p>\n<script>x()</script>\n<iframe src="https://x"></iframe>\n'
            '<a href="javascript:alert(1)">go</a>\n<a href="https://ok.example">ok</a>')
    result = validate(Template.from_mapping({"email": {"html": html}}))
    messages = [e.message for e in result.errors]
    assert messages == [
        "line 1: attribute 'onclick' is not allowed on <p> (rendered sample)",
        "line 2: <script> is not allowed in email HTML (rendered sample)",
        "line 3: <iframe> is not allowed in email HTML (rendered sample)",
        "line 4: javascript: URLs are not allowed in href (rendered sample)",
    ]
    clean = sanitize_email_html(html)
    assert "script" not in clean and "iframe" not in clean and "onclick" not in clean and "javascript" not in clean
    assert 'href="https://ok.example"' in clean


def test_slack_body_must_be_block_kit_within_limits() -> None:
    def body(blocks: list[Any]) -> dict[str, str]:
        return {"body": json.dumps({"text": "x", "blocks": blocks})}

    section = {"type": "section", "text": {"type": "mrkdwn", "text": "x"}}
    assert check_slack(body([section] * 50)) == ([], [])
    errors, _ = check_slack(body([section] * 51))
    assert errors == [("body", "51 blocks: Slack allows at most 50")]
    errors, _ = check_slack(body([{"type": "section", "text": {"type": "mrkdwn", "text": "y" * 3001}}]))
    assert errors == [("body", "block 1: section text is 3001 characters, at most 3000")]
    errors, _ = check_slack(body([{"type": "header", "text": {"type": "plain_text", "text": "h" * 151}}]))
    assert errors == [("body", "block 1: header text is 151 characters, at most 150")]
    errors, _ = check_slack(body([{"type": "banner"}]))
    assert errors == [("body", "block 1: unknown block type 'banner'")]


def test_a_template_rendering_too_many_slack_blocks_is_refused() -> None:
    source = ('{"text": "x", "blocks": [{% for i in range(51) %}{"type": "divider"}{% if not loop.last %},'
              '{% endif %}{% endfor %}]}')
    result = validate(Template.from_mapping({"slack": source}))
    assert [e.message for e in result.errors] == ["51 blocks: Slack allows at most 50"]
    broken = validate(Template.from_mapping({"slack": '{"text": "{{ alert.summary }}",}'}))
    assert broken.errors[0].message.startswith("rendered output is not valid JSON")


def test_teams_card_needs_the_adaptive_card_basics() -> None:
    result = validate(Template.from_mapping({"teams": '{"type": "Card", "body": {}}'}))
    assert [e.message for e in result.errors] == [
        '"type" must be "AdaptiveCard"', '"version" must be a string like "1.4"', '"body" must be a list of elements']


def test_sms_segments_count_like_a_carrier() -> None:
    assert (sms_segments("a" * 160).segments, sms_segments("a" * 161).segments) == (1, 2)
    assert (sms_segments("a" * 306).segments, sms_segments("a" * 307).segments) == (2, 3)
    assert sms_segments("[" * 80) == sms_segments("a" * 160)  # extension characters cost two septets
    assert sms_segments("é" * 160).encoding == "GSM-7"
    assert (sms_segments("ą" * 70).segments, sms_segments("ą" * 71).segments) == (1, 2)
    assert (sms_segments("ą" * 134).segments, sms_segments("ą" * 135).segments) == (2, 3)
    assert sms_segments("🔥" * 35).units == 70 and sms_segments("🔥" * 35).segments == 1
    assert sms_segments("").segments == 0


def test_long_sms_is_a_warning_and_a_huge_one_an_error() -> None:
    long = validate(Template.from_mapping({"sms": "{{ alert.details }} {{ alert.details }}"}))
    assert long.ok and [w.message for w in long.warnings] == ["189 GSM-7 characters: sent as 2 segments"]  # 94 + 1 + 94
    huge = validate(Template.from_mapping({"sms": "{% for i in range(40) %}{{ alert.details }}{% endfor %}"}))
    assert [e.message for e in huge.errors] == ["3760 GSM-7 characters is 25 segments; at most 10 are sent"]  # 40 × 94


def test_a_label_named_like_a_dict_method_does_not_break_iteration() -> None:
    ctx = context(labels={"items": "cart", "keys": "k"})
    source = "{% for k, v in alert.labels.items() %}{{ k }}={{ v }};{% endfor %}{{ alert.labels['items'] }}"
    assert one(Channel.SMS, "text", source, ctx) == "items=cart;keys=k;cart"
