"""Plugin discovery: entry points in the group ``oncall``, loaded into a typed registry.

Each plugin is loaded, registered and asked for its objects on its own. One that fails to
import, has a hook the contract doesn't know, or registers an object of the wrong shape is
reported and skipped, with everything it registered; the others are unaffected.
"""

from __future__ import annotations

import functools
import importlib.metadata
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import pluggy
from oncall_hookspecs import hookspecs
from oncall_hookspecs.markers import ENTRY_POINT_GROUP, PROJECT

log = logging.getLogger(__name__)

FAMILIES = hookspecs.FAMILIES


@dataclass
class PluginInfo:
    """What ``oncall plugins`` shows for one discovered plugin."""

    name: str
    distribution: str
    version: str
    hooks: list[str] = field(default_factory=list)
    status: str = "ok"  # ok | disabled | failed
    error: str = ""
    provides: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class Registry:
    """The objects plugins registered, by family and name, and the report of loading them."""

    sources: dict[str, Any] = field(default_factory=dict)
    routers: dict[str, Any] = field(default_factory=dict)
    renderers: dict[str, Any] = field(default_factory=dict)
    channels: dict[str, Any] = field(default_factory=dict)
    channel_specs: dict[str, Any] = field(default_factory=dict)
    ticket_providers: dict[str, Any] = field(default_factory=dict)
    directories: dict[str, Any] = field(default_factory=dict)
    lifecycle_listeners: dict[str, Any] = field(default_factory=dict)
    authenticators: dict[str, Any] = field(default_factory=dict)
    permission_rules: dict[str, Any] = field(default_factory=dict)
    plugins: list[PluginInfo] = field(default_factory=list)
    source_paths: dict[str, str] = field(default_factory=dict)  # extra path → source name

    def family(self, key: str) -> dict[str, Any]:
        found: dict[str, Any] = getattr(self, key)
        return found


class ContractError(Exception):
    """A plugin broke the contract: unknown hook, wrong signature, or a malformed object."""


def _object_name(family_key: str, obj: Any) -> str:
    attr = "channel" if family_key == "renderers" else "name"
    name = getattr(obj, attr, None)
    if not isinstance(name, str) or not name:
        raise ContractError(f"registered {type(obj).__name__} has no string '{attr}'")
    return name


#: family key → what one of its objects is called in messages
_SINGULAR = {
    "sources": "source",
    "routers": "router",
    "renderers": "renderer",
    "channels": "channel",
    "channel_specs": "channel spec",
    "ticket_providers": "ticket provider",
    "directories": "directory",
    "lifecycle_listeners": "lifecycle listener",
    "authenticators": "authenticator",
    "permission_rules": "permission rule",
}


def _check_shape(family_key: str, proto: type, obj: Any) -> None:
    what = _SINGULAR[family_key]
    if family_key == "channel_specs":  # data, not a protocol: the frozen dataclass checked its own fields
        if not isinstance(obj, proto):
            raise ContractError(f"{type(obj).__name__} registered as {what} is not a ChannelSpec")
        return
    members = getattr(proto, "__protocol_attrs__", None) or _protocol_members(proto)
    missing = [m for m in members if not hasattr(obj, m)]
    if missing:
        raise ContractError(f"{type(obj).__name__} registered as {what} lacks {', '.join(sorted(missing))}")
    # a method set to None (or a string) would pass the check above and fail on first use
    not_callable = [
        m for m in members if callable(getattr(proto, m, None)) and not callable(getattr(obj, m))
    ]
    if not_callable:
        raise ContractError(
            f"{type(obj).__name__} registered as {what}: {', '.join(sorted(not_callable))} must be callable"
        )
    if family_key == "sources":
        paths = getattr(obj, "paths", ())
        if isinstance(paths, str) or not all(isinstance(p, str) and p.startswith("/") for p in paths):
            raise ContractError(f"source {obj.name!r}: paths must be a sequence of '/…' strings")


def _protocol_members(proto: type) -> set[str]:
    members: set[str] = set()
    for klass in proto.__mro__:
        if klass in (object,) or klass.__name__ in ("Protocol", "Generic"):
            continue
        members.update(getattr(klass, "__annotations__", {}).keys())
        members.update(
            k for k, v in vars(klass).items() if callable(v) and not k.startswith("_")
        )
    return members


def _itself(obj: Any) -> Any:
    """The loader of a plugin handed over directly: the object itself."""
    return obj


def _discover() -> list[importlib.metadata.EntryPoint]:
    eps = importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)
    seen: dict[str, importlib.metadata.EntryPoint] = {}
    for ep in eps:
        seen.setdefault(ep.name, ep)  # the first on sys.path wins, as importlib resolves it
    return sorted(seen.values(), key=lambda e: e.name)


def new_plugin_manager() -> pluggy.PluginManager:
    pm = pluggy.PluginManager(PROJECT)
    pm.add_hookspecs(hookspecs)
    return pm


def load_plugins(
    disabled: Iterable[str] = (),
    extra: Iterable[tuple[str, Any]] = (),
) -> tuple[pluggy.PluginManager, Registry]:
    """Discover, load and register every plugin; never raises because of a plugin.

    ``extra`` adds ``(name, module_or_object)`` plugins directly (used by tests).
    """
    pm = new_plugin_manager()
    registry = Registry()
    disabled = set(disabled)
    candidates: list[tuple[str, Callable[[], Any], str, str]] = []
    for ep in _discover():
        dist = ep.dist
        candidates.append(
            (ep.name, ep.load, dist.name if dist else "?", dist.version if dist else "?")
        )
    for name, obj in extra:
        candidates.append((name, functools.partial(_itself, obj), "(direct)", "-"))
    unknown = sorted(disabled - {c[0] for c in candidates})
    if unknown:
        # a misspelt name would otherwise leave the plugin it meant running, silently
        log.warning("ONCALL_DISABLE_PLUGINS names no installed plugin: %s", ", ".join(unknown))

    for name, loader, dist_name, version in candidates:
        info = PluginInfo(name=name, distribution=dist_name, version=version)
        registry.plugins.append(info)
        if name in disabled:
            pm.set_blocked(name)
            info.status = "disabled"
            continue
        try:
            plugin = loader()
        except Exception as exc:  # noqa: BLE001 - any import failure is the plugin's
            _fail(info, f"failed to import: {type(exc).__name__}: {exc}")
            continue
        try:
            pm.register(plugin, name=name)
        except Exception as exc:  # noqa: BLE001 - pluggy validation errors and name clashes
            _fail(info, f"rejected by the plugin contract: {exc}")
            continue
        try:
            _verify_hooks(pm, plugin, info)
            staged = _collect(pm, plugin, info)
            _commit(registry, staged, name)
        except ContractError as exc:
            pm.unregister(plugin)
            _fail(info, f"broke the plugin contract: {exc}")
            continue
        except Exception as exc:  # noqa: BLE001 - a hook that raised
            pm.unregister(plugin)
            _fail(info, f"failed while registering: {type(exc).__name__}: {exc}")
            continue
    return pm, registry


def _fail(info: PluginInfo, message: str) -> None:
    info.status = "failed"
    # one line: pluggy's validation messages span several, which breaks `oncall plugins`
    info.error = message = " ".join(message.split())
    log.error("plugin %s skipped: %s", info.name, message)


def _verify_hooks(pm: pluggy.PluginManager, plugin: Any, info: PluginInfo) -> None:
    """Reject a plugin with a hook implementation the contract doesn't declare."""
    for caller in pm.get_hookcallers(plugin) or []:
        if caller.spec is None:
            raise ContractError(f"unknown hook {caller.name!r} (misspelt?)")
        info.hooks.append(caller.name)
    info.hooks.sort()


def _collect(pm: pluggy.PluginManager, plugin: Any, info: PluginInfo) -> list[tuple[str, str, Any]]:
    staged: list[tuple[str, str, Any]] = []
    for hook_name in info.hooks:
        family_key, proto = FAMILIES[hook_name]
        caller = getattr(pm.hook, hook_name)
        for impl in caller.get_hookimpls():
            if impl.plugin is not plugin:
                continue

            def register(obj: Any, family_key: str = family_key, proto: type = proto) -> None:
                _check_shape(family_key, proto, obj)
                staged.append((family_key, _object_name(family_key, obj), obj))

            impl.function(**{arg: register for arg in impl.argnames})
    return staged


def _owner(registry: Registry, family_key: str, obj_name: str) -> str:
    for info in registry.plugins:
        if obj_name in info.provides.get(family_key, ()):
            return info.name
    return "?"


def _commit(registry: Registry, staged: list[tuple[str, str, Any]], plugin_name: str) -> None:
    info = registry.plugins[-1]
    seen: set[tuple[str, str]] = set()
    for family_key, obj_name, _ in staged:
        what = _SINGULAR[family_key]
        if obj_name in registry.family(family_key):
            owner = _owner(registry, family_key, obj_name)
            raise ContractError(f"{what} {obj_name!r} is already registered by plugin {owner!r}")
        if (family_key, obj_name) in seen:
            raise ContractError(f"{what} {obj_name!r} is registered twice")
        seen.add((family_key, obj_name))
    new_paths: dict[str, str] = {}
    for family_key, obj_name, obj in staged:
        if family_key == "sources":
            for path in obj.paths:
                if path in registry.source_paths:
                    holder = registry.source_paths[path]
                    raise ContractError(
                        f"path {path} is already served by source {holder!r} "
                        f"(plugin {_owner(registry, 'sources', holder)!r})"
                    )
                if path in new_paths:
                    raise ContractError(f"path {path} is claimed twice by this plugin")
                new_paths[path] = obj_name
    for family_key, obj_name, obj in staged:
        registry.family(family_key)[obj_name] = obj
        info.provides.setdefault(family_key, []).append(obj_name)
    registry.source_paths.update(new_paths)
