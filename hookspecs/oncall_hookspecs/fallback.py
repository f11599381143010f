"""What a last-resort message says, made in plain Python from any render context.

When a channel's template fails, and its default too (or the process rendering them was
stopped), the page still goes out: a minimal message made without Jinja from what any
context has: the status, the alert's id, its severity, its summary cut short, and a link if
the alert carries one (``url``, or a ``runbook_url`` annotation). Each value is cut before
it is used, so nothing an alert holds can make this fail or grow. A ``ChannelSpec.minimal``
builds its channel's parts from :func:`minimal_facts`.
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .types import ChannelSpec, Escape

_LINK_ANNOTATIONS = ("runbook_url", "runbook", "dashboard_url", "generatorURL")


def cut(value: Any, limit: int) -> str:
    """A scalar as one line of at most ``limit`` printable characters (anything else: empty)."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        return ""
    text = value[: 2 * limit + 16] if isinstance(value, str) else str(value)
    text = " ".join("".join(c if c.isprintable() else " " for c in text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def alert_link(alert: Mapping[str, Any]) -> str:
    """The alert's own ``url`` or a runbook/dashboard annotation, when it is a plain http(s) URL."""
    annotations = alert.get("annotations")
    candidates = [alert.get("url"), *(annotations.get(k) for k in _LINK_ANNOTATIONS
                                      if isinstance(annotations, Mapping))]
    for url in candidates:
        if isinstance(url, str) and url.startswith(("https://", "http://")) and len(url) <= 1000 \
                and url.isprintable() and " " not in url:
            return url
    return ""


@dataclass(frozen=True, slots=True)
class MinimalFacts:
    """The facts of a last-resort message, each already cut short.

    :param line: one line: ``TRIGGERED #42 [critical]: Disk full`` or ``3 alerts: #1 …; #2 …``.
    :param speech: the same, as a sentence to speak.
    :param with_link: ``line`` and, on the next line, ``link`` when there is one.
    :param many: the context is a bundle of more than one alert; ``count`` of them,
        ``alerts`` the first few (mappings as the context has them).
    """

    line: str
    speech: str
    link: str
    with_link: str
    alert_id: int | str
    status: str
    severity: str
    summary: str
    many: bool = False
    count: int = 0
    alerts: tuple[Mapping[str, Any], ...] = field(default=())
    alert: Mapping[str, Any] = field(default_factory=dict)


def minimal_facts(context: Mapping[str, Any]) -> MinimalFacts:
    """The facts a last-resort message shows, from a render context of any shape."""
    raw_alert, raw_bundle = context.get("alert"), context.get("bundle")
    alert: Mapping[str, Any] = raw_alert if isinstance(raw_alert, Mapping) else {}
    bundle: Mapping[str, Any] = raw_bundle if isinstance(raw_bundle, Mapping) else {}
    count = bundle.get("count")
    if not isinstance(count, int) or isinstance(count, bool):
        count = 0
    many = count > 1
    raw_listed = bundle.get("alerts")
    listed: list[Any] = raw_listed if isinstance(raw_listed, list) else []
    raw_id = alert.get("id")
    alert_id: int | str = raw_id if isinstance(raw_id, int) and not isinstance(raw_id, bool) else cut(raw_id, 40)
    status = cut(alert.get("status"), 20) or "alert"
    severity = cut(alert.get("severity"), 20)
    summary = cut(alert.get("summary"), 200) or "(no summary)"
    link = alert_link(alert)
    shown = tuple(a for a in listed[:25] if isinstance(a, Mapping))
    if many:
        first = [a for a in listed[:3] if isinstance(a, Mapping)]
        items = "; ".join(f"#{cut(a.get('id'), 40)} {cut(a.get('summary'), 60)}" for a in first)
        more = count - len(first)
        line = f"{count} alerts" + (f": {items}" if items else "") + (f"; and {more} more" if first and more else "")
        speech = f"This is On Call with {count} alerts. " + (f"The first: {cut(first[0].get('summary'), 150)}."
                                                             if first else "")
    else:
        line = f"{status.upper()} #{alert_id}" + (f" [{severity}]" if severity else "") + f": {summary}"
        speech = f"This is On Call. Alert {alert_id}" + (f", severity {severity}" if severity else "") + \
            f". {cut(alert.get('summary'), 150) or 'No summary'}."
    return MinimalFacts(
        line=line, speech=speech, link=link, with_link=line + (f"\n{link}" if link else ""), alert_id=alert_id,
        status=status, severity=severity, summary=summary, many=many, count=count, alerts=shown, alert=alert,
    )


def minimal_parts(spec: ChannelSpec, context: Mapping[str, Any]) -> dict[str, str]:
    """The last-resort message's parts for ``spec``'s channel: its own ``minimal``, else :func:`generic_minimal`."""
    if spec.minimal is not None:
        return dict(spec.minimal(context))
    return generic_minimal(spec, context)


def generic_minimal(spec: ChannelSpec, context: Mapping[str, Any]) -> dict[str, str]:
    """A last-resort message for any channel, from its parts' escaping alone.

    A JSON part gets ``{"text": …, "fallback": true, "alert": {…}}``; an HTML part a paragraph
    (and the link); a header part the one line; a text part the line and the link.
    """
    f = minimal_facts(context)
    out: dict[str, str] = {}
    for part, escape in spec.parts.items():
        if escape is Escape.JSON:
            doc = {"text": f.line, "fallback": True, "alert": {
                "id": f.alert_id, "status": f.status, "severity": f.severity,
                "summary": cut(f.alert.get("summary"), 1000), "url": f.link or None}}
            out[part] = json.dumps(doc, ensure_ascii=False)
        elif escape is Escape.HTML:
            page = f"<p>{html.escape(f.line)}</p>"
            if f.link:
                page += f'<p><a href="{html.escape(f.link)}">{html.escape(f.link)}</a></p>'
            out[part] = page
        elif escape is Escape.HEADER:
            out[part] = f.line[:200]
        else:
            out[part] = f.with_link
    return out


__all__ = ["MinimalFacts", "alert_link", "cut", "generic_minimal", "minimal_facts", "minimal_parts"]
