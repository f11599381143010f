"""Microsoft Teams as an OnCall channel: Adaptive Cards posted to Workflows webhooks.

Settings (``ONCALL_TEAMS_*``): ``WEBHOOKS`` (``name=https://…`` pairs, comma-separated;
the URLs are secrets), ``ALLOW_URL_DESTINATIONS`` (let a destination be a full https URL)
and ``TIMEOUT_S`` (default 10). With neither webhooks nor URL destinations nothing is
registered. See README.md.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from oncall_hookspecs import Channel, hookimpl
from oncall_hookspecs.settings import parse_retry_after

from .card import action_set, as_message, with_buttons
from .channel import TeamsChannel, UnknownDestination, scrub
from .settings import TeamsSettings, TeamsSettingsError, load_settings, parse_webhooks

__all__ = [
    "TeamsChannel",
    "TeamsSettings",
    "TeamsSettingsError",
    "UnknownDestination",
    "action_set",
    "as_message",
    "load_settings",
    "parse_retry_after",
    "parse_webhooks",
    "register_channels",
    "scrub",
    "with_buttons",
]

log = logging.getLogger(__name__)


@hookimpl
def register_channels(register: Callable[[Channel], None]) -> None:
    settings, unknown = load_settings()
    if unknown:
        log.warning("teams channel: ignoring unknown settings %s", ", ".join(unknown))
    if settings is None:
        log.debug(
            "teams channel not registered: ONCALL_TEAMS_WEBHOOKS is not set "
            "and ONCALL_TEAMS_ALLOW_URL_DESTINATIONS is not true"
        )
        return
    register(TeamsChannel(settings, ssl_context=settings.ssl_context()))
