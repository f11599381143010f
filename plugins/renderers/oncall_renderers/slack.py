"""Slack: the rendered body (a JSON object with ``text`` and ``blocks``) → a chat.postMessage payload.

Block Kit's structure and limits are checked here, because Slack answers a message that
breaks them with ``invalid_blocks`` and the page is lost. This runs on every Slack send, so
the checks are plain dict lookups on the parsed body and nothing more.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from oncall_hookspecs import RenderedPayload

from .text import unsendable

MAX_BLOCKS = 50
MESSAGE_TEXT = 40_000
HEADER_TEXT = 150
SECTION_TEXT = 3000
FIELD_TEXT = 2000
TEXT_OBJECT = 3000  # any other text object (context elements, …)
MAX_FIELDS = 10
BLOCK_ID = 255
CONTEXT_ELEMENTS = 10
ACTIONS_ELEMENTS = 25
BLOCK_TYPES = frozenset({"section", "header", "context", "divider", "actions", "image", "rich_text", "input",
                         "file", "video", "markdown", "table"})
_TEXT_TYPES = frozenset({"mrkdwn", "plain_text"})
_MESSAGE_KEYS = frozenset({"text", "blocks"})


def _text(obj: Any) -> str | None:
    """The string of a text object (``{"type": "mrkdwn", "text": …}``), None when it is not one."""
    # the type checked first: a list or object there can't be looked up in a set
    if type(obj) is dict and type(kind := obj.get("type")) is str and kind in _TEXT_TYPES:
        text = obj.get("text")
        if type(text) is str:
            return text
    return None


def _fallback(blocks: list[Any]) -> str:
    """The first header or section text: what a notification shows when the message has no ``text``."""
    for block in blocks:
        if type(block) is dict and block.get("type") in ("header", "section"):
            text = _text(block.get("text"))
            if text:
                return text[:MESSAGE_TEXT]
    return ""


def check_blocks(blocks: list[Any], errors: list[str]) -> None:
    """Append what breaks Block Kit in ``blocks`` to ``errors`` (``block N`` is 1-based).

    Written flat, with the common block types first: it runs on every Slack send.
    """
    if len(blocks) > MAX_BLOCKS:
        errors.append(f"{len(blocks)} blocks: Slack allows at most {MAX_BLOCKS}")
    i = 0
    for block in blocks:
        i += 1
        kind = block.get("type") if type(block) is dict else None
        if kind == "section":
            _check_section(i, block, errors)
        elif kind == "context":
            elements = block.get("elements")
            if type(elements) is not list or not 1 <= len(elements) <= CONTEXT_ELEMENTS:
                errors.append(f"block {i}: a context block has 1 to {CONTEXT_ELEMENTS} elements")
            else:
                for element in elements:
                    text = element.get("text") if type(element) is dict else None
                    if type(text) is str and len(text) > TEXT_OBJECT:
                        errors.append(f"block {i}: a context element's text is {len(text)} characters, "
                                      f"at most {TEXT_OBJECT}")
        elif kind == "header":
            t = block.get("text")
            text = _text(t)
            if text is None or t.get("type") != "plain_text":
                errors.append(f"block {i}: a header's text must be a plain_text object")
            elif len(text) > HEADER_TEXT:
                errors.append(f"block {i}: header text is {len(text)} characters, at most {HEADER_TEXT}")
        elif type(kind) is not str:
            errors.append(f"block {i}: a block is an object with a \"type\"")
            continue
        elif kind not in BLOCK_TYPES:
            errors.append(f"block {i}: unknown block type {kind!r}")
            continue
        elif kind == "actions":
            elements = block.get("elements")
            if type(elements) is not list or not 1 <= len(elements) <= ACTIONS_ELEMENTS:
                errors.append(f"block {i}: an actions block has 1 to {ACTIONS_ELEMENTS} elements")
        if "block_id" in block:
            block_id = block["block_id"]
            if type(block_id) is not str or len(block_id) > BLOCK_ID:
                errors.append(f"block {i}: block_id must be a string of at most {BLOCK_ID} characters")


def _check_section(i: int, block: dict[str, Any], errors: list[str]) -> None:
    fields = block.get("fields")
    if "text" in block:
        text = _text(block["text"])
        if text is None:
            errors.append(f"block {i}: a section's text must be a mrkdwn or plain_text object")
        elif len(text) > SECTION_TEXT:
            errors.append(f"block {i}: section text is {len(text)} characters, at most {SECTION_TEXT}")
    elif not fields:
        errors.append(f"block {i}: a section needs \"text\" or \"fields\"")
    if fields is None:
        return
    if type(fields) is not list or len(fields) > MAX_FIELDS:
        errors.append(f"block {i}: a section has at most {MAX_FIELDS} fields")
        return
    for field in fields:
        # _text inlined: this loop runs for every field of every Slack send
        kind = field.get("type") if type(field) is dict else None
        text = field.get("text") if type(kind) is str and kind in _TEXT_TYPES else None
        if type(text) is not str:
            errors.append(f"block {i}: a field must be a mrkdwn or plain_text object")
        elif len(text) > FIELD_TEXT:
            errors.append(f"block {i}: a field's text is {len(text)} characters, at most {FIELD_TEXT}")


class SlackRenderer:
    """``{"text": fallback, "blocks": [...]}`` from a body that renders that JSON object."""

    __slots__ = ()
    channel = "slack"

    def render(self, template_output: Mapping[str, str], context: Mapping[str, Any]) -> RenderedPayload:
        errors: list[str] = []
        body = template_output.get("body", "")
        if problem := unsendable(body, json=True):
            return RenderedPayload("slack", None, errors=[problem])
        try:  # jsonpart.parse_object, inlined: one call less on every Slack send
            message = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            return RenderedPayload("slack", None, errors=[f"rendered output is not valid JSON: {exc}"])
        if type(message) is not dict:
            return RenderedPayload("slack", None, errors=["rendered output must be a JSON object"])
        warnings: list[str] = []
        if not message.keys() <= _MESSAGE_KEYS:
            ignored = ", ".join(sorted(message.keys() - _MESSAGE_KEYS))
            warnings.append(f"ignored {ignored}: a Slack notification carries \"text\" and \"blocks\" only")
        blocks = message.get("blocks", [])
        text = message.get("text")
        if type(blocks) is not list:
            errors.append("\"blocks\" must be a list")
            return RenderedPayload("slack", None, warnings, errors)
        if text is None:
            text = _fallback(blocks)
            if blocks:
                warnings.append("no top-level \"text\": notifications show "
                                + ("the first block's text" if text else "nothing"))
        elif type(text) is not str or len(text) > MESSAGE_TEXT:
            errors.append(f"\"text\" must be a string of at most {MESSAGE_TEXT} characters")
            return RenderedPayload("slack", None, warnings, errors)
        if not text and not blocks:
            errors.append("a Slack message needs \"text\" or \"blocks\"")
            return RenderedPayload("slack", None, warnings, errors)
        check_blocks(blocks, errors)
        return RenderedPayload("slack", {"text": text, "blocks": blocks}, warnings, errors)
