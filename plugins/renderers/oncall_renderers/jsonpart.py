"""Parsing a rendered part that is meant to be JSON, with a message a template author can act on."""

from __future__ import annotations

from typing import Any

import orjson

from .text import unsendable

#: what a parse failure returns in place of a value
INVALID = object()


def parse(text: str, errors: list[str]) -> Any:
    """The JSON value of ``text``, or INVALID after appending why it is not JSON to ``errors``."""
    if problem := unsendable(text, json=True):
        errors.append(problem)
        return INVALID
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        errors.append(f"rendered output is not valid JSON: {exc}")
        return INVALID


def parse_object(text: str, errors: list[str]) -> dict[str, Any] | None:
    """The JSON object ``text`` holds, or None after appending what is wrong to ``errors``."""
    value = parse(text, errors)
    if value is INVALID:
        return None
    if type(value) is not dict:
        errors.append("rendered output must be a JSON object")
        return None
    return value
