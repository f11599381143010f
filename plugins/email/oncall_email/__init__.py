"""Alert email as an OnCall channel: multipart text and HTML through an SMTP relay over TLS.

Settings (``ONCALL_EMAIL_*``): ``SMTP_HOST`` (without it nothing is registered), ``FROM``
(required with the host), ``SMTP_PORT``, ``SECURITY`` (starttls, tls, none), ``USERNAME``
and ``PASSWORD``, ``CA_FILE``, ``TIMEOUT_S``. See README.md.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from oncall_hookspecs import Channel, hookimpl

from .addresses import InvalidAddress, parse_address, parse_mailbox
from .channel import EmailChannel
from .compose import PayloadError, compose, message_id
from .settings import EmailSettings, EmailSettingsError, load_settings

__all__ = [
    "EmailChannel",
    "EmailSettings",
    "EmailSettingsError",
    "InvalidAddress",
    "PayloadError",
    "compose",
    "load_settings",
    "message_id",
    "parse_address",
    "parse_mailbox",
    "register_channels",
]

log = logging.getLogger(__name__)


@hookimpl
def register_channels(register: Callable[[Channel], None]) -> None:
    settings, unknown = load_settings()
    if unknown:
        log.warning("email channel: ignoring unknown settings %s", ", ".join(unknown))
    if settings is None:
        log.debug("email channel not registered: ONCALL_EMAIL_SMTP_HOST is not set")
        return
    register(EmailChannel(settings))
