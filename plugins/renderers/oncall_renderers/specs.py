"""The built-in channels' specs: template parts and escaping, defaults, labels and capabilities.

These renderers define the built-in channels' messages, so this plugin registers their
``ChannelSpec`` too (the rule: whoever renders a channel declares it). The delivering
plugins (slack, teams, email, twilio, ntfy, webhook) may tune delivery for their provider
(``bundles``, ``rate_limits`` on the channel object) over the defaults here.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Any

import orjson
from oncall_hookspecs import ChannelSpec, Escape
from oncall_hookspecs.fallback import cut, minimal_facts

from . import defaults as d

_SLACK_ESCAPES = {ord("&"): "&amp;", ord("<"): "&lt;", ord(">"): "&gt;"}


def _slack_minimal(context: Mapping[str, Any]) -> dict[str, str]:
    f = minimal_facts(context)
    body = {"text": f.line.translate(_SLACK_ESCAPES)[:300],
            "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": f.with_link.translate(_SLACK_ESCAPES)[:2900]}}]}
    return {"body": orjson.dumps(body).decode()}


def _teams_minimal(context: Mapping[str, Any]) -> dict[str, str]:
    f = minimal_facts(context)
    blocks = [{"type": "TextBlock", "wrap": True, "weight": "Bolder", "text": f.line}]
    if f.link:
        blocks.append({"type": "TextBlock", "wrap": True, "text": f"[{f.link}]({f.link})"})
    card = {"type": "AdaptiveCard", "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
            "version": "1.4", "body": blocks}
    return {"body": orjson.dumps(card).decode()}


def _email_minimal(context: Mapping[str, Any]) -> dict[str, str]:
    f = minimal_facts(context)
    page = f"<p>{html.escape(f.line)}</p>"
    if f.link:
        page += f'<p><a href="{html.escape(f.link)}">{html.escape(f.link)}</a></p>'
    return {"subject": f.line[:200], "html": page, "text": f.with_link}


def _sms_minimal(context: Mapping[str, Any]) -> dict[str, str]:
    f = minimal_facts(context)
    reply = context.get("reply_code")
    text = f.line[:150] if f.many or not reply else \
        f"{f.line[:100]} Reply {cut(reply, 4)}a to ack, {cut(reply, 4)}c to close."
    return {"text": text}


def _voice_minimal(context: Mapping[str, Any]) -> dict[str, str]:
    return {"text": minimal_facts(context).speech}


def _push_minimal(context: Mapping[str, Any]) -> dict[str, str]:
    f = minimal_facts(context)
    return {"title": f.line[:120], "body": f.with_link}


def _webhook_minimal(context: Mapping[str, Any]) -> dict[str, str]:
    f = minimal_facts(context)
    hook: dict[str, Any]
    if f.many:
        hook = {"event": "alert.bundle", "fallback": True, "bundle": {"count": f.count, "alerts": [
            {"id": a.get("id") if isinstance(a.get("id"), int) else cut(a.get("id"), 40),
             "status": cut(a.get("status"), 20), "severity": cut(a.get("severity"), 20),
             "summary": cut(a.get("summary"), 200)} for a in f.alerts]}}
    else:
        hook = {"event": f"alert.{f.status}", "fallback": True, "alert": {
            "id": f.alert_id, "status": f.status, "severity": f.severity, "summary": cut(f.alert.get("summary"), 1000),
            "dedup_key": cut(f.alert.get("dedup_key"), 300), "url": f.link or None}}
    return {"body": orjson.dumps(hook).decode()}


def _teams_destination(destination: str) -> str:
    """A Workflows URL carries its signature: name its host only."""
    if "://" in destination:
        return "a webhook at " + destination.split("://", 1)[1].split("/", 1)[0]
    return destination


SLACK = ChannelSpec(
    name="slack", parts={"body": Escape.JSON}, defaults={"body": d.SLACK_BODY}, label="Slack",
    minimal=_slack_minimal, rate_limits={"destination": (10, 1.0)}, updates=True,
)
TEAMS = ChannelSpec(
    name="teams", parts={"body": Escape.JSON}, defaults={"body": d.TEAMS_BODY}, label="Teams",
    minimal=_teams_minimal, action_links=True, circuit="destination", rate_limits={"destination": (4, 1.0)},
    describe_destination=_teams_destination,
)
EMAIL = ChannelSpec(
    name="email", parts={"subject": Escape.HEADER, "html": Escape.HTML, "text": Escape.TEXT},
    defaults={"subject": d.EMAIL_SUBJECT, "html": d.EMAIL_HTML, "text": d.EMAIL_TEXT}, label="Email",
    aliases=("mail",), addresses_ignore_case=True, minimal=_email_minimal, action_links=True,
    rate_limits={"destination": (10, 6.0)},
)
SMS = ChannelSpec(
    name="sms", parts={"text": Escape.TEXT}, defaults={"text": d.SMS_TEXT}, label="SMS", aliases=("text",),
    minimal=_sms_minimal, reply_codes=True, bundles=True, rate_limits={"destination": (2, 60.0)},
)
VOICE = ChannelSpec(
    name="voice", parts={"text": Escape.TEXT}, defaults={"text": d.VOICE_TEXT}, label="Voice call",
    aliases=("phone", "call"), minimal=_voice_minimal, bundles=True, rate_limits={"destination": (2, 60.0)},
)
PUSH = ChannelSpec(
    name="push", parts={"title": Escape.HEADER, "body": Escape.TEXT},
    defaults={"title": d.PUSH_TITLE, "body": d.PUSH_BODY}, label="Push", aliases=("ntfy",),
    minimal=_push_minimal, action_links=True, rate_limits={"destination": (10, 6.0)},
)
WEBHOOK = ChannelSpec(
    name="webhook", parts={"body": Escape.JSON}, defaults={"body": d.WEBHOOK_BODY}, label="Webhook",
    minimal=_webhook_minimal, circuit="destination", rate_limits={"destination": (200, 0.005)},  # a service: 200/s
)

#: the built-in channels, in the order they are listed
SPECS: tuple[ChannelSpec, ...] = (SLACK, TEAMS, EMAIL, SMS, VOICE, PUSH, WEBHOOK)

__all__ = ["EMAIL", "PUSH", "SLACK", "SMS", "SPECS", "TEAMS", "VOICE", "WEBHOOK"]
