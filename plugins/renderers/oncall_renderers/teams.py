"""Teams: the rendered body (an Adaptive Card) → a Teams message carrying it as an attachment.

Teams drops a card it cannot parse without telling anyone, so the schema's essentials are
checked: the card's type and version, a body of typed elements, the fields each common
element needs, and the size Teams accepts. A body that already is a Teams message with the
card attached is accepted too, and re-wrapped the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from oncall_hookspecs import RenderedPayload

from .jsonpart import parse_object

CARD_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"
MAX_BYTES = 28 * 1024  # what a Teams message (incoming webhook or bot) may weigh
MAX_DEPTH = 16

ELEMENT_TYPES = frozenset({
    "TextBlock", "RichTextBlock", "Image", "ImageSet", "Media", "FactSet", "Container", "ColumnSet", "Column",
    "ActionSet", "Table", "Input.Text", "Input.Number", "Input.Date", "Input.Time", "Input.Toggle",
    "Input.ChoiceSet",
})
ACTION_TYPES = frozenset({"Action.OpenUrl", "Action.Submit", "Action.ShowCard", "Action.ToggleVisibility",
                          "Action.Execute"})


def _is_version(value: Any) -> bool:
    if type(value) is not str:
        return False
    major, dot, minor = value.partition(".")
    return bool(dot) and major.isdigit() and minor.isdigit()


class _CardCheck:
    """Walks a card, collecting errors (broken structure) and warnings (what Teams would skip)."""

    def __init__(self) -> None:
        self.errors: list[str] = []
        self.warnings: list[str] = []

    def card(self, card: Mapping[str, Any]) -> None:
        if card.get("type") != "AdaptiveCard":
            self.errors.append("\"type\" must be \"AdaptiveCard\"")
        if not _is_version(card.get("version")):
            self.errors.append("\"version\" must be a string like \"1.4\"")
        body = card.get("body")
        if not isinstance(body, list):
            self.errors.append("\"body\" must be a list of elements")
        else:
            self.elements(body, "body element", 0)
        if "actions" in card:
            self.actions(card["actions"], "actions", 0)

    def elements(self, elements: Any, where: str, depth: int) -> None:
        if not isinstance(elements, list):
            self.errors.append(f"{where}s must be a list")
            return
        for i, element in enumerate(elements, 1):
            self.element(element, f"{where} {i}", depth)

    def element(self, element: Any, where: str, depth: int) -> None:
        if depth > MAX_DEPTH:
            self.errors.append(f"{where}: elements nested more than {MAX_DEPTH} deep")
            return
        if not isinstance(element, dict) or not isinstance(element.get("type"), str):
            self.errors.append(f"{where}: an element is an object with a \"type\"")
            return
        kind = element["type"]
        if kind not in ELEMENT_TYPES:
            self.warnings.append(f"{where}: Teams skips elements of unknown type {kind!r}")
            return
        if kind == "TextBlock" and not isinstance(element.get("text"), str):
            self.errors.append(f"{where}: a TextBlock needs a \"text\" string")
        elif kind == "FactSet":
            facts = element.get("facts")
            if not isinstance(facts, list) or not all(
                isinstance(f, dict) and isinstance(f.get("title"), str) and isinstance(f.get("value"), str)
                for f in facts
            ):
                self.errors.append(f"{where}: a FactSet needs \"facts\", a list of {{\"title\", \"value\"}} strings")
        elif kind == "Image" and not isinstance(element.get("url"), str):
            self.errors.append(f"{where}: an Image needs a \"url\" string")
        elif kind in ("Container", "Column"):
            self.elements(element.get("items", []), f"{where}, item", depth + 1)
        elif kind == "ColumnSet":
            self.elements(element.get("columns", []), f"{where}, column", depth + 1)
        elif kind == "ActionSet":
            self.actions(element.get("actions"), f"{where}, actions", depth + 1)

    def actions(self, actions: Any, where: str, depth: int) -> None:
        if not isinstance(actions, list):
            self.errors.append(f"{where}: must be a list of actions")
            return
        for i, action in enumerate(actions, 1):
            kind = action.get("type") if isinstance(action, dict) else None
            if not isinstance(kind, str) or kind not in ACTION_TYPES:
                self.errors.append(f"{where} {i}: \"type\" must be one of {', '.join(sorted(ACTION_TYPES))}")
            elif kind == "Action.OpenUrl" and not isinstance(action.get("url"), str):
                self.errors.append(f"{where} {i}: an Action.OpenUrl needs a \"url\" string")
            elif kind == "Action.ShowCard" and isinstance(action.get("card"), dict) and depth < MAX_DEPTH:
                self.elements(action["card"].get("body", []), f"{where} {i}, card element", depth + 1)


class TeamsRenderer:
    """A Teams message with the card the template rendered as its one attachment."""

    __slots__ = ()
    channel = "teams"

    def render(self, template_output: Mapping[str, str], context: Mapping[str, Any]) -> RenderedPayload:
        errors: list[str] = []
        card = parse_object(template_output.get("body", ""), errors)
        if card is None:
            return RenderedPayload("teams", None, errors=errors)
        if card.get("type") == "message":  # the template wrote the whole message: take its card
            attachments = card.get("attachments")
            cards = [a.get("content") for a in attachments if isinstance(a, dict)
                     and a.get("contentType") == CARD_CONTENT_TYPE] if isinstance(attachments, list) else []
            if not cards or not isinstance(cards[0], dict):
                errors.append(f"a Teams message needs an attachment of type {CARD_CONTENT_TYPE}")
                return RenderedPayload("teams", None, errors=errors)
            card = cards[0]
        check = _CardCheck()
        check.card(card)
        payload = {"type": "message", "attachments": [
            {"contentType": CARD_CONTENT_TYPE, "contentUrl": None, "content": card}]}
        try:
            size = len(orjson.dumps(payload))
        except TypeError:  # orjson writes at most 254 levels: Teams takes far fewer
            check.errors.append("the card is nested too deeply to send")
            return RenderedPayload("teams", None, check.warnings, check.errors)
        if size > MAX_BYTES:
            check.errors.append(f"the message is {size} bytes: Teams accepts at most {MAX_BYTES}")
        return RenderedPayload("teams", payload, check.warnings, check.errors)
