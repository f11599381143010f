"""The cel-expr engine: cel-expr-python, the official CEL C++ implementation.

Conditions are parsed and type-checked against declared variables, so ``labels.x + 1`` or
``severity > 3`` is refused when the rule is saved. The optional extension is on
(``labels.?team.orValue("")``). Each evaluation crosses from Python into C++ once, and that
crossing costs more than a simple condition does, so many conditions are also compiled into
one list expression (``compile_batch``) and evaluated in one call, and grouping rules into
one conditional chain that stops at the first rule taking the alert (``compile_walk``).

``matches`` calls are renamed to ``__re2__`` (same length, so positions hold) before
compiling: the built-in recompiles its pattern on every evaluation and cannot be replaced
under its own name, while ``__re2__`` is :func:`.regex.matches`, which compiles each
pattern once. Messages name ``matches`` again.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from cel_expr_python import cel
from cel_expr_python.ext import ext_optional

from oncall_hookspecs import RuleProblem

from .engine import CompileError, EvaluationError, not_boolean, problem_at
from .lexer import significant
from .regex import matches
from .variables import STRING_VARIABLES

_REGEX_ALIAS = "__re2__"
assert len(_REGEX_ALIAS) == len("matches")  # so error positions need no mapping

# "ERROR: <input>:2:13: undeclared reference to 'foo' (in container '')"
_ERROR_LINE = re.compile(r"ERROR: <input>:(\d+):(\d+): (.*)")
# "NOT_FOUND: Key not found in map : "x"" -> the part after the absl status code
_STATUS_PREFIX = re.compile(r"^[A-Z_]+: ")
_STATUS_SUFFIX = re.compile(r" \[[A-Z_]+\]$")


class CelExprEngine:
    """Compiles and evaluates conditions with cel-expr-python."""

    name = "cel-expr"
    batches = True
    blocking = False

    def __init__(self) -> None:
        string = cel.Type.STRING
        variables = {
            "labels": cel.Type.Map(string, string),
            "annotations": cel.Type.Map(string, cel.Type.DYN),
            **{name: string for name in STRING_VARIABLES},
        }
        boolean = cel.Type.BOOL
        regex = cel.FunctionDecl(
            _REGEX_ALIAS,
            [
                cel.Overload(f"string_{_REGEX_ALIAS}_string", boolean, [string, string], is_member=True, impl=matches),
                cel.Overload(f"{_REGEX_ALIAS}_string_string", boolean, [string, string], impl=matches),
            ],
        )
        self._env = cel.NewEnv(
            variables=variables, extensions=[ext_optional.ExtOptional()], functions=[regex]
        )
        self._bool = cel.Type.BOOL
        self._dyn = cel.Type.DYN
        self._error = cel.Type.ERROR

    def compile(self, condition: str) -> Any:
        try:
            program = self._env.compile(_alias_regex(condition))
        except RuntimeError as exc:  # the binding raises RuntimeError for compile failures
            raise CompileError(_problems(str(exc), condition)) from None
        result = program.return_type()
        if result != self._bool and result != self._dyn:
            raise CompileError(
                [RuleProblem(f"the condition must be a boolean expression; it is a {_type_name(result)}")]
            )
        return program

    def compile_batch(self, conditions: Sequence[str]) -> Any | None:
        # One condition per line, each in parentheses: a trailing // comment in one
        # condition ends at its line instead of swallowing the next.
        source = "[\n" + "\n,\n".join(f"({_alias_regex(c)}\n)" for c in conditions) + "\n]"
        try:
            return self._env.compile(source)
        except RuntimeError:
            return None  # e.g. beyond the parser's size limits: evaluate one by one

    def bind(self, variables: Mapping[str, Any]) -> Any:
        return self._env.Activation(dict(variables))

    def evaluate(self, program: Any, activation: Any) -> bool:
        try:
            value = program.eval(activation)
            kind = value.type()
            if kind == self._bool:
                return bool(value.value())
            if kind == self._error:
                raise EvaluationError(_clean(str(value.value())))
        except (RuntimeError, TypeError, ValueError) as exc:
            raise EvaluationError(_clean(str(exc))) from None
        raise not_boolean(_type_name(kind))

    def evaluate_batch(self, batch: Any, activation: Any) -> list[bool] | None:
        try:
            value = batch.eval(activation)
            if value.type() == self._error:
                return None
            results = value.plain_value()
        except (RuntimeError, TypeError, ValueError):
            return None  # e.g. a value Python cannot hold (an optional): one by one
        if set(map(type, results)) <= {bool}:  # by type: 1 == True, yet a number is no match
            booleans: list[bool] = results
            return booleans
        return None  # a non-boolean: evaluating one by one names its CEL type

    def compile_value(self, expression: str) -> Any:
        try:
            return self._env.compile(_alias_regex(expression))
        except RuntimeError as exc:
            raise CompileError(_problems(str(exc), expression)) from None

    def value_type(self, program: Any) -> str | None:
        return _type_text(program.return_type())

    def evaluate_value(self, program: Any, activation: Any) -> Any:
        try:
            value = program.eval(activation)
        except (RuntimeError, TypeError, ValueError) as exc:
            raise EvaluationError(_clean(str(exc))) from None
        kind = value.type()
        if kind == self._error:
            raise EvaluationError(_clean(str(value.value())))
        try:
            plain = value.plain_value()
        except (RuntimeError, TypeError, ValueError):  # what Python cannot hold: an optional, a type
            raise EvaluationError(f"the expression's value ({_type_text(kind)}) has no plain value") from None
        return _bytes_as_bytes(plain)

    def compile_walk(self, pairs: Sequence[tuple[str, str]]) -> Any | None:
        # c0 ? [0, k0] : c1 ? [1, k1] : … : [-1]. CEL's conditional evaluates only the branch
        # taken, so conditions after the first that holds, and every other key, are never
        # evaluated; an error in one that is fails the whole walk. Each expression in
        # parentheses with its own line end, so a trailing // comment cannot swallow the rest.
        arms = [f"({_alias_regex(c)}\n) ? [{i}, ({_alias_regex(k)}\n)]" for i, (c, k) in enumerate(pairs)]
        source = "\n: ".join([*arms, "[-1]"])
        try:
            return self._env.compile(source)
        except RuntimeError:
            return None  # e.g. nested beyond the parser's depth limit: fewer pairs per walk

    def evaluate_walk(self, walk: Any, activation: Any) -> tuple[int, Any] | None:
        try:
            # one crossing: an error's plain value is its message, a walk's value is a list
            result = walk.eval(activation).plain_value()
        except (RuntimeError, TypeError, ValueError):
            return None  # e.g. a value Python cannot hold (an optional)
        if type(result) is not list or not result or type(result[0]) is not int:
            return None
        if result[0] < 0:
            return -1, None
        return result[0], _bytes_as_bytes(result[1])


def _bytes_as_bytes(value: Any) -> Any:
    """``value`` with the binding's bytearrays as bytes (immutable, like every other value)."""
    if type(value) is str:  # the usual key, and a key list's usual item: nothing to walk
        return value
    if isinstance(value, bytearray):
        return bytes(value)
    if isinstance(value, list):
        return [_bytes_as_bytes(v) for v in value]
    if isinstance(value, dict):
        return {_bytes_as_bytes(k): _bytes_as_bytes(v) for k, v in value.items()}
    return value


def _type_text(kind: Any) -> str:
    """A CEL type as the language writes it: ``list(string)``, ``map(string, dyn)``, ``optional(string)``."""
    text = str(kind.name()).lower().replace("<", "(").replace(">", ")")
    return text.replace("optional_type(", "optional(")


def _alias_regex(condition: str) -> str:
    """``condition`` with each call of ``matches`` renamed to the caching alias."""
    toks = significant(condition)
    spans = [
        tok.start
        for i, tok in enumerate(toks)
        if tok.kind == "ident" and tok.text == "matches" and i + 1 < len(toks) and toks[i + 1].text == "("
    ]
    if not spans:
        return condition
    out, pos = [], 0
    for start in spans:
        out += [condition[pos:start], _REGEX_ALIAS]
        pos = start + len(_REGEX_ALIAS)
    out.append(condition[pos:])
    return "".join(out)


def _type_name(kind: Any) -> str:
    return str(kind.name()).lower()


def _clean(message: str) -> str:
    message = _STATUS_SUFFIX.sub("", message.strip()).replace(_REGEX_ALIAS, "matches")
    return _STATUS_PREFIX.sub("", message)


def _problems(message: str, condition: str) -> list[RuleProblem]:
    """RuleProblems from the binding's compile error text, one per reported error."""
    problems = [
        problem_at(_clean(m.group(3)), condition, int(m.group(1)), int(m.group(2)))
        for m in _ERROR_LINE.finditer(message)
    ]
    return problems or [RuleProblem(_clean(message))]
