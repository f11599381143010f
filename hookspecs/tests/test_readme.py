"""The README's minimal plugins are real: each one loads through its hook and keeps its family's contract."""

from __future__ import annotations

import re
import types
from pathlib import Path
from typing import Any

import pytest
from oncall_testkit import (
    channel_message,
    check_channel,
    check_channel_spec,
    check_directory,
    check_lifecycle_listener,
    check_renderer,
    check_router,
    check_source,
    json_request,
    registered,
)

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"^### (.+?)\n\n```python\n(.*?)^```", README.read_text(), re.MULTILINE | re.DOTALL)


def plugin(title: str) -> types.ModuleType:
    [code] = [code for heading, code in BLOCKS if heading == title]
    module = types.ModuleType(f"readme_{title.lower().replace(' ', '_')}")
    exec(compile(code, f"{README}:{title}", "exec"), module.__dict__)  # noqa: S102 - the README's own example
    return module


def test_every_family_has_an_example() -> None:
    assert [title for title, _ in BLOCKS] == [
        "Source", "Router", "Renderer", "Channel", "Ticket provider", "Directory", "Lifecycle listener",
        "Authenticator"]


def test_the_source_example() -> None:
    source = registered(plugin("Source")).one("sources")
    check_source(source, [json_request({"check": "https://shop.example.org", "up": False})])


async def test_the_router_example() -> None:
    router = registered(plugin("Router")).one("routers")
    await check_router(router, valid=["storage", "payments"], invalid=["", "  "])


def test_the_renderer_example() -> None:
    example = registered(plugin("Renderer"))
    renderer = example.one("renderers")
    check_renderer(renderer, {"text": "CRITICAL: Disk full on db-1"}, rejects=[{"text": "x" * 161}, {"text": ""}])
    check_channel_spec(example.one("channel_specs"), renderer)


async def test_the_channel_example(monkeypatch: pytest.MonkeyPatch) -> None:
    module = plugin("Channel")
    monkeypatch.delenv("ONCALL_PAGER_URL", raising=False)
    assert registered(module).family("channels") == {}
    for proxy in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"):
        monkeypatch.delenv(proxy, raising=False)

    def make(url: str, timeout_s: float) -> Any:
        monkeypatch.setenv("ONCALL_PAGER_URL", url)
        monkeypatch.setenv("ONCALL_PAGER_TIMEOUT_S", str(timeout_s))
        return registered(module).one("channels")

    await check_channel(make, lambda url: channel_message("ann", {"text": "Disk full"}, "pager"))


async def test_the_ticket_provider_example() -> None:
    from oncall_testkit import alert_view

    provider = registered(plugin("Ticket provider")).one("ticket_providers")
    ticket = await provider.create_ticket(alert_view())
    assert (ticket.provider, ticket.status) == ("notebook", "triggered")
    assert (await provider.sync_ticket(ticket)).external_id == ticket.external_id


async def test_the_directory_example() -> None:
    await check_directory(registered(plugin("Directory")).one("directories"), known=["ann"])


async def test_the_lifecycle_listener_example() -> None:
    await check_lifecycle_listener(registered(plugin("Lifecycle listener")).one("lifecycle_listeners"))


async def test_the_authenticator_example() -> None:
    from oncall_testkit import auth_request, check_authenticator

    [ann] = await check_authenticator(registered(plugin("Authenticator")).one("authenticators"),
                                      recognised=[auth_request({"X-Operator": "ann"}, peer="10.0.0.7")])
    assert (ann.user_id, ann.role) == ("ann", "responder")
