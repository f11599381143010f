"""The template model: a body per channel, each made of named parts, and the built-in defaults."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Any


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
# The single-alert Slack body is on every Slack send's path: keep its filters few.

#: Context keys the engine sets only sometimes; a sample without them is not warned about.
OPTIONAL_CONTEXT: frozenset[str] = frozenset({"escalation", "contact_methods", "reply_code", "bundle", "routing"})

# a bundle: more than one alert in one message
_IF_BUNDLE = "{%- if bundle and bundle.count > 1 -%}"

_SLACK_BODY = _IF_BUNDLE + """
{%- with head = bundle.count ~ " alerts" ~ (" for " ~ bundle.group if bundle.group else ""), shown = bundle.alerts[:10],
         ns = namespace(text="", lines="") -%}
{%- for a in shown -%}
  {%- if loop.index <= 3 -%}
    {%- set ns.text = ns.text ~ (": #" if loop.first else "; #") ~ a.id ~ " " ~ a.summary|truncate(100) -%}
  {%- endif -%}
  {%- set ns.lines = ns.lines ~ ("" if loop.first else "\\n") ~ "• *#" ~ a.id ~ "* " ~ a.status|upper ~ " · "
                     ~ a.severity ~ " · " ~ a.summary|truncate(200) -%}
{%- endfor -%}
{%- if bundle.count > shown|length -%}
  {%- set ns.lines = ns.lines ~ ("\\n" if ns.lines else "") ~ "_and " ~ (bundle.count - shown|length) ~ " more_" -%}
{%- endif -%}
{%- if bundle.count > 3 %}{% set ns.text = ns.text ~ "; and " ~ (bundle.count - 3) ~ " more" %}{% endif -%}
{
  "text": "{{ ((head ~ ns.text)|mrkdwn)|truncate(300) }}",
  "blocks": [
    {"type": "header", "text": {"type": "plain_text", "text": "{{ head|truncate(150) }}", "emoji": true}},
    {"type": "section", "text": {"type": "mrkdwn", "text": "{{ (ns.lines|mrkdwn)|truncate(2900) }}"}}
    {%- if escalation %},
    {"type": "context", "elements": [{"type": "mrkdwn", "text": "{{ escalation.policy|mrkdwn }} step {{ escalation.step }} of {{ escalation.steps }}
{%- if escalation.repeat %} (repeat {{ escalation.repeat }}){% endif %}"}]}
    {%- endif %}
  ]
}
{%- endwith -%}
{%- else -%}
{%- with title = alert.status|upper ~ ": " ~ alert.summary -%}
{
  "text": "{{ (title|mrkdwn)|truncate(300) }}",
  "blocks": [
    {"type": "header", "text": {"type": "plain_text", "text": "{{ title|truncate(150) }}", "emoji": true}},
    {"type": "section", "fields": [
      {"type": "mrkdwn", "text": "*Severity*\\n{{ alert.severity|mrkdwn }}"},
      {"type": "mrkdwn", "text": "*Source*\\n{{ (alert.integration or alert.source)|mrkdwn }}"},
      {"type": "mrkdwn", "text": "*Started*\\n{{ alert.created_at|ago }}"},
      {"type": "mrkdwn", "text": "*Occurrences*\\n{{ alert.duplicate_count }}"}
    ]},
    {%- if alert.details %}
    {"type": "section", "text": {"type": "mrkdwn", "text": "{{ (alert.details|mrkdwn)|truncate(2900) }}"}},
    {%- endif %}
    {%- if alert.labels %}
    {"type": "context", "elements": [{"type": "mrkdwn", "text": "{{ (alert.labels|labels|mrkdwn)|truncate(2900) }}"}]},
    {%- endif %}
    {"type": "context", "elements": [{"type": "mrkdwn", "text": "Alert #{{ alert.id }}
{%- if escalation %} · {{ escalation.policy|mrkdwn }} step {{ escalation.step }} of {{ escalation.steps }}
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
     "text": "{{ bundle.count }} alerts{% if bundle.group %} for {{ bundle.group|truncate(200) }}{% endif %}"},
    {"type": "FactSet", "facts": [
      {%- for a in shown %}
      {"title": "#{{ a.id }} {{ a.status|upper }}", "value": "{{ a.severity }} · {{ a.summary|truncate(300) }}"}
      {%- if not loop.last %},{% endif %}
      {%- endfor %}
    ]}
    {%- if bundle.count > shown|length %},
    {"type": "TextBlock", "wrap": true, "isSubtle": true, "text": "and {{ bundle.count - shown|length }} more"}
    {%- endif %}
    {%- if escalation %},
    {"type": "TextBlock", "wrap": true, "isSubtle": true, "size": "Small",
     "text": "Escalation: {{ escalation.policy }}, step {{ escalation.step }} of {{ escalation.steps }}"}
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
      {"title": "Severity", "value": "{{ alert.severity }}"},
      {"title": "Source", "value": "{{ alert.integration or alert.source }}"},
      {"title": "Started", "value": "{{ alert.created_at|ago }}"},
      {"title": "Occurrences", "value": "{{ alert.duplicate_count }}"}
      {%- if escalation %},
      {"title": "Escalation", "value": "{{ escalation.policy }}, step {{ escalation.step }} of {{ escalation.steps }}"}
      {%- endif %}
    ]}
    {%- if alert.details %},
    {"type": "TextBlock", "wrap": true, "text": "{{ alert.details|truncate(4000) }}"}
    {%- endif %}
    {%- if alert.labels %},
    {"type": "TextBlock", "wrap": true, "isSubtle": true, "size": "Small", "text": "{{ alert.labels|labels }}"}
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
  <h2 style="margin: 0 0 12px 0;">{{ bundle.count }} alerts{% if bundle.group %} for {{ bundle.group }}{% endif %}</h2>
  <table style="border-collapse: collapse; margin-bottom: 12px;">
    <tr style="color: #6e6e73; text-align: left;"><th style="padding: 2px 12px 2px 0;">Alert</th>\
<th style="padding: 2px 12px 2px 0;">Status</th><th style="padding: 2px 12px 2px 0;">Severity</th>\
<th style="padding: 2px 12px 2px 0;">Summary</th><th style="padding: 2px 0;">Started</th></tr>
    {%- for a in shown %}
    <tr><td style="padding: 2px 12px 2px 0;">#{{ a.id }}</td><td style="padding: 2px 12px 2px 0;">{{ a.status }}</td>\
<td style="padding: 2px 12px 2px 0;">{{ a.severity }}</td><td style="padding: 2px 12px 2px 0;">{{ a.summary|truncate(300) }}</td>\
<td style="padding: 2px 0;">{{ a.created_at|ago }}</td></tr>
    {%- endfor %}
  </table>
  {%- if bundle.count > shown|length %}
  <p>and {{ bundle.count - shown|length }} more</p>
  {%- endif %}
  {%- if escalation %}
  <p style="color: #6e6e73; font-size: 12px;">Escalation: {{ escalation.policy }}, step {{ escalation.step }} of {{ escalation.steps }}</p>
  {%- endif %}
</div>
{%- endwith -%}
{%- else -%}
<div style="font-family: sans-serif; font-size: 14px; color: #1d1d1f;">
  <h2 style="margin: 0 0 12px 0;">{{ alert.status|upper }}: {{ alert.summary }}</h2>
  <table style="border-collapse: collapse; margin-bottom: 12px;">
    <tr><td style="padding: 2px 12px 2px 0; color: #6e6e73;">Severity</td><td>{{ alert.severity }}</td></tr>
    <tr><td style="padding: 2px 12px 2px 0; color: #6e6e73;">Source</td><td>{{ alert.integration or alert.source }}</td></tr>
    <tr><td style="padding: 2px 12px 2px 0; color: #6e6e73;">Started</td><td>{{ alert.created_at|localtime }} ({{ alert.created_at|ago }})</td></tr>
    <tr><td style="padding: 2px 12px 2px 0; color: #6e6e73;">Occurrences</td><td>{{ alert.duplicate_count }}</td></tr>
    {%- if escalation %}
    <tr><td style="padding: 2px 12px 2px 0; color: #6e6e73;">Escalation</td><td>{{ escalation.policy }}, step {{ escalation.step }} of {{ escalation.steps }}</td></tr>
    {%- endif %}
  </table>
  {%- if alert.details %}
  <pre style="white-space: pre-wrap; background: #f5f5f7; padding: 8px;">{{ alert.details|truncate(20000) }}</pre>
  {%- endif %}
  {%- if alert.labels %}
  <p style="color: #6e6e73; font-size: 12px;">{{ alert.labels|labels }}</p>
  {%- endif %}
  <p style="color: #6e6e73; font-size: 12px;">Alert #{{ alert.id }}</p>
</div>
{%- endif %}
"""

_EMAIL_TEXT = _IF_BUNDLE + """
{%- with shown = bundle.alerts[:50] -%}
{{ bundle.count }} alerts{% if bundle.group %} for {{ bundle.group }}{% endif %}
{% for a in shown %}
#{{ a.id }}  {{ a.status|upper }}  {{ a.severity }}  {{ a.summary|truncate(300) }} ({{ a.created_at|ago }})
{%- endfor %}
{%- if bundle.count > shown|length %}
and {{ bundle.count - shown|length }} more
{%- endif %}
{%- if escalation %}

Escalation: {{ escalation.policy }}, step {{ escalation.step }} of {{ escalation.steps }}
{%- endif %}
{%- endwith -%}
{%- else -%}
{{ alert.status|upper }}: {{ alert.summary }}

Severity:    {{ alert.severity }}
Source:      {{ alert.integration or alert.source }}
Started:     {{ alert.created_at|localtime }} ({{ alert.created_at|ago }})
Occurrences: {{ alert.duplicate_count }}
{%- if escalation %}
Escalation:  {{ escalation.policy }}, step {{ escalation.step }} of {{ escalation.steps }}
{%- endif %}
{%- if alert.details %}

{{ alert.details|truncate(20000) }}
{%- endif %}
{%- if alert.labels %}

{{ alert.labels|labels }}
{%- endif %}

Alert #{{ alert.id }}
{%- endif %}
"""

# One GSM-7 segment (160 characters) when the summary is short: status, id, summary, and
# how to answer by text when the channel takes replies. A bundle lists as many as fit.
_SMS_TEXT = _IF_BUNDLE + """
{%- with head = bundle.count ~ " alerts" ~ (" for " ~ bundle.group|truncate(40, false, "...", 0) if bundle.group else "")
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
This is On Call with {{ bundle.count }} alerts{% if bundle.group %} for {{ bundle.group }}{% endif %}.
{%- for a in shown %} Alert {{ a.id }}, {{ a.severity }}: {{ a.summary|truncate(150)|trim(". ") }}.{% endfor %}
{%- if bundle.count > shown|length %} And {{ bundle.count - shown|length }} more.{% endif %}
{%- endwith -%}
{%- else -%}
This is On Call. Alert {{ alert.id }}
{%- if alert.integration or alert.source %} from {{ alert.integration or alert.source }}{% endif %}
{%- if alert.status == "resolved" %} is resolved{% elif alert.status == "acknowledged" %} is acknowledged{% endif %}.
{%- if alert.severity %} Severity {{ alert.severity }}.{% endif %} {{ alert.summary|truncate(300)|trim(". ") }}.
{%- endif %}"""

_PUSH_TITLE = _IF_BUNDLE + """
[{{ bundle.count }} ALERTS] {{ (bundle.group or bundle.alerts[0].summary)|truncate(120) }}
{%- else -%}
[{{ alert.severity|upper }}] {{ alert.summary|truncate(120) }}
{%- endif %}"""

_PUSH_BODY = _IF_BUNDLE + """
{%- with shown = bundle.alerts[:5] -%}
{% for a in shown %}#{{ a.id }} {{ a.status|upper }} {{ a.severity }}: {{ a.summary|truncate(100) }}
{% endfor %}
{%- if bundle.count > shown|length %}and {{ bundle.count - shown|length }} more{% endif %}
{%- endwith -%}
{%- else -%}
{{ alert.status|upper }} · {{ alert.integration or alert.source }} · {{ alert.created_at|ago }}
{%- if alert.details %}
{{ alert.details|truncate(500) }}
{%- endif %}
{%- endif %}"""

# The whole alert as JSON, for machines: values go through tojson, never hand-quoted. A
# bundle sends its first 25 alerts (``count`` says how many there were), each without its
# annotations and with summary and details cut short, so a bundle of big alerts still fits
# the render's output limit.
_WEBHOOK_BODY = _IF_BUNDLE + """
{"event": "alert.bundle", "bundle": {"count": {{ bundle.count|tojson }}, "group": {{ (bundle.group or none)|tojson }}, \
"alerts": [
{%- for a in (bundle.alerts or [])[:25] %}{% if not loop.first %}, {% endif -%}
{"id": {{ a.id|default(none)|tojson }}, "status": {{ a.status|default(none)|tojson }}, "severity": {{ a.severity|default(none)|tojson }}, \
"summary": {{ ((a.summary or "")|truncate(1000))|tojson }}, "details": {{ ((a.details or "")|truncate(300))|tojson }}, \
"labels": {{ (a.labels or {})|tojson }}, "source": {{ a.source|default(none)|tojson }}, "integration": {{ a.integration|default(none)|tojson }}, \
"dedup_key": {{ a.dedup_key|default(none)|tojson }}, "duplicate_count": {{ a.duplicate_count|default(none)|tojson }}, \
"created_at": {{ a.created_at|default(none)|tojson }}}
{%- endfor %}]}, "escalation": {{ (escalation or none)|tojson }}}
{%- else -%}
{"event": "alert.{{ alert.status }}", "alert": {{ alert|tojson }}, "escalation": {{ (escalation or none)|tojson }}}
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
