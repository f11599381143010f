"""Notification templates: defaults per channel, the sandbox, channel escaping, filters and validation.

Validation runs each channel's rules from its renderer plugin, loaded through the real
plugin registry (``oncall-renderers`` must be installed); the rules themselves are tested in
``test_renderers.py``.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from oncall_hookspecs import Renderer

from fixtures.channels import Channel
from oncall.notification import (
    BUNDLE_SAMPLE_CONTEXT,
    SAMPLE_CONTEXT,
    ChannelTemplate,
    RenderError,
    Template,
    TemplateRenderer,
    render,
    validate,
)
from oncall.notification.templates import TemplateShapeError
from oncall.plugins import load_plugins

NOW = datetime(2026, 3, 14, 9, 31, 53, tzinfo=UTC)  # five minutes after the sample alert started


@pytest.fixture(scope="module")
def renderers() -> dict[str, Renderer]:
    _, registry = load_plugins(())
    assert registry.renderers.keys() >= {c.value for c in Channel}, "pip install -e plugins/renderers"
    return registry.renderers


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


def test_bundle_defaults_summarise_the_alerts_of_one_message() -> None:
    def parts(channel: Channel) -> dict[str, str]:
        return dict(render(Template(), channel, BUNDLE_SAMPLE_CONTEXT, now=NOW).parts)

    assert parts(Channel.SMS)["text"].startswith(
        "3 alerts for payments-db: #4301 Disk full on payments-db-1 (/var/lib/postgresql 97%); #4302 Replication")
    assert len(parts(Channel.SMS)["text"]) <= 160
    slack = json.loads(parts(Channel.SLACK)["body"])
    assert slack["blocks"][0]["text"]["text"] == "3 alerts for payments-db"
    assert slack["blocks"][1]["text"]["text"].split("\n") == [
        "• *#4301* TRIGGERED · critical · Disk full on payments-db-1 (/var/lib/postgresql 97%)",
        "• *#4302* TRIGGERED · warning · Replication lag on payments-db-2 is 45s",
        "• *#4303* TRIGGERED · error · Connection pool exhausted on payments-db-1",
    ]
    assert parts(Channel.EMAIL)["subject"] == "[3 ALERTS] payments-db"
    assert "#4303  TRIGGERED  error  Connection pool exhausted on payments-db-1 (5 minutes ago)" in \
        parts(Channel.EMAIL)["text"]
    assert parts(Channel.VOICE)["text"].startswith(
        "This is On Call with 3 alerts for payments-db. Alert 4301, critical:")
    assert parts(Channel.PUSH)["title"] == "[3 ALERTS] payments-db"
    # a bundle of one is an alert
    single = {**BUNDLE_SAMPLE_CONTEXT, "bundle": {**BUNDLE_SAMPLE_CONTEXT["bundle"], "count": 1}}
    assert render(Template(), Channel.SMS, single, now=NOW).parts["text"].startswith("TRIGGERED #4301: Disk full")


def test_sms_default_ends_with_how_to_reply_by_code() -> None:
    ctx = {**SAMPLE_CONTEXT, "reply_code": "3"}
    assert render(Template(), Channel.SMS, ctx, now=NOW).parts["text"] == \
        "TRIGGERED #4217: High error rate on payments-api (5.2% > 1%) Reply 3a to ack, 3c to close."


def test_defaults_pass_their_own_validation(renderers: dict[str, Renderer]) -> None:
    for sample in (SAMPLE_CONTEXT, {**SAMPLE_CONTEXT, "reply_code": "3"}, BUNDLE_SAMPLE_CONTEXT):
        result = validate(Template(), sample, channels=list(Channel), renderers=renderers)
        assert result.ok and result.errors == [] and result.warnings == [], result


def test_a_channel_without_a_renderer_plugin_cannot_be_saved(renderers: dict[str, Renderer]) -> None:
    without_sms = {name: r for name, r in renderers.items() if name != "sms"}
    result = validate(Template.from_mapping({"sms": "{{ alert.summary }}"}), renderers=without_sms)
    assert [(e.channel, e.part, e.message) for e in result.errors] == [
        (Channel.SMS, "", "no renderer plugin for channel 'sms' is installed")]
    assert str(result.errors[0]) == "sms: no renderer plugin for channel 'sms' is installed"


def test_a_renderer_that_raises_is_an_error_not_a_crash(renderers: dict[str, Renderer]) -> None:
    class Broken:
        channel = "sms"

        def render(self, template_output: Any, context: Any) -> Any:
            raise RuntimeError("boom")

    result = validate(Template.from_mapping({"sms": "x"}), renderers={**renderers, "sms": Broken()})
    assert [e.message for e in result.errors] == ["the sms renderer failed: boom"]


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
    # far within the step limit, and it writes nothing (so no output or size cap can stop it
    # first, as it did on a fast run): only the clock can
    from oncall.notification.render import RenderLimits

    renderer = TemplateRenderer(RenderLimits(time_budget_s=0.05, max_steps=10**9))
    slow = "{% for i in range(10000) %}{% for j in range(10000) %}{% set x = (j|string)|replace('1', '22') %}" \
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


def test_alert_text_is_html_escaped_in_email_html_only(renderers: dict[str, Renderer]) -> None:
    evil = '<script>alert("x")</script> & <b>bold</b>'
    ctx = context(summary=evil)
    html = one(Channel.EMAIL, "html", "<p>{{ alert.summary }}</p>", ctx)
    assert html == "<p>&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; &lt;b&gt;bold&lt;/b&gt;</p>"
    assert one(Channel.EMAIL, "text", "{{ alert.summary }}", ctx) == evil
    assert validate(Template({Channel.EMAIL: ChannelTemplate({"html": "<p>{{ alert.summary }}</p>"})}), ctx,
                    renderers=renderers).ok


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


def test_syntax_errors_block_the_save_with_their_line(renderers: dict[str, Renderer]) -> None:
    template = Template.from_mapping({"email": {"text": "Alert\n{% if alert.status %}\n{{ alert.summary }\n"}})
    result = validate(template, renderers=renderers)
    assert not result.ok
    [error] = result.errors
    assert (error.channel, error.part, error.line) == (Channel.EMAIL, "text", 3)
    assert "syntax error" in error.message


def test_unknown_variables_are_warnings_with_lines(renderers: dict[str, Renderer]) -> None:
    template = Template.from_mapping({"sms": "{{ alert.summary }}\n{{ alert.sumary }}\n{% if outage %}{{ x }}{% endif %}"
                                            "\n{{ alert.labels.team }} {{ alert.summary.upper() }}"})
    result = validate(template, renderers=renderers)
    assert result.ok
    assert {(w.message, w.line) for w in result.warnings} == {
        ("'alert.sumary' is not in the sample context", 2),
        ("'outage' is not in the sample context", 3),
        ("'x' is not in the sample context", 3),
        ("'alert.labels.team' is not in the sample context", 4),
    }


def test_context_the_engine_sets_only_sometimes_is_not_an_unknown_variable(renderers: dict[str, Renderer]) -> None:
    source = "{% if bundle %}{{ bundle.count }}{% endif %}{{ reply_code }}{{ escalation.policy }}"
    assert validate(Template.from_mapping({"sms": source}), {"alert": {}}, renderers=renderers).warnings == []
    # present in the sample, a key is checked as usual
    typo = validate(Template.from_mapping({"sms": "{{ bundle.cuont }}"}), BUNDLE_SAMPLE_CONTEXT, renderers=renderers)
    assert [w.message for w in typo.warnings] == ["'bundle.cuont' is not in the sample context"]


def test_hostile_templates_are_refused_on_save(renderers: dict[str, Renderer]) -> None:
    result = validate(Template.from_mapping({"sms": "ok\n{{ ''.__class__.__mro__ }}"}), renderers=renderers)
    assert [(e.line, e.message) for e in result.errors] == [
        (2, "access to attribute '__class__' of 'str' object is not allowed")]


def test_email_html_outside_the_allow_list_is_an_error_and_is_not_sent(renderers: dict[str, Renderer]) -> None:
    html = ('<p onclick="steal()">hi</p>\n<script>x()</script>\n<iframe src="https://x"></iframe>\n'
            '<a href="javascript:alert(1)">go</a>\n<a href="https://ok.example">ok</a>')
    template = Template.from_mapping({"email": {"html": html}})
    result = validate(template, renderers=renderers)
    assert [(e.part, e.message) for e in result.errors] == [
        ("html", "line 1 of the rendered HTML: attribute 'onclick' is not allowed on <p>"),
        ("html", "line 2 of the rendered HTML: <script> is not allowed in email HTML"),
        ("html", "line 3 of the rendered HTML: <iframe> is not allowed in email HTML"),
        ("html", "line 4 of the rendered HTML: javascript: URLs are not allowed in href"),
    ]
    sent = renderers["email"].render(render(template, Channel.EMAIL, SAMPLE_CONTEXT, now=NOW).parts, SAMPLE_CONTEXT)
    clean = sent.payload["html"]
    assert "script" not in clean and "iframe" not in clean and "onclick" not in clean and "javascript" not in clean
    assert 'href="https://ok.example"' in clean


def test_a_template_rendering_too_many_slack_blocks_is_refused(renderers: dict[str, Renderer]) -> None:
    source = ('{"text": "x", "blocks": [{% for i in range(51) %}{"type": "divider"}{% if not loop.last %},'
              '{% endif %}{% endfor %}]}')
    result = validate(Template.from_mapping({"slack": source}), renderers=renderers)
    assert [(e.part, e.message) for e in result.errors] == [("body", "51 blocks: Slack allows at most 50")]
    broken = validate(Template.from_mapping({"slack": '{"text": "{{ alert.summary }}",}'}), renderers=renderers)
    assert broken.errors[0].message.startswith("rendered output is not valid JSON")


def test_teams_card_needs_the_adaptive_card_basics(renderers: dict[str, Renderer]) -> None:
    result = validate(Template.from_mapping({"teams": '{"type": "Card", "body": {}}'}), renderers=renderers)
    assert [e.message for e in result.errors] == [
        '"type" must be "AdaptiveCard"', '"version" must be a string like "1.4"', '"body" must be a list of elements']


def test_long_sms_is_a_warning_and_a_huge_one_an_error(renderers: dict[str, Renderer]) -> None:
    long = validate(Template.from_mapping({"sms": "{{ alert.details }} {{ alert.details }}"}), renderers=renderers)
    assert long.ok and [w.message for w in long.warnings] == ["189 GSM-7 characters: sent as 2 segments"]  # 94 + 1 + 94
    huge = validate(Template.from_mapping({"sms": "{% for i in range(40) %}{{ alert.details }}{% endfor %}"}),
                    renderers=renderers)
    assert [e.message for e in huge.errors] == ["3760 GSM-7 characters is 25 segments; at most 10 are sent"]  # 40 × 94


def test_a_label_named_like_a_dict_method_does_not_break_iteration() -> None:
    ctx = context(labels={"items": "cart", "keys": "k"})
    source = "{% for k, v in alert.labels.items() %}{{ k }}={{ v }};{% endfor %}{{ alert.labels['items'] }}"
    assert one(Channel.SMS, "text", source, ctx) == "items=cart;keys=k;cart"
