"""The cel-python engine: celpy, pure Python, the fallback where cel-expr-python has no wheel.

celpy parses but does not type-check, so a type error only shows when a rule is evaluated
(as an error on that rule, never a match). Where celpy departs from the CEL specification
as cel-expr implements it, the functions below put it back in line, so both engines give
the same answers (the differential test holds them to it):

- equality across types is false, not an error (``annotations.n == "5"``), and numbers
  compare by value (``1 == 1.0``); ``in`` uses the same equality;
- ordering compares numbers of any type by value, and nothing else across types
  (``true < 1`` is an error, as in CEL);
- arithmetic never mixes types (``annotations.n + 1.5`` with an int ``n`` is an error, as in
  CEL: celpy would otherwise compute some mixtures and refuse others);
- ``matches`` is :func:`.regex.matches` (RE2, as for cel-expr);
- the optional syntax (``labels.?team.orValue("")``), ``has()`` on a failing operand,
  the three-argument ``map`` and the escapes ``\\?`` and ``\\``` via :mod:`.celpy_syntax`;
- indexing (``_[_]``): no negative list indexes, an integral double or a uint is an index,
  map keys are found by numeric value; map literals take only CEL's key types;
- the conversions ``int``, ``uint``, ``double``, ``duration``, ``timestamp``, ``string`` and
  ``bool`` (:mod:`.celpy_conversions`). As type names (``type(x) == int``) those names still
  mean celpy's types: they are declared to the environment as such;
- an error inside a macro (``[0, 1].map(x, 1 / x)``) is a value that ``||`` and ``&&`` can
  absorb; celpy raised it through the whole expression (:class:`_Evaluator`).
"""

from __future__ import annotations

import operator
from collections.abc import Mapping, Sequence
from typing import Any

import celpy
import lark
from celpy import celtypes
from celpy.adapter import json_to_cel
from celpy.celparser import CELParseError
from celpy.evaluation import CELEvalError, Evaluator

from oncall_hookspecs import RuleProblem

from . import regex
from .celpy_conversions import CONVERSIONS, TYPE_NAMES
from .celpy_syntax import Rewritten, UnsupportedSyntax, rewrite
from .engine import CompileError, EvaluationError, not_boolean, problem_at_offset

_MISSING = object()


class _Optional:
    """A CEL ``optional_type`` value: a value, or none."""

    __slots__ = ("value",)

    def __init__(self, value: Any = _MISSING) -> None:
        self.value = value

    @property
    def present(self) -> bool:
        return self.value is not _MISSING


_NONE = _Optional()


class _Evaluator(Evaluator):
    """celpy's interpreter, with map literals that keep to CEL's key types and macros whose errors are values."""

    def sub_evaluator(self, ast: lark.Tree[Any]) -> Evaluator:
        return _Evaluator(ast, activation=self.activation)

    def member_dot_arg(self, tree: lark.Tree[Any]) -> Any:
        # a macro whose step fails raises out of celpy's macro code; as a value, the error is
        # absorbed by || and && as CEL says ([0, 1].map(x, 1 / x).size() == 2 || true)
        try:
            return super().member_dot_arg(tree)
        except CELEvalError as exc:
            return exc

    def mapinits(self, tree: lark.Tree[Any]) -> Any:
        # CEL map keys are int, uint, bool or string: {0.75: 1} is an error (celpy builds it);
        # an entry that fails makes the map fail (celpy keeps the error inside)
        items: list[Any] = self.visit_children(tree)
        for item in items:
            if isinstance(item, CELEvalError):
                return item
        result = celtypes.MapType()
        for key, value in zip(items[0::2], items[1::2], strict=True):
            if _kind(key) not in ("bool", "string") and _number_type(key) not in (celtypes.IntType, celtypes.UintType):
                return CELEvalError(f"invalid map key type: {_type_name(key)}")
            if any(_kind(key) == _kind(k) and _number_type(key) is _number_type(k) and _equal(key, k) for k in result):
                return CELEvalError(f"duplicate map key {_plain(key)!r}")
            result[key] = value
        return result


class _Runner(celpy.InterpretedRunner):
    """celpy's interpreted runner, with :class:`_Evaluator`."""

    def evaluate(self, context: Any) -> Any:
        return _Evaluator(ast=self.ast, activation=self.new_activation()).evaluate(context)


class CelPythonEngine:
    """Compiles and evaluates conditions with celpy's interpreter."""

    name = "cel-python"
    batches = False
    blocking = True

    def __init__(self) -> None:
        # the conversions are replaced in _FUNCTIONS; as names (type(x) == int) they stay types
        self._env = celpy.Environment(annotations=dict(TYPE_NAMES), runner_class=_Runner)

    def compile(self, condition: str) -> Any:
        try:
            rewritten = rewrite(condition)
        except UnsupportedSyntax as exc:
            raise CompileError([problem_at_offset(exc.message, condition, exc.position)]) from None
        try:
            ast = self._env.compile(rewritten.text)
        except CELParseError as exc:
            raise CompileError([_syntax_problem(exc, rewritten, condition)]) from None
        return self._env.program(ast, functions=_FUNCTIONS)

    def compile_batch(self, conditions: Sequence[str]) -> Any | None:
        return None  # the interpreter costs the same per condition either way

    def bind(self, variables: Mapping[str, Any]) -> Any:
        return {name: json_to_cel(value) for name, value in variables.items()}

    def evaluate(self, program: Any, activation: Any) -> bool:
        try:
            result = program.evaluate(activation)
        except CELEvalError as exc:
            raise EvaluationError(_eval_message(exc)) from None
        except Exception as exc:  # noqa: BLE001 - an interpreter bug must not stop routing
            raise EvaluationError(f"cel-python failed: {type(exc).__name__}: {exc}") from None
        if isinstance(result, (celtypes.BoolType, bool)):
            return bool(result)
        raise not_boolean(_type_name(result))

    def evaluate_batch(self, batch: Any, activation: Any) -> list[bool] | None:
        return None

    def compile_value(self, expression: str) -> Any:
        return self.compile(expression)  # celpy does not type-check: any expression is a value

    def value_type(self, program: Any) -> str | None:
        return None

    def compile_walk(self, pairs: Sequence[tuple[str, str]]) -> Any | None:
        return None  # the interpreter costs the same per expression either way

    def evaluate_walk(self, walk: Any, activation: Any) -> tuple[int, Any] | None:
        return None

    def evaluate_value(self, program: Any, activation: Any) -> Any:
        try:
            result = program.evaluate(activation)
        except CELEvalError as exc:
            raise EvaluationError(_eval_message(exc)) from None
        except Exception as exc:  # noqa: BLE001 - an interpreter bug must not stop grouping
            raise EvaluationError(f"cel-python failed: {type(exc).__name__}: {exc}") from None
        return _plain(result)


def _syntax_problem(exc: CELParseError, rewritten: Rewritten, condition: str) -> RuleProblem:
    cause = exc.__context__  # the lark exception celpy translated
    token = getattr(cause, "token", None)
    char = getattr(cause, "char", None)
    at_end = token is not None and getattr(token, "type", "") == "$END"
    if at_end:
        message = "syntax error: unexpected end of the expression"
    elif token is not None:
        message = f"syntax error: unexpected {str(token)!r}"
    elif char is not None:
        message = f"syntax error: unexpected character {char!r}"
    else:
        message = "syntax error"
    if at_end:
        return problem_at_offset(message, condition, len(condition))
    if exc.line is None or exc.column is None:
        return RuleProblem(message=message)
    lines = rewritten.text.split("\n")
    offset = sum(len(lines[i]) + 1 for i in range(min(exc.line - 1, len(lines)))) + exc.column - 1
    return problem_at_offset(message, condition, rewritten.original_offset(offset))


def _eval_message(exc: CELEvalError) -> str:
    message = str(exc.args[0]) if exc.args else "evaluation error"
    # celpy appends a dump of the whole activation to undeclared references
    return message.split(" (in activation", 1)[0]


def _plain(value: Any) -> Any:
    """A celpy value as plain Python; an error held inside a list or map is raised here."""
    if value is None:
        return None
    if isinstance(value, CELEvalError):
        raise EvaluationError(_eval_message(value))
    if isinstance(value, (celtypes.BoolType, bool)):  # before int: BoolType is an int
        return bool(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, bytes):
        return bytes(value)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {_plain(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (celtypes.TimestampType, celtypes.DurationType)):
        return value  # a datetime and a timedelta
    raise EvaluationError(f"the expression's value ({_type_name(value)}) has no plain value")


def _type_name(value: Any) -> str:
    kind = _kind(value)
    return {"number": type(value).__name__.removesuffix("Type").lower(), "null": "null_type"}.get(kind, kind)


# --------------------------------------------------------------------------- equality


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, (celtypes.BoolType, bool)):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bytes):
        return "bytes"
    if isinstance(value, list):
        return "list"
    if isinstance(value, dict):
        return "map"
    if isinstance(value, _Optional):
        return "optional_type"
    if isinstance(value, celtypes.TimestampType):
        return "timestamp"
    if isinstance(value, celtypes.DurationType):
        return "duration"
    return type(value).__name__


def _plain_number(value: Any) -> int | float:
    return float(value) if isinstance(value, float) else int(value)


def _equal(a: Any, b: Any) -> bool:
    """CEL's heterogeneous equality: different kinds are unequal; numbers compare by value."""
    kind = _kind(a)
    if kind != _kind(b):
        return False
    if kind == "bool":
        return bool(a) == bool(b)
    if kind == "number":
        return _plain_number(a) == _plain_number(b)
    if kind == "list":
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b, strict=True))
    if kind == "map":
        return len(a) == len(b) and all(k in b and _equal(v, b[k]) for k, v in a.items())
    if kind == "optional_type":
        return a.present == b.present and (not a.present or _equal(a.value, b.value))
    return bool(a == b)


def _errors(a: Any, b: Any) -> CELEvalError | None:
    if isinstance(a, CELEvalError):
        return a
    if isinstance(b, CELEvalError):
        return b
    return None


def _eq(a: Any, b: Any) -> Any:
    error = _errors(a, b)
    return error if error is not None else celtypes.BoolType(_equal(a, b))


def _ne(a: Any, b: Any) -> Any:
    result = _eq(a, b)
    return result if isinstance(result, CELEvalError) else celtypes.BoolType(not result)


def _in(item: Any, container: Any) -> Any:
    error = _errors(item, container)
    if error is not None:
        return error
    if isinstance(container, list):
        return celtypes.BoolType(any(_equal(item, x) for x in container))
    if isinstance(container, dict):
        if isinstance(item, str) and not isinstance(item, bool):
            return celtypes.BoolType(item in container)
        return celtypes.BoolType(any(_equal(item, k) for k in container))
    raise TypeError(f"no such overload: {_type_name(item)} in {_type_name(container)}")


# --------------------------------------------------------------------------- arithmetic and order


def _number_type(value: Any) -> type | None:
    """IntType, UintType or DoubleType for a CEL number; None for anything else (bools too)."""
    if isinstance(value, (celtypes.BoolType, bool)):
        return None
    if isinstance(value, celtypes.UintType):
        return celtypes.UintType
    if isinstance(value, int):
        return celtypes.IntType
    if isinstance(value, float):
        return celtypes.DoubleType
    return None


# the operand kinds each arithmetic operator accepts besides two numbers of the same type
_ARITHMETIC_KINDS: dict[str, set[tuple[str, str]]] = {
    "+": {("string", "string"), ("bytes", "bytes"), ("list", "list"), ("timestamp", "duration"),
          ("duration", "timestamp"), ("duration", "duration")},
    "-": {("timestamp", "timestamp"), ("timestamp", "duration"), ("duration", "duration")},
    "*": set(),
    "/": set(),
    "%": set(),
}


def _arithmetic(symbol: str, op: Any) -> Any:
    allowed = _ARITHMETIC_KINDS[symbol]

    def apply(a: Any, b: Any) -> Any:
        error = _errors(a, b)
        if error is not None:
            return error
        number = _number_type(a)
        same_numbers = number is not None and number is _number_type(b)
        if not same_numbers and (_kind(a), _kind(b)) not in allowed:
            raise TypeError(f"no such overload: {_type_name(a)} {symbol} {_type_name(b)}")
        if symbol == "%" and number is celtypes.DoubleType:
            raise TypeError("no such overload: double % double")
        return op(a, b)

    return apply


def _negate(a: Any) -> Any:
    if isinstance(a, CELEvalError):
        return a
    if _number_type(a) not in (celtypes.IntType, celtypes.DoubleType) and _kind(a) != "duration":
        raise TypeError(f"no such overload: -{_type_name(a)}")
    return operator.neg(a)


_ORDERED_KINDS = {"bool", "string", "bytes", "timestamp", "duration"}


def _ordering(op: Any) -> Any:
    def compare(a: Any, b: Any) -> Any:
        error = _errors(a, b)
        if error is not None:
            return error
        if _number_type(a) is not None and _number_type(b) is not None:
            # Python compares int with float exactly, as CEL does
            return celtypes.BoolType(op(_plain_number(a), _plain_number(b)))
        kind = _kind(a)
        if kind != _kind(b) or kind not in _ORDERED_KINDS:
            raise TypeError(f"no such overload: {_type_name(a)} < {_type_name(b)}")
        if kind == "bool":
            return celtypes.BoolType(op(bool(a), bool(b)))
        return celtypes.BoolType(op(a, b))

    return compare


# --------------------------------------------------------------------------- regular expressions


def _matches(text: Any, pattern: Any) -> Any:
    if not isinstance(text, str) or not isinstance(pattern, str):
        raise TypeError("no such overload: matches needs strings")
    try:
        return celtypes.BoolType(regex.matches(str(text), str(pattern)))
    except regex.RegexError as exc:
        return CELEvalError(str(exc))


# --------------------------------------------------------------------------- optional values


def _select(target: Any, key: Any) -> _Optional:
    if isinstance(target, _Optional):
        if not target.present:
            return _NONE
        target = target.value
    if isinstance(target, dict):
        return _Optional(target[key]) if key in target else _NONE
    if isinstance(target, list) and _kind(key) == "number":
        index = int(key)
        if index != key:
            raise TypeError("no such overload: list index must be an integer")
        return _Optional(target[index]) if 0 <= index < len(target) else _NONE
    raise TypeError(f"no such overload: optional selection on {_type_name(target)}")


def _same_key(a: Any, b: Any) -> bool:
    """Whether map keys ``a`` and ``b`` are the same key: numbers by value, bools apart from numbers."""
    return _kind(a) == _kind(b) and _equal(a, b)


def _index(target: Any, key: Any) -> Any:
    """``target[key]`` as CEL does it: no negative list indexes, map keys found by numeric value."""
    error = _errors(target, key)
    if error is not None:
        return error
    if isinstance(target, list):
        if _number_type(key) is None:
            return CELEvalError(f"no such overload: list[{_type_name(key)}]")
        index = _plain_number(key)
        if isinstance(index, float):
            if not index.is_integer():
                return CELEvalError(f"invalid list index {index!r}: not an integer")
            index = int(index)
        if not 0 <= index < len(target):
            return CELEvalError(f"index out of range: index={index} size={len(target)}")
        return target[index]
    if isinstance(target, dict):
        if _kind(key) == "string":
            if key in target:
                return target[key]
        elif _kind(key) == "bool" or _number_type(key) is not None:
            for k, v in target.items():
                if _same_key(key, k):
                    return v
        else:
            return CELEvalError(f"no such overload: map[{_type_name(key)}]")
        return CELEvalError(f"no such key: {_plain(key)!r}")
    return CELEvalError(f"no such overload: {_type_name(target)}[{_type_name(key)}]")


def _bool_only(value: Any) -> Any:
    """A macro's predicate as CEL wants it: a bool, else an error (celpy takes any truthy value)."""
    if isinstance(value, CELEvalError) or _kind(value) == "bool":
        return value
    return CELEvalError(f"no such overload: the predicate must be a bool, not a {_type_name(value)}")


def _has(target: Any, name: Any) -> Any:
    if isinstance(target, dict):
        return celtypes.BoolType(celtypes.StringType(name) in target)
    raise TypeError(f"no such overload: has() needs a map, got {_type_name(target)}")


def _opt_select(target: Any, name: Any) -> Any:
    return _select(target, celtypes.StringType(name))


def _opt_index(target: Any, key: Any) -> Any:
    return _select(target, key)


def _require_optional(value: Any) -> _Optional:
    if not isinstance(value, _Optional):
        raise TypeError(f"no such overload: expected an optional, got {_type_name(value)}")
    return value


def _or_value(opt: Any, default: Any) -> Any:
    opt = _require_optional(opt)
    return opt.value if opt.present else default


def _has_value(opt: Any) -> Any:
    return celtypes.BoolType(_require_optional(opt).present)


def _value(opt: Any) -> Any:
    opt = _require_optional(opt)
    if not opt.present:
        return CELEvalError("optional.none() dereference")
    return opt.value


def _or(opt: Any, other: Any) -> Any:
    opt = _require_optional(opt)
    return opt if opt.present else _require_optional(other)


def _of_non_zero(value: Any) -> _Optional:
    zero = value is None or (not isinstance(value, _Optional) and not value and _kind(value) != "timestamp")
    return _NONE if zero else _Optional(value)


_FUNCTIONS: dict[str, Any] = {
    "_==_": _eq,
    "_!=_": _ne,
    "_in_": _in,
    "_[_]": _index,
    "_<_": _ordering(operator.lt),
    "_<=_": _ordering(operator.le),
    "_>_": _ordering(operator.gt),
    "_>=_": _ordering(operator.ge),
    "_+_": _arithmetic("+", operator.add),
    "_-_": _arithmetic("-", operator.sub),
    "_*_": _arithmetic("*", operator.mul),
    "_/_": _arithmetic("/", operator.truediv),
    "_%_": _arithmetic("%", operator.mod),
    "-_": _negate,
    "_has": _has,
    "_bool_only": _bool_only,
    "matches": _matches,
    "_opt_select": _opt_select,
    "_opt_index": _opt_index,
    "_opt_of": _Optional,
    "_opt_none": lambda: _NONE,
    "_opt_of_non_zero": _of_non_zero,
    "orValue": _or_value,
    "hasValue": _has_value,
    "value": _value,
    "or": _or,
    **CONVERSIONS,
}
