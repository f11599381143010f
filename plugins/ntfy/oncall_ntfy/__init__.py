"""ntfy as OnCall's push channel (``push``): notifications to the ntfy app, with action buttons.

Settings (``ONCALL_NTFY_*``): ``URL`` (the server, required; without it nothing is
registered), ``TOKEN`` (an access token) or ``USERNAME``/``PASSWORD``, and ``TIMEOUT_S``
(default 10). A destination is a topic name. See README.md.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from oncall_hookspecs import Channel, hookimpl
from oncall_hookspecs.settings import parse_retry_after

from .channel import NtfyChannel
from .message import InvalidMessage, action_buttons, build, check_topic
from .settings import NtfySettings, NtfySettingsError, load_settings

__all__ = [
    "InvalidMessage",
    "NtfyChannel",
    "NtfySettings",
    "NtfySettingsError",
    "action_buttons",
    "build",
    "check_topic",
    "load_settings",
    "parse_retry_after",
    "register_channels",
]

log = logging.getLogger(__name__)


@hookimpl
def register_channels(register: Callable[[Channel], None]) -> None:
    settings, unknown = load_settings()
    if unknown:
        log.warning("ntfy channel: ignoring unknown settings %s", ", ".join(unknown))
    if settings is None:
        log.debug("ntfy push channel not registered: ONCALL_NTFY_URL is not set")
        return
    register(NtfyChannel(settings))
