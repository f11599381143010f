"""Email: subject, HTML and text parts → ``{"subject", "html", "text"}`` with the HTML sanitized.

The HTML part is autoescaped, so alert text cannot add markup; only the template itself
(or a ``|safe``) can. What it writes outside the allow-list below is reported as an error
(so the template is refused on save) and removed from what is sent, by nh3: a page is never
lost to a stray tag, and no script, form or foreign URL scheme reaches a mailbox.
"""

from __future__ import annotations

from collections.abc import Mapping
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlsplit

import nh3
from oncall_hookspecs import RenderedPayload

from .text import unsendable

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
_NH3_TAGS = set(EMAIL_TAGS)
_NH3_ATTRIBUTES = {tag: set(attrs) for tag, attrs in EMAIL_ATTRIBUTES.items()}
_NH3_SCHEMES = set(EMAIL_URL_SCHEMES)


def sanitize_email_html(html: str) -> str:
    """The HTML with everything outside the allow-list removed (what is sent)."""
    return nh3.clean(
        html,
        tags=_NH3_TAGS,
        clean_content_tags={"script", "style"},
        attributes=_NH3_ATTRIBUTES,
        url_schemes=_NH3_SCHEMES,
        link_rel="noopener noreferrer",
    )


class _AllowListAudit(HTMLParser):
    """Names each tag, attribute and URL scheme outside the allow-list, with its line."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        where = f"line {self.getpos()[0]} of the rendered HTML"
        if tag not in EMAIL_TAGS:
            self.found.append(f"{where}: <{tag}> is not allowed in email HTML")
            return
        allowed = EMAIL_ATTRIBUTES["*"] | EMAIL_ATTRIBUTES.get(tag, frozenset())
        for name, value in attrs:
            if name not in allowed:
                self.found.append(f"{where}: attribute {name!r} is not allowed on <{tag}>")
            elif name in _URL_ATTRIBUTES and value:
                scheme = urlsplit(value.strip()).scheme.lower()
                if scheme and scheme not in EMAIL_URL_SCHEMES:
                    self.found.append(f"{where}: {scheme}: URLs are not allowed in {name}")

    handle_startendtag = handle_starttag


def audit_email_html(html: str) -> list[str]:
    """What in ``html`` the sanitizer would remove, one message per tag, attribute or URL."""
    audit = _AllowListAudit()
    audit.feed(html)
    audit.close()
    return audit.found


class EmailRenderer:
    """``{"subject", "html", "text"}``; messages name the part they concern (``html: …``)."""

    __slots__ = ()
    channel = "email"

    def render(self, template_output: Mapping[str, str], context: Mapping[str, Any]) -> RenderedPayload:
        subject = template_output.get("subject", "")
        html = template_output.get("html", "")
        text = template_output.get("text", "")
        errors: list[str] = []
        warnings: list[str] = []
        for part, value in (("subject", subject), ("html", html), ("text", text)):
            if problem := unsendable(value):
                errors.append(f"{part}: {problem}")
        if errors:
            return RenderedPayload("email", None, warnings, errors)
        if "\n" in subject or "\r" in subject:
            # a line break in a header would start another header: fold it, as values already are
            subject = " ".join(subject.split())
            warnings.append("subject: line breaks in the subject are sent as spaces")
        if not subject:
            errors.append("subject: the subject is empty")
        if not text and not html:
            errors.append("text: the email has neither text nor HTML")
        errors += [f"html: {found}" for found in audit_email_html(html)]
        payload = {"subject": subject, "html": sanitize_email_html(html) if html else "", "text": text}
        return RenderedPayload("email", payload, warnings, errors)
