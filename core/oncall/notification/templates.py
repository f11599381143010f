"""The template model: a body per channel, each made of named parts, and the built-in defaults."""

from __future__ import annotations

import html
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Any

import orjson


class Channel(StrEnum):
    SLACK = "slack"
    TEAMS = "teams"
    EMAIL = "email"
    SMS = "sms"
    VOICE = "voice"
    PUSH = "push"
    WEBHOOK = "webhook"


class Escape(StrEnum):
    """How a value printed with ``{{ }}`` is escaped for the text around it."""

    TEXT = "text"  # plain text: nothing to escape
    HTML = "html"  # HTML autoescape
    JSON = "json"  # escaped as the inside of a JSON string, so "{{ x }}" stays valid JSON
    HEADER = "header"  # one line: newlines folded, so a value cannot add a mail header


# Each channel's parts, in order, and how each part escapes its values.
CHANNEL_PARTS: Mapping[Channel, Mapping[str, Escape]] = MappingProxyType({
    Channel.SLACK: {"body": Escape.JSON},
    Channel.TEAMS: {"body": Escape.JSON},
    Channel.EMAIL: {"subject": Escape.HEADER, "html": Escape.HTML, "text": Escape.TEXT},
    Channel.SMS: {"text": Escape.TEXT},
    Channel.VOICE: {"text": Escape.TEXT},
    Channel.PUSH: {"title": Escape.HEADER, "body": Escape.TEXT},
    Channel.WEBHOOK: {"body": Escape.JSON},
})


class TemplateShapeError(ValueError):
    """A template names a channel or part that does not exist."""


@dataclass(frozen=True)
class ChannelTemplate:
    """One channel's Jinja2 sources, by part name (``{"subject": ..., "html": ..., "text": ...}``)."""

    parts: Mapping[str, str]


@dataclass(frozen=True)
class Template:
    """What a team edits: the channels it customises. Everything else uses the defaults."""

    channels: Mapping[Channel, ChannelTemplate] = field(default_factory=dict)

    def source(self, channel: Channel, part: str) -> str:
        """The source for one part: the template's own, else the built-in default."""
        own = self.channels.get(channel)
        if own is not None and part in own.parts:
            return own.parts[part]
        return DEFAULT_TEMPLATES[channel].parts[part]

    def is_default(self, channel: Channel, part: str) -> bool:
        own = self.channels.get(channel)
        return own is None or part not in own.parts

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> Template:
        """Build from ``{"email": {"subject": "..."}, ...}`` as stored or sent by a client."""
        channels: dict[Channel, ChannelTemplate] = {}
        for name, parts in data.items():
            try:
                channel = Channel(name)
            except ValueError:
                raise TemplateShapeError(
                    f"unknown channel {name!r}; expected one of {', '.join(c.value for c in Channel)}"
                ) from None
            if isinstance(parts, str) and len(CHANNEL_PARTS[channel]) == 1:
                parts = {next(iter(CHANNEL_PARTS[channel])): parts}
            if not isinstance(parts, Mapping):
                expected = ", ".join(CHANNEL_PARTS[channel])
                raise TemplateShapeError(f"{channel}: expected an object of parts ({expected})")
            for part, source in parts.items():
                if part not in CHANNEL_PARTS[channel]:
                    raise TemplateShapeError(
                        f"{channel}: unknown part {part!r}; expected one of {', '.join(CHANNEL_PARTS[channel])}"
                    )
                if not isinstance(source, str):
                    raise TemplateShapeError(f"{channel}.{part}: expected a string")
            channels[channel] = ChannelTemplate(dict(parts))
        return cls(channels)


# ---------------------------------------------------------------------------- defaults
#
# Written against the context the escalation engine records (``render_context``): ``alert``
# always, ``escalation`` when a policy paged, ``contact_methods`` for a user, ``reply_code``
# for a channel that takes text replies, and ``bundle`` when one message summarises several
# alerts for one destination: ``{"count": n, "alerts": [alert, ...], "group": str}``
# (``alerts`` may hold fewer than ``count``; the defaults show the first few and say how many
# more). Every value is escaped by the part's Escape, so these only decide what to show.
# Slack mrkdwn is escaped explicitly (``|mrkdwn``) so an alert's text cannot ping ``<!channel>``.
#
# A page must go out whatever the alert holds, so every value an alert's source decides
# (summary, details, severity, labels, annotations, the group a bundle is for) is cut to fit
# the channel's real limits, counted the way the channel counts them, with room for the
# worst case of escaping: Slack's 150/2,000/3,000-character block texts (counted after
# mrkdwn escaping: ``|mrkdwn(n)``), Teams' 28 KB message (a character can be 6 bytes of JSON:
# the card's texts add up to 3,600 characters at most), an SMS's segments, a push message's
# 4,096 bytes (4 per character), a call's 1,000 characters, an email part's render budget
# (HTML escaping makes a character up to 5), and the webhook's JSON through ``|fit``, which
# measures what ``|tojson`` will write. ``tests/test_large_alerts.py`` holds them to it.
#
# The single-alert Slack body is on every Slack send's path: keep its filters few.

#: Context keys the engine sets only sometimes; a sample without them is not warned about.
OPTIONAL_CONTEXT: frozenset[str] = frozenset({"escalation", "contact_methods", "reply_code", "bundle", "routing"})

# a bundle: more than one alert in one message
_IF_BUNDLE = "{%- if bundle and bundle.count > 1 -%}"

_SLACK_BODY = _IF_BUNDLE + """
{%- with group = (bundle.group or "")|truncate(100, false, "…", 0), shown = bundle.alerts[:10],
         ns = namespace(text="", lines="") -%}
{%- with head = bundle.count ~ " alerts" ~ (" for " ~ group if group else "") -%}
{%- for a in shown -%}
  {%- if loop.index <= 3 -%}
    {%- set ns.text = ns.text ~ (": #" if loop.first else "; #") ~ a.id ~ " " ~ a.summary|truncate(100) -%}
  {%- endif -%}
  {%- set ns.lines = ns.lines ~ ("" if loop.first else "\\n") ~ "• *#" ~ a.id ~ "* " ~ a.status|upper ~ " · "
                     ~ (a.severity or "")|truncate(50, false, "…", 0) ~ " · " ~ a.summary|truncate(200) -%}
{%- endfor -%}
{%- if bundle.count > shown|length -%}
  {%- set ns.lines = ns.lines ~ ("\\n" if ns.lines else "") ~ "_and " ~ (bundle.count - shown|length) ~ " more_" -%}
{%- endif -%}
{%- if bundle.count > 3 %}{% set ns.text = ns.text ~ "; and " ~ (bundle.count - 3) ~ " more" %}{% endif -%}
{
  "text": "{{ (head ~ ns.text)|mrkdwn(300) }}",
  "blocks": [
    {"type": "header", "text": {"type": "plain_text", "text": "{{ head|truncate(150, false, "…", 0) }}", "emoji": true}},
    {"type": "section", "text": {"type": "mrkdwn", "text": "{{ ns.lines|mrkdwn(2900) }}"}}
    {%- if escalation %},
    {"type": "context", "elements": [{"type": "mrkdwn", "text": "{{ escalation.policy|mrkdwn(200) }} step {{ escalation.step }} of {{ escalation.steps }}
{%- if escalation.repeat %} (repeat {{ escalation.repeat }}){% endif %}"}]}
    {%- endif %}
  ]
}
{%- endwith -%}
{%- endwith -%}
{%- else -%}
{%- with title = alert.status|upper ~ ": " ~ alert.summary|truncate(300, false, "…", 0) -%}
{
  "text": "{{ title|mrkdwn(300) }}",
  "blocks": [
    {"type": "header", "text": {"type": "plain_text", "text": "{{ title|truncate(150, false, "…", 0) }}", "emoji": true}},
    {"type": "section", "fields": [
      {"type": "mrkdwn", "text": "*Severity*\\n{{ alert.severity|mrkdwn(100) }}"},
      {"type": "mrkdwn", "text": "*Source*\\n{{ (alert.integration or alert.source)|mrkdwn(200) }}"},
      {"type": "mrkdwn", "text": "*Started*\\n{{ alert.created_at|ago }}"},
      {"type": "mrkdwn", "text": "*Occurrences*\\n{{ alert.duplicate_count }}"}
    ]},
    {%- if alert.details %}
    {"type": "section", "text": {"type": "mrkdwn", "text": "{{ alert.details|mrkdwn(2900) }}"}},
    {%- endif %}
    {%- if alert.labels %}
    {"type": "context", "elements": [{"type": "mrkdwn", "text": "{{ alert.labels|labels(max_length=2900)|mrkdwn(2900) }}"}]},
    {%- endif %}
    {"type": "context", "elements": [{"type": "mrkdwn", "text": "Alert #{{ alert.id }}
{%- if escalation %} · {{ escalation.policy|mrkdwn(200) }} step {{ escalation.step }} of {{ escalation.steps }}
{%- if escalation.repeat %} (repeat {{ escalation.repeat }}){% endif %}{% endif %}"}]}
  ]
}
{%- endwith %}
{%- endif %}
"""

_TEAMS_BODY = _IF_BUNDLE + """
{%- with shown = bundle.alerts[:10] -%}
{
  "type": "AdaptiveCard",
  "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
  "version": "1.4",
  "body": [
    {"type": "TextBlock", "size": "Large", "weight": "Bolder", "wrap": true, "color": "Attention",
     "text": "{{ bundle.count }} alerts{% if bundle.group %} for {{ (bundle.group or "")|truncate(200) }}{% endif %}"},
    {"type": "FactSet", "facts": [
      {%- for a in shown %}
      {"title": "#{{ a.id }} {{ a.status|upper }}", "value": "{{ (a.severity or "")|truncate(30, false, "…", 0) }} · {{ a.summary|truncate(200) }}"}
      {%- if not loop.last %},{% endif %}
      {%- endfor %}
    ]}
    {%- if bundle.count > shown|length %},
    {"type": "TextBlock", "wrap": true, "isSubtle": true, "text": "and {{ bundle.count - shown|length }} more"}
    {%- endif %}
    {%- if escalation %},
    {"type": "TextBlock", "wrap": true, "isSubtle": true, "size": "Small",
     "text": "Escalation: {{ (escalation.policy or "")|truncate(100) }}, step {{ escalation.step }} of {{ escalation.steps }}"}
    {%- endif %}
  ]
}
{%- endwith -%}
{%- else -%}
{
  "type": "AdaptiveCard",
  "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
  "version": "1.4",
  "body": [
    {"type": "TextBlock", "size": "Large", "weight": "Bolder", "wrap": true,
     "color": "{{ 'Good' if alert.status == 'resolved' else 'Attention' }}",
     "text": "{{ alert.status|upper }}: {{ alert.summary|truncate(300) }}"},
    {"type": "FactSet", "facts": [
      {"title": "Severity", "value": "{{ (alert.severity or "")|truncate(50, false, "…", 0) }}"},
      {"title": "Source", "value": "{{ (alert.integration or alert.source or "")|truncate(100, false, "…", 0) }}"},
      {"title": "Started", "value": "{{ alert.created_at|ago }}"},
      {"title": "Occurrences", "value": "{{ alert.duplicate_count }}"}
      {%- if escalation %},
      {"title": "Escalation", "value": "{{ (escalation.policy or "")|truncate(100) }}, step {{ escalation.step }} of {{ escalation.steps }}"}
      {%- endif %}
    ]}
    {%- if alert.details %},
    {"type": "TextBlock", "wrap": true, "text": "{{ alert.details|truncate(2000) }}"}
    {%- endif %}
    {%- if alert.labels %},
    {"type": "TextBlock", "wrap": true, "isSubtle": true, "size": "Small", "text": "{{ alert.labels|labels(max_length=1000) }}"}
    {%- endif %}
  ]
}
{%- endif %}
"""

_EMAIL_SUBJECT = _IF_BUNDLE + """
[{{ bundle.count }} ALERTS] {{ (bundle.group or bundle.alerts[0].summary)|truncate(200) }}
{%- else -%}
[{{ alert.status|upper }}] {{ alert.summary|truncate(200) }}
{%- endif %}"""

_EMAIL_HTML = _IF_BUNDLE + """
{%- with shown = bundle.alerts[:50] -%}
<div style="font-family: sans-serif; font-size: 14px; color: #1d1d1f;">
  <h2 style="margin: 0 0 12px 0;">{{ bundle.count }} alerts{% if bundle.group %} for {{ (bundle.group or "")|truncate(200) }}{% endif %}</h2>
  <table style="border-collapse: collapse; margin-bottom: 12px;">
    <tr style="color: #6e6e73; text-align: left;"><th style="padding: 2px 12px 2px 0;">Alert</th>\
<th style="padding: 2px 12px 2px 0;">Status</th><th style="padding: 2px 12px 2px 0;">Severity</th>\
<th style="padding: 2px 12px 2px 0;">Summary</th><th style="padding: 2px 0;">Started</th></tr>
    {%- for a in shown %}
    <tr><td style="padding: 2px 12px 2px 0;">#{{ a.id }}</td><td style="padding: 2px 12px 2px 0;">{{ a.status }}</td>\
<td style="padding: 2px 12px 2px 0;">{{ (a.severity or "")|truncate(30) }}</td><td style="padding: 2px 12px 2px 0;">{{ a.summary|truncate(150) }}</td>\
<td style="padding: 2px 0;">{{ a.created_at|ago }}</td></tr>
    {%- endfor %}
  </table>
  {%- if bundle.count > shown|length %}
  <p>and {{ bundle.count - shown|length }} more</p>
  {%- endif %}
  {%- if escalation %}
  <p style="color: #6e6e73; font-size: 12px;">Escalation: {{ (escalation.policy or "")|truncate(200) }}, step {{ escalation.step }} of {{ escalation.steps }}</p>
  {%- endif %}
</div>
{%- endwith -%}
{%- else -%}
<div style="font-family: sans-serif; font-size: 14px; color: #1d1d1f;">
  <h2 style="margin: 0 0 12px 0;">{{ alert.status|upper }}: {{ alert.summary|truncate(1000) }}</h2>
  <table style="border-collapse: collapse; margin-bottom: 12px;">
    <tr><td style="padding: 2px 12px 2px 0; color: #6e6e73;">Severity</td><td>{{ (alert.severity or "")|truncate(100) }}</td></tr>
    <tr><td style="padding: 2px 12px 2px 0; color: #6e6e73;">Source</td><td>{{ (alert.integration or alert.source or "")|truncate(200) }}</td></tr>
    <tr><td style="padding: 2px 12px 2px 0; color: #6e6e73;">Started</td><td>{{ alert.created_at|localtime }} ({{ alert.created_at|ago }})</td></tr>
    <tr><td style="padding: 2px 12px 2px 0; color: #6e6e73;">Occurrences</td><td>{{ alert.duplicate_count }}</td></tr>
    {%- if escalation %}
    <tr><td style="padding: 2px 12px 2px 0; color: #6e6e73;">Escalation</td><td>{{ (escalation.policy or "")|truncate(200) }}, step {{ escalation.step }} of {{ escalation.steps }}</td></tr>
    {%- endif %}
  </table>
  {%- if alert.details %}
  <pre style="white-space: pre-wrap; background: #f5f5f7; padding: 8px;">{{ alert.details|truncate(10000) }}</pre>
  {%- endif %}
  {%- if alert.labels %}
  <p style="color: #6e6e73; font-size: 12px;">{{ alert.labels|labels(max_length=4000) }}</p>
  {%- endif %}
  <p style="color: #6e6e73; font-size: 12px;">Alert #{{ alert.id }}</p>
</div>
{%- endif %}
"""

_EMAIL_TEXT = _IF_BUNDLE + """
{%- with shown = bundle.alerts[:50] -%}
{{ bundle.count }} alerts{% if bundle.group %} for {{ (bundle.group or "")|truncate(200) }}{% endif %}
{% for a in shown %}
#{{ a.id }}  {{ a.status|upper }}  {{ (a.severity or "")|truncate(30) }}  {{ a.summary|truncate(300) }} ({{ a.created_at|ago }})
{%- endfor %}
{%- if bundle.count > shown|length %}
and {{ bundle.count - shown|length }} more
{%- endif %}
{%- if escalation %}

Escalation: {{ (escalation.policy or "")|truncate(200) }}, step {{ escalation.step }} of {{ escalation.steps }}
{%- endif %}
{%- endwith -%}
{%- else -%}
{{ alert.status|upper }}: {{ alert.summary|truncate(2000) }}

Severity:    {{ (alert.severity or "")|truncate(100) }}
Source:      {{ (alert.integration or alert.source or "")|truncate(200) }}
Started:     {{ alert.created_at|localtime }} ({{ alert.created_at|ago }})
Occurrences: {{ alert.duplicate_count }}
{%- if escalation %}
Escalation:  {{ (escalation.policy or "")|truncate(200) }}, step {{ escalation.step }} of {{ escalation.steps }}
{%- endif %}
{%- if alert.details %}

{{ alert.details|truncate(20000) }}
{%- endif %}
{%- if alert.labels %}

{{ alert.labels|labels(max_length=10000) }}
{%- endif %}

Alert #{{ alert.id }}
{%- endif %}
"""

# One GSM-7 segment (160 characters) when the summary is short: status, id, summary, and
# how to answer by text when the channel takes replies. A bundle lists as many as fit.
_SMS_TEXT = _IF_BUNDLE + """
{%- with head = bundle.count ~ " alerts" ~ (" for " ~ (bundle.group or "")|truncate(40, false, "...", 0) if bundle.group else "")
                ~ ": ", ns = namespace(s="") -%}
{%- for a in bundle.alerts[:10] %}{% set ns.s = ns.s ~ ("#" if loop.first else "; #") ~ a.id ~ " " ~ a.summary|truncate(150) %}
{%- endfor -%}
{{ head }}{{ ns.s|truncate(160 - head|length, false, "...", 0) }}
{%- endwith -%}
{%- else -%}
{%- with reply = reply_code and alert.status != "resolved" -%}
{{ alert.status|upper }} #{{ alert.id }}: {{ alert.summary|truncate(100 if reply else 130, false, "...", 0) }}
{%- if reply %} Reply {{ reply_code }}a to ack, {{ reply_code }}c to close.{% endif %}
{%- endwith %}
{%- endif %}"""

# Plain speech: no symbols to spell out, no menu (the voice channel adds its keypress menu).
_VOICE_TEXT = _IF_BUNDLE + """
{%- with shown = bundle.alerts[:3] -%}
This is On Call with {{ bundle.count }} alerts{% if bundle.group %} for {{ (bundle.group or "")|truncate(100) }}{% endif %}.
{%- for a in shown %} Alert {{ a.id }}, {{ (a.severity or "")|truncate(30) }}: {{ a.summary|truncate(150)|trim(". ") }}.{% endfor %}
{%- if bundle.count > shown|length %} And {{ bundle.count - shown|length }} more.{% endif %}
{%- endwith -%}
{%- else -%}
This is On Call. Alert {{ alert.id }}
{%- if alert.integration or alert.source %} from {{ (alert.integration or alert.source or "")|truncate(100) }}{% endif %}
{%- if alert.status == "resolved" %} is resolved{% elif alert.status == "acknowledged" %} is acknowledged{% endif %}.
{%- if alert.severity %} Severity {{ (alert.severity or "")|truncate(30) }}.{% endif %} {{ alert.summary|truncate(300)|trim(". ") }}.
{%- endif %}"""

_PUSH_TITLE = _IF_BUNDLE + """
[{{ bundle.count }} ALERTS] {{ (bundle.group or bundle.alerts[0].summary)|truncate(120) }}
{%- else -%}
[{{ (alert.severity or "")|truncate(20, false, "…", 0)|upper }}] {{ alert.summary|truncate(120) }}
{%- endif %}"""

_PUSH_BODY = _IF_BUNDLE + """
{%- with shown = bundle.alerts[:5] -%}
{% for a in shown %}#{{ a.id }} {{ a.status|upper }} {{ (a.severity or "")|truncate(20) }}: {{ a.summary|truncate(80) }}
{% endfor %}
{%- if bundle.count > shown|length %}and {{ bundle.count - shown|length }} more{% endif %}
{%- endwith -%}
{%- else -%}
{{ alert.status|upper }} · {{ (alert.integration or alert.source or "")|truncate(100) }} · {{ alert.created_at|ago }}
{%- if alert.details %}
{{ alert.details|truncate(500) }}
{%- endif %}
{%- endif %}"""

# The whole alert as JSON, for machines: values go through tojson, never hand-quoted, and
# ``fit`` cuts what would not fit the render's output limit (long strings end in "…",
# entries that get no room are left out), saying so in ``truncated``. A bundle sends its
# first 25 alerts (``count`` says how many there were), each without its annotations and
# with its fields cut short.
_WEBHOOK_BODY = _IF_BUNDLE + """
{"event": "alert.bundle", "bundle": {"count": {{ bundle.count|tojson }}, "group": {{ (bundle.group or none)|fit(200)|tojson }}, \
"alerts": [
{%- for a in (bundle.alerts or [])[:25] %}{% if not loop.first %}, {% endif -%}
{"id": {{ a.id|default(none)|tojson }}, "status": {{ a.status|default(none)|tojson }}, "severity": {{ a.severity|default(none)|fit(100)|tojson }}, \
"summary": {{ (a.summary or "")|fit(500)|tojson }}, "details": {{ (a.details or "")|fit(300)|tojson }}, \
"labels": {{ (a.labels or {})|fit(1000)|tojson }}, "source": {{ a.source|default(none)|fit(100)|tojson }}, "integration": {{ a.integration|default(none)|fit(200)|tojson }}, \
"dedup_key": {{ a.dedup_key|default(none)|fit(300)|tojson }}, "duplicate_count": {{ a.duplicate_count|default(none)|tojson }}, \
"created_at": {{ a.created_at|default(none)|fit(60)|tojson }}}
{%- endfor %}]}, "escalation": {{ (escalation or none)|fit(2000)|tojson }}}
{%- else -%}
{%- with a = alert|fit(60000) -%}
{"event": "alert.{{ alert.status }}", "alert": {{ a|tojson }}, "truncated": {{ (a is not sameas alert)|tojson }}, \
"escalation": {{ (escalation or none)|fit(4000)|tojson }}}
{%- endwith %}
{%- endif %}
"""

DEFAULT_TEMPLATES: Mapping[Channel, ChannelTemplate] = MappingProxyType({
    Channel.SLACK: ChannelTemplate({"body": _SLACK_BODY}),
    Channel.TEAMS: ChannelTemplate({"body": _TEAMS_BODY}),
    Channel.EMAIL: ChannelTemplate({"subject": _EMAIL_SUBJECT, "html": _EMAIL_HTML, "text": _EMAIL_TEXT}),
    Channel.SMS: ChannelTemplate({"text": _SMS_TEXT}),
    Channel.VOICE: ChannelTemplate({"text": _VOICE_TEXT}),
    Channel.PUSH: ChannelTemplate({"title": _PUSH_TITLE, "body": _PUSH_BODY}),
    Channel.WEBHOOK: ChannelTemplate({"body": _WEBHOOK_BODY}),
})

_ESCALATION = {"policy_id": "payments-primary", "policy": "Payments primary", "step": 1, "steps": 3, "repeat": 0}

# A realistic context in the shape the escalation engine records: what previews and
# validation render when the caller brings no sample of its own.
SAMPLE_CONTEXT: Mapping[str, Any] = MappingProxyType({
    "alert": {
        "id": 4217,
        "status": "triggered",
        "summary": "High error rate on payments-api (5.2% > 1%)",
        "details": "Error rate over the last 5 minutes is 5.2%.\nRunbook: https://runbooks.example.com/payments-api",
        "severity": "critical",
        "labels": {"alertname": "HighErrorRate", "service": "payments-api", "env": "prod"},
        "annotations": {"runbook_url": "https://runbooks.example.com/payments-api"},
        "source": "alertmanager",
        "integration": "prod-alertmanager",
        "integration_id": "3b5c7e1a-0000-4000-8000-000000000001",
        "dedup_key": "HighErrorRate/payments-api",
        "duplicate_count": 3,
        "created_at": "2026-03-14T09:26:53+00:00",
    },
    "escalation": dict(_ESCALATION),
    "contact_methods": [{"type": "sms", "value": "+15555550100"}],
})


def _bundled(alert_id: int, summary: str, severity: str, alertname: str, instance: str, minute: int) -> dict[str, Any]:
    return {
        "id": alert_id,
        "status": "triggered",
        "summary": summary,
        "details": f"{summary}.\nRunbook: https://runbooks.example.com/payments-db",
        "severity": severity,
        "labels": {"alertname": alertname, "service": "payments-db", "instance": instance, "env": "prod"},
        "annotations": {"runbook_url": "https://runbooks.example.com/payments-db"},
        "source": "alertmanager",
        "integration": "prod-alertmanager",
        "integration_id": "3b5c7e1a-0000-4000-8000-000000000001",
        "dedup_key": f"{alertname}/{instance}",
        "duplicate_count": 0,
        "created_at": f"2026-03-14T09:{minute:02d}:00+00:00",
    }


_BUNDLE_ALERTS = [
    _bundled(4301, "Disk full on payments-db-1 (/var/lib/postgresql 97%)", "critical", "DiskFull", "payments-db-1", 24),
    _bundled(4302, "Replication lag on payments-db-2 is 45s", "warning", "ReplicationLag", "payments-db-2", 25),
    _bundled(4303, "Connection pool exhausted on payments-db-1", "error", "PoolExhausted", "payments-db-1", 26),
]

# The same, for one message that summarises several alerts for one destination (``bundle``);
# ``alert`` is the bundle's first, for templates that ignore bundles.
BUNDLE_SAMPLE_CONTEXT: Mapping[str, Any] = MappingProxyType({
    "alert": _BUNDLE_ALERTS[0],
    "bundle": {"count": len(_BUNDLE_ALERTS), "alerts": _BUNDLE_ALERTS, "group": "payments-db"},
    "escalation": dict(_ESCALATION),
    "contact_methods": [{"type": "sms", "value": "+15555550100"}],
})


# ---------------------------------------------------------------------------- the last resort
#
# When a channel's template fails, and its default too (or the process rendering them was
# stopped), the page still goes out: a minimal message made here in plain Python, no Jinja,
# from what any context has: the status, the alert's id, its severity, its summary cut
# short, and a link if the alert carries one (``url``, or a ``runbook_url`` annotation).
# Each value is cut before it is used, so nothing an alert holds can make this fail or grow.

_LINK_ANNOTATIONS = ("runbook_url", "runbook", "dashboard_url", "generatorURL")
_SLACK_ESCAPES = {ord("&"): "&amp;", ord("<"): "&lt;", ord(">"): "&gt;"}


def _cut(value: Any, limit: int) -> str:
    """A scalar as one line of at most ``limit`` printable characters (anything else: empty)."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        return ""
    text = value[: 2 * limit + 16] if isinstance(value, str) else str(value)
    text = " ".join("".join(c if c.isprintable() else " " for c in text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _link(alert: Mapping[str, Any]) -> str:
    annotations = alert.get("annotations")
    candidates = [alert.get("url"), *(annotations.get(k) for k in _LINK_ANNOTATIONS
                                      if isinstance(annotations, Mapping))]
    for url in candidates:
        if isinstance(url, str) and url.startswith(("https://", "http://")) and len(url) <= 1000 \
                and url.isprintable() and " " not in url:
            return url
    return ""


def minimal_parts(channel: Channel, context: Mapping[str, Any]) -> dict[str, str]:
    """The last-resort message's parts for ``channel`` (the shape its renderer plugin takes)."""
    raw_alert, raw_bundle = context.get("alert"), context.get("bundle")
    alert: Mapping[str, Any] = raw_alert if isinstance(raw_alert, Mapping) else {}
    bundle: Mapping[str, Any] = raw_bundle if isinstance(raw_bundle, Mapping) else {}
    count = bundle.get("count")
    if not isinstance(count, int) or isinstance(count, bool):
        count = 0
    many = count > 1
    raw_listed = bundle.get("alerts")
    listed: list[Any] = raw_listed if isinstance(raw_listed, list) else []
    alert_id = alert.get("id") if isinstance(alert.get("id"), int) else _cut(alert.get("id"), 40)
    status = _cut(alert.get("status"), 20) or "alert"
    severity = _cut(alert.get("severity"), 20)
    summary = _cut(alert.get("summary"), 200) or "(no summary)"
    link = _link(alert)
    if many:
        alerts = [a for a in listed[:3] if isinstance(a, Mapping)]
        items = "; ".join(f"#{_cut(a.get('id'), 40)} {_cut(a.get('summary'), 60)}" for a in alerts)
        more = count - len(alerts)
        line = f"{count} alerts" + (f": {items}" if items else "") + (f"; and {more} more" if alerts and more else "")
        speech = f"This is On Call with {count} alerts. " + (f"The first: {_cut(alerts[0].get('summary'), 150)}."
                                                             if alerts else "")
    else:
        line = f"{status.upper()} #{alert_id}" + (f" [{severity}]" if severity else "") + f": {summary}"
        speech = f"This is On Call. Alert {alert_id}" + (f", severity {severity}" if severity else "") + \
            f". {_cut(alert.get('summary'), 150) or 'No summary'}."
    with_link = line + (f"\n{link}" if link else "")
    if channel is Channel.SLACK:
        text = with_link.translate(_SLACK_ESCAPES)
        body = {"text": line.translate(_SLACK_ESCAPES)[:300],
                "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text[:2900]}}]}
        return {"body": orjson.dumps(body).decode()}
    if channel is Channel.TEAMS:
        blocks = [{"type": "TextBlock", "wrap": True, "weight": "Bolder", "text": line}]
        if link:
            blocks.append({"type": "TextBlock", "wrap": True, "text": f"[{link}]({link})"})
        card = {"type": "AdaptiveCard", "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                "version": "1.4", "body": blocks}
        return {"body": orjson.dumps(card).decode()}
    if channel is Channel.EMAIL:
        page = f"<p>{html.escape(line)}</p>"
        if link:
            page += f'<p><a href="{html.escape(link)}">{html.escape(link)}</a></p>'
        return {"subject": line[:200], "html": page, "text": with_link}
    if channel is Channel.SMS:
        reply = context.get("reply_code")
        text = line[:150] if many or not reply else \
            f"{line[:100]} Reply {_cut(reply, 4)}a to ack, {_cut(reply, 4)}c to close."
        return {"text": text}
    if channel is Channel.VOICE:
        return {"text": speech}
    if channel is Channel.PUSH:
        return {"title": line[:120], "body": with_link}
    if many:
        shown = [a for a in listed[:25] if isinstance(a, Mapping)]
        hook: dict[str, Any] = {"event": "alert.bundle", "fallback": True, "bundle": {"count": count, "alerts": [
            {"id": a.get("id") if isinstance(a.get("id"), int) else _cut(a.get("id"), 40),
             "status": _cut(a.get("status"), 20), "severity": _cut(a.get("severity"), 20),
             "summary": _cut(a.get("summary"), 200)} for a in shown]}}
    else:
        hook = {"event": f"alert.{status}", "fallback": True, "alert": {
            "id": alert_id, "status": status, "severity": severity, "summary": _cut(alert.get("summary"), 1000),
            "dedup_key": _cut(alert.get("dedup_key"), 300), "url": link or None}}
    return {"body": orjson.dumps(hook).decode()}
