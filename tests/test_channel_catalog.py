"""The channel catalog: the core's only knowledge of channels, read from plugins' specs."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from types import SimpleNamespace
from typing import Any

import pytest
from oncall_hookspecs import ChannelSpec, Escape, RenderedPayload, hookimpl

from oncall.notification import channels, outbox
from oncall.notification.pipeline import USED_MINIMAL, SendJob, render_for, render_send
from oncall.notification.templates import SAMPLE_CONTEXT, Template, TemplateShapeError
from oncall.notification.delivery.record import delivery_note
from oncall.plugins import load_plugins

# a channel whose default template always fails, and with no minimal message of its own
BROKEN = ChannelSpec(name="memo", parts={"subject": Escape.HEADER, "html": Escape.HTML, "data": Escape.JSON},
                     defaults={"subject": "{{ 1 / 0 }}", "html": "x", "data": "{}"}, label="Memo")


class MemoRenderer:
    channel = "memo"

    def render(self, template_output: Mapping[str, str], context: Mapping[str, Any]) -> RenderedPayload:
        return RenderedPayload("memo", dict(template_output))


@pytest.fixture
def memo() -> Iterator[None]:
    previous = channels.install(channels.ChannelCatalog([*channels.current().get_all(), BROKEN]))
    try:
        yield
    finally:
        channels.install(previous)


def test_a_spec_without_its_own_minimal_message_still_gets_a_page_out(memo: None) -> None:
    context = {"alert": {"id": 7, "status": "triggered", "severity": "critical", "summary": "Disk <full>",
                         "annotations": {"runbook_url": "https://runbooks.example.com/disk"}}}
    result = render_send(SendJob(Template(), "memo", context), {"memo": MemoRenderer()})
    assert result.used == USED_MINIMAL
    [(stage, why)] = result.failures  # the template is the default here: it failed, so the minimal went
    assert stage == "default" and "division by zero" in why
    parts = result.rendered.payload
    assert parts["subject"] == "TRIGGERED #7 [critical]: Disk <full>"
    assert parts["html"] == ('<p>TRIGGERED #7 [critical]: Disk &lt;full&gt;</p>'
                             '<p><a href="https://runbooks.example.com/disk">https://runbooks.example.com/disk</a></p>')
    assert '"fallback": true' in parts["data"] and '"summary": "Disk <full>"' in parts["data"]


def test_an_unknown_channel_is_refused_by_name_with_the_installed_ones() -> None:
    with pytest.raises(TemplateShapeError, match=r"unknown channel 'pager'; installed channels: email, push, slack, sms, teams, voice, webhook$"):
        Template.from_mapping({"pager": {"text": "x"}})
    rendered = render_for(Template(), "pager", SAMPLE_CONTEXT, {})
    assert rendered.payload is None and rendered.errors[0].startswith("unknown channel 'pager'")
    with pytest.raises(Exception, match="unknown channel 'pager'"):
        outbox.Destination.parse("pager:123")


def test_a_stored_template_keeps_a_channel_whose_plugin_was_removed() -> None:
    stored = Template.from_mapping({"pager": {"text": "x"}, "sms": {"text": "y"}}, stored=True)
    assert set(stored.channels) == {"pager", "sms"}


def test_aliases_and_labels_and_destinations_come_from_the_specs() -> None:
    assert [outbox.channel_of(k) for k in ("Phone", "call", "text", "ntfy", "mail", "slack", "pager")] == [
        "voice", "voice", "sms", "push", "email", "slack", "pager"]
    teams = "https://prod.webhook.office.com/workflows/1?sig=SECRET"
    assert delivery_note("teams", teams, None, "delivered", "") == "Teams to a webhook at prod.webhook.office.com: delivered"
    assert delivery_note("sms", "+1555", "ann", "sent", "") == "SMS to user ann: sent"


def test_the_server_names_a_channel_it_cannot_use() -> None:
    class Lonely:
        name = "lonely"

        async def send(self, message: Any) -> Any: ...

    plugin = SimpleNamespace(register_channels=hookimpl(lambda register: register(Lonely())),
                             register_channel_specs=hookimpl(lambda register: register(BROKEN)))
    _, registry = load_plugins(extra=[("half-done", plugin)])
    problems = channels.installation_problems(registry)
    assert "channel 'lonely' has no ChannelSpec (register_channel_specs): nothing can be sent through it" in problems
    assert "channel 'memo' has no renderer plugin: its messages cannot be made" in problems
    assert not any("no source plugins" in p for p in problems)


def test_a_problem_in_a_hyphenated_channel_names_its_part_and_line() -> None:
    from oncall.rpc.notification import problem_to_proto

    spec = ChannelSpec(name="team-chat", parts={"text": Escape.TEXT}, defaults={"text": "x"})
    previous = channels.install(channels.ChannelCatalog([spec]))
    try:
        p = problem_to_proto("team-chat.text, line 2: unexpected end of template", "team-chat")
    finally:
        channels.install(previous)
    assert (p.channel, p.part, p.line, p.message) == ("team-chat", "text", 2, "unexpected end of template")
