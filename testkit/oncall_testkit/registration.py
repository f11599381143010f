"""A plugin loaded the way the core loads it: through its entry point, its hooks and the contract's hookspecs.

``registered("my-plugin")`` finds the entry point in the group ``oncall`` (so a test also
proves the pyproject declares it), registers the module with a pluggy manager that knows
the contract's hookspecs, calls every hook it implements and checks each registered object
against its family's protocol. Settings are read from the environment as at startup: set
them (``monkeypatch.setenv``) before calling it.
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Callable
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import pluggy
from oncall_hookspecs import hookspecs
from oncall_hookspecs.markers import ENTRY_POINT_GROUP, PROJECT


class ContractViolation(AssertionError):
    """A plugin broke the plugin contract; the message says how."""


#: family key → the attribute that names one of its objects
_NAME_ATTRIBUTE = {"renderers": "channel"}


@dataclass
class Registered:
    """What a plugin registered, by family key (``sources``, ``channels`` …) and name."""

    plugin: Any
    hooks: list[str] = field(default_factory=list)
    objects: dict[str, dict[str, Any]] = field(default_factory=dict)

    def family(self, key: str) -> dict[str, Any]:
        """The objects of one family (``"sources"``, ``"routers"``, ``"renderers"``, ``"channels"`` …)."""
        return self.objects.get(key, {})

    def one(self, key: str, name: str | None = None) -> Any:
        """The object of family ``key`` named ``name``, or the only one when ``name`` is None."""
        found = self.family(key)
        if name is not None:
            if name not in found:
                raise ContractViolation(f"the plugin registered no {key} named {name!r} (it registered {sorted(found)})")
            return found[name]
        if len(found) != 1:
            raise ContractViolation(f"expected the plugin to register one of {key}, it registered {sorted(found)}")
        return next(iter(found.values()))


def entry_point(name: str) -> Any:
    """The object the entry point ``name`` in the group ``oncall`` names (the plugin module)."""
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        if ep.name == name:
            return ep.load()
    raise ContractViolation(
        f"no entry point {name!r} in the group {ENTRY_POINT_GROUP!r}: declare it in pyproject.toml "
        f"([project.entry-points.{ENTRY_POINT_GROUP}] {name} = \"your_module\") and install the distribution"
    )


def registered(plugin: str | ModuleType | Any) -> Registered:
    """Load ``plugin`` (an entry-point name, or the module or object itself) and collect what it registers.

    Raises ContractViolation when a hook is unknown to the contract or has the wrong
    arguments, or when a registered object lacks a member of its family's protocol, has
    no name, or takes a name twice.
    """
    obj = entry_point(plugin) if isinstance(plugin, str) else plugin
    pm = pluggy.PluginManager(PROJECT)
    pm.add_hookspecs(hookspecs)
    try:
        pm.register(obj, name=plugin if isinstance(plugin, str) else None)
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        raise ContractViolation(" ".join(str(exc).split())) from None
    out = Registered(plugin=obj)
    for caller in pm.get_hookcallers(obj) or []:
        out.hooks.append(caller.name)
        family_key, protocol = hookspecs.FAMILIES[caller.name]
        bucket = out.objects.setdefault(family_key, {})
        for impl in caller.get_hookimpls():
            if impl.plugin is obj:
                impl.function(**{arg: _register(family_key, protocol, bucket) for arg in impl.argnames})
    out.hooks.sort()
    return out


def _register(family_key: str, protocol: type, bucket: dict[str, Any]) -> Callable[[Any], None]:
    def register(obj: Any) -> None:
        check_shape(family_key, protocol, obj)
        name = getattr(obj, _NAME_ATTRIBUTE.get(family_key, "name"))
        if name in bucket:
            raise ContractViolation(f"{family_key}: {name!r} is registered twice")
        bucket[name] = obj

    return register


def check_shape(family_key: str, protocol: type, obj: Any) -> None:
    """``obj`` has every member of ``protocol``, its methods are callable and its name is a non-empty string."""
    what = f"{type(obj).__name__} registered in {family_key}"
    members = sorted(protocol_members(protocol))
    missing = [m for m in members if not hasattr(obj, m)]
    if missing:
        raise ContractViolation(f"{what} lacks {', '.join(missing)} (the {protocol.__name__} protocol)")
    not_callable = [m for m in members if callable(getattr(protocol, m, None)) and not callable(getattr(obj, m))]
    if not_callable:
        raise ContractViolation(f"{what}: {', '.join(not_callable)} must be callable")
    attribute = _NAME_ATTRIBUTE.get(family_key, "name")
    name = getattr(obj, attribute)
    if not isinstance(name, str) or not name.strip():
        raise ContractViolation(f"{what}: {attribute!r} must be a non-empty string, got {name!r}")


def protocol_members(protocol: type) -> set[str]:
    """The attributes and methods a protocol declares (``__protocol_attrs__`` is Python 3.12+)."""
    declared = getattr(protocol, "__protocol_attrs__", None)
    if declared is not None:
        return set(declared)
    members: set[str] = set()
    for klass in protocol.__mro__:
        if klass is object or klass.__name__ in ("Protocol", "Generic"):
            continue
        members.update(getattr(klass, "__annotations__", {}))
        members.update(k for k, v in vars(klass).items() if callable(v) and not k.startswith("_"))
    return members
