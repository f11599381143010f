"""The ntfy JSON message: the push payload, its topic, and Acknowledge/Resolve buttons.

The buttons are ntfy ``http`` actions: the ntfy app itself POSTs to the one-click URL the
core made for this delivery (the core's ``/a/<token>`` accepts POST), so a tap acts
without opening a browser, and ``clear`` dismisses the notification once it worked.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

#: ntfy's own rule for topic names
TOPIC = re.compile(r"^[-_A-Za-z0-9]{1,64}$")
#: the core's action name → the button's label; ntfy shows at most three actions
BUTTONS = (("acknowledge", "Acknowledge"), ("resolve", "Resolve"), ("escalate", "Escalate"))
DEFAULT_PRIORITY = 3
#: the names ntfy accepts in its X-Priority header, for templates that write them
PRIORITY_NAMES = {"min": 1, "low": 2, "default": 3, "high": 4, "max": 5, "urgent": 5}
MAX_TAGS = 20


class InvalidMessage(ValueError):
    """The destination or payload cannot become an ntfy message."""


def check_topic(destination: str) -> str:
    """The topic, or InvalidMessage naming ntfy's rule."""
    topic = destination.strip()
    if not TOPIC.match(topic):
        raise InvalidMessage(
            "the destination is not an ntfy topic: 1-64 letters, digits, '-' or '_' (no server URL, no '/')"
        )
    return topic


def _priority(value: Any) -> int:
    # ntfy refuses anything but 1..5 (0 meaning default): clamp rather than lose the page
    if isinstance(value, str):
        return PRIORITY_NAMES.get(value.strip().lower(), DEFAULT_PRIORITY)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return DEFAULT_PRIORITY
    return min(5, max(1, int(value)))


def _http_url(value: Any) -> str | None:
    return value if isinstance(value, str) and value.startswith(("https://", "http://")) else None


def action_buttons(actions: Mapping[str, str]) -> list[dict[str, Any]]:
    """ntfy ``http`` actions POSTing to the offered one-click URLs, in button order."""
    buttons = []
    for key, label in BUTTONS:
        url = _http_url(actions.get(key))
        if url is not None:
            buttons.append({"action": "http", "label": label, "url": url, "method": "POST", "clear": True})
    return buttons


def build(topic: str, payload: Any, actions: Mapping[str, str]) -> dict[str, Any]:
    """The JSON body to publish from the push renderer's ``{title, message, priority, tags}``."""
    if not isinstance(payload, Mapping):
        raise InvalidMessage("the payload is not a push notification (expected an object with title and message)")
    title = payload.get("title")
    text = payload.get("message")
    title = title if isinstance(title, str) else ""
    text = text if isinstance(text, str) else ""
    if not title.strip() and not text.strip():
        raise InvalidMessage("the push notification has neither a title nor a message")
    tags = payload.get("tags")
    body: dict[str, Any] = {
        "topic": topic,
        "title": title,
        "message": text or title,  # ntfy shows "triggered" for an empty message
        "priority": _priority(payload.get("priority")),
        "tags": [t for t in tags if isinstance(t, str) and t][:MAX_TAGS] if isinstance(tags, list) else [],
    }
    buttons = action_buttons(actions)
    if buttons:
        body["actions"] = buttons
    click = _http_url(payload.get("click"))
    if click is not None:
        body["click"] = click
    return body


def check_message(topic: str) -> dict[str, Any]:
    """A clearly-labelled notification for ``oncall channels test push --to <topic>``."""
    return {
        "topic": topic,
        "title": "OnCall test notification",
        "message": "If you can read this, OnCall can reach you through ntfy. No alert is involved.",
        "priority": DEFAULT_PRIORITY,
        "tags": ["white_check_mark"],
    }
