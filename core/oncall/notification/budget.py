"""The per-render budget: steps, time, and the sizes of values measured before they are built.

A render sets a ``Budget`` in ``BUDGET`` (a context variable); filters, the sandbox's
operators and calls, and loops spend from it. ``measure`` says how big a value is as text,
counting every reference it holds, in at most about as many steps as the limit it is given;
the ``check_*`` and ``take`` helpers refuse work before it starts, with a ``BudgetExceeded``
whose message a template author can act on.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from jinja2 import nodes
from jinja2.exceptions import SecurityError
from jinja2.utils import Namespace
from markupsafe import Markup

_V = TypeVar("_V")


@dataclass(frozen=True)
class RenderLimits:
    """What one part's render may spend. Generous for any real template, fatal for a hostile one."""

    time_budget_s: float = 0.25
    max_steps: int = 200_000  # loop iterations + calls + tests + filter applications + items walked
    max_range: int = 10_000
    max_string: int = 100_000  # characters in any value built by the template, counting what a list holds
    max_output: int = 100_000  # characters of one rendered part
    max_written: int = 1_000_000  # characters written anywhere in one render (output, macros, blocks, loops)



class BudgetExceeded(SecurityError):
    """The template used more time, steps or memory than its budget allows."""


# ------------------------------------------------------------------------------ the budget


class Budget:
    __slots__ = ("deadline", "limits", "max_steps", "max_written", "now", "steps", "timezone", "written")

    def __init__(self, limits: RenderLimits, now: datetime, timezone: str) -> None:
        self.limits = limits
        self.max_steps = limits.max_steps
        self.max_written = limits.max_written
        self.deadline = time.monotonic() + limits.time_budget_s
        self.steps = 0
        self.written = 0
        self.now = now
        self.timezone = timezone

    def tick(self, n: int = 1) -> None:
        self.steps += n
        if self.steps > self.max_steps:
            raise BudgetExceeded(f"template did too much work (more than {self.limits.max_steps} steps)")
        # the clock is read every 16th step (a step is microseconds), and after any bigger one
        if (n > 1 or not self.steps & 15) and time.monotonic() > self.deadline:
            raise BudgetExceeded(f"template took longer than {self.limits.time_budget_s:g}s to render")

    def size(self, value: _V) -> _V:
        if isinstance(value, (str, bytes, list, tuple, dict)) and len(value) > self.limits.max_string:
            raise BudgetExceeded(f"template built a value longer than {self.limits.max_string} items")
        return value

    def write(self, n: int) -> None:
        self.written += n
        if self.written > self.max_written:
            raise BudgetExceeded(f"template wrote more than {self.max_written} characters")

    def iterate(self, iterable: Iterable[Any], literal: int = 0) -> Iterator[Any]:
        """Each item a step; ``literal``: the characters of template text the loop body writes each time."""
        for item in iterable:
            self.tick()
            if literal:
                self.write(literal)
            yield item


BUDGET: ContextVar[Budget | None] = ContextVar("oncall_render_budget", default=None)


def current() -> Budget:
    """The running render's budget; outside a render, ``nodes.Impossible`` (Jinja then won't fold)."""
    budget = BUDGET.get()
    if budget is None:
        # Outside a render (Jinja folding constants at compile time): refuse, and the compiler
        # leaves the expression to run under a budget.
        raise nodes.Impossible()
    return budget


# ------------------------------------------------------------------------------ sizes

_NAMESPACE_ATTRS = "_Namespace__attrs"


def measure(value: Any, limit: int) -> int:
    """About how many characters ``value`` is as text, counting every reference it holds.

    A list holding one string a thousand times is a thousand strings: that is what printing,
    joining, comparing or sorting it costs. Counting stops once past ``limit`` (the answer is
    then some number above it), so measuring costs at most about ``limit`` steps.
    """
    kind = type(value)
    if kind is str or kind is Markup or kind is bytes:
        return len(value)
    total = 0
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, (str, bytes, bytearray)):
            total += len(v) + 2
        elif isinstance(v, (int, float)) or v is None:
            total += v.bit_length() // 3 + 2 if type(v) is int else 8
        elif isinstance(v, Mapping):
            total += 2 + 2 * len(v)
            if total <= limit:
                for k, x in v.items():
                    stack.append(k)
                    stack.append(x)
        elif isinstance(v, (list, tuple, set, frozenset)):
            total += 2 + len(v)
            if total <= limit:
                stack.extend(v)
        elif isinstance(v, range):
            total += 8 * len(v)
        elif isinstance(v, Namespace):
            stack.append(object.__getattribute__(v, _NAMESPACE_ATTRS))
        else:  # undefined, loop, macro, generator …: printed as a short name
            total += 8
        if total > limit:
            return total
    return total


def _kept(item: Any) -> int:
    """What a list keeps for one item: a string its length, a container its items (by reference)."""
    if isinstance(item, (str, bytes, list, tuple, dict, set, frozenset)):
        return len(item) or 1
    return 1


def take(budget: Budget, what: str, value: Any) -> list[Any]:
    """Walk ``value`` into a list a step per item, refusing before it would hold more than the limit."""
    limit = budget.limits.max_string
    if isinstance(value, str):
        if len(value) > limit:
            raise BudgetExceeded(f"{what} would hold more than {limit} characters")
        return list(value)
    if isinstance(value, Mapping):
        value = value.keys()
    kept = 0
    if type(value) is list or type(value) is tuple:
        budget.tick(len(value))  # walking a list in hand costs nothing per item but the count
        for item in value:
            kept += _kept(item)
        if kept > limit:
            raise BudgetExceeded(f"{what} would hold more than {limit} characters")
        return list(value)
    items = []
    for item in value:  # a generator (map, select): each item may cost, so each is a step
        budget.tick()
        kept += _kept(item)
        if kept > limit:
            raise BudgetExceeded(f"{what} would hold more than {limit} characters")
        items.append(item)
    return items


def check_keys(budget: Budget, what: str, keys: Iterable[Any]) -> None:
    """Sorting, comparing or hashing keys costs what they hold: refuse before more than the limit."""
    limit = budget.limits.max_string
    total = 0
    for key in keys:
        total += len(key) if type(key) is str else measure(key, limit - total + 1)
        if total > limit:
            raise BudgetExceeded(f"{what} would compare more than {limit} characters")


def check_text(budget: Budget, what: str, value: Any) -> None:
    """A value about to become text: a container is measured first (its text may be far bigger)."""
    if type(value) is not str and measure(value, budget.limits.max_string) > budget.limits.max_string:
        raise BudgetExceeded(f"{what} would make text longer than {budget.limits.max_string} characters")


def cap_int(name: str, n: Any) -> None:
    if isinstance(n, int) and abs(n) > current().limits.max_string:
        raise BudgetExceeded(f"{name} argument too large")


def refuse_if(over: bool, what: str) -> None:
    if over:
        raise BudgetExceeded(f"{what} would build a value too long")
