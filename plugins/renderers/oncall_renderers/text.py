"""What every channel's rendered text must not hold: a NUL or a lone UTF-16 surrogate.

Alert data is made storable at ingest, but a template can still write either (a string
literal ``{{ "\\x00" }}``). No channel can carry them (SMS, speech, mail and HTTP headers,
JSON text) and the core cannot store a payload holding them, so a part that does is an
error naming the part, rather than a page that fails when it is recorded.
"""

from __future__ import annotations

import re

# In JSON text a NUL is the escape \u0000, found where its backslash isn't itself escaped.
_JSON_NUL = re.compile(r"(?<!\\)(?:\\\\)*\\u0000")


def unsendable(text: str, *, json: bool = False) -> str | None:
    """Why ``text`` can't be sent (a NUL character, a lone surrogate), or None when it can.

    ``json``: ``text`` is JSON, where a NUL is written as the escape ``\\u0000`` (and a lone
    surrogate is left to the JSON parser, which refuses it).
    """
    if "\x00" in text or (json and "\\u0000" in text and _JSON_NUL.search(text)):
        return "the rendered text holds a NUL character (U+0000), which no channel can send"
    if json:
        return None
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        return f"the rendered text holds a lone UTF-16 surrogate ({text[exc.start]!r}), which is not text"
    return None
