"""What the worker needs to know about a channel: rate limits, bundling, circuit scope, links, reply codes, label.

The only place in the worker's rooms that asks about a channel: every answer comes from the
channel's ``ChannelSpec`` (the process's catalog, ``notification/channels.py``) and, where the
channel plugin declares it, from the channel object's own typed members.
"""

from __future__ import annotations

from collections.abc import Mapping

from oncall_hookspecs import BundlingChannel, Channel, RateLimitedChannel

from .. import channels as catalog


def rate_limits(name: str, channel: Channel) -> dict[str, tuple[float, float]]:
    """The channel spec's default, then the channel plugin's own (``rate_limits``)."""
    limits = catalog.current().rate_limits(name)
    own = channel.rate_limits if isinstance(channel, RateLimitedChannel) else None
    if isinstance(own, Mapping):
        limits.update({k: (float(v[0]), float(v[1])) for k, v in own.items()
                       if k in ("destination", "channel") and float(v[0]) >= 1 and float(v[1]) > 0})
    return limits


def bundles(name: str, channel: Channel) -> bool:
    """Whether messages queued for one destination go out as one."""
    if isinstance(channel, BundlingChannel):
        return bool(channel.bundles)
    return catalog.current().capability(name, "bundles")


def circuit_key(name: str, destination: str) -> str:
    """The circuit breaker a delivery counts towards: its channel's, or its destination's."""
    return catalog.current().circuit(name, destination)


def shows_links(name: str) -> bool:
    """Whether the channel's messages carry one-click links."""
    return catalog.current().capability(name, "action_links")


def uses_reply_codes(name: str) -> bool:
    """Whether a reply names its alert by a short code."""
    return catalog.current().capability(name, "reply_codes")


def updates(name: str) -> bool:
    """Whether the channel keeps what it posted current (edits it as its incident changes)."""
    return catalog.current().capability(name, "updates")


def edit_interval_s(name: str) -> float:
    """The least time between two edits of one message of the channel."""
    spec = catalog.current().get(name)
    return spec.edit_interval_s if spec is not None else 3.0


def label(name: str) -> str:
    return catalog.current().label(name)


def describe_destination(name: str, destination: str) -> str:
    """How a destination reads on the timeline (the spec's own description, e.g. only a webhook's host)."""
    return catalog.current().describe(name, destination)
