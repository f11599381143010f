"""What the worker needs to know about a channel: rate limits, bundling, circuit scope, links, reply codes, label.

The only place in the worker's rooms that holds per-channel knowledge: every room asks here,
so replacing these tables with the channels' own specs changes this module alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# (burst, seconds per message) per destination and per channel; GoAlert-like for phones
DEFAULT_RATE_LIMITS: Mapping[str, Mapping[str, tuple[float, float]]] = {
    "sms": {"destination": (2, 60.0)},
    "voice": {"destination": (2, 60.0)},
    "email": {"destination": (10, 6.0)},
    "push": {"destination": (10, 6.0)},
    "slack": {"destination": (10, 1.0)},
    "teams": {"destination": (4, 1.0)},
    "webhook": {"destination": (200, 0.005)},  # a receiver is a service: 200/s
}
# channels whose queued messages for one destination go out as one (GoAlert does this for SMS)
DEFAULT_BUNDLING = frozenset({"sms", "voice"})
# channels whose destinations are independent services: one bad receiver must not pause the rest
PER_DESTINATION_CIRCUITS = frozenset({"webhook", "teams"})
# channels that show one-click links (the others have native buttons, replies or nothing)
LINK_CHANNELS = frozenset({"email", "teams", "push"})
REPLY_CODE_CHANNELS = frozenset({"sms"})
LABELS = {"sms": "SMS", "voice": "Voice call", "email": "Email", "slack": "Slack", "teams": "Teams",
          "push": "Push", "webhook": "Webhook"}


def rate_limits(name: str, channel: Any) -> dict[str, tuple[float, float]]:
    """The core's default for the channel, then the channel plugin's own (``rate_limits``)."""
    limits = dict(DEFAULT_RATE_LIMITS.get(name, {}))
    own = getattr(channel, "rate_limits", None)
    if isinstance(own, Mapping):
        limits.update({k: (float(v[0]), float(v[1])) for k, v in own.items()
                       if k in ("destination", "channel") and float(v[0]) >= 1 and float(v[1]) > 0})
    return limits


def bundles(name: str, channel: Any) -> bool:
    """Whether messages queued for one destination go out as one."""
    return bool(getattr(channel, "bundles", name in DEFAULT_BUNDLING))


def circuit_key(name: str, destination: str) -> str:
    """The circuit breaker a delivery counts towards: its channel's, or its destination's."""
    return f"{name}:{destination}" if name in PER_DESTINATION_CIRCUITS else name


def shows_links(name: str) -> bool:
    """Whether the channel's messages carry one-click links."""
    return name in LINK_CHANNELS


def uses_reply_codes(name: str) -> bool:
    """Whether a reply names its alert by a short code."""
    return name in REPLY_CODE_CHANNELS


def label(name: str) -> str:
    return LABELS.get(name, name.capitalize())


def describe_destination(name: str, destination: str) -> str:
    """How a destination reads on the timeline: a Workflows URL carries its signature, so only its host."""
    if name == "teams" and "://" in destination:
        return "a webhook at " + destination.split("://", 1)[1].split("/", 1)[0]
    return destination
