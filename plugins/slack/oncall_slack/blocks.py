"""The Block Kit OnCall adds to a rendered message: the alert's status and its buttons.

A posted message's ``blocks`` are the rendered ones followed by OnCall's own two: a
context block (``block_id`` ``oncall_status``) with the status line, and an actions block
(``oncall_actions``) with the Acknowledge / Resolve / Escalate buttons. Buttons belong in
the top-level blocks, where Block Kit (and anything reading the message) looks for them.
``chat.update`` replaces all of a message's blocks, so an update rebuilds the message from
the rendered blocks (kept by the core with the delivery) plus fresh blocks of our own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

#: action_id → what ``ChannelHost.act`` is asked to do
ACTIONS: Mapping[str, str] = {
    "oncall_acknowledge": "acknowledge",
    "oncall_resolve": "resolve",
    "oncall_escalate": "escalate",
}

_BUTTONS: Mapping[str, tuple[str, str | None]] = {  # action → (label, style)
    "acknowledge": ("Acknowledge", "primary"),
    "resolve": ("Resolve", None),
    "escalate": ("Escalate", "danger"),
}

#: the buttons still worth offering in each status
_OFFERED: Mapping[str, Sequence[str]] = {
    "triggered": ("acknowledge", "resolve", "escalate"),
    "acknowledged": ("resolve",),
    "resolved": (),
}

STATUS_BLOCK_ID = "oncall_status"
ACTIONS_BLOCK_ID = "oncall_actions"
_OURS = frozenset({STATUS_BLOCK_ID, ACTIONS_BLOCK_ID})
#: Slack refuses a message with more blocks than this (``invalid_blocks``)
MAX_BLOCKS = 50

_PAST: Mapping[str, str] = {
    "acknowledge": ":eyes: Acknowledged",
    "resolve": ":white_check_mark: Resolved",
    "escalate": ":arrow_double_up: Escalated",
}
_STATUS_LINE: Mapping[str, str] = {
    "acknowledged": ":eyes: Acknowledged",
    "resolved": ":white_check_mark: Resolved",
    "triggered": ":rotating_light: Triggered",
}


def escape(text: str) -> str:
    """Text made safe for mrkdwn: ``&``, ``<`` and ``>`` would otherwise start links and mentions."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def mention(slack_user_id: str) -> str:
    """How a Slack user is named in a message (Slack shows the person's display name)."""
    return f"<@{escape(slack_user_id)}>"


def buttons(alert_id: int, status: str) -> list[dict[str, Any]]:
    """The buttons for an alert in ``status``: each carries the alert id as its value."""
    elements = []
    for action in _OFFERED.get(status, _OFFERED["triggered"]):
        label, style = _BUTTONS[action]
        button: dict[str, Any] = {
            "type": "button",
            "action_id": f"oncall_{action}",
            "text": {"type": "plain_text", "text": label},
            "value": str(alert_id),
        }
        if style:
            button["style"] = style
        elements.append(button)
    return elements


def status_line(status: str, by: str | None, action: str | None = None) -> str:
    """``:eyes: Acknowledged by <@U123>``: what happened (or the status), and who did it."""
    if action is not None and action in _PAST:
        head = _PAST[action]
    else:
        head = _STATUS_LINE.get(status, escape(status.capitalize()))
    if not by:
        return head
    if status == "triggered" and action not in _PAST:
        return f"{head} · changed by {by}"
    return f"{head} by {by}"


def oncall_blocks(alert_id: int, status: str, line: str | None) -> list[dict[str, Any]]:
    """Our blocks for an alert: the status ``line`` (when given) and the buttons still possible."""
    blocks: list[dict[str, Any]] = []
    if line:
        blocks.append({"type": "context", "block_id": STATUS_BLOCK_ID, "elements": [{"type": "mrkdwn", "text": line}]})
    offered = buttons(alert_id, status)
    if offered:
        blocks.append({"type": "actions", "block_id": ACTIONS_BLOCK_ID, "elements": offered})
    return blocks


def without_ours(blocks: Any) -> list[Any]:
    """``blocks`` less any status or actions block of ours (a message read back from Slack has them)."""
    if not isinstance(blocks, Sequence) or isinstance(blocks, (str, bytes)):
        return []
    return [b for b in blocks if not (isinstance(b, Mapping) and b.get("block_id") in _OURS)]


def message_blocks(rendered: Any, ours: Sequence[dict[str, Any]]) -> list[Any]:
    """The rendered blocks followed by ours, within Slack's block limit.

    When there are too many, rendered blocks go from the end: the status and the buttons
    are what the message is for once it has been read.
    """
    base = without_ours(rendered)
    room = max(MAX_BLOCKS - len(ours), 0)
    return base[:room] + list(ours)
