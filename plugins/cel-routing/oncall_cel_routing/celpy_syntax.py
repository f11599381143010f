"""Rewrites that let cel-python run CEL the way the specification (and cel-expr) does.

Optional syntax, which cel-python's parser predates: ``labels.?team``, ``labels[?"team"]``
and ``optional.of(x)`` / ``optional.none()`` / ``optional.ofNonZeroValue(x)`` are rewritten
into calls of functions the cel-python engine provides (``._opt_select("team")``,
``._opt_index("team")``, ``_opt_of(x)`` …), so the idioms for a possibly missing label mean the same on both engines. ``orValue``,
``hasValue``, ``value`` and ``or`` are ordinary member functions there and need no rewrite.

Optional entries in list and map literals (``[?x]``, ``{?"k": v}``) are not rewritten:
they are reported as unsupported (and refused on save on both engines, :mod:`.portable`).

``list.map(x, p, t)`` (the three-argument ``map``, which keeps the elements for which ``p``
holds and transforms them by ``t``): celpy knows only two arguments. It becomes
``list.filter(x, _bool_only(p)).map(x, t)``, which gives the same list, or an error when
``p`` or ``t`` fails for an element it reaches. The predicates of ``filter`` and
``exists_one`` are wrapped in ``_bool_only`` too: celpy took any truthy value for true, CEL
wants a bool.

The escapes ``\\?`` and ``\\``` in string and bytes literals (CEL's ``?`` and a backquote):
celpy keeps the backslash. They are written as the plain character.

``has(e.f)``: cel-python answers false when ``e`` itself fails (``has(a.missing.f)``);
CEL says that is an error. It becomes ``_has(e, "f")``, which fails when ``e`` does.

Offsets in the rewritten text map back to the condition as written, so syntax errors
point at what the user typed.
"""

from __future__ import annotations

import bisect
import json
import re
from dataclasses import dataclass, field

from .lexer import Token, significant

_NOT_PORTABLE = 'optional entries in list and map literals ([?x], {?"k": v}) are not supported by every engine'
# macros whose predicate celpy takes for truthy: filter(x, "a") kept everything (CEL: an error)
_PREDICATE_MACROS = ("map", "filter", "exists_one")
_OPTIONAL_CONSTRUCTORS = {"of": "_opt_of", "none": "_opt_none", "ofNonZeroValue": "_opt_of_non_zero"}


class UnsupportedSyntax(Exception):
    """The condition uses optional syntax this engine cannot run."""

    def __init__(self, message: str, position: int) -> None:
        super().__init__(message)
        self.message = message
        self.position = position


@dataclass(slots=True)
class Rewritten:
    """The rewritten condition and how to map its offsets back to the original."""

    text: str
    # parallel lists: where each replacement starts in ``text``, and what it replaced
    _new_starts: list[int] = field(default_factory=list)
    _spans: list[tuple[int, int, int]] = field(default_factory=list)  # (new_end, orig_start, orig_end)

    def original_offset(self, offset: int) -> int:
        """The offset in the original condition of ``offset`` in the rewritten text."""
        i = bisect.bisect_right(self._new_starts, offset) - 1
        if i < 0:
            return offset
        new_end, orig_start, orig_end = self._spans[i]
        if offset < new_end:  # inside a replacement: point at what it replaced
            return orig_start
        return orig_end + (offset - new_end)


def _ends_operand(token: Token | None) -> bool:
    if token is None:
        return False
    if token.kind in ("string", "number"):
        return True
    if token.kind == "ident":
        return token.text != "in"
    return token.text in (")", "]", "}")


def rewrite(condition: str) -> Rewritten:
    """``condition`` with its optional syntax and ``has()`` turned into function calls."""
    toks = significant(condition)
    replacements: list[tuple[int, int, str]] = []  # (orig_start, orig_end, new_text)
    i = 0
    while i < len(toks):
        tok = toks[i]
        nxt = toks[i + 1] if i + 1 < len(toks) else None
        prev = toks[i - 1] if i > 0 else None
        if tok.kind == "string":
            plain = _plain_escapes(tok.text)
            if plain != tok.text:
                replacements.append((tok.start, tok.end, plain))
            i += 1
            continue
        if tok.text in _PREDICATE_MACROS and prev is not None and prev.text == "." and nxt is not None and nxt.text == "(":
            found = _arguments(toks, i + 1)
            if found is not None and toks[i + 2].kind == "ident" and found[0][:1] == [i + 3]:
                commas, end = found
                variable = toks[i + 2].text
                if tok.text == "map" and len(commas) == 2:  # map(x, p, t) -> filter(x, _bool_only(p)).map(x, t)
                    replacements.append((tok.start, tok.end, "filter"))
                    replacements.append((toks[commas[0]].start, toks[commas[0]].end, ", _bool_only("))
                    replacements.append((toks[commas[1]].start, toks[commas[1]].end, f")).map({variable},"))
                elif tok.text != "map" and len(commas) == 1:
                    replacements.append((toks[commas[0]].start, toks[commas[0]].end, ", _bool_only("))
                    replacements.append((toks[end].start, toks[end].end, "))"))
        if tok.text == "?" and prev is not None and prev.text in ("{", ","):
            raise UnsupportedSyntax(
                _NOT_PORTABLE, tok.start
            )
        if tok.text == "." and nxt is not None and nxt.text == "?":
            field_tok = toks[i + 2] if i + 2 < len(toks) else None
            if field_tok is not None and field_tok.kind == "ident":
                replacements.append(
                    (tok.start, field_tok.end, f"._opt_select({json.dumps(field_tok.text)})")
                )
                i += 3
                continue
        if tok.text == "[" and nxt is not None and nxt.text == "?":
            if not _ends_operand(prev):
                raise UnsupportedSyntax(
                    _NOT_PORTABLE, nxt.start
                )
            close = _matching(toks, i, "[", "]")
            if close is not None:
                replacements.append((tok.start, nxt.end, "._opt_index("))
                replacements.append((toks[close].start, toks[close].end, ")"))
                i += 2
                continue
        if tok.text == "has" and (prev is None or prev.text != ".") and nxt is not None and nxt.text == "(":
            close = _matching(toks, i + 1, "(", ")")
            # has(<target> . <field>): the select must be the argument's last, outermost step
            if (
                close is not None
                and close - i >= 5
                and toks[close - 1].kind == "ident"
                and toks[close - 2].text == "."
                and _balanced(toks[i + 2 : close - 2])
            ):
                field_tok = toks[close - 1]
                replacements.append((tok.start, tok.end, "_has"))
                replacements.append((toks[close - 2].start, field_tok.end, f", {json.dumps(field_tok.text)}"))
                i += 2
                continue
        if (
            tok.kind == "ident"
            and tok.text == "optional"
            and (prev is None or prev.text != ".")
            and i + 3 < len(toks)
            and toks[i + 1].text == "."
            and toks[i + 2].text in _OPTIONAL_CONSTRUCTORS
            and toks[i + 3].text == "("
        ):
            replacements.append(
                (tok.start, toks[i + 2].end, _OPTIONAL_CONSTRUCTORS[toks[i + 2].text])
            )
            i += 3
            continue
        i += 1
    return _apply(condition, sorted(replacements))


_CEL_ONLY_ESCAPES = re.compile(r"\\(?:x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|[0-3][0-7]{2}|.)", re.DOTALL)


def _plain_escapes(literal: str) -> str:
    """``literal`` with CEL's ``\\?`` and ``\\``` escapes written as the plain character (raw ones as they are)."""
    prefix = len(literal) - len(literal.lstrip("rRbB"))
    if "r" in literal[:prefix].lower() or "\\" not in literal:
        return literal

    def plain(m: re.Match[str]) -> str:
        return m.group()[1] if m.group() in ("\\?", "\\`") else m.group()

    return _CEL_ONLY_ESCAPES.sub(plain, literal)


def _arguments(toks: list[Token], open_index: int) -> tuple[list[int], int] | None:
    """The indexes of the commas directly inside the parenthesis at ``open_index``, and of its
    closing parenthesis; None if it does not close."""
    depth = 0
    commas: list[int] = []
    for j in range(open_index, len(toks)):
        text = toks[j].text
        if text in ("(", "[", "{"):
            depth += 1
        elif text in (")", "]", "}"):
            depth -= 1
            if depth == 0:
                return commas, j
        elif text == "," and depth == 1:
            commas.append(j)
    return None


def _matching(toks: list[Token], open_index: int, opening: str, closing: str) -> int | None:
    """The index of the token closing the bracket at ``open_index``, if any."""
    depth = 0
    for j in range(open_index, len(toks)):
        if toks[j].text == opening:
            depth += 1
        elif toks[j].text == closing:
            depth -= 1
            if depth == 0:
                return j
    return None


def _balanced(toks: list[Token]) -> bool:
    """Whether every bracket opened in ``toks`` closes there (so a '.' after them is outermost)."""
    depth = 0
    for tok in toks:
        if tok.text in ("(", "[", "{"):
            depth += 1
        elif tok.text in (")", "]", "}"):
            depth -= 1
            if depth < 0:
                return False
    return depth == 0


def _apply(condition: str, replacements: list[tuple[int, int, str]]) -> Rewritten:
    out: list[str] = []
    result = Rewritten(text="")
    pos = 0
    length = 0
    for orig_start, orig_end, new_text in replacements:
        out.append(condition[pos:orig_start])
        length += orig_start - pos
        result._new_starts.append(length)
        out.append(new_text)
        length += len(new_text)
        result._spans.append((length, orig_start, orig_end))
        pos = orig_end
    out.append(condition[pos:])
    result.text = "".join(out)
    return result
