"""Following: channels that update what they posted hear each change of the alert it was about."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

from oncall_hookspecs import Channel, EditingChannel, UpdatingChannel

from ...escalation.engine import render_context
from . import capabilities

log = logging.getLogger(__name__)

FOLLOWED = ("acknowledged", "resolved", "escalate_requested", "triggered")
FOLLOW_TIMEOUT_S = 30.0


def followers(channels: Sequence[Channel]) -> list[UpdatingChannel]:
    """The channels whose spec says they update their messages and that implement ``on_alert_change``
    (and not ``edit``: an editing channel is kept current per incident, by ``edits``)."""
    return [c for c in channels if capabilities.updates(c.name) and isinstance(c, UpdatingChannel)
            and not isinstance(c, EditingChannel)]


async def follow_alerts(hub: Any, channels: Sequence[UpdatingChannel]) -> None:
    """Hand each followed alert change to every following channel, one channel's failure its own."""
    sub = hub.subscribe()
    try:
        async for event, alert in sub:
            if event.kind not in FOLLOWED:
                continue
            ctx_alert = render_context(alert)["alert"]
            for channel in channels:
                try:
                    await asyncio.wait_for(channel.on_alert_change(ctx_alert, event.actor), FOLLOW_TIMEOUT_S)
                except asyncio.CancelledError:
                    raise
                except Exception:  # noqa: BLE001 - one channel's failure is its own
                    log.exception("channel %s failed to follow alert %d's change", channel.name, alert.id)
    finally:
        sub.close()
