"""SMS: the rendered text → ``{"text", "segments", "encoding"}``, counted the way carriers bill it.

A text of only GSM 03.38 characters travels as GSM-7 (160 septets, or 153 per segment of a
concatenated message); one character outside it (an emoji, a "ą") turns the whole text into
UCS-2 at 70, or 67, UTF-16 code units per segment.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from oncall_hookspecs import RenderedPayload

from .text import unsendable

# GSM 03.38: the basic set costs one septet, the extension set two (escape + char).
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("^{}\\[~]|€\f")
GSM7 = GSM7_BASIC | GSM7_EXTENSION
SMS_MAX_SEGMENTS = 10  # what providers send at most (Twilio refuses longer bodies)


@dataclass(frozen=True)
class SmsInfo:
    encoding: str  # "GSM-7" or "UCS-2"
    units: int  # septets (GSM-7) or UTF-16 code units (UCS-2)
    segments: int


def sms_segments(text: str) -> SmsInfo:
    """How a carrier splits ``text``: 160/153 septets per segment in GSM-7, else 70/67 UTF-16 units."""
    if GSM7.issuperset(text):
        units = len(text) + sum(1 for c in text if c in GSM7_EXTENSION)
        single, multi, encoding = 160, 153, "GSM-7"
    else:
        units = len(text.encode("utf-16-le")) // 2
        single, multi, encoding = 70, 67, "UCS-2"
    segments = 0 if units == 0 else 1 if units <= single else math.ceil(units / multi)
    return SmsInfo(encoding, units, segments)


class SmsRenderer:
    """``{"text", "segments", "encoding"}``: one segment is clean, a few warn, over ten is an error."""

    __slots__ = ()
    channel = "sms"

    def render(self, template_output: Mapping[str, str], context: Mapping[str, Any]) -> RenderedPayload:
        text = template_output.get("text", "")
        if problem := unsendable(text):
            return RenderedPayload("sms", None, errors=[problem])
        info = sms_segments(text)
        payload = {"text": text, "segments": info.segments, "encoding": info.encoding}
        if info.segments == 0:
            return RenderedPayload("sms", None, errors=["the message is empty"])
        if info.segments > SMS_MAX_SEGMENTS:
            return RenderedPayload("sms", payload, errors=[
                f"{info.units} {info.encoding} characters is {info.segments} segments; "
                f"at most {SMS_MAX_SEGMENTS} are sent"])
        if info.segments > 1:
            return RenderedPayload("sms", payload, warnings=[
                f"{info.units} {info.encoding} characters: sent as {info.segments} segments"])
        return RenderedPayload("sms", payload)
