"""Outgoing webhooks as an OnCall channel: signed JSON POSTs to destinations the guard allows.

Settings (``ONCALL_WEBHOOK_*``): ``SIGNING_SECRET`` (required; without it nothing is
registered), ``TIMEOUT_S`` (default 10) and ``ALLOWED_HOSTS`` (host names, ``*.suffix``
wildcards and CIDRs; empty allows public addresses only). See README.md.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from oncall_hookspecs import Channel, hookimpl

from .channel import WebhookChannel, parse_retry_after
from .guard import AllowList, DestinationRefused
from .settings import WebhookSettings, WebhookSettingsError, load_settings
from .signing import encode_body, sign, verify_signature

__all__ = [
    "AllowList",
    "DestinationRefused",
    "WebhookChannel",
    "WebhookSettings",
    "WebhookSettingsError",
    "encode_body",
    "parse_retry_after",
    "register_channels",
    "sign",
    "verify_signature",
]

log = logging.getLogger(__name__)


@hookimpl
def register_channels(register: Callable[[Channel], None]) -> None:
    settings, unknown = load_settings()
    if unknown:
        log.warning("webhook channel: ignoring unknown settings %s", ", ".join(unknown))
    if settings is None:
        # unsigned webhooks can be forged by anyone who learns the URL: refuse to send them
        log.debug("webhook channel not registered: ONCALL_WEBHOOK_SIGNING_SECRET is not set")
        return
    register(WebhookChannel(settings))
