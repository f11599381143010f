"""Whatever an alert says, a value printed inside a JSON string part keeps the JSON valid and
reads back unchanged (the finalizer skips the encoder only when nothing needs escaping)."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from oncall.notification.render import TemplateRenderer
from fixtures.channels import Channel

RENDERER = TemplateRenderer()
SOURCE = '{"v": "{{ v }}"}'


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",))))
def test_any_text_round_trips_through_a_json_part(text: str) -> None:
    out = RENDERER.render_part(Channel.WEBHOOK, "body", SOURCE, {"v": text})
    assert json.loads(out) == {"v": text}


def test_the_characters_json_must_escape_are_escaped() -> None:
    for text in ('say "hi"', "back\\slash", "new\nline", "tab\t", "nul\x00", "bell\x07", "del\x7f", "ü ✓ 🚨",
                 "\u2028line separator"):
        out = RENDERER.render_part(Channel.SLACK, "body", SOURCE, {"v": text})
        assert json.loads(out) == {"v": text}, out
