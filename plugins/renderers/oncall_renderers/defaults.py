"""The built-in channels' default templates: Jinja2 sources, one per template part.

Written against the context the escalation engine records (``render_context``): ``alert``
always, ``incident`` (``alerting.incident_context``: its status, counters, title, common
labels and first alerts; missing from contexts stored before incidents), ``escalation`` when
a policy paged, ``contact_methods`` for a user, ``reply_code`` for a channel that takes text
replies, and ``bundle`` when one message summarises several alerts for one destination:
``{"count": n, "alerts": [alert, ...], "group": str}`` (``alerts`` may hold fewer than
``count``; the defaults show the first few and say how many more). Every value is escaped by
the part's Escape, so these only decide what to show.

Each default has three shapes: a bundle; an incident more than one alert has joined (a
grouping rule's), summarised (its status, how many alerts are open and resolved, its first
few alerts, "and N more"); and one alert, as it always was, showing its incident's status
when the context has one. A sent message may be re-rendered later with a fresh
``incident`` (a Slack message edited as alerts join and resolve) while ``alert`` stays as
it was when it paged: so the state shown comes from ``incident``, never ``alert.status``.
Slack mrkdwn is escaped explicitly (``|mrkdwn``) so an alert's text cannot ping ``<!channel>``.

A page must go out whatever the alert holds, so every value an alert's source decides
(summary, details, severity, labels, annotations, the group a bundle is for, an incident's
title, source and common labels) is cut to fit the channel's real limits, counted the way
the channel counts them, with room for the
worst case of escaping: Slack's 150/2,000/3,000-character block texts (counted after
mrkdwn escaping: ``|mrkdwn(n)``), Teams' 28 KB message (a character can be 6 bytes of JSON:
the card's texts add up to 3,600 characters at most), an SMS's segments, a push message's
4,096 bytes (4 per character), a call's 1,000 characters, an email part's render budget
(HTML escaping makes a character up to 5), and the webhook's JSON through ``|fit``, which
measures what ``|tojson`` will write. ``tests/test_large_alerts.py`` holds them to it.

The single-alert Slack body is on every Slack send's path: keep its filters few (telling
it from an incident's summary costs two lookups and a comparison; its status is
``(incident or alert).status``).
"""

# a bundle: more than one alert in one message
IF_BUNDLE = "{%- if bundle and bundle.count > 1 -%}"
# else an incident that more than one alert has joined; an incident of one is shown as its alert
ELIF_INCIDENT = "{%- elif incident and (incident.alert_count or 0) > 1 -%}"

SLACK_BODY = IF_BUNDLE + """
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
""" + ELIF_INCIDENT + """
{%- with shown = (incident.alerts or [])[:5], open = incident.open_alerts or 0, ns = namespace(lines="") -%}
{%- with head = (incident.status or "")|upper|truncate(20, false, "…", 0) ~ ": Incident #" ~ incident.id ~ " · "
                ~ incident.alert_count ~ " alerts" ~ (" · " ~ incident.title|truncate(100, false, "…", 0)
                                                     if incident.title else "") -%}
{%- for a in shown -%}
  {%- set ns.lines = ns.lines ~ ("" if loop.first else "\\n") ~ "• *#" ~ a.id ~ "* " ~ (a.status or "")|upper ~ " · "
                     ~ (a.severity or "")|truncate(50, false, "…", 0) ~ " · " ~ (a.summary or "")|truncate(200) -%}
{%- endfor -%}
{%- if incident.alert_count > shown|length -%}
  {%- set ns.lines = ns.lines ~ ("\\n" if ns.lines else "") ~ "_and " ~ (incident.alert_count - shown|length) ~ " more_" -%}
{%- endif -%}
{
  "text": "{{ head|mrkdwn(300) }}",
  "blocks": [
    {"type": "header", "text": {"type": "plain_text", "text": "{{ head|truncate(150, false, "…", 0) }}", "emoji": true}},
    {"type": "section", "fields": [
      {"type": "mrkdwn", "text": "*Alerts*\\n{{ open }} open ({{ incident.triggered_alerts or 0 }} triggered) · {{ incident.alert_count - open }} resolved"},
      {"type": "mrkdwn", "text": "*Severity*\\n{{ (incident.severity or "")|mrkdwn(100) }}"},
      {"type": "mrkdwn", "text": "*Source*\\n{{ (incident.integration or alert.integration or alert.source or "")|mrkdwn(200) }}"},
      {"type": "mrkdwn", "text": "*Started*\\n{{ incident.created_at|ago }}"}
    ]},
    {"type": "section", "text": {"type": "mrkdwn", "text": "{{ ns.lines|mrkdwn(2900) }}"}},
    {%- if incident.common_labels %}
    {"type": "context", "elements": [{"type": "mrkdwn", "text": "{{ incident.common_labels|labels(max_length=2900)|mrkdwn(2900) }}"}]},
    {%- endif %}
    {"type": "context", "elements": [{"type": "mrkdwn", "text": "Incident #{{ incident.id }}
{%- if escalation %} · {{ escalation.policy|mrkdwn(200) }} step {{ escalation.step }} of {{ escalation.steps }}
{%- if escalation.repeat %} (repeat {{ escalation.repeat }}){% endif %}{% endif %}"}]}
  ]
}
{%- endwith -%}
{%- endwith -%}
{%- else -%}
{%- with title = (incident or alert).status|upper ~ ": " ~ alert.summary|truncate(300, false, "…", 0) -%}
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

TEAMS_BODY = IF_BUNDLE + """
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
""" + ELIF_INCIDENT + """
{%- with shown = (incident.alerts or [])[:5], open = incident.open_alerts or 0 -%}
{
  "type": "AdaptiveCard",
  "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
  "version": "1.4",
  "body": [
    {"type": "TextBlock", "size": "Large", "weight": "Bolder", "wrap": true,
     "color": "{{ 'Good' if incident.status == 'resolved' else 'Attention' }}",
     "text": "{{ (incident.status or "")|upper|truncate(20, false, "…", 0) }}: Incident #{{ incident.id }} · {{ incident.alert_count }} alerts
{%- if incident.title %} · {{ incident.title|truncate(200) }}{% endif %}"},
    {"type": "FactSet", "facts": [
      {"title": "Alerts", "value": "{{ open }} open ({{ incident.triggered_alerts or 0 }} triggered), {{ incident.alert_count - open }} resolved"},
      {"title": "Severity", "value": "{{ (incident.severity or "")|truncate(50, false, "…", 0) }}"},
      {"title": "Source", "value": "{{ (incident.integration or alert.integration or alert.source or "")|truncate(100, false, "…", 0) }}"},
      {"title": "Started", "value": "{{ incident.created_at|ago }}"}
      {%- if escalation %},
      {"title": "Escalation", "value": "{{ (escalation.policy or "")|truncate(100) }}, step {{ escalation.step }} of {{ escalation.steps }}"}
      {%- endif %}
    ]},
    {"type": "FactSet", "facts": [
      {%- for a in shown %}
      {"title": "#{{ a.id }} {{ (a.status or "")|upper }}", "value": "{{ (a.severity or "")|truncate(30, false, "…", 0) }} · {{ (a.summary or "")|truncate(200) }}"}
      {%- if not loop.last %},{% endif %}
      {%- endfor %}
    ]}
    {%- if incident.alert_count > shown|length %},
    {"type": "TextBlock", "wrap": true, "isSubtle": true, "text": "and {{ incident.alert_count - shown|length }} more"}
    {%- endif %}
    {%- if incident.common_labels %},
    {"type": "TextBlock", "wrap": true, "isSubtle": true, "size": "Small", "text": "{{ incident.common_labels|labels(max_length=1000) }}"}
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
    {%- with status = (incident or alert).status %}
    {"type": "TextBlock", "size": "Large", "weight": "Bolder", "wrap": true,
     "color": "{{ 'Good' if status == 'resolved' else 'Attention' }}",
     "text": "{{ status|upper }}: {{ alert.summary|truncate(300) }}"},
    {%- endwith %}
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

EMAIL_SUBJECT = IF_BUNDLE + """
[{{ bundle.count }} ALERTS] {{ (bundle.group or bundle.alerts[0].summary)|truncate(200) }}
""" + ELIF_INCIDENT + """
[{{ (incident.status or "")|upper|truncate(20, false, "…", 0) }}] Incident #{{ incident.id }} · {{ incident.alert_count }} alerts
{%- if incident.title %} · {{ incident.title|truncate(150) }}{% endif %}
{%- else -%}
[{{ (incident or alert).status|upper }}] {{ alert.summary|truncate(200) }}
{%- endif %}"""

EMAIL_HTML = IF_BUNDLE + """
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
""" + ELIF_INCIDENT + """
{%- with shown = (incident.alerts or [])[:10], open = incident.open_alerts or 0 -%}
<div style="font-family: sans-serif; font-size: 14px; color: #1d1d1f;">
  <h2 style="margin: 0 0 12px 0;">{{ (incident.status or "")|upper|truncate(20, false, "…", 0) }}: Incident #{{ incident.id }} · {{ incident.alert_count }} alerts{% if incident.title %} · {{ incident.title|truncate(200) }}{% endif %}</h2>
  <table style="border-collapse: collapse; margin-bottom: 12px;">
    <tr><td style="padding: 2px 12px 2px 0; color: #6e6e73;">Alerts</td><td>{{ open }} open ({{ incident.triggered_alerts or 0 }} triggered), {{ incident.alert_count - open }} resolved</td></tr>
    <tr><td style="padding: 2px 12px 2px 0; color: #6e6e73;">Severity</td><td>{{ (incident.severity or "")|truncate(100) }}</td></tr>
    <tr><td style="padding: 2px 12px 2px 0; color: #6e6e73;">Source</td><td>{{ (incident.integration or alert.integration or alert.source or "")|truncate(200) }}</td></tr>
    <tr><td style="padding: 2px 12px 2px 0; color: #6e6e73;">Started</td><td>{{ incident.created_at|localtime }} ({{ incident.created_at|ago }})</td></tr>
    {%- if escalation %}
    <tr><td style="padding: 2px 12px 2px 0; color: #6e6e73;">Escalation</td><td>{{ (escalation.policy or "")|truncate(200) }}, step {{ escalation.step }} of {{ escalation.steps }}</td></tr>
    {%- endif %}
  </table>
  <table style="border-collapse: collapse; margin-bottom: 12px;">
    <tr style="color: #6e6e73; text-align: left;"><th style="padding: 2px 12px 2px 0;">Alert</th>\
<th style="padding: 2px 12px 2px 0;">Status</th><th style="padding: 2px 12px 2px 0;">Severity</th>\
<th style="padding: 2px 0;">Summary</th></tr>
    {%- for a in shown %}
    <tr><td style="padding: 2px 12px 2px 0;">#{{ a.id }}</td><td style="padding: 2px 12px 2px 0;">{{ a.status }}</td>\
<td style="padding: 2px 12px 2px 0;">{{ (a.severity or "")|truncate(30) }}</td><td style="padding: 2px 0;">{{ (a.summary or "")|truncate(300) }}</td></tr>
    {%- endfor %}
  </table>
  {%- if incident.alert_count > shown|length %}
  <p>and {{ incident.alert_count - shown|length }} more</p>
  {%- endif %}
  {%- if incident.common_labels %}
  <p style="color: #6e6e73; font-size: 12px;">{{ incident.common_labels|labels(max_length=4000) }}</p>
  {%- endif %}
  <p style="color: #6e6e73; font-size: 12px;">Incident #{{ incident.id }}</p>
</div>
{%- endwith -%}
{%- else -%}
<div style="font-family: sans-serif; font-size: 14px; color: #1d1d1f;">
  <h2 style="margin: 0 0 12px 0;">{{ (incident or alert).status|upper }}: {{ alert.summary|truncate(1000) }}</h2>
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

EMAIL_TEXT = IF_BUNDLE + """
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
""" + ELIF_INCIDENT + """
{%- with shown = (incident.alerts or [])[:10], open = incident.open_alerts or 0 -%}
{{ (incident.status or "")|upper|truncate(20, false, "…", 0) }}: Incident #{{ incident.id }} · {{ incident.alert_count }} alerts
{%- if incident.title %} · {{ incident.title|truncate(300) }}{% endif %}

Alerts:      {{ open }} open ({{ incident.triggered_alerts or 0 }} triggered), {{ incident.alert_count - open }} resolved
Severity:    {{ (incident.severity or "")|truncate(100) }}
Source:      {{ (incident.integration or alert.integration or alert.source or "")|truncate(200) }}
Started:     {{ incident.created_at|localtime }} ({{ incident.created_at|ago }})
{%- if escalation %}
Escalation:  {{ (escalation.policy or "")|truncate(200) }}, step {{ escalation.step }} of {{ escalation.steps }}
{%- endif %}
{% for a in shown %}
#{{ a.id }}  {{ (a.status or "")|upper }}  {{ (a.severity or "")|truncate(30) }}  {{ (a.summary or "")|truncate(500) }}
{%- endfor %}
{%- if incident.alert_count > shown|length %}
and {{ incident.alert_count - shown|length }} more
{%- endif %}
{%- if incident.common_labels %}

{{ incident.common_labels|labels(max_length=10000) }}
{%- endif %}

Incident #{{ incident.id }}
{%- endwith -%}
{%- else -%}
{{ (incident or alert).status|upper }}: {{ alert.summary|truncate(2000) }}

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
SMS_TEXT = IF_BUNDLE + """
{%- with head = bundle.count ~ " alerts" ~ (" for " ~ (bundle.group or "")|truncate(40, false, "...", 0) if bundle.group else "")
                ~ ": ", ns = namespace(s="") -%}
{%- for a in bundle.alerts[:10] %}{% set ns.s = ns.s ~ ("#" if loop.first else "; #") ~ a.id ~ " " ~ a.summary|truncate(150) %}
{%- endfor -%}
{{ head }}{{ ns.s|truncate(160 - head|length, false, "...", 0) }}
{%- endwith -%}
""" + ELIF_INCIDENT + """
{%- with reply = reply_code and incident.status != "resolved",
         head = (incident.status or "")|upper|truncate(20, false, "...", 0) ~ " incident #" ~ incident.id ~ ": "
                ~ incident.alert_count ~ " alerts (" ~ (incident.open_alerts or 0) ~ " open)"
                ~ (" " ~ incident.title|truncate(30, false, "...", 0) if incident.title else "") ~ ": ",
         ns = namespace(s="") -%}
{%- for a in (incident.alerts or [])[:5] %}{% set ns.s = ns.s ~ ("#" if loop.first else "; #") ~ a.id ~ " " ~ (a.summary or "")|truncate(150) %}
{%- endfor -%}
{{ head }}{{ ns.s|truncate([(130 if reply else 160) - head|length, 10]|max, false, "...", 0) }}
{%- if reply %} Reply {{ reply_code }}a to ack, {{ reply_code }}c to close.{% endif %}
{%- endwith -%}
{%- else -%}
{%- with status = (incident or alert).status -%}
{%- with reply = reply_code and status != "resolved" -%}
{{ status|upper }} #{{ alert.id }}: {{ alert.summary|truncate(100 if reply else 130, false, "...", 0) }}
{%- if reply %} Reply {{ reply_code }}a to ack, {{ reply_code }}c to close.{% endif %}
{%- endwith %}
{%- endwith %}
{%- endif %}"""

# Plain speech: no symbols to spell out, no menu (the voice channel adds its keypress menu).
VOICE_TEXT = IF_BUNDLE + """
{%- with shown = bundle.alerts[:3] -%}
This is On Call with {{ bundle.count }} alerts{% if bundle.group %} for {{ (bundle.group or "")|truncate(100) }}{% endif %}.
{%- for a in shown %} Alert {{ a.id }}, {{ (a.severity or "")|truncate(30) }}: {{ a.summary|truncate(150)|trim(". ") }}.{% endfor %}
{%- if bundle.count > shown|length %} And {{ bundle.count - shown|length }} more.{% endif %}
{%- endwith -%}
""" + ELIF_INCIDENT + """
{%- with shown = (incident.alerts or [])[:3] -%}
This is On Call. Incident {{ incident.id }}
{%- if incident.title %}, {{ incident.title|truncate(100)|trim(". ,") }},{% endif %} has {{ incident.alert_count }} alerts, {{ incident.open_alerts or 0 }} open
{%- if incident.status == "resolved" %}, and is resolved{% elif incident.status == "acknowledged" %}, and is acknowledged{% endif %}.
{%- if incident.severity %} Severity {{ (incident.severity or "")|truncate(30) }}.{% endif %}
{%- for a in shown %} Alert {{ a.id }}: {{ (a.summary or "")|truncate(150)|trim(". ") }}.{% endfor %}
{%- if incident.alert_count > shown|length %} And {{ incident.alert_count - shown|length }} more.{% endif %}
{%- endwith -%}
{%- else -%}
{%- with status = (incident or alert).status -%}
This is On Call. Alert {{ alert.id }}
{%- if alert.integration or alert.source %} from {{ (alert.integration or alert.source or "")|truncate(100) }}{% endif %}
{%- if status == "resolved" %} is resolved{% elif status == "acknowledged" %} is acknowledged{% endif %}.
{%- if alert.severity %} Severity {{ (alert.severity or "")|truncate(30) }}.{% endif %} {{ alert.summary|truncate(300)|trim(". ") }}.
{%- endwith %}
{%- endif %}"""

PUSH_TITLE = IF_BUNDLE + """
[{{ bundle.count }} ALERTS] {{ (bundle.group or bundle.alerts[0].summary)|truncate(120) }}
""" + ELIF_INCIDENT + """
[{{ (incident.severity or "")|truncate(20, false, "…", 0)|upper }}] Incident #{{ incident.id }} · {{ incident.alert_count }} alerts
{%- if incident.title %} · {{ incident.title|truncate(100) }}{% endif %}
{%- else -%}
[{{ (alert.severity or "")|truncate(20, false, "…", 0)|upper }}] {{ alert.summary|truncate(120) }}
{%- endif %}"""

PUSH_BODY = IF_BUNDLE + """
{%- with shown = bundle.alerts[:5] -%}
{% for a in shown %}#{{ a.id }} {{ a.status|upper }} {{ (a.severity or "")|truncate(20) }}: {{ a.summary|truncate(80) }}
{% endfor %}
{%- if bundle.count > shown|length %}and {{ bundle.count - shown|length }} more{% endif %}
{%- endwith -%}
""" + ELIF_INCIDENT + """
{%- with shown = (incident.alerts or [])[:5], open = incident.open_alerts or 0 -%}
{{ (incident.status or "")|upper|truncate(20, false, "…", 0) }} · {{ open }} open, {{ incident.alert_count - open }} resolved · {{ (incident.integration or alert.integration or alert.source or "")|truncate(100) }} · {{ incident.created_at|ago }}
{% for a in shown %}#{{ a.id }} {{ (a.status or "")|upper }} {{ (a.severity or "")|truncate(20) }}: {{ (a.summary or "")|truncate(80) }}
{% endfor %}
{%- if incident.alert_count > shown|length %}and {{ incident.alert_count - shown|length }} more{% endif %}
{%- endwith -%}
{%- else -%}
{{ (incident or alert).status|upper }} · {{ (alert.integration or alert.source or "")|truncate(100) }} · {{ alert.created_at|ago }}
{%- if alert.details %}
{{ alert.details|truncate(500) }}
{%- endif %}
{%- endif %}"""

# The whole alert as JSON, for machines: values go through tojson, never hand-quoted, and
# ``fit`` cuts what would not fit the render's output limit (long strings end in "…",
# entries that get no room are left out), saying so in ``truncated``. A bundle sends its
# first 25 alerts (``count`` says how many there were), each without its annotations and
# with its fields cut short. The incident goes along as ``incident`` (null in a context
# from before incidents); one that more than one alert has joined is the event itself
# (``incident.<its status>``), with the alert that paged as ``alert``.
WEBHOOK_BODY = IF_BUNDLE + """
{"event": "alert.bundle", "bundle": {"count": {{ bundle.count|tojson }}, "group": {{ (bundle.group or none)|fit(200)|tojson }}, \
"alerts": [
{%- for a in (bundle.alerts or [])[:25] %}{% if not loop.first %}, {% endif -%}
{"id": {{ a.id|default(none)|tojson }}, "status": {{ a.status|default(none)|tojson }}, "severity": {{ a.severity|default(none)|fit(100)|tojson }}, \
"summary": {{ (a.summary or "")|fit(500)|tojson }}, "details": {{ (a.details or "")|fit(300)|tojson }}, \
"labels": {{ (a.labels or {})|fit(1000)|tojson }}, "source": {{ a.source|default(none)|fit(100)|tojson }}, "integration": {{ a.integration|default(none)|fit(200)|tojson }}, \
"dedup_key": {{ a.dedup_key|default(none)|fit(300)|tojson }}, "duplicate_count": {{ a.duplicate_count|default(none)|tojson }}, \
"created_at": {{ a.created_at|default(none)|fit(60)|tojson }}}
{%- endfor %}]}, "escalation": {{ (escalation or none)|fit(2000)|tojson }}}
""" + ELIF_INCIDENT + """
{%- with i = incident|fit(50000), a = alert|fit(30000) -%}
{"event": "incident.{{ incident.status }}", "incident": {{ i|tojson }}, "alert": {{ a|tojson }}, \
"truncated": {{ (i is not sameas incident or a is not sameas alert)|tojson }}, \
"escalation": {{ (escalation or none)|fit(4000)|tojson }}}
{%- endwith %}
{%- else -%}
{%- with a = alert|fit(60000), i = (incident or none)|fit(20000) -%}
{"event": "alert.{{ alert.status }}", "alert": {{ a|tojson }}, "incident": {{ i|tojson }}, \
"truncated": {{ (a is not sameas alert or i is not sameas (incident or none))|tojson }}, \
"escalation": {{ (escalation or none)|fit(4000)|tojson }}}
{%- endwith %}
{%- endif %}
"""
