"""Outgoing webhooks as an OnCall channel: JSON POSTs, signed when a secret is set, to destinations the guard allows.

Settings (``ONCALL_WEBHOOK_*``, all optional): ``SIGNING_SECRET`` (without it deliveries
are sent unsigned, with one warning at the first unsigned delivery), ``TIMEOUT_S`` (default 10),
``ALLOWED_HOSTS`` (host names, ``*.suffix`` wildcards and CIDRs; when set, the only
destinations allowed) and ``PUBLIC_ONLY`` (with no allowlist, public addresses only).
Link-local and cloud metadata addresses are refused whatever is set. See README.md.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from oncall_hookspecs import Channel, hookimpl
from oncall_hookspecs.settings import parse_retry_after

from .channel import UNSIGNED_WARNING, WebhookChannel
from .guard import AllowList, DestinationRefused
from .settings import WebhookSettings, WebhookSettingsError, load_settings
from .signing import encode_body, sign, verify_signature

__all__ = [
    "UNSIGNED_WARNING",
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
    if settings.public_only and not settings.allowed_hosts.empty:
        log.warning(
            "webhook channel: ONCALL_WEBHOOK_PUBLIC_ONLY has no effect while ONCALL_WEBHOOK_ALLOWED_HOSTS is set "
            "(the allowlist is the whole list)"
        )
    register(WebhookChannel(settings))
