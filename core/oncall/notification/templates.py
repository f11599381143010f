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
# always, ``escalation`` when a policy paged, ``contact_methods`` for a user. Every value is
# escaped by the part's Escape, so these only decide what to show. Slack mrkdwn is escaped
# explicitly (``|mrkdwn``) so an alert's text cannot ping ``<!channel>``.

_SLACK_BODY = """\
{%- set title = alert.status|upper ~ ": " ~ alert.summary -%}
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
"""

_TEAMS_BODY = """\
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
"""

_EMAIL_SUBJECT = "[{{ alert.status|upper }}] {{ alert.summary|truncate(200) }}"

_EMAIL_HTML = """\
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
"""

_EMAIL_TEXT = """\
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
"""

# One GSM-7 segment when the summary is short: status, id, summary.
_SMS_TEXT = "{{ alert.status|upper }} #{{ alert.id }}: {{ alert.summary|truncate(130) }}"

_VOICE_TEXT = """\
This is On Call. {{ alert.severity }} alert {{ alert.id }}{% if alert.status != 'triggered' %}, {{ alert.status }}{% endif %}: \
{{ alert.summary|truncate(300) }}."""

_PUSH_TITLE = "[{{ alert.severity|upper }}] {{ alert.summary|truncate(120) }}"
_PUSH_BODY = "{{ alert.status|upper }} · {{ alert.integration or alert.source }} · {{ alert.created_at|ago }}" \
    "{% if alert.details %}\n{{ alert.details|truncate(500) }}{% endif %}"

# The whole alert as JSON, for machines: values go through tojson, never hand-quoted.
_WEBHOOK_BODY = """\
{"event": "alert.{{ alert.status }}", "alert": {{ alert|tojson }}, "escalation": {{ (escalation or none)|tojson }}}
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
    "escalation": {"policy_id": "payments-primary", "policy": "Payments primary", "step": 1, "steps": 3, "repeat": 0},
    "contact_methods": [{"type": "sms", "value": "+15555550100"}],
})
