"""What an SMS reply asks for: ``3a`` acknowledges alert code 3, a bare ``c`` closes the last one, STOP opts out.

GoAlert's reply language first (a code and a letter, either order), with the words people
type anyway (``ack 3``, ``close``) and Twilio's own opt-out and opt-in keywords, so our
opt-out state agrees with the one Twilio keeps.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

#: Twilio's standard opt-out, opt-in and help keywords (matched against the whole message)
OPT_OUT = frozenset({"stop", "stopall", "unsubscribe", "cancel", "end", "quit", "revoke", "optout"})
OPT_IN = frozenset({"start", "unstop", "yes"})
HELP = frozenset({"help", "info"})

ACTION_WORDS = {
    "a": "acknowledge",
    "ack": "acknowledge",
    "acknowledge": "acknowledge",
    "c": "resolve",
    "close": "resolve",
    "resolve": "resolve",
    "e": "escalate",
    "esc": "escalate",
    "escalate": "escalate",
}

# "3a", "3 a", "a3", "ack 3", "#3a"; quotes because people copy them from "Reply '3a'"
_ACTION = re.compile(r"#?(?P<pre>\d+)?\s*(?P<word>[a-z]+)\s*#?(?P<post>\d+)?")
_TRIM = " \t\r\n'\"`.!?"


class ReplyKind(str, Enum):
    ACTION = "action"
    OPT_OUT = "opt_out"
    OPT_IN = "opt_in"
    HELP = "help"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class Reply:
    kind: ReplyKind
    action: str | None = None  # acknowledge, resolve or escalate
    code: str | None = None  # None: the last alert sent to this number


def parse_reply(body: str) -> Reply:
    text = " ".join(body.strip(_TRIM).lower().split())
    if text in OPT_OUT:
        return Reply(ReplyKind.OPT_OUT)
    if text in OPT_IN:
        return Reply(ReplyKind.OPT_IN)
    if text in HELP:
        return Reply(ReplyKind.HELP)
    match = _ACTION.fullmatch(text)
    if match is None or match["word"] not in ACTION_WORDS:
        return Reply(ReplyKind.UNKNOWN)
    pre, post = match["pre"], match["post"]
    if pre and post:
        return Reply(ReplyKind.UNKNOWN)
    return Reply(ReplyKind.ACTION, ACTION_WORDS[match["word"]], pre or post)


def reply_hint(code: str) -> str:
    """The line an outgoing SMS ends with, telling the reader how to answer it."""
    return f"Reply {code}a to ack, {code}c to close, {code}e to escalate."
