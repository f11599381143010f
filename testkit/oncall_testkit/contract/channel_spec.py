"""The channel spec contract: a spec fits its renderer, and its last-resort message always renders.

``check_channel_spec(spec, renderer)`` checks what the core relies on when it reads a
``ChannelSpec``: it names the renderer's channel, and the minimal message the core sends
when a template and the channel's default both fail (the spec's ``minimal``, or the one the
core derives from its parts' escaping) has exactly the spec's parts and renders through the
renderer with no errors for any context, however broken (no alert, wrong types, a huge
summary, a bundle of garbage): a page must go out whatever the alert holds. The destination
description answers every destination with text.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from oncall_hookspecs import ChannelSpec, Renderer
from oncall_hookspecs.fallback import minimal_parts

from ..registration import ContractViolation, check_shape
from .renderer import HOSTILE_TEXT, default_context, rendered


def hostile_contexts() -> list[tuple[str, Mapping[str, Any]]]:
    """Render contexts the last-resort message must survive, each with a name for the report."""
    good = default_context()
    alert = dict(good["alert"])
    cases: list[tuple[str, Mapping[str, Any]]] = [
        ("a usual alert", good),
        ("an empty context", {}),
        ("no alert", {"alert": None}),
        ("an alert of wrong types", {"alert": {"id": True, "status": 3, "summary": {"x": 1}, "severity": [],
                                               "annotations": "no", "labels": None}}),
        ("a reply code", {**good, "reply_code": "7"}),
        ("a hostile reply code", {**good, "reply_code": "\x00" * 50}),
        ("a bundle", {**good, "bundle": {"count": 3, "alerts": [alert, alert, alert], "group": "db"}}),
        ("a bundle of garbage", {"bundle": {"count": 10**9, "alerts": [None, 1, "x", {"id": {"x": 1}}]}}),
        ("a bundle that is not one", {"alert": alert, "bundle": {"count": "many", "alerts": "none"}}),
        ("a link", {"alert": {**alert, "annotations": {"runbook_url": "https://runbooks.example.com/db"}}}),
        ("the longest link", {"alert": {**alert, "summary": "s" * 500,
                                        "url": "https://runbooks.example.com/" + "a" * 970}}),
        ("a hostile link", {"alert": {**alert, "url": "javascript:alert(1)", "annotations": {"runbook_url": "x" * 10**5}}}),
    ]
    for text in HOSTILE_TEXT:
        cases.append((f"summary = {text!r:.40}", {"alert": {**alert, "summary": text, "details": text}}))
    return cases


def check_channel_spec(
    spec: ChannelSpec, renderer: Renderer, *, destinations: Iterable[str] = ("ops", "https://x.example/hook?sig=s"),
) -> None:
    """Run the channel spec contract; raises ContractViolation naming the first case that broke it."""
    if not isinstance(spec, ChannelSpec):
        raise ContractViolation(f"{type(spec).__name__} is not a ChannelSpec")
    check_shape("renderers", Renderer, renderer)
    if renderer.channel != spec.name:
        raise ContractViolation(f"the spec is for channel {spec.name!r}, the renderer for {renderer.channel!r}")
    for case, context in hostile_contexts():
        try:
            parts = minimal_parts(spec, context)
        except Exception as exc:
            raise ContractViolation(f"the minimal message raised {type(exc).__name__} ({case}): {exc!s:.300}") from exc
        if set(parts) != set(spec.parts) or not all(isinstance(v, str) for v in parts.values()):
            raise ContractViolation(f"the minimal message must give each of {sorted(spec.parts)} as text, "
                                    f"got {sorted(parts)} ({case})")
        result = rendered(renderer, parts, context, f"the minimal message, {case}")
        if result.errors:
            raise ContractViolation(f"the minimal message must always render, but ({case}): {result.errors}")
    for destination in destinations:
        if spec.describe_destination is None:
            continue
        try:
            said = spec.describe_destination(destination)
        except Exception as exc:
            raise ContractViolation(f"describe_destination raised {type(exc).__name__} for {destination!r}") from exc
        if not isinstance(said, str) or not said.strip():
            raise ContractViolation(f"describe_destination must give text for {destination!r}, got {said!r}")


__all__ = ["check_channel_spec", "hostile_contexts"]
