"""Grouping rules on the CEL engines: which rule takes an alert, and the key that groups it.

The router's :class:`~oncall_hookspecs.Grouper` capability (``CelRouter.group`` and
``CelRouter.validate_key``) is this module. A rule's condition and key are compiled once
per ``(rule id, version)`` and kept; the texts are compared too, so a draft sharing an id
and version is never served a stale program. On cel-expr, runs of up to MAX_WALK rules
are also compiled into one program that walks them (``c0 ? [0, k0] : c1 ? [1, k1] : …``),
evaluated in one call; a run in which a condition or the key fails, or whose key is
unusable, is walked again one rule at a time, so each failure lands on its own rule.

``group`` runs on the ingest path for every new alert, on the event loop. Rules that are
plain lookups (``true`` or ``has(labels.x)``, keys such as ``[labels.alertname,
labels.cluster]``) are read in Python where the answer is certain (:mod:`.direct`);
otherwise only the variables the rules name are built and bound, once per call, and only
the key of a rule whose condition holds is evaluated. Nothing here can make it raise.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from operator import attrgetter
from typing import Any

from oncall_hookspecs import AlertView, GroupingMatch, GroupingRule, RuleProblem, RuleTrace

from .decision import MAX_ERROR_CHARS
from .direct import DirectRule, direct_match, direct_rule
from .engine import CompileError, Engine, EvaluationError, describe_problems, problem_at_offset
from .lexer import significant
from .portable import portability_problems
from .regex import literal_pattern_problems
from .variables import VARIABLES, alert_variables

#: compiled grouping rules kept; the oldest go first once there are more
MAX_PROGRAMS = 10_000
#: walk programs kept, and plans (one per distinct rule list)
MAX_WALKS = 1_000
MAX_PLANS = 64
#: the most rules one program walks (CEL's parser nests at most 32 deep: each rule is a level)
MAX_WALK = 16

#: the result types (as the type-checking engine names them) that can be a key; a ``dyn`` is
#: checked when evaluated, as is ``list(dyn)``'s content
KEY_TYPES = frozenset({"string", "list(string)", "list(dyn)", "dyn"})

_POSITION = attrgetter("position")
#: how json.dumps(…, ensure_ascii=False) writes a string (the C function it uses)
_JSON_STRING = json.encoder.encode_basestring


@dataclass(slots=True, eq=False)  # hashed by identity: walks and plans are keyed by their members
class _Compiled:
    condition: str
    key: str
    condition_program: Any  # None when the condition does not compile (condition_error says why)
    key_program: Any  # None when the key does not compile (key_error says why)
    condition_error: str | None
    key_error: str | None
    direct: DirectRule | None  # the rule read in Python (see .direct), when it is plain lookups
    variables: frozenset[str]  # the variables its condition and key name


@dataclass(slots=True)
class _Plan:
    """How one list of compiled rules is walked, and what of an alert it needs."""

    steps: list[tuple[int, int, Any]]  # (start, stop, one program walking them, or None)
    direct: list[DirectRule | None] | None  # every rule's direct reading, or None when one has none
    variables: tuple[str, ...]  # the variables any of the rules names


class KeyProblem(Exception):
    """A key value that cannot group alerts: empty, or of a type a key cannot have."""


def canonical_key(value: Any) -> str:
    """The key's canonical text: a string as is, a list as compact JSON of its items' strings.

    Integers and booleans in a list become their CEL string form (``1`` → ``"1"``,
    ``true`` → ``"true"``). Raises KeyProblem for an empty string, an empty list, a list
    holding anything else, and a value that is neither a string nor a list.
    """
    if isinstance(value, str):
        if not value:
            raise KeyProblem("the key is an empty string")
        return value
    if isinstance(value, list):
        if not value:
            raise KeyProblem("the key is an empty list")
        if all(type(item) is str for item in value):  # the usual list: labels
            return _json_list(value)
        items = []
        for i, item in enumerate(value):
            if isinstance(item, str):
                items.append(item)
            elif isinstance(item, bool):  # before int: a bool is an int in Python
                items.append("true" if item else "false")
            elif isinstance(item, int):
                items.append(str(item))
            else:
                raise KeyProblem(
                    f"the key's item {i + 1} is {_a(_kind(item))}; a key list holds strings, integers and booleans"
                )
        return _json_list(items)
    raise KeyProblem(f"the key is {_a(_kind(value))}; a key is a string or a list")


def _json_list(items: list[str]) -> str:
    """``json.dumps(items, ensure_ascii=False, separators=(",", ":"))``, a few µs faster: no encoder per call."""
    return "[" + ",".join(map(_JSON_STRING, items)) + "]"


class Grouping:
    """Evaluates grouping rules with one engine; the router's Grouper methods delegate here."""

    def __init__(self, engine: Engine, compile_lock: threading.Lock) -> None:
        self.engine = engine
        # the router's lock: cel-python's parser keeps state between calls, so compiling is
        # one at a time across routing, validation and grouping. Evaluating takes only this
        # module's lock, so grouping never waits for a routing walk in a worker thread.
        self._compile_lock = compile_lock
        self._lock = threading.Lock()
        self._programs: dict[tuple[str, int], _Compiled] = {}
        self._walk_programs: dict[tuple[_Compiled, ...], Any] = {}
        self._plans: dict[tuple[_Compiled, ...], _Plan] = {}
        #: read plain rules in Python (see .direct); off only to check it against the engine
        self.direct = True

    # ----------------------------------------------------------------------- validation

    def validate_key(self, expression: str) -> list[RuleProblem]:
        """The problems that keep key ``expression`` from being saved; empty when it will do."""
        if not expression.strip():
            return [RuleProblem("the key is empty; write e.g. labels.alertname or [labels.alertname, labels.cluster]",
                                0, 1, 1)]
        with self._compile_lock:
            try:
                program = self.engine.compile_value(expression)
                kind = self.engine.value_type(program)
            except CompileError as exc:
                return exc.problems
            except Exception as exc:  # noqa: BLE001 - an engine bug must not pass a key as valid
                return [RuleProblem(f"the key could not be checked: {type(exc).__name__}: {exc}")]
        if kind is not None and kind not in KEY_TYPES:
            toks = significant(expression)
            return [problem_at_offset(f"the key must be a string or a list of strings; it is {_a(kind)}",
                                      expression, toks[0].start if toks else 0)]
        return literal_pattern_problems(expression) + portability_problems(expression)

    # ----------------------------------------------------------------------- grouping

    def group(self, alert: AlertView, rules: Sequence[GroupingRule]) -> GroupingMatch:
        """The first rule (by position) whose condition holds and whose key is usable, and that key."""
        match = GroupingMatch()
        trace = match.trace
        try:
            ordered = sorted(rules, key=_POSITION)
            with self._lock:
                entries = [self._compiled(rule) for rule in ordered]
                plan = self._plan(entries)
            if plan.direct is not None and self.direct:
                found = direct_match(alert, ordered, plan.direct)
                if found is not None:
                    return found
            try:
                activation = self.engine.bind(alert_variables(alert, plan.variables))
            except Exception as exc:  # noqa: BLE001 - odd alert data: no rule takes it, and it says why
                failure = _short(f"the alert's data could not be given to CEL: {type(exc).__name__}: {exc}")
                trace.extend(RuleTrace(rule.id, rule.name, False, failure) for rule in ordered)
                match.errors.append(failure)
                return match
            with self._lock:
                for start, stop, walk in plan.steps:
                    found_walk = self._walk(walk, activation) if walk is not None else None
                    if found_walk is not None:  # the fast way: one call walked these rules
                        index, walked_key = found_walk
                        stop_at = stop if index < 0 else start + index
                        trace.extend(RuleTrace(rule.id, rule.name, False) for rule in ordered[start:stop_at])
                        if index < 0:
                            continue
                        rule = ordered[stop_at]
                        trace.append(RuleTrace(rule.id, rule.name, True))
                        match.rule_id, match.rule_name, match.key = rule.id, rule.name, walked_key
                        return match
                    for i in range(start, stop):  # one by one, so each failure lands on its rule
                        rule, entry = ordered[i], entries[i]
                        outcome = self._condition(entry, activation)
                        if outcome is not True:
                            trace.append(RuleTrace(rule.id, rule.name, False, outcome or None))
                            continue
                        key, error = self._key(entry, activation)
                        if key is None:
                            trace.append(RuleTrace(rule.id, rule.name, False, error))
                            match.errors.append(f"rule {rule.name!r}: {error}")
                            continue
                        trace.append(RuleTrace(rule.id, rule.name, True))
                        match.rule_id, match.rule_name, match.key = rule.id, rule.name, key
                        return match
        except Exception as exc:  # noqa: BLE001 - group never raises: no rule takes the alert
            match.rule_id = match.rule_name = match.key = None
            match.errors.append(_short(f"grouping failed: {type(exc).__name__}: {exc}"))
        return match

    # ----------------------------------------------------------------------- compiling

    def _compiled(self, rule: GroupingRule) -> _Compiled:
        key = (rule.id, rule.version)
        entry = self._programs.get(key)
        if entry is None or entry.condition != rule.condition or entry.key != rule.key:
            with self._compile_lock:
                entry = self._compile(rule)
            _remember(self._programs, key, entry, MAX_PROGRAMS)
        return entry

    def _compile(self, rule: GroupingRule) -> _Compiled:
        engine = self.engine
        condition_program = key_program = None
        condition_error = key_error = None
        if not rule.condition.strip():
            condition_error = "the condition is empty"
        else:
            try:
                condition_program = engine.compile(rule.condition)
            except CompileError as exc:
                condition_error = _short("the condition does not compile: " + describe_problems(exc.problems))
            except Exception as exc:  # noqa: BLE001 - an engine bug is this rule's error, not a crash
                condition_error = _short(f"the condition does not compile: {type(exc).__name__}: {exc}")
        if not rule.key.strip():
            key_error = "the key expression is empty"
        else:
            try:
                key_program = engine.compile_value(rule.key)
                kind = engine.value_type(key_program)
                if kind is not None and kind not in KEY_TYPES:
                    key_program = None
                    key_error = f"the key must be a string or a list of strings; it is {_a(kind)}"
            except CompileError as exc:
                key_error = _short("the key does not compile: " + describe_problems(exc.problems))
            except Exception as exc:  # noqa: BLE001 - an engine bug is this rule's error, not a crash
                key_error = _short(f"the key does not compile: {type(exc).__name__}: {exc}")
        compiled = condition_program is not None and key_program is not None
        return _Compiled(rule.condition, rule.key, condition_program, key_program, condition_error, key_error,
                         direct_rule(rule.condition, rule.key) if compiled else None,
                         _variables(rule.condition) | _variables(rule.key))

    def _plan(self, entries: list[_Compiled]) -> _Plan:
        """How ``entries`` are walked: steps of (start, stop, one program walking them, or None),
        their direct readings, and the variables they name.

        Where the engine can (cel-expr), runs of rules whose condition and key compiled (at
        most MAX_WALK, fewer where the parser's depth limit demands) are walked by one
        program in one call: crossing into the engine costs more than a simple condition
        does. Otherwise, or when that call fails, a step's rules are walked one by one.
        """
        key = tuple(entries)
        found = self._plans.get(key)
        if found is not None:
            return found
        steps: list[tuple[int, int, Any]] = []
        i, n = 0, len(entries)
        while i < n:
            j = i + 1
            if entries[i].condition_program is not None and entries[i].key_program is not None:
                while (j < n and j - i < MAX_WALK and entries[j].condition_program is not None
                       and entries[j].key_program is not None):
                    j += 1
                steps.extend(self._walks(key[i:j], i))
            else:
                steps.append((i, j, None))
            i = j
        direct = [entry.direct for entry in entries]
        names = frozenset().union(*(entry.variables for entry in entries))
        plan = _Plan(steps, direct if all(d is not None for d in direct) else None,
                     tuple(name for name in VARIABLES if name in names))
        _remember(self._plans, key, plan, MAX_PLANS)
        return plan

    def _walks(self, run: tuple[_Compiled, ...], start: int) -> list[tuple[int, int, Any]]:
        """Steps for a run of compiled rules: one walk, or halves when one program can't hold them all."""
        program = self._walk_program(run)
        if program is not None or len(run) == 1:
            return [(start, start + len(run), program)]
        half = len(run) // 2
        return self._walks(run[:half], start) + self._walks(run[half:], start + half)

    def _walk_program(self, run: tuple[_Compiled, ...]) -> Any:
        if run in self._walk_programs:
            return self._walk_programs[run]
        try:
            with self._compile_lock:
                program = self.engine.compile_walk([(entry.condition, entry.key) for entry in run])
        except Exception:  # noqa: BLE001 - without a walk program, the rules are walked one by one
            program = None
        _remember(self._walk_programs, run, program, MAX_WALKS)
        return program

    # ----------------------------------------------------------------------- evaluating

    def _walk(self, walk: Any, activation: Any) -> tuple[int, str] | None:
        """(index of the rule that takes the alert, its key), (-1, "") when none does, or None
        when a condition or the key failed or the key is unusable (then one by one, to learn why)."""
        try:
            found = self.engine.evaluate_walk(walk, activation)
        except Exception:  # noqa: BLE001 - one by one, each failure lands on its own rule
            return None
        if found is None:
            return None
        index, value = found
        if index < 0:
            return -1, ""
        try:
            return index, canonical_key(value)
        except KeyProblem:
            return None

    def _condition(self, entry: _Compiled, activation: Any) -> bool | str:
        """True, False, or why the condition failed."""
        if entry.condition_program is None:
            return entry.condition_error or "the condition does not compile"
        try:
            return self.engine.evaluate(entry.condition_program, activation)
        except EvaluationError as exc:
            return _short(exc.message)
        except Exception as exc:  # noqa: BLE001 - an engine bug is this rule's error, not a crash
            return _short(f"{type(exc).__name__}: {exc}")

    def _key(self, entry: _Compiled, activation: Any) -> tuple[str | None, str]:
        """The canonical key, or None and why there is none."""
        if entry.key_program is None:
            return None, entry.key_error or "the key does not compile"
        try:
            return canonical_key(self.engine.evaluate_value(entry.key_program, activation)), ""
        except KeyProblem as exc:
            return None, str(exc)
        except EvaluationError as exc:
            return None, _short("the key could not be evaluated: " + exc.message)
        except Exception as exc:  # noqa: BLE001 - an engine bug is this rule's error, not a crash
            return None, _short(f"the key could not be evaluated: {type(exc).__name__}: {exc}")


def _variables(expression: str) -> frozenset[str]:
    """The variables ``expression`` may name: every identifier that is one (a field or a
    macro's own variable of the same name too, which only binds one more than needed)."""
    return frozenset(t.text for t in significant(expression) if t.kind == "ident" and t.text in VARIABLES)


def _kind(value: Any) -> str:
    """The CEL type name of a plain value."""
    if value is None:
        return "null"
    for python, name in ((bool, "bool"), (str, "string"), (int, "int"), (float, "double"), (bytes, "bytes"),
                         (list, "list"), (dict, "map"), (datetime, "timestamp"), (timedelta, "duration")):
        if isinstance(value, python):
            return name
    return type(value).__name__


def _a(kind: str) -> str:
    return ("an " if kind[:1] in "aeiou" else "a ") + kind


def _short(text: str) -> str:
    """At most MAX_ERROR_CHARS, so one odd rule cannot flood an alert's timeline."""
    return text if len(text) <= MAX_ERROR_CHARS else text[: MAX_ERROR_CHARS - 1] + "…"


def _remember(cache: dict[Any, Any], key: Any, value: Any, limit: int) -> None:
    """Store ``value``, dropping the oldest entries beyond ``limit`` (rules rarely change)."""
    cache[key] = value
    while len(cache) > limit:
        del cache[next(iter(cache))]
