"""Building the alert email: text and HTML alternatives, one-click action links, stable Message-ID.

The Message-ID is derived from the delivery's idempotency key, so a retry after a crash or
an ambiguous timeout sends a message with the same Message-ID; mail clients and archives
that deduplicate by Message-ID then show it once, and a bounce can be matched to the
delivery it belongs to.
"""

from __future__ import annotations

import hashlib
import html
import logging
from collections.abc import Mapping
from datetime import datetime, UTC
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlsplit

log = logging.getLogger(__name__)

#: the actions shown, in this order, with their labels and button colours
ACTIONS = (
    ("acknowledge", "Acknowledge", "#b45309"),
    ("resolve", "Resolve", "#15803d"),
    ("escalate", "Escalate", "#b91c1c"),
)
LINKS_NOTE = "Each link works once and expires."
_BUTTON_STYLE = (
    "display:inline-block;margin:0 8px 8px 0;padding:10px 20px;border-radius:4px;"
    "background-color:{colour};color:#ffffff;font-family:Arial,Helvetica,sans-serif;"
    "font-size:14px;font-weight:bold;line-height:20px;text-decoration:none"
)


class PayloadError(ValueError):
    """The payload is not what the email renderer produces; sending it again cannot help."""


def message_id(idempotency_key: str, domain: str) -> str:
    """``<oncall.<hash>@domain>``: the same key always gives the same id, whatever it contains."""
    digest = hashlib.sha256(idempotency_key.encode("utf-8")).hexdigest()[:32]
    return f"<oncall.{digest}@{domain}>"


def compose(
    payload: Any,
    *,
    sender: Address,
    recipient: Address,
    idempotency_key: str,
    alert_id: int | None,
    actions: Mapping[str, str],
    now: datetime | None = None,
) -> EmailMessage:
    """The email for one delivery: multipart/alternative (text, then HTML) with the action links."""
    subject, text, body_html = _parts(payload)
    links = _safe_links(actions)
    text = _text_with_links(text if text.strip() else _html_to_text(body_html), links)

    msg = EmailMessage()
    msg["Subject"] = " ".join(subject.split()) or "OnCall notification"
    msg["From"] = sender
    msg["To"] = recipient
    msg["Date"] = format_datetime(now or datetime.now(UTC))
    msg["Message-ID"] = message_id(idempotency_key, sender.domain)
    if alert_id is not None:
        msg["X-OnCall-Alert-Id"] = str(alert_id)
    # RFC 3834: an automated message, so vacation responders do not answer it
    msg["Auto-Submitted"] = "auto-generated"
    msg["X-Auto-Response-Suppress"] = "All"  # the same, for Exchange
    msg.set_content(text)
    if body_html.strip():
        msg.add_alternative(_html_with_buttons(body_html, links), subtype="html")
        for part in msg.iter_parts():
            del part["MIME-Version"]  # belongs on the message only; the library repeats it on parts
    return msg


def _parts(payload: Any) -> tuple[str, str, str]:
    if not isinstance(payload, Mapping):
        raise PayloadError(f"the email payload must be an object with subject, html and text, got {type(payload).__name__}")
    parts = []
    for key in ("subject", "text", "html"):
        value = payload.get(key) or ""
        if not isinstance(value, str):
            raise PayloadError(f"the email payload's {key!r} must be a string, got {type(value).__name__}")
        parts.append(value)
    subject, text, body_html = parts
    if not text.strip() and not body_html.strip():
        raise PayloadError("the email payload has neither text nor HTML")
    return subject, text, body_html


def _safe_links(actions: Mapping[str, str]) -> list[tuple[str, str, str]]:
    """``(label, url, colour)`` for each known action whose URL is a plain http(s) link."""
    links = []
    for key, label, colour in ACTIONS:
        url = actions.get(key)
        if not url:
            continue
        if urlsplit(url).scheme not in ("http", "https") or any(c.isspace() or ord(c) < 0x20 for c in url):
            # the core makes these URLs; anything else is a bug, and must not become a link
            log.warning("email: leaving out the %s link: it is not a plain http(s) URL", key)
            continue
        links.append((label, url, colour))
    return links


def _text_with_links(text: str, links: list[tuple[str, str, str]]) -> str:
    text = text.rstrip() + "\n"
    if links:
        text += "\n" + "".join(f"{label}: {url}\n" for label, url, _ in links) + f"({LINKS_NOTE})\n"
    return text


def _html_with_buttons(body_html: str, links: list[tuple[str, str, str]]) -> str:
    if not links:
        return body_html
    buttons = "".join(
        f'<a href="{html.escape(url, quote=True)}" style="{_BUTTON_STYLE.format(colour=colour)}">'
        f"{html.escape(label)}</a>"
        for label, url, colour in links
    )
    block = (
        f'<div style="margin-top:24px">{buttons}'
        f'<p style="margin:8px 0 0;color:#6b7280;font-family:Arial,Helvetica,sans-serif;font-size:12px">'
        f"{html.escape(LINKS_NOTE)}</p></div>"
    )
    end = body_html.lower().rfind("</body>")
    if end == -1:
        return body_html + block
    return body_html[:end] + block + body_html[end:]


class _TextExtractor(HTMLParser):
    _BREAKS = frozenset({"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "table"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.chunks: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("style", "script", "head", "title"):
            self._skip += 1
        elif tag in self._BREAKS:
            self.chunks.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("style", "script", "head", "title"):
            self._skip = max(0, self._skip - 1)
        elif tag in self._BREAKS:
            self.chunks.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.chunks.append(data)


def _html_to_text(body_html: str) -> str:
    """A plain-text alternative for an HTML-only payload, for clients that show text."""
    parser = _TextExtractor()
    parser.feed(body_html)
    parser.close()
    lines = (" ".join(line.split()) for line in "".join(parser.chunks).splitlines())
    out: list[str] = []
    for line in lines:
        if line or (out and out[-1]):
            out.append(line)
    return "\n".join(out).strip()
