"""The Block Kit OnCall adds to a rendered message: the alert's status and its buttons.

The rendered payload's own ``blocks`` are posted untouched; the status line and the
Acknowledge / Resolve / Escalate buttons travel in one message attachment of their own.
``chat.update`` keeps a message's blocks when it is not given any, so replacing only the
attachment changes status and buttons without knowing (or storing) what was rendered:
any replica can update any message, even after a restart.
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

_COLOURS: Mapping[str, str] = {"triggered": "#E01E5A", "acknowledged": "#ECB22E", "resolved": "#2EB67D"}

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
    if action in _PAST:
        head = _PAST[action]
    else:
        head = _STATUS_LINE.get(status, escape(status.capitalize()))
    if not by:
        return head
    if status == "triggered" and action not in _PAST:
        return f"{head} · changed by {by}"
    return f"{head} by {by}"


def status_attachment(alert_id: int, status: str, line: str | None) -> dict[str, Any]:
    """The attachment that carries the status ``line`` (optional) and the buttons still possible."""
    blocks: list[dict[str, Any]] = []
    if line:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": line}]})
    offered = buttons(alert_id, status)
    if offered:
        blocks.append({"type": "actions", "block_id": "oncall_actions", "elements": offered})
    return {
        "color": _COLOURS.get(status, "#616061"),
        "fallback": line or f"Alert #{alert_id}: {status}",
        "blocks": blocks,
    }
