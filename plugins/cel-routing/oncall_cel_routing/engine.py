"""The CEL engines behind the router, what they must do, and how one is chosen.

Two engines implement :class:`Engine`: ``cel-expr`` (cel-expr-python, the official CEL C++
implementation: type-checked, fast) and ``cel-python`` (celpy, pure Python: the fallback
where cel-expr-python has no wheel). ``ONCALL_CEL_ENGINE`` forces one; by default the first
that imports wins.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from oncall_hookspecs import RuleProblem

log = logging.getLogger(__name__)

ENGINE_NAMES = ("cel-expr", "cel-python")


class CompileError(Exception):
    """A condition that does not compile (syntax or type errors), with what is wrong."""

    def __init__(self, problems: list[RuleProblem]) -> None:
        super().__init__("; ".join(p.message for p in problems))
        self.problems = problems


class EvaluationError(Exception):
    """A condition that failed for one alert: a missing key, a type mismatch, a non-boolean."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Engine(Protocol):
    """One CEL implementation, behind the same variables and the same answers.

    ``compile`` raises CompileError; ``evaluate`` returns whether the condition holds or
    raises EvaluationError (a non-boolean result is an error too). ``blocking`` says that
    evaluating many rules takes long enough to stall an event loop (the router then runs it
    in a worker thread). When ``batches`` is true,
    ``compile_batch`` builds one program from many conditions, which ``evaluate_batch`` runs
    in a single call: whether each holds, or None when any failed or was not a boolean (the
    caller then evaluates them one by one to learn which, and why).

    For expressions whose value is wanted (grouping keys), ``compile_value`` compiles one
    of any result type (raising CompileError) and ``value_type`` names the type the engine
    infers for it (``string``, ``list(string)``, ``dyn`` …; None when it does not
    type-check). ``evaluate_value`` returns the value as plain Python: str, int, bool,
    float, bytes, None, lists and dicts of those, datetime and timedelta for timestamps and
    durations; it raises EvaluationError when evaluation fails or the value has no plain
    form (an optional, a type).

    ``compile_walk`` builds one program that walks (condition, key) pairs in order and
    gives the first pair whose condition holds with its key's value, which
    ``evaluate_walk`` runs in a single call: ``(index, plain key value)``, ``(-1, None)``
    when no condition holds, or None when a condition reached or the key failed (the caller
    then walks them one by one to learn which, and why). ``compile_walk`` returns None when
    the engine cannot (cel-python: it costs the same per expression either way) or the
    pairs are too many for one program.
    """

    name: str
    batches: bool
    blocking: bool

    def compile(self, condition: str) -> Any: ...

    def compile_batch(self, conditions: Sequence[str]) -> Any | None: ...

    def bind(self, variables: Mapping[str, Any]) -> Any: ...

    def evaluate(self, program: Any, activation: Any) -> bool: ...

    def evaluate_batch(self, batch: Any, activation: Any) -> list[bool] | None: ...

    def compile_value(self, expression: str) -> Any: ...

    def value_type(self, program: Any) -> str | None: ...

    def evaluate_value(self, program: Any, activation: Any) -> Any: ...

    def compile_walk(self, pairs: Sequence[tuple[str, str]]) -> Any | None: ...

    def evaluate_walk(self, walk: Any, activation: Any) -> tuple[int, Any] | None: ...


def select_engine(choice: str | None = None) -> Engine:
    """The engine named by ``choice`` (``ONCALL_CEL_ENGINE``), or the best one installed.

    A forced engine that is not installed raises ImportError, and an unknown name
    ValueError: the plugin then fails to load and the failure report says why.
    """
    wanted = (choice or "").strip().lower()
    if wanted == "cel-expr":
        from .cel_expr_engine import CelExprEngine

        return CelExprEngine()
    if wanted == "cel-python":
        from .cel_python_engine import CelPythonEngine

        return CelPythonEngine()
    if wanted not in ("", "auto"):
        raise ValueError(
            f"ONCALL_CEL_ENGINE={choice!r} is not an engine; use one of: {', '.join(ENGINE_NAMES)}"
        )
    try:
        from .cel_expr_engine import CelExprEngine

        return CelExprEngine()
    except ImportError as exc:
        log.warning("cel-expr-python is not available (%s); routing with cel-python", exc)
        from .cel_python_engine import CelPythonEngine

        return CelPythonEngine()


def not_boolean(type_name: str) -> EvaluationError:
    """The error for a condition whose value is a ``type_name`` rather than a bool."""
    return EvaluationError(f"the condition evaluated to a {type_name}, not a boolean")


def problem_at(message: str, condition: str, line: int | None, column: int | None) -> RuleProblem:
    """A RuleProblem at a 1-based ``line``/``column`` (in code points) of ``condition``."""
    if line is None or column is None:
        return RuleProblem(message=message)
    lines = condition.split("\n")
    offset = sum(len(lines[i]) + 1 for i in range(min(line - 1, len(lines))))
    position = min(offset + column - 1, len(condition))
    return RuleProblem(message=message, position=position, line=line, column=column)


def problem_at_offset(message: str, condition: str, offset: int) -> RuleProblem:
    """A RuleProblem at a 0-based ``offset`` of ``condition``, with its line and column."""
    offset = max(0, min(offset, len(condition)))
    before = condition[:offset]
    line = before.count("\n") + 1
    column = offset - (before.rfind("\n") + 1) + 1
    return RuleProblem(message=message, position=offset, line=line, column=column)


def describe_problems(problems: list[RuleProblem]) -> str:
    """``problems`` as one line: ``1:5: message; 2:1: message``."""
    parts = []
    for p in problems:
        where = f"{p.line}:{p.column}: " if p.line is not None and p.column is not None else ""
        parts.append(where + p.message)
    return "; ".join(parts)
