"""Slack as an OnCall channel: alerts posted with Acknowledge / Resolve / Escalate buttons.

Settings (``ONCALL_SLACK_*``): ``BOT_TOKEN`` (without it nothing is registered),
``SIGNING_SECRET`` (required with the token: it authenticates button clicks),
``API_URL`` (default: Slack's) and ``TIMEOUT_S`` (default 10). See README.md.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from oncall_hookspecs import Channel, hookimpl

from .blocks import ACTIONS, MAX_BLOCKS, buttons, message_blocks, oncall_blocks, status_line
from .channel import Click, SlackChannel, parse_clicks, post_arguments
from .settings import SlackSettings, SlackSettingsError, load_settings
from .signing import signature, signature_problem

__all__ = [
    "ACTIONS",
    "MAX_BLOCKS",
    "Click",
    "SlackChannel",
    "SlackSettings",
    "SlackSettingsError",
    "buttons",
    "load_settings",
    "message_blocks",
    "oncall_blocks",
    "parse_clicks",
    "post_arguments",
    "register_channels",
    "signature",
    "signature_problem",
    "status_line",
]

log = logging.getLogger(__name__)


@hookimpl
def register_channels(register: Callable[[Channel], None]) -> None:
    settings, unknown = load_settings()
    if unknown:
        log.warning("slack channel: ignoring unknown settings %s", ", ".join(unknown))
    if settings is None:
        log.debug("slack channel not registered: ONCALL_SLACK_BOT_TOKEN is not set")
        return
    register(SlackChannel(settings))
