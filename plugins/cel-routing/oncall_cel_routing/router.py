"""The ``cel`` router: ordered rules with CEL conditions, compiled once and evaluated fast.

A rule's condition is compiled once per ``(rule id, version)`` and kept (the condition text
is compared too, so an unsaved draft sharing an id is never served a stale program). With
an engine that batches, consecutive rules are also compiled into segments evaluated in one
call each; segment boundaries are chosen from the rule ids, so inserting or editing one
rule recompiles one segment rather than every segment after it.

A rule whose condition fails (a missing key, a type mismatch, a non-boolean result, a
condition that no longer compiles) does not match; the failure is in the rule's trace and
in ``decision.errors``. Nothing a condition does can make ``route`` raise.

The router is also a :class:`~oncall_hookspecs.Grouper`: ``group`` and ``validate_key``
evaluate grouping rules with the same engine and variables (:mod:`.grouping`).
"""

from __future__ import annotations

import asyncio
import threading
import zlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from operator import attrgetter
from typing import Any

from oncall_hookspecs import (
    AlertView,
    GroupingMatch,
    GroupingRule,
    RoutingDecision,
    RoutingRule,
    RuleActions,
    RuleProblem,
    RuleTrace,
    plugin_settings,
)

from .decision import DecisionBuilder
from .engine import CompileError, Engine, EvaluationError, describe_problems, select_engine
from .grouping import Grouping
from .portable import portability_problems
from .regex import literal_pattern_problems
from .variables import alert_variables

#: compiled conditions kept; the oldest go first once there are more
MAX_PROGRAMS = 50_000
#: compiled segments kept
MAX_SEGMENTS = 10_000
#: evaluation plans (one per distinct rule list) kept
MAX_PLANS = 64
#: a segment ends after a rule whose id hashes to 0 modulo this (so ~this many rules long) …
SEGMENT_SPREAD = 24
#: … and never grows beyond this many rules
MAX_SEGMENT = 64


_POSITION = attrgetter("position")


@dataclass(slots=True, eq=False)  # hashed by identity: segments are keyed by their members
class _Compiled:
    condition: str
    program: Any  # None when the condition does not compile
    error: str | None
    ends_segment: bool


class CelRouter:
    """Routes alerts with CEL rules, and groups them (a Grouper); see the plugin README."""

    name = "cel"

    def __init__(self, engine: Engine | None = None, environ: Mapping[str, str] | None = None) -> None:
        if engine is None:
            engine = select_engine(plugin_settings("cel", environ).get("engine"))
        self.engine: Engine = engine
        self._programs: dict[tuple[str, int], _Compiled] = {}
        self._segments: dict[tuple[_Compiled, ...], Any] = {}
        self._plans: dict[tuple[_Compiled, ...], list[tuple[int, int, Any]]] = {}
        self._memo: tuple[Sequence[RoutingRule], int, list[RoutingRule], list[_Compiled]] | None = None
        # cel-python's parser keeps state between calls, and its evaluations run in a
        # worker thread (see route): one routing or validation at a time.
        self._lock = threading.Lock()
        self._grouping = Grouping(engine, self._lock)

    def validate(self, condition: str) -> list[RuleProblem]:
        """The problems that keep ``condition`` from being saved; empty when it will compile."""
        if not condition.strip():
            return [RuleProblem("the condition is empty; write true to match every alert", 0, 1, 1)]
        with self._lock:
            try:
                self.engine.compile(condition)
            except CompileError as exc:
                return exc.problems
            except Exception as exc:  # noqa: BLE001 - an engine bug must not pass a rule as valid
                return [RuleProblem(f"the condition could not be checked: {type(exc).__name__}: {exc}")]
        return literal_pattern_problems(condition) + portability_problems(condition)

    async def route(self, alert: AlertView, rules: Sequence[RoutingRule], default: RuleActions) -> RoutingDecision:
        """Walk ``rules`` by position (ties keep their order) and decide where ``alert`` goes."""
        if self.engine.blocking:
            # pure-Python evaluation of many rules takes long enough to stall the event loop
            return await asyncio.to_thread(self.route_now, alert, rules, default)
        return self.route_now(alert, rules, default)

    def route_now(self, alert: AlertView, rules: Sequence[RoutingRule], default: RuleActions) -> RoutingDecision:
        """``route`` without the event loop: the same decision, computed in this thread."""
        builder = DecisionBuilder()
        add_trace = builder.decision.trace.append
        with self._lock:
            ordered, compiled = self._prepared(rules)
            try:
                activation = self.engine.bind(alert_variables(alert))
            except Exception as exc:  # noqa: BLE001 - odd alert data must still route (to the default)
                failure = f"the alert's data could not be given to CEL: {type(exc).__name__}: {exc}"
                for rule in ordered:
                    builder.failed(rule, failure)
                return builder.finish(default)
            # The hot loop: most rules miss, so a miss costs one trace entry and nothing else.
            for start, outcomes in self._outcomes(compiled, activation):
                for rule, outcome in zip(ordered[start : start + len(outcomes)], outcomes, strict=True):
                    if outcome is False:
                        add_trace(RuleTrace(rule.id, rule.name, False))
                    elif outcome is True:
                        builder.matched(rule)
                        if not rule.continue_:
                            return builder.finish(default)
                    else:
                        builder.failed(rule, outcome)
        return builder.finish(default)

    # ----------------------------------------------------------------------- grouping

    def validate_key(self, expression: str) -> list[RuleProblem]:
        """The problems that keep grouping key ``expression`` from being saved; empty when it will do."""
        return self._grouping.validate_key(expression)

    def group(self, alert: AlertView, rules: Sequence[GroupingRule]) -> GroupingMatch:
        """The grouping rule (by position) that takes ``alert`` and the key it gives; never raises."""
        return self._grouping.group(alert, rules)

    # ----------------------------------------------------------------------- compiling

    def _prepared(self, rules: Sequence[RoutingRule]) -> tuple[list[RoutingRule], list[_Compiled]]:
        """The rules in order and their programs, remembered for the same (unchanged) list.

        The core hands the same list object until the rules change (it reloads a new one), so
        sorting and looking up 1,000 programs happens once per rule change, not per alert.
        A caller that edits a list in place must pass a new one.
        """
        memo = self._memo
        if memo is not None and memo[0] is rules and memo[1] == len(rules):
            return memo[2], memo[3]
        ordered = sorted(rules, key=_POSITION)
        compiled = self._compile_all(ordered)
        self._memo = (rules, len(rules), ordered, compiled)
        return ordered, compiled

    def _compile_all(self, ordered: list[RoutingRule]) -> list[_Compiled]:
        programs = self._programs
        compiled = []
        for rule in ordered:
            key = (rule.id, rule.version)
            entry = programs.get(key)
            if entry is None or entry.condition != rule.condition:
                entry = self._compile(rule)
                _remember(programs, key, entry, MAX_PROGRAMS)
            compiled.append(entry)
        return compiled

    def _compile(self, rule: RoutingRule) -> _Compiled:
        ends = zlib.crc32(rule.id.encode("utf-8", "surrogatepass")) % SEGMENT_SPREAD == 0
        if not rule.condition.strip():
            return _Compiled(rule.condition, None, "the condition is empty", ends)
        try:
            program = self.engine.compile(rule.condition)
        except CompileError as exc:
            return _Compiled(rule.condition, None, "does not compile: " + describe_problems(exc.problems), ends)
        except Exception as exc:  # noqa: BLE001 - an engine bug is this rule's error, not a crash
            return _Compiled(rule.condition, None, f"does not compile: {type(exc).__name__}: {exc}", ends)
        return _Compiled(rule.condition, program, None, ends)

    def _plan(self, compiled: list[_Compiled]) -> list[tuple[int, int, Any]]:
        """The steps that evaluate ``compiled`` in order: (start, stop, batch program or None)."""
        key = tuple(compiled)
        plan = self._plans.get(key)
        if plan is not None:
            return plan
        plan = []
        i, n = 0, len(compiled)
        while i < n:
            j = i + 1
            if self.engine.batches and compiled[i].program is not None:
                while (
                    j < n
                    and j - i < MAX_SEGMENT
                    and compiled[j].program is not None
                    and not compiled[j - 1].ends_segment
                ):
                    j += 1
            batch = self._segment_program(key[i:j]) if j - i > 1 else None
            plan.append((i, j, batch))
            i = j
        _remember(self._plans, key, plan, MAX_PLANS)
        return plan

    def _segment_program(self, segment: tuple[_Compiled, ...]) -> Any:
        if segment in self._segments:
            return self._segments[segment]
        try:
            program = self.engine.compile_batch([entry.condition for entry in segment])
        except Exception:  # noqa: BLE001 - without a batch, the rules are evaluated one by one
            program = None
        _remember(self._segments, segment, program, MAX_SEGMENTS)
        return program

    # ----------------------------------------------------------------------- evaluating

    def _outcomes(self, compiled: list[_Compiled], activation: Any) -> Iterator[tuple[int, Sequence[bool | str]]]:
        """Each step's first rule index and outcomes: True, False, or the error's text.

        A generator, so that rules after the first (non-continue) match are never evaluated
        beyond the segment that holds it.
        """
        engine = self.engine
        for start, stop, batch in self._plan(compiled):
            if batch is not None:
                try:
                    results = engine.evaluate_batch(batch, activation)
                except Exception:  # noqa: BLE001 - one by one, each failure lands on its own rule
                    results = None
                if results is not None:
                    yield start, results
                    continue
            yield start, [self._evaluate(entry, activation) for entry in compiled[start:stop]]

    def _evaluate(self, entry: _Compiled, activation: Any) -> bool | str:
        if entry.program is None:
            return entry.error or "does not compile"
        try:
            return self.engine.evaluate(entry.program, activation)
        except EvaluationError as exc:
            return exc.message
        except Exception as exc:  # noqa: BLE001 - an engine bug is this rule's error, not a crash
            return f"{type(exc).__name__}: {exc}"


def _remember(cache: dict[Any, Any], key: Any, value: Any, limit: int) -> None:
    """Store ``value``, dropping the oldest entries beyond ``limit`` (rules rarely change)."""
    cache[key] = value
    while len(cache) > limit:
        del cache[next(iter(cache))]
