"""The channel spec check holds a spec to what the core relies on, and names what broke."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
from oncall_hookspecs import ChannelSpec, Escape, RenderedPayload
from oncall_testkit import ContractViolation, check_channel_spec

SPEC = ChannelSpec(name="chat", parts={"title": Escape.HEADER, "text": Escape.TEXT},
                   defaults={"title": "{{ alert.summary }}", "text": "{{ alert.details }}"})


class ChatRenderer:
    channel = "chat"

    def render(self, template_output: Mapping[str, str], context: Mapping[str, Any]) -> RenderedPayload:
        text = template_output.get("text", "")
        if not text or len(text) > 2000:
            return RenderedPayload("chat", None, errors=[f"text: {len(text)} characters, 1 to 2000"])
        return RenderedPayload("chat", {"title": template_output.get("title", ""), "text": text})


def test_a_spec_whose_derived_minimal_message_renders_passes() -> None:
    check_channel_spec(SPEC, ChatRenderer())


def _unsendable(context: Mapping[str, Any]) -> Mapping[str, str]:
    return {"title": "", "text": ""}  # the renderer refuses an empty text


def _raises(context: Mapping[str, Any]) -> Mapping[str, str]:
    return {"title": str(context["alert"]["summary"]), "text": "x"}  # no alert: KeyError


def _wrong_parts(context: Mapping[str, Any]) -> Mapping[str, str]:
    return {"body": "x"}


class OtherRenderer(ChatRenderer):
    channel = "other"


@pytest.mark.parametrize(("spec", "renderer", "said"), [
    (SPEC, OtherRenderer(), "the spec is for channel 'chat', the renderer for 'other'"),
    (ChannelSpec("chat", SPEC.parts, SPEC.defaults, minimal=_unsendable), ChatRenderer(), "must always render"),
    (ChannelSpec("chat", SPEC.parts, SPEC.defaults, minimal=_raises), ChatRenderer(), "raised KeyError (an empty context)"),
    (ChannelSpec("chat", SPEC.parts, SPEC.defaults, minimal=_wrong_parts), ChatRenderer(), "['text', 'title'] as text"),
    (ChannelSpec("chat", SPEC.parts, SPEC.defaults, describe_destination=lambda d: ""), ChatRenderer(),
     "describe_destination must give text"),
])
def test_a_broken_spec_is_named(spec: ChannelSpec, renderer: ChatRenderer, said: str) -> None:
    with pytest.raises(ContractViolation, match=None) as caught:
        check_channel_spec(spec, renderer)
    assert said in str(caught.value)


def test_a_spec_that_cannot_be_sent_is_refused_when_made() -> None:
    with pytest.raises(ValueError, match="defaults must give each part a source"):
        ChannelSpec("chat", {"text": Escape.TEXT}, {})
    with pytest.raises(ValueError, match="lower case letters"):
        ChannelSpec("Chat", {"text": Escape.TEXT}, {"text": "x"})
    with pytest.raises(ValueError, match="circuit"):
        ChannelSpec("chat", {"text": Escape.TEXT}, {"text": "x"}, circuit="everything")
    with pytest.raises(ValueError, match="rate_limits"):
        ChannelSpec("chat", {"text": Escape.TEXT}, {"text": "x"}, rate_limits={"destination": (0, 1.0)})
