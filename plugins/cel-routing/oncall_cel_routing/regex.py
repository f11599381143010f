"""Regular expressions in conditions: ``matches`` for both engines, and checks on save.

Both engines match with RE2 (CEL's regular-expression dialect) through this module, so they
agree, and so each pattern is compiled once: cel-expr-python compiles a ``matches``
pattern anew on every evaluation, which made regex rules cost ten times a label
comparison. Recent answers are kept too, since the same label values meet the same
patterns alert after alert.

On save, a ``matches`` pattern written as a string literal (as it almost always is) is
compiled here, so ``summary.matches("disk (full")`` is refused then instead of failing
for every alert.
"""

from __future__ import annotations

import functools
from typing import Any

import re2

from oncall_hookspecs import RuleProblem

from .engine import problem_at_offset
from .lexer import Token, significant, string_value

#: answers kept for (pattern, text) pairs; when full, the store starts over
MAX_ANSWERS = 50_000
#: texts longer than this are matched every time rather than kept
MAX_KEPT_TEXT = 512

_answers: dict[tuple[str, str], bool] = {}


class RegexError(ValueError):
    """A pattern RE2 rejects; the message names the problem."""


def matches(text: str, pattern: str) -> bool:
    """CEL ``text.matches(pattern)``: whether RE2 finds ``pattern`` anywhere in ``text``."""
    key = (pattern, text)
    answer = _answers.get(key)
    if answer is None:
        answer = _compiled(pattern).search(text) is not None
        if len(text) <= MAX_KEPT_TEXT:
            if len(_answers) >= MAX_ANSWERS:
                _answers.clear()  # atomic, unlike evicting one by one from two threads
            _answers[key] = answer
    return answer


@functools.lru_cache(maxsize=4096)
def _compiled(pattern: str) -> Any:
    options = re2.Options()
    options.log_errors = False  # RE2 would otherwise print every bad pattern to stderr
    try:
        return re2.compile(pattern, options=options)
    except re2.error as exc:
        detail = exc.args[0] if exc.args else exc
        text = detail.decode(errors="replace") if isinstance(detail, bytes) else str(detail)
        raise RegexError(f"invalid regular expression {pattern!r}: {text}") from None


def literal_pattern_problems(condition: str) -> list[RuleProblem]:
    """A problem for each string-literal ``matches`` pattern in ``condition`` that RE2 rejects."""
    problems = []
    for literal in _literal_patterns(significant(condition)):
        pattern = string_value(literal.text)
        if pattern is None:
            continue
        try:
            _compiled(pattern)
        except RegexError as exc:
            problems.append(problem_at_offset(str(exc), condition, literal.start))
    return problems


def _literal_patterns(toks: list[Token]) -> list[Token]:
    """The string-literal pattern arguments of ``x.matches("…")`` and ``matches(x, "…")``."""
    found = []
    for i, tok in enumerate(toks):
        if tok.kind != "ident" or tok.text != "matches" or i + 1 >= len(toks) or toks[i + 1].text != "(":
            continue
        args = _arguments(toks, i + 1)
        if args is None:
            continue
        member = i > 0 and toks[i - 1].text == "."
        if len(args) == (1 if member else 2) and len(args[-1]) == 1 and args[-1][0].kind == "string":
            found.append(args[-1][0])
    return found


def _arguments(toks: list[Token], open_index: int) -> list[list[Token]] | None:
    """The top-level comma-separated arguments of the call whose '(' is at ``open_index``."""
    depth = 0
    args: list[list[Token]] = [[]]
    for tok in toks[open_index:]:
        if tok.text in ("(", "[", "{"):
            depth += 1
            if depth == 1:
                continue
        elif tok.text in (")", "]", "}"):
            depth -= 1
            if depth == 0:
                return args if args != [[]] else []
        elif tok.text == "," and depth == 1:
            args.append([])
            continue
        args[-1].append(tok)
    return None  # unbalanced: the parser reports it
