"""OnCall's channel renderers: rendered template parts → each channel's payload, validated.

The core renders a template's parts in its sandbox; the renderer for the channel turns
them into the payload the channel plugin sends (and ``RenderPreview`` shows), checking the
channel's rules on the way: Slack Block Kit limits, the Adaptive Card essentials, SMS
segments, the email HTML allow-list, voice and push lengths, webhook JSON. A broken payload
comes back with ``errors`` (and ``payload`` None when nothing could be built); soft issues
are ``warnings``. A message about one part of a many-part channel (email, push) starts with
the part's name: ``html: line 3 of the rendered HTML: <script> is not allowed``.

It also declares the seven built-in channels (``specs.py``): each one's template parts
and their escaping, its default template (``defaults.py``), label and capabilities, as the
``ChannelSpec`` the core reads; the core itself knows no channel.

No settings. See README.md for each payload's shape.
"""

from __future__ import annotations

from collections.abc import Callable

from oncall_hookspecs import ChannelSpec, Renderer, hookimpl

from .email import EmailRenderer, audit_email_html, sanitize_email_html
from .push import PushRenderer, alert_priority
from .slack import SlackRenderer
from .sms import SmsInfo, SmsRenderer, sms_segments
from .specs import SPECS
from .teams import TeamsRenderer
from .voice import VoiceRenderer
from .webhook import WebhookRenderer

__all__ = [
    "RENDERERS",
    "SPECS",
    "EmailRenderer",
    "PushRenderer",
    "SlackRenderer",
    "SmsInfo",
    "SmsRenderer",
    "TeamsRenderer",
    "VoiceRenderer",
    "WebhookRenderer",
    "alert_priority",
    "audit_email_html",
    "register_channel_specs",
    "register_renderers",
    "sanitize_email_html",
    "sms_segments",
]

RENDERERS: tuple[Renderer, ...] = (
    SlackRenderer(), TeamsRenderer(), EmailRenderer(), SmsRenderer(), VoiceRenderer(), PushRenderer(),
    WebhookRenderer(),
)


@hookimpl
def register_renderers(register: Callable[[Renderer], None]) -> None:
    for renderer in RENDERERS:
        register(renderer)


@hookimpl
def register_channel_specs(register: Callable[[ChannelSpec], None]) -> None:
    for spec in SPECS:
        register(spec)
