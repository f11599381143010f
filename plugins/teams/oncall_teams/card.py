"""The Teams message as posted: the renderer's Adaptive Card plus one-click action buttons.

Workflows webhooks cannot call back into OnCall, so the buttons are ``Action.OpenUrl``
links to the signed one-click URLs the core serves (``ChannelMessage.actions``): a click
opens the browser on a page that acknowledges or resolves the alert.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

CARD_TYPE = "application/vnd.microsoft.card.adaptive"

#: the core's action name → the button's title, in the order the buttons appear
BUTTONS = (("acknowledge", "Acknowledge"), ("resolve", "Resolve"), ("escalate", "Escalate"))


class NotACard(ValueError):
    """The payload is not a Teams message carrying an Adaptive Card (the renderer's shape)."""


def as_message(payload: Any) -> dict[str, Any]:
    """A deep copy of ``payload`` as a Teams message; a bare Adaptive Card is wrapped in one.

    A copy, because the caller's payload is what ``RenderPreview`` shows and what a retry
    sends again: buttons added here must not accumulate on it.
    """
    if isinstance(payload, Mapping) and payload.get("type") == "AdaptiveCard":
        return {
            "type": "message",
            "attachments": [{"contentType": CARD_TYPE, "contentUrl": None, "content": copy.deepcopy(dict(payload))}],
        }
    if not isinstance(payload, Mapping) or payload.get("type") != "message":
        raise NotACard("the payload is not a Teams message (expected {\"type\": \"message\", \"attachments\": [...]})")
    message = copy.deepcopy(dict(payload))
    if _card(message) is None:
        raise NotACard(f"the Teams message has no attachment of type {CARD_TYPE} with an Adaptive Card")
    return message


def _card(message: Mapping[str, Any]) -> dict[str, Any] | None:
    attachments = message.get("attachments")
    if not isinstance(attachments, list):
        return None
    for attachment in attachments:
        if isinstance(attachment, dict) and attachment.get("contentType") == CARD_TYPE:
            content = attachment.get("content")
            if isinstance(content, dict) and content.get("type") == "AdaptiveCard":
                return content
    return None


def action_set(actions: Mapping[str, str]) -> dict[str, Any] | None:
    """An ``ActionSet`` of ``Action.OpenUrl`` buttons for the offered actions, or None if none."""
    buttons = [
        {"type": "Action.OpenUrl", "title": title, "url": url}
        for key, title in BUTTONS
        if isinstance(url := actions.get(key), str) and url.startswith(("https://", "http://"))
    ]
    return {"type": "ActionSet", "actions": buttons} if buttons else None


def with_buttons(payload: Any, actions: Mapping[str, str]) -> dict[str, Any]:
    """The message to post: a copy of ``payload`` whose card ends with the action buttons."""
    message = as_message(payload)
    buttons = action_set(actions)
    if buttons is not None:
        card = _card(message)
        assert card is not None  # as_message checked
        body = card.get("body")
        if not isinstance(body, list):
            body = card["body"] = []
        body.append(buttons)
    return message


def check_message(label: str) -> dict[str, Any]:
    """A clearly-labelled card for ``oncall channels test teams --to <destination>``."""
    card = {
        "type": "AdaptiveCard",
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "version": "1.4",
        "body": [
            {"type": "TextBlock", "size": "Large", "weight": "Bolder", "wrap": True, "text": "OnCall test message"},
            {
                "type": "TextBlock",
                "wrap": True,
                "text": f"If you can read this, OnCall can post to the Teams webhook {label!r}. "
                "No alert is involved and nothing needs doing.",
            },
        ],
    }
    return as_message(card)
