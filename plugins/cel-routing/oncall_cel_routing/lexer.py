"""A CEL tokenizer, just enough to find string literals and the punctuation around them.

Used for checks and rewrites that must not be fooled by a ``.?`` or ``matches(`` inside a
string or a comment. It never fails: anything it does not recognise becomes a one-character
token, and the engine's own parser reports the syntax error.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

# Order matters: raw and triple-quoted strings before plain ones, comments before '/'.
_TOKEN = re.compile(
    r"""
    (?P<space>[ \t\r\n\f]+)
  | (?P<comment>//[^\n]*)
  | (?P<string>
        (?:[rR][bB]?|[bB][rR])(?:\"\"\"(?:.|\n)*?\"\"\"|'''(?:.|\n)*?'''|"[^"\r\n]*"|'[^'\r\n]*')
      | [bB]?(?:\"\"\"(?:\\(?:.|\n)|[^\\])*?\"\"\"|'''(?:\\(?:.|\n)|[^\\])*?'''
               |"(?:\\.|[^"\\\r\n])*"|'(?:\\.|[^'\\\r\n])*')
    )
  | (?P<number>0[xX][0-9a-fA-F]+[uU]?|[0-9]*\.[0-9]+(?:[eE][+-]?[0-9]+)?|[0-9]+[eE][+-]?[0-9]+|[0-9]+[uU]?)
  | (?P<ident>[_a-zA-Z][_a-zA-Z0-9]*)
  | (?P<punct>==|!=|<=|>=|&&|\|\||.)
    """,
    re.VERBOSE | re.DOTALL,
)


@dataclass(slots=True, frozen=True)
class Token:
    """One token: ``kind`` is space, comment, string, number, ident or punct."""

    kind: str
    text: str
    start: int
    end: int


def tokens(source: str) -> Iterator[Token]:
    """Every token of ``source`` in order, spaces and comments included."""
    pos = 0
    while pos < len(source):
        m = _TOKEN.match(source, pos)
        assert m is not None  # the last alternative matches any character
        kind = m.lastgroup or "punct"
        yield Token(kind, m.group(), pos, m.end())
        pos = m.end()


def significant(source: str) -> list[Token]:
    """The tokens that matter to the grammar: no spaces, no comments."""
    return [t for t in tokens(source) if t.kind not in ("space", "comment")]


_SIMPLE_ESCAPES = {
    "a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v",
    "\\": "\\", "?": "?", '"': '"', "'": "'", "`": "`",
}
_ESCAPE = re.compile(r"\\(x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|[0-3][0-7]{2}|.)", re.DOTALL)


def string_value(literal: str) -> str | None:
    """The value of a CEL string literal token, or None for bytes or a malformed escape."""
    prefix = ""
    while literal and literal[0] in "rRbB":
        prefix += literal[0].lower()
        literal = literal[1:]
    if "b" in prefix:
        return None
    quote = literal[:3] if literal[:3] in ('"""', "'''") else literal[:1]
    body = literal[len(quote) : len(literal) - len(quote)]
    if "r" in prefix:
        return body
    bad = False

    def unescape(m: re.Match[str]) -> str:
        nonlocal bad
        code = m.group(1)
        if code in _SIMPLE_ESCAPES:
            return _SIMPLE_ESCAPES[code]
        if code[0] in "xuU":
            try:
                return chr(int(code[1:], 16))
            except ValueError:  # beyond U+10FFFF
                bad = True
                return ""
        if code[0] in "0123" and len(code) == 3:
            return chr(int(code, 8))
        bad = True
        return ""

    value = _ESCAPE.sub(unescape, body)
    return None if bad else value
