"""Every renderer keeps the renderer contract (oncall-plugin-testkit): the channel's default template renders
clean through the core's sandbox, what the channel can't take is refused, and hostile output never raises."""

from __future__ import annotations

from typing import Any

import pytest
from oncall.notification.render import render
from oncall.notification.templates import SAMPLE_CONTEXT, Template
from oncall_testkit import check_channel_spec, check_renderer, registered


def default_output(channel: str) -> dict[str, str]:
    """What the channel's default template renders to, with the core's sample context."""
    return dict(render(Template(), channel, SAMPLE_CONTEXT).parts)


def _slack_blocks(n: int) -> str:
    block = '{"type": "section", "text": {"type": "mrkdwn", "text": "x"}}'
    return '{"text": "x", "blocks": [' + ",".join([block] * n) + "]}"


#: per channel: template output the channel cannot take
REJECTS: dict[str, list[dict[str, Any]]] = {
    "slack": [{"body": "not json"}, {"body": _slack_blocks(51)}, {"body": '{"blocks": [{"type": "header"}]}'}],
    "teams": [{"body": "not json"}, {"body": '{"type": "AdaptiveCard", "body": [{"type": "TextBlock"}]}'}],
    "email": [{"subject": "", "html": "", "text": "body"}, {"subject": "s", "html": "", "text": ""},
              {"subject": "s", "html": "<script>alert(1)</script>", "text": "t"}],
    "sms": [{"text": ""}, {"text": "x" * 2000}],
    "voice": [{"text": ""}, {"text": "x" * 5000}],
    "push": [{"title": "", "body": ""}, {"title": "t", "body": "x" * 5000}],
    "webhook": [{"body": "not json"}, {"body": "null"}, {"body": '{"a": NaN}'}],
}  # fmt: skip


@pytest.mark.parametrize("channel", sorted(REJECTS))
def test_the_renderer_keeps_the_contract(channel: str) -> None:
    renderer = registered("renderers").one("renderers", channel)
    check_renderer(renderer, default_output(channel), rejects=REJECTS[channel], context=SAMPLE_CONTEXT)


@pytest.mark.parametrize("channel", sorted(REJECTS))
def test_the_channel_spec_keeps_the_contract(channel: str) -> None:
    plugin = registered("renderers")
    check_channel_spec(plugin.one("channel_specs", channel), plugin.one("renderers", channel))


def test_every_registered_renderer_and_spec_is_checked() -> None:
    assert set(registered("renderers").family("renderers")) == set(REJECTS)
    assert set(registered("renderers").family("channel_specs")) == set(REJECTS)
