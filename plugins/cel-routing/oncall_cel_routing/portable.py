"""Checks on save, on both engines, that keep a stored rule meaning the same on either.

Optional entries in list and map literals (``[?x]``, ``{?"k": v}``) compile on cel-expr
and not on cel-python: they are refused on save whichever engine checks.

Conversions of a string literal that can only fail (``duration("1d")``) are refused.

``int("1_0")``, ``duration("1d")`` or ``timestamp("2024-01-01 00:00:00Z")`` compile on both
engines and fail on every alert, so such a rule would never match. A few timestamps that
are not RFC 3339 (``2024-1-01T…``, an offset ``+0100``) are read by cel-expr and refused by
cel-python: refusing the literal on save, on both engines, keeps a stored rule from
meaning different things on replicas with different engines.
"""

from __future__ import annotations

from celpy.evaluation import CELEvalError

from oncall_hookspecs import RuleProblem

from .celpy_conversions import CONVERSIONS
from .celpy_syntax import UnsupportedSyntax, rewrite
from .engine import problem_at_offset
from .lexer import significant, string_value

_CHECKED = ("int", "uint", "double", "duration", "timestamp")


def portability_problems(condition: str) -> list[RuleProblem]:
    """The problems of ``condition`` (a condition or a key that compiles) that would part the engines."""
    problems = literal_conversion_problems(condition)
    try:
        rewrite(condition)
    except UnsupportedSyntax as exc:
        problems.insert(0, problem_at_offset(exc.message, condition, exc.position))
    return problems


def literal_conversion_problems(condition: str) -> list[RuleProblem]:
    """A problem for each ``int``/``uint``/``double``/``duration``/``timestamp`` of a string literal that fails."""
    toks = significant(condition)
    problems = []
    for i, tok in enumerate(toks[:-3]):
        if (
            tok.kind != "ident"
            or tok.text not in _CHECKED
            or (i > 0 and toks[i - 1].text == ".")
            or toks[i + 1].text != "("
            or toks[i + 2].kind != "string"
            or toks[i + 3].text != ")"
        ):
            continue
        value = string_value(toks[i + 2].text)
        if value is None:  # bytes, or an escape the engine reports
            continue
        result = CONVERSIONS[tok.text](value)
        if isinstance(result, CELEvalError):
            message = str(result.args[0]) if result.args else f"{tok.text}() fails"
            problems.append(problem_at_offset(f"{tok.text}(): {message}", condition, toks[i + 2].start))
    return problems
