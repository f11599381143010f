"""Push: title and body parts → ``{"title", "message", "priority", "tags"}`` for a phone notification.

Priority (1 to 5, as ntfy counts it) comes from the alert's severity, so a critical page can
break through do-not-disturb while an info message stays quiet; a resolved alert is low.
For a bundle it is the most urgent of its alerts. Tags lead with an emoji short code
(``rotating_light``) that push apps show as an icon, then the severity.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from oncall_hookspecs import RenderedPayload

from .text import unsendable

SEVERITY_PRIORITY: Mapping[str, int] = {"critical": 5, "error": 4, "high": 4, "warning": 3, "info": 2}
DEFAULT_PRIORITY = 3
RESOLVED_PRIORITY = 2
_EMOJI = {5: "rotating_light", 4: "warning", 3: "warning", 2: "information_source", 1: "information_source"}
MESSAGE_MAX_BYTES = 4096  # ntfy (and most push services) turn or cut anything longer
TITLE_LONG = 250  # push apps show a line or two of title
TAG_MAX = 32  # a tag is a word next to the title: an alert's severity is cut to this


def alert_priority(alert: Any) -> int:
    if not isinstance(alert, Mapping):
        return DEFAULT_PRIORITY
    if alert.get("status") == "resolved":
        return RESOLVED_PRIORITY
    return SEVERITY_PRIORITY.get(str(alert.get("severity", "")).lower(), DEFAULT_PRIORITY)


def _most_urgent(context: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The alert the notification is about: the bundle's most urgent one, else the context's alert."""
    bundle = context.get("bundle")
    alerts = bundle.get("alerts") if isinstance(bundle, Mapping) else None
    if isinstance(alerts, list) and alerts:
        most: Mapping[str, Any] = max(alerts, key=alert_priority)
        return most
    alert = context.get("alert")
    return alert if isinstance(alert, Mapping) else None


class PushRenderer:
    """The body part becomes ``message``; messages name the part they concern (``body: …``)."""

    __slots__ = ()
    channel = "push"

    def render(self, template_output: Mapping[str, str], context: Mapping[str, Any]) -> RenderedPayload:
        title = template_output.get("title", "")
        message = template_output.get("body", "")
        if not title and not message:
            return RenderedPayload("push", None, errors=["body: the notification is empty"])
        problems = [f"{part}: {problem}" for part, value in (("title", title), ("body", message))
                    if (problem := unsendable(value))]
        if problems:
            return RenderedPayload("push", None, errors=problems)
        alert = _most_urgent(context)
        priority = alert_priority(alert)
        resolved = alert is not None and alert.get("status") == "resolved"
        tags = ["white_check_mark" if resolved else _EMOJI[priority]]
        severity = str(alert.get("severity") or "")[:TAG_MAX] if alert is not None else ""
        if severity:
            tags.append(severity)
        payload = {"title": title, "message": message, "priority": priority, "tags": tags}
        errors: list[str] = []
        warnings: list[str] = []
        size = len(message.encode("utf-8"))
        if size > MESSAGE_MAX_BYTES:
            errors.append(f"body: the message is {size} bytes; push services take at most {MESSAGE_MAX_BYTES}")
        if len(title) > TITLE_LONG:
            warnings.append(f"title: {len(title)} characters; push apps show about {TITLE_LONG} at most")
        return RenderedPayload("push", payload, warnings, errors)
