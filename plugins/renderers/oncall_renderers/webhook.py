"""Outgoing webhook: the rendered body → the JSON value it holds, sent as is."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from oncall_hookspecs import RenderedPayload

from .jsonpart import INVALID, parse


class WebhookRenderer:
    """Any JSON value; a body that is not valid JSON is an error (payload None)."""

    __slots__ = ()
    channel = "webhook"

    def render(self, template_output: Mapping[str, str], context: Mapping[str, Any]) -> RenderedPayload:
        errors: list[str] = []
        value = parse(template_output["body"], errors)
        if value is INVALID:
            return RenderedPayload("webhook", None, errors=errors)
        return RenderedPayload("webhook", value)
