"""Outgoing webhook: the rendered body → the JSON value it holds, sent as is."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from oncall_hookspecs import RenderedPayload

from .jsonpart import INVALID, parse


class WebhookRenderer:
    """Any JSON value but null; a body that is not valid JSON is an error (payload None)."""

    __slots__ = ()
    channel = "webhook"

    def render(self, template_output: Mapping[str, str], context: Mapping[str, Any]) -> RenderedPayload:
        errors: list[str] = []
        value = parse(template_output.get("body", ""), errors)
        if value is INVALID:
            return RenderedPayload("webhook", None, errors=errors)
        if value is None:
            # a payload of None means "nothing was built": a receiver would get "null" and no event
            return RenderedPayload("webhook", None, errors=["the rendered body is null: send a JSON object or value"])
        return RenderedPayload("webhook", value)
