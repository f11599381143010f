"""``registered``: a plugin loaded through its hooks as the core loads it, and what it broke named."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from oncall_hookspecs import hookimpl
from oncall_testkit import ContractViolation, json_request, registered


class Source:
    name = "kit-source"
    paths = ()

    def parse(self, request: Any) -> list[Any]:
        return []


def plugin(**hooks: Any) -> SimpleNamespace:
    return SimpleNamespace(**{name: hookimpl(fn) for name, fn in hooks.items()})


def test_the_objects_a_plugin_registers_come_back_by_family_and_name() -> None:
    def register_sources(register: Any) -> None:
        register(Source())

    found = registered(plugin(register_sources=register_sources))
    assert found.hooks == ["register_sources"]
    assert found.one("sources").name == "kit-source"
    assert found.one("sources", "kit-source").parse(json_request({})) == []


def test_an_installed_plugin_is_found_by_its_entry_point() -> None:
    found = registered("generic")
    assert found.one("sources").name == "generic"


def test_a_missing_entry_point_says_how_to_declare_it() -> None:
    with pytest.raises(ContractViolation, match=r"no entry point 'nope'.*\[project.entry-points.oncall\]"):
        registered("nope")


def test_a_misspelt_hook_is_refused() -> None:
    with pytest.raises(ContractViolation, match="register_source"):
        registered(plugin(register_source=lambda register: None))


def test_an_object_missing_a_protocol_member_is_refused() -> None:
    class NoParse:
        name = "broken"
        paths = ()

    with pytest.raises(ContractViolation, match="lacks parse"):
        registered(plugin(register_sources=lambda register: register(NoParse())))


def test_a_name_registered_twice_is_refused() -> None:
    def register_sources(register: Any) -> None:
        register(Source())
        register(Source())

    with pytest.raises(ContractViolation, match="registered twice"):
        registered(plugin(register_sources=register_sources))
