"""The channel catalog: what the core knows about channels, read only from plugins' specs.

The core knows no channel by name. Each installed plugin that renders a channel registers
its ``ChannelSpec`` (``register_channel_specs``); the catalog is those specs, and every
question the core asks about a channel (its template parts and their escaping, its default
template, the minimal message, its label, aliases, capabilities, default rate limits) is
asked here. A name no spec declares is an :class:`UnknownChannel`, raised where it is
written (a template saved, a policy target, a destination), not when a page is due.

The process's catalog is :func:`current`: the one a server installed from its registry
(:func:`install`), else the installed plugins' specs, loaded once on first use (the CLI,
tests that render without a server).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from oncall_hookspecs import ChannelSpec, Escape, fallback

from ..plugins import load_plugins

log = logging.getLogger(__name__)


class UnknownChannel(ValueError):
    """A name no installed plugin declares as a channel."""

    def __init__(self, name: str, known: Iterable[str]) -> None:
        names = sorted(known)
        hint = f"installed channels: {', '.join(names)}" if names else \
            "no channel plugins are installed (pip install 'oncall[standard]')"
        super().__init__(f"unknown channel {name!r}; {hint}")
        self.name = name


class ChannelCatalog:
    """The installed channels' specs, by name and by alias."""

    def __init__(self, specs: Iterable[ChannelSpec] = ()) -> None:
        self._specs: dict[str, ChannelSpec] = {}
        self._aliases: dict[str, str] = {}
        for spec in specs:
            self._specs[spec.name] = spec
        for spec in self._specs.values():
            for alias in spec.aliases:
                if alias in self._specs or alias in self._aliases:
                    log.warning("channel alias %r of %s is already taken; ignored", alias, spec.name)
                else:
                    self._aliases[alias] = spec.name

    @classmethod
    def from_registry(cls, registry: Any) -> ChannelCatalog:
        return cls(registry.channel_specs.values())

    def __contains__(self, name: object) -> bool:
        return name in self._specs

    def __iter__(self) -> Iterator[str]:
        return iter(self._specs)

    def __len__(self) -> int:
        return len(self._specs)

    def names(self) -> tuple[str, ...]:
        return tuple(self._specs)

    def get_all(self) -> tuple[ChannelSpec, ...]:
        return tuple(self._specs.values())

    def spec(self, name: str) -> ChannelSpec:
        """The spec of ``name``, or UnknownChannel."""
        try:
            return self._specs[name]
        except KeyError:
            raise UnknownChannel(name, self._specs) from None

    def get(self, name: str) -> ChannelSpec | None:
        return self._specs.get(name)

    def resolve(self, kind: str) -> str:
        """A contact method kind or destination prefix as a channel name (aliases applied, lower case).

        An unknown kind comes back as it is, so a delivery to it is recorded as failed by name.
        """
        kind = kind.strip().lower()
        return self._aliases.get(kind, kind)

    def check(self, kind: str) -> str:
        """Like :meth:`resolve`, but UnknownChannel for a kind no spec declares."""
        name = self.resolve(kind)
        self.spec(name)
        return name

    def parts(self, name: str) -> Mapping[str, Escape]:
        return self.spec(name).parts

    def label(self, name: str) -> str:
        spec = self._specs.get(name)
        return spec.label if spec is not None else name.capitalize()

    def describe(self, name: str, destination: str) -> str:
        spec = self._specs.get(name)
        if spec is None or spec.describe_destination is None:
            return destination
        return spec.describe_destination(destination)

    def normal_address(self, name: str, address: str) -> str:
        address = address.strip()
        spec = self._specs.get(name)
        return address.lower() if spec is not None and spec.addresses_ignore_case else address

    def capability(self, name: str, what: str) -> bool:
        """``action_links``, ``reply_codes``, ``bundles`` or ``updates`` of a channel (False when unknown)."""
        spec = self._specs.get(name)
        return bool(getattr(spec, what)) if spec is not None else False

    def circuit(self, name: str, destination: str) -> str:
        """The circuit breaker a delivery counts against: the channel's, or its destination's."""
        spec = self._specs.get(name)
        return f"{name}:{destination}" if spec is not None and spec.circuit == "destination" else name

    def rate_limits(self, name: str) -> dict[str, tuple[float, float]]:
        spec = self._specs.get(name)
        return {k: (float(v[0]), float(v[1])) for k, v in spec.rate_limits.items()} if spec is not None else {}

    def minimal_parts(self, name: str, context: Mapping[str, Any]) -> dict[str, str]:
        """The last-resort message's parts: the spec's own, else one derived from its parts' escaping."""
        return fallback.minimal_parts(self.spec(name), context)


STANDARD_HINT = "pip install 'oncall[standard]' installs the standard plugins"


def installation_problems(registry: Any) -> list[str]:
    """What an operator should hear at startup about the installed channels and sources."""
    problems: list[str] = []
    if not registry.sources:
        problems.append(f"no source plugins are installed: no webhook can send alerts in ({STANDARD_HINT})")
    if not registry.channel_specs:
        problems.append(f"no channel plugins are installed: no one can be paged ({STANDARD_HINT})")
    for name in sorted(registry.channels):
        if name not in registry.channel_specs:
            problems.append(f"channel {name!r} has no ChannelSpec (register_channel_specs): nothing can be sent through it")
    for name in sorted(registry.channel_specs):
        if name not in registry.renderers:
            problems.append(f"channel {name!r} has no renderer plugin: its messages cannot be made")
    return problems


_lock = threading.Lock()
_installed: ChannelCatalog | None = None


def current() -> ChannelCatalog:
    """This process's catalog (see the module's docstring)."""
    global _installed
    catalog = _installed
    if catalog is not None:
        return catalog
    with _lock:
        if _installed is None:
            _, registry = load_plugins()
            _installed = ChannelCatalog.from_registry(registry)
        return _installed


def install(catalog: ChannelCatalog | None) -> ChannelCatalog | None:
    """Make ``catalog`` the process's (None: load the installed plugins' again on next use); returns the previous."""
    global _installed
    with _lock:
        previous, _installed = _installed, catalog
    return previous


__all__ = ["ChannelCatalog", "UnknownChannel", "current", "install", "installation_problems"]
