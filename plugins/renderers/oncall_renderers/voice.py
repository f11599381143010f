"""Voice: the rendered text → ``{"text"}``, the speech a call reads out.

The voice channel adds its own greeting pause and keypress menu; the text is only what
to say about the alert, so it is checked for being there and being short enough to hear.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from oncall_hookspecs import RenderedPayload

from .text import unsendable

VOICE_MAX = 4096  # characters a text-to-speech request takes (Twilio's <Say>)
VOICE_LONG = 1000  # about a minute of speech: longer, and people hang up before the menu


class VoiceRenderer:
    """``{"text": speech}``."""

    __slots__ = ()
    channel = "voice"

    def render(self, template_output: Mapping[str, str], context: Mapping[str, Any]) -> RenderedPayload:
        text = template_output.get("text", "")
        if not text:
            return RenderedPayload("voice", None, errors=["the message is empty"])
        if problem := unsendable(text):
            return RenderedPayload("voice", None, errors=[problem])
        payload = {"text": text}
        if len(text) > VOICE_MAX:
            return RenderedPayload("voice", payload, errors=[
                f"{len(text)} characters: text-to-speech takes at most {VOICE_MAX}"])
        if len(text) > VOICE_LONG:
            return RenderedPayload("voice", payload, warnings=[
                f"{len(text)} characters is a long call: keep spoken messages short"])
        return RenderedPayload("voice", payload)
