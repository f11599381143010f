"""SMS and voice calls through Twilio as OnCall channels (``sms`` and ``voice``).

Settings (``ONCALL_TWILIO_*``): ``ACCOUNT_SID``, ``AUTH_TOKEN`` and ``FROM_NUMBER`` together
(none: nothing is registered; only some: the plugin fails naming the missing ones),
``API_URL`` (the REST API's base URL, default the SDK's) and ``TIMEOUT_S`` (default 10).
See README.md.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from oncall_hookspecs import Channel, hookimpl
from oncall_hookspecs.settings import parse_retry_after

from .api import AiohttpTransport, TwilioApi, TwilioUnavailable
from .inbound import Signatures
from .replies import Reply, ReplyKind, parse_reply, reply_hint
from .settings import TwilioSettings, TwilioSettingsError, load_settings
from .sms import SmsChannel
from .voice import VoiceChannel, call_twiml

__all__ = [
    "AiohttpTransport",
    "Reply",
    "ReplyKind",
    "Signatures",
    "SmsChannel",
    "TwilioApi",
    "TwilioSettings",
    "TwilioSettingsError",
    "TwilioUnavailable",
    "VoiceChannel",
    "call_twiml",
    "load_settings",
    "make_channels",
    "parse_reply",
    "parse_retry_after",
    "register_channels",
    "reply_hint",
]

log = logging.getLogger(__name__)


def make_channels(settings: TwilioSettings) -> tuple[SmsChannel, VoiceChannel]:
    """Both channels, sharing one REST client (and its connection pool)."""
    api = TwilioApi(settings)
    signatures = Signatures(settings.auth_token)
    return SmsChannel(api, signatures), VoiceChannel(api, signatures)


@hookimpl
def register_channels(register: Callable[[Channel], None]) -> None:
    settings, unknown = load_settings()
    if unknown:
        log.warning("twilio channels: ignoring unknown settings %s", ", ".join(unknown))
    if settings is None:
        log.debug(
            "twilio channels not registered: ONCALL_TWILIO_ACCOUNT_SID, ONCALL_TWILIO_AUTH_TOKEN "
            "and ONCALL_TWILIO_FROM_NUMBER are not set"
        )
        return
    for channel in make_channels(settings):
        register(channel)
