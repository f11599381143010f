"""Validation of a template on save: syntax, unknown variables, and each channel's rules on a rendered sample.

Errors block the save; warnings are returned with it. Channel rules run on what the
template renders from the sample context, because limits (Slack's 50 blocks, an SMS's
segments) are properties of the output, not of the source.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlsplit

import jinja2
import nh3
import orjson
from jinja2 import meta, nodes

from oncall.notification.render import RenderError, TemplateRenderer
from oncall.notification.templates import CHANNEL_PARTS, SAMPLE_CONTEXT, Channel, Template


@dataclass(frozen=True)
class Problem:
    channel: Channel
    part: str
    message: str
    line: int | None = None

    def __str__(self) -> str:
        return f"{self.channel}.{self.part}" + (f" line {self.line}" if self.line else "") + f": {self.message}"


@dataclass
class ValidationResult:
    errors: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


_RENDERER = TemplateRenderer()


def validate(
    template: Template, sample: Mapping[str, Any] | None = None, channels: list[Channel] | None = None,
    renderer: TemplateRenderer | None = None,
) -> ValidationResult:
    """Check the channels the template sets (or ``channels``) against ``sample`` (default: SAMPLE_CONTEXT)."""
    sample = SAMPLE_CONTEXT if sample is None else sample
    renderer = renderer or _RENDERER
    result = ValidationResult()
    for channel in channels or list(template.channels):
        rendered: dict[str, str] = {}
        for part, escape in CHANNEL_PARTS[channel].items():
            source = template.source(channel, part)
            try:
                ast = renderer.environment(escape).parse(source)
            except jinja2.TemplateSyntaxError as exc:
                result.errors.append(Problem(channel, part, f"syntax error: {exc.message}", exc.lineno))
                continue
            result.warnings += [Problem(channel, part, msg, line) for msg, line in _unknown_variables(ast, sample)]
            try:
                rendered[part] = renderer.render_part(channel, part, source, sample)
            except RenderError as exc:
                result.errors.append(Problem(channel, part, exc.message, exc.line))
        if len(rendered) == len(CHANNEL_PARTS[channel]):
            errors, warnings = CHANNEL_RULES[channel](rendered)
            result.errors += [Problem(channel, p, m) for p, m in errors]
            result.warnings += [Problem(channel, p, m) for p, m in warnings]
    return result


# ------------------------------------------------------------------------------ unknown variables


_BUILTIN_NAMES = frozenset({"range", "dict", "namespace", "loop", "self", "varargs", "kwargs", "caller", "true",
                            "false", "none", "True", "False", "None"})


def _unknown_variables(ast: nodes.Template, sample: Mapping[str, Any]) -> list[tuple[str, int]]:
    """Paths like ``alert.sumary`` the template reads from its context that the sample lacks, with lines."""
    roots = meta.find_undeclared_variables(ast) - _BUILTIN_NAMES
    found: dict[str, int] = {}

    def check(path: list[Any], line: int) -> None:
        value: Any = sample
        for depth, key in enumerate(path):
            if isinstance(value, Mapping) and key in value:
                value = value[key]
            elif isinstance(value, (list, tuple)) and isinstance(key, int) and -len(value) <= key < len(value):
                value = value[key]
            elif depth > 0 and not isinstance(value, (Mapping, list, tuple)):
                return  # a method or attribute of a plain value (``.upper``): not the sample's business
            else:
                found.setdefault(".".join(str(k) for k in path[: depth + 1]), line)
                return

    def chain(node: nodes.Node) -> list[Any] | None:
        path: list[Any] = []
        while True:
            if isinstance(node, nodes.Getattr):
                path.append(node.attr)
            elif isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const):
                path.append(node.arg.value)
            elif isinstance(node, nodes.Name):
                path.append(node.name)
                return path[::-1] if node.name in roots else None
            else:
                return None
            node = node.node

    def visit(node: nodes.Node) -> None:
        if isinstance(node, (nodes.Getattr, nodes.Getitem, nodes.Name)):
            path = chain(node)
            if path is not None:
                check(path, node.lineno)
                if isinstance(node, nodes.Getitem):
                    visit(node.arg)
                return
        for child in node.iter_child_nodes():
            visit(child)

    visit(ast)
    return [(f"{path!r} is not in the sample context", line) for path, line in found.items()]


# ------------------------------------------------------------------------------ channel rules

Findings = tuple[list[tuple[str, str]], list[tuple[str, str]]]

SLACK_MAX_BLOCKS = 50
SLACK_SECTION_TEXT = 3000
SLACK_FIELD_TEXT = 2000
SLACK_HEADER_TEXT = 150
SLACK_MESSAGE_TEXT = 40_000
_SLACK_BLOCK_TYPES = frozenset({"section", "header", "context", "divider", "actions", "image", "rich_text",
                                "input", "file", "video", "markdown", "table"})


def _json_object(part: str, text: str, errors: list[tuple[str, str]]) -> dict[str, Any] | None:
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        errors.append((part, f"rendered output is not valid JSON: {exc}"))
        return None
    if not isinstance(value, dict):
        errors.append((part, "rendered output must be a JSON object"))
        return None
    return value


def _text_of(obj: Any) -> str:
    return obj.get("text", "") if isinstance(obj, dict) and isinstance(obj.get("text"), str) else ""


def check_slack(parts: Mapping[str, str]) -> Findings:
    """Block Kit structure and limits on a rendered Slack body."""
    errors: list[tuple[str, str]] = []
    warnings: list[tuple[str, str]] = []
    message = _json_object("body", parts["body"], errors)
    if message is None:
        return errors, warnings
    blocks = message.get("blocks")
    text = message.get("text")
    if blocks is None and not text and not message.get("attachments"):
        errors.append(("body", "a Slack message needs \"text\" or \"blocks\""))
    if text is not None and (not isinstance(text, str) or len(text) > SLACK_MESSAGE_TEXT):
        errors.append(("body", f"\"text\" must be a string of at most {SLACK_MESSAGE_TEXT} characters"))
    if blocks is not None and not text:
        warnings.append(("body", "no top-level \"text\": notifications and screen readers will show nothing"))
    if blocks is None:
        return errors, warnings
    if not isinstance(blocks, list):
        errors.append(("body", "\"blocks\" must be a list"))
        return errors, warnings
    if len(blocks) > SLACK_MAX_BLOCKS:
        errors.append(("body", f"{len(blocks)} blocks: Slack allows at most {SLACK_MAX_BLOCKS}"))
    for i, block in enumerate(blocks, 1):
        where = f"block {i}"
        if not isinstance(block, dict) or not isinstance(block.get("type"), str):
            errors.append(("body", f"{where}: a block is an object with a \"type\""))
            continue
        kind = block["type"]
        if kind not in _SLACK_BLOCK_TYPES:
            errors.append(("body", f"{where}: unknown block type {kind!r}"))
        if len(str(block.get("block_id", ""))) > 255:
            errors.append(("body", f"{where}: block_id longer than 255 characters"))
        if kind == "header":
            t = block.get("text")
            if not isinstance(t, dict) or t.get("type") != "plain_text":
                errors.append(("body", f"{where}: a header's text must be a plain_text object"))
            elif len(_text_of(t)) > SLACK_HEADER_TEXT:
                errors.append(("body", f"{where}: header text is {len(_text_of(t))} characters, "
                                       f"at most {SLACK_HEADER_TEXT}"))
        elif kind == "section":
            fields = block.get("fields") or []
            if "text" not in block and not fields:
                errors.append(("body", f"{where}: a section needs \"text\" or \"fields\""))
            if len(_text_of(block.get("text"))) > SLACK_SECTION_TEXT:
                errors.append(("body", f"{where}: section text is {len(_text_of(block.get('text')))} characters, "
                                       f"at most {SLACK_SECTION_TEXT}"))
            if not isinstance(fields, list) or len(fields) > 10:
                errors.append(("body", f"{where}: a section has at most 10 fields"))
            elif any(len(_text_of(f)) > SLACK_FIELD_TEXT for f in fields):
                errors.append(("body", f"{where}: a field's text is over {SLACK_FIELD_TEXT} characters"))
        elif kind == "context":
            elements = block.get("elements")
            if not isinstance(elements, list) or not 1 <= len(elements) <= 10:
                errors.append(("body", f"{where}: a context block has 1 to 10 elements"))
        elif kind == "actions":
            elements = block.get("elements")
            if not isinstance(elements, list) or not 1 <= len(elements) <= 25:
                errors.append(("body", f"{where}: an actions block has 1 to 25 elements"))
    return errors, warnings


def check_teams(parts: Mapping[str, str]) -> Findings:
    """The Adaptive Card basics: type, version, a body list of typed elements (bare or in a message)."""
    errors: list[tuple[str, str]] = []
    card = _json_object("body", parts["body"], errors)
    if card is None:
        return errors, []
    if card.get("type") == "message":  # a Teams message carrying the card as an attachment
        attachments = card.get("attachments")
        cards = [a.get("content") for a in attachments or [] if isinstance(a, dict)
                 and a.get("contentType") == "application/vnd.microsoft.card.adaptive"]
        if not cards or not isinstance(cards[0], dict):
            return [("body", "a Teams message needs an attachment of type application/vnd.microsoft.card.adaptive")], []
        card = cards[0]
    if card.get("type") != "AdaptiveCard":
        errors.append(("body", "\"type\" must be \"AdaptiveCard\""))
    version = card.get("version")
    if not isinstance(version, str) or not version.replace(".", "").isdigit() or "." not in version:
        errors.append(("body", "\"version\" must be a string like \"1.4\""))
    body = card.get("body")
    if not isinstance(body, list):
        errors.append(("body", "\"body\" must be a list of elements"))
    else:
        for i, element in enumerate(body, 1):
            if not isinstance(element, dict) or not isinstance(element.get("type"), str):
                errors.append(("body", f"body element {i}: an element is an object with a \"type\""))
    return errors, []


def check_webhook(parts: Mapping[str, str]) -> Findings:
    errors: list[tuple[str, str]] = []
    try:
        orjson.loads(parts["body"])
    except orjson.JSONDecodeError as exc:
        errors.append(("body", f"rendered output is not valid JSON: {exc}"))
    return errors, []


# GSM 03.38: the basic set costs one septet, the extension set two (escape + char).
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("^{}\\[~]|€\f")
SMS_MAX_SEGMENTS = 10


@dataclass(frozen=True)
class SmsInfo:
    encoding: str  # "GSM-7" or "UCS-2"
    units: int  # septets (GSM-7) or UTF-16 code units (UCS-2)
    segments: int


def sms_segments(text: str) -> SmsInfo:
    """How a carrier splits ``text``: 160/153 septets per segment in GSM-7, else 70/67 UTF-16 units."""
    if all(c in GSM7_BASIC or c in GSM7_EXTENSION for c in text):
        units = sum(2 if c in GSM7_EXTENSION else 1 for c in text)
        single, multi, encoding = 160, 153, "GSM-7"
    else:
        units = len(text.encode("utf-16-le")) // 2
        single, multi, encoding = 70, 67, "UCS-2"
    segments = 0 if units == 0 else 1 if units <= single else math.ceil(units / multi)
    return SmsInfo(encoding, units, segments)


def check_sms(parts: Mapping[str, str]) -> Findings:
    info = sms_segments(parts["text"])
    if info.segments == 0:
        return [("text", "the message is empty")], []
    if info.segments > SMS_MAX_SEGMENTS:
        return [("text", f"{info.units} {info.encoding} characters is {info.segments} segments; "
                         f"at most {SMS_MAX_SEGMENTS} are sent")], []
    if info.segments > 1:
        return [], [("text", f"{info.units} {info.encoding} characters: sent as {info.segments} segments")]
    return [], []


def check_voice(parts: Mapping[str, str]) -> Findings:
    text = parts["text"]
    if not text:
        return [("text", "the message is empty")], []
    if len(text) > 1000:
        return [], [("text", f"{len(text)} characters is a long call: keep spoken messages short")]
    return [], []


def check_push(parts: Mapping[str, str]) -> Findings:
    if not parts["title"] and not parts["body"]:
        return [("body", "the notification is empty")], []
    return [], []


# ------------------------------------------------------------------------------ email HTML

# What an alert email may contain. Everything else is refused on save and removed on send.
EMAIL_TAGS = frozenset({
    "a", "abbr", "b", "blockquote", "br", "code", "div", "em", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i",
    "img", "li", "ol", "p", "pre", "small", "span", "strong", "sub", "sup", "table", "tbody", "td", "tfoot",
    "th", "thead", "tr", "u", "ul",
})
EMAIL_ATTRIBUTES: Mapping[str, frozenset[str]] = {
    "*": frozenset({"style", "title", "align", "class"}),
    "a": frozenset({"href"}),
    "img": frozenset({"src", "alt", "width", "height"}),
    "td": frozenset({"colspan", "rowspan", "valign", "width"}),
    "th": frozenset({"colspan", "rowspan", "valign", "width"}),
    "table": frozenset({"width", "cellpadding", "cellspacing", "border"}),
}
EMAIL_URL_SCHEMES = frozenset({"http", "https", "mailto"})
_URL_ATTRIBUTES = frozenset({"href", "src"})


def sanitize_email_html(html: str) -> str:
    """The rendered HTML with everything outside the whitelist removed (what the email renderer sends)."""
    return nh3.clean(
        html,
        tags=set(EMAIL_TAGS),
        clean_content_tags={"script", "style"},
        attributes={tag: set(attrs) for tag, attrs in EMAIL_ATTRIBUTES.items()},
        url_schemes=set(EMAIL_URL_SCHEMES),
        link_rel="noopener noreferrer",
    )


class _WhitelistAudit(HTMLParser):
    """Names each tag, attribute and URL scheme outside the whitelist, with its line."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        line = self.getpos()[0]
        if tag not in EMAIL_TAGS:
            self.found.append(f"line {line}: <{tag}> is not allowed in email HTML")
            return
        allowed = EMAIL_ATTRIBUTES["*"] | EMAIL_ATTRIBUTES.get(tag, frozenset())
        for name, value in attrs:
            if name not in allowed:
                self.found.append(f"line {line}: attribute {name!r} is not allowed on <{tag}>")
            elif name in _URL_ATTRIBUTES and value:
                scheme = urlsplit(value.strip()).scheme.lower()
                if scheme and scheme not in EMAIL_URL_SCHEMES:
                    self.found.append(f"line {line}: {scheme}: URLs are not allowed in {name}")

    handle_startendtag = handle_starttag


def check_email(parts: Mapping[str, str]) -> Findings:
    errors: list[tuple[str, str]] = []
    if not parts["subject"]:
        errors.append(("subject", "the subject is empty"))
    if not parts["text"] and not parts["html"]:
        errors.append(("text", "the email has neither text nor HTML"))
    audit = _WhitelistAudit()
    audit.feed(parts["html"])
    audit.close()
    errors += [("html", f"{msg} (rendered sample)") for msg in audit.found]
    return errors, []


CHANNEL_RULES = {
    Channel.SLACK: check_slack,
    Channel.TEAMS: check_teams,
    Channel.EMAIL: check_email,
    Channel.SMS: check_sms,
    Channel.VOICE: check_voice,
    Channel.PUSH: check_push,
    Channel.WEBHOOK: check_webhook,
}

__all__ = ["Problem", "SmsInfo", "ValidationResult", "check_email", "check_slack", "check_sms",
           "check_teams", "check_webhook", "sanitize_email_html", "sms_segments", "validate"]
