"""Server-side template rendering in a Jinja2 sandbox, bounded in time, size and work.

A template is untrusted code written by any team. The sandbox stops attribute walks
(``''.__class__.__mro__`` → a SecurityError, not a silent blank), and a per-render budget
stops templates that would hang or exhaust memory. The rule the budget keeps: **what one
operation would build or walk is bounded before it is built or walked**, from the sizes of
its operands — a string's length, a list's items *and what they hold* (a list of one long
string a thousand times is a thousand long strings) — not only from its integer arguments.
So every ``{% for %}`` iteration, call, test and filter counts against a step limit and a
time budget; ``*``, ``+``, ``%``, ``~`` and every filter and string method that can grow
text check the size of what they would make first; filters that walk a list (``sort``,
``unique``, ``max``, ``join`` …) walk it a step per item and measure what they compare or
keep; all text written anywhere (output, macro and block bodies, loop bodies) counts
against one cap; and output is streamed with a size cap. The budget is ``budget.py``, the
filters ``filters.py`` (``FILTER_BOUNDS`` says how each is bounded), and ``STR_METHOD_BOUNDS``
here how each string method a template can call is.

One call into C (a sort, a regex) is never interrupted, so each is kept to work linear in
a bounded size; the render processes (``renderpool``) add a hard wall clock and a memory
cap around all of it. Each part's values are escaped for its channel (see ``Escape``). The
result is a mapping of named strings per channel; a renderer plugin turns that into the
channel's payload, so preview and send share this one code path.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from datetime import time as dtime
from typing import Any, ClassVar, cast

import jinja2
import orjson
from jinja2 import nodes
from jinja2.runtime import ChainableUndefined, Context
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import Namespace
from markupsafe import Markup

from oncall.clock import SYSTEM_CLOCK, Clock
from oncall.notification.budget import (
    BUDGET,
    Budget,
    BudgetExceeded,
    RenderLimits,
    cap_int,
    check_text,
    current,
    measure,
    take,
)
from oncall.notification.filters import (
    MAX_TIME_FORMAT,
    check_format,
    estimate_replace,
    filters,
    ticked,
)
from oncall.notification import channels
from oncall.notification.templates import Escape, Template

__all__ = ["BudgetExceeded", "RenderError", "RenderLimits", "RenderedChannel", "TemplateRenderer", "render"]

TEMPLATE_FILENAME = "<template>"


class RenderError(Exception):
    """A part failed to render; ``line`` is the template line when known."""

    def __init__(self, channel: str, part: str, message: str, line: int | None = None) -> None:
        self.channel, self.part, self.message, self.line = channel, part, message, line
        where = (f"{channel}.{part}" if part else channel) + (f", line {line}" if line else "")
        super().__init__(f"{where}: {message}")


@dataclass(frozen=True)
class RenderedChannel:
    """One channel's rendered parts (``{"subject": ..., "html": ..., "text": ...}``)."""

    channel: str
    parts: Mapping[str, str]

# ------------------------------------------------------------------------------ the sandbox


def _written(value: Any) -> Any:
    """Count what a ``{{ }}`` writes (anywhere: output, a macro, a block) against the budget."""
    budget = BUDGET.get()
    if budget is None:
        return value  # compile time: a constant, written as template text
    if type(value) is str or isinstance(value, str):
        budget.write(len(value))
    elif value is not None:
        size = measure(value, budget.limits.max_output)
        if size > budget.limits.max_output:
            raise BudgetExceeded(f"output longer than {budget.limits.max_output} characters")
        budget.write(size)
    return value


def _finalize_for(escape: Escape) -> Callable[[Any], Any]:
    if escape is Escape.JSON:
        # inside a JSON string: quotes, backslashes, newlines and control characters escaped;
        # Markup (tojson's output, |safe) is already what the author means to write
        def finalize(value: Any) -> Any:
            if value is None:
                return ""
            _written(value)
            if isinstance(value, Markup):
                return value
            text = value if type(value) is str else str(value)
            if text.isprintable() and '"' not in text and "\\" not in text:
                return text  # nothing to escape (the common case): skip the encoder
            return orjson.dumps(text).decode()[1:-1]
    elif escape is Escape.HEADER:
        def finalize(value: Any) -> Any:
            return "" if value is None else " ".join(str(_written(value)).split())
    else:
        def finalize(value: Any) -> Any:
            return "" if value is None else _written(value)
    return finalize

_DICT_ATTRIBUTES = frozenset(dir(dict))


# How every method of a string (and bytes, the same names) is bounded when a template calls it.
STR_METHOD_BOUNDS: Mapping[str, str] = {
    **dict.fromkeys(("capitalize", "casefold", "lower", "swapcase", "title", "upper"), "at most 3× the string"),
    **dict.fromkeys(("center", "ljust", "rjust", "zfill"), "width at most max_string"),
    "expandtabs": "tabs × tab size estimated first",
    "replace": "occurrences × replacement estimated first",
    "join": "walks; each item measured, separators counted, before joining",
    **dict.fromkeys(("format", "format_map"), "not available (widths allocate first): use |format"),
    **dict.fromkeys(("translate", "maketrans"), "not available (a table can multiply the text): use |replace"),
    "encode": "at most 4× the string",
    **dict.fromkeys(("count", "endswith", "find", "index", "rfind", "rindex", "startswith",
                     "isalnum", "isalpha", "isascii", "isdecimal", "isdigit", "isidentifier", "islower",
                     "isnumeric", "isprintable", "isspace", "istitle", "isupper"), "linear, makes nothing"),
    **dict.fromkeys(("lstrip", "rstrip", "strip", "removeprefix", "removesuffix", "partition", "rpartition",
                     "split", "rsplit", "splitlines"), "pieces of the string: no more than it"),
    **dict.fromkeys(("decode", "hex", "fromhex", "isascii"), "bytes only: at most 3× the bytes"),
}

_TEXT_METHODS_REFUSED = frozenset({"translate", "maketrans"})
_WIDTH_METHODS = frozenset({"center", "ljust", "rjust", "zfill"})


def _check_text_method(budget: Budget, owner: str | bytes, name: str, args: tuple[Any, ...],
                       kwargs: Mapping[str, Any]) -> tuple[Any, ...]:
    """A str or bytes method, before it runs: what it would build (see STR_METHOD_BOUNDS)."""
    limit = budget.limits.max_string
    if name in _TEXT_METHODS_REFUSED:
        raise SecurityError(f"str.{name} is not available in templates; use the |replace filter")
    if name in _WIDTH_METHODS:
        for a in (*args, *kwargs.values()):
            cap_int(name, a)
    elif name == "expandtabs":
        size = args[0] if args else kwargs.get("tabsize", 8)
        tabs = owner.count(b"\t") if isinstance(owner, bytes) else owner.count("\t")
        if isinstance(size, int) and len(owner) + tabs * max(0, size) > limit:
            raise BudgetExceeded("expandtabs would build a value too long")
    elif name == "replace" and len(args) >= 2:
        s, old, new = (x.decode("latin-1") if isinstance(x, bytes) else str(x) for x in (owner, args[0], args[1]))
        estimate_replace(s, old, new)
    elif name == "join" and args:
        items = take(budget, "join", args[0])
        total = len(owner) * max(0, len(items) - 1)
        for item in items:
            total += len(item) if isinstance(item, (str, bytes)) else measure(item, limit)
            if total > limit:
                raise BudgetExceeded("join would build a value too long")
        return (items, *args[1:])
    for a in (*args, *kwargs.values()):  # anything else it may print (Markup.escape(…))
        if not isinstance(a, (str, bytes, int, float)) and a is not None:
            check_text(budget, name, a)
    return args


class _Sandbox(ImmutableSandboxedEnvironment):
    """Jinja's immutable sandbox with errors instead of blanks, and every operation on a budget."""

    intercepted_binops = frozenset({"*", "**", "+", "%"})

    def __init__(self, escape: Escape, undefined: type[jinja2.Undefined] = ChainableUndefined) -> None:
        super().__init__(
            autoescape=escape is Escape.HTML,
            undefined=undefined,
            finalize=_finalize_for(escape),
            auto_reload=False,
            cache_size=0,
        )
        self.filters = filters()
        self.tests = {name: ticked(test) for name, test in self.tests.items()}  # type: ignore[arg-type]
        self.globals = {"range": self._range, "dict": dict, "namespace": Namespace}

    # a hostile lookup is an error with a message, not an empty string
    def unsafe_undefined(self, obj: Any, attribute: str) -> jinja2.Undefined:
        raise SecurityError(f"access to attribute {attribute!r} of {type(obj).__name__!r} object is not allowed")

    def wrap_str_format(self, value: Any) -> None:
        # str.format widths ("{:999999999}") allocate before anything can look: use |format
        if getattr(value, "__name__", None) in ("format", "format_map") and isinstance(
            getattr(value, "__self__", None), str
        ):
            raise SecurityError("str.format is not available in templates; use the |format filter")
        return None

    def getattr(self, obj: Any, attribute: str) -> Any:
        # Context data is dicts: ``alert.summary`` is an item, and Jinja would first try (and
        # fail, at the cost of an exception) the attribute. Same answer, without the exception.
        if type(obj) is dict and attribute not in _DICT_ATTRIBUTES and attribute in obj:
            return obj[attribute]
        return super().getattr(obj, attribute)

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805
        budget = current()
        budget.tick()
        owner = getattr(__obj, "__self__", None)
        name = getattr(__obj, "__name__", "")
        if isinstance(owner, (str, bytes)):
            args = _check_text_method(budget, owner, name, args, kwargs)
        elif name in _TEXT_METHODS_REFUSED:  # str.maketrans is static: no string to own it
            raise SecurityError(f"str.{name} is not available in templates; use the |replace filter")
        elif isinstance(owner, int) and name == "to_bytes":
            cap_int(name, args[0] if args else kwargs.get("length", 1))
        elif isinstance(owner, (date, dtime)) and name == "strftime":
            fmt = args[0] if args else kwargs.get("format", "")
            if isinstance(fmt, str) and len(fmt) > MAX_TIME_FORMAT:
                raise BudgetExceeded(f"a time format is at most {MAX_TIME_FORMAT} characters")
        return budget.size(super().call(__context, __obj, *args, **kwargs))

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        budget = current()
        budget.tick()
        limit = budget.limits.max_string
        if operator == "**":
            # repeated powers grow digits geometrically: bound the result's size, not the exponent
            if isinstance(left, int) and isinstance(right, int) and left.bit_length() * abs(right) > 4096:
                raise BudgetExceeded("number too large")
            if isinstance(right, (int, float)) and abs(right) > 4096:
                raise BudgetExceeded("exponent too large")
            return left**right
        if operator == "*":
            # a list times n is n times everything it holds: ['a' * 99999] * 99999 is 10¹⁰ characters
            for seq, n in ((left, right), (right, left)):
                if (isinstance(seq, (str, bytes, list, tuple)) and isinstance(n, int) and n > 0
                        and measure(seq, limit // n + 1) * n > limit):
                    raise BudgetExceeded(f"template built a value longer than {limit} items")
            if isinstance(left, int) and isinstance(right, int) and left.bit_length() + right.bit_length() > 4096:
                raise BudgetExceeded("number too large")
            return left * right
        if operator == "%":
            if isinstance(left, str):
                check_format(left, right)
            return budget.size(left % right)
        # "+": two lists make one that holds both (doubling a list of long strings grows fast)
        if isinstance(left, (list, tuple)) and isinstance(right, (list, tuple)):
            if measure(left, limit) + measure(right, limit) > limit:
                raise BudgetExceeded(f"template built a value longer than {limit} items")
        elif isinstance(left, (str, bytes)) and isinstance(right, (str, bytes)) and len(left) + len(right) > limit:
            raise BudgetExceeded(f"template built a value longer than {limit} items")
        return budget.size(left + right)

    def _range(self, *args: int) -> range:
        r = range(*args)
        if len(r) > current().limits.max_range:
            raise BudgetExceeded(f"range() is limited to {current().limits.max_range} items")
        return r

    def _generate(
        self, source: nodes.Template, name: str | None, filename: str | None, defer_init: bool = False
    ) -> str:
        # Every for-loop iterates through the budget (and counts the template text its body
        # writes each time), and every ~ concatenation measures its parts first: those are the
        # ways a template repeats or grows without calling anything we see.
        for loop in source.find_all(nodes.For):
            literal = nodes.Const(_literal_text(loop.body), lineno=loop.lineno)
            loop.iter = nodes.Filter(loop.iter, "__budget_iter", [literal], [], None, None, lineno=loop.lineno)
        # innermost first: a concatenation inside another is rewritten before its parent takes it
        for parent in reversed(list(source.find_all(nodes.Node))):
            for field_name, value in parent.iter_fields():
                if isinstance(value, nodes.Concat):
                    setattr(parent, field_name, _concat_node(value))
                elif isinstance(value, list):
                    value[:] = [_concat_node(v) if isinstance(v, nodes.Concat) else v for v in value]
        return super()._generate(source, name, filename, defer_init)


def _independent(expr: nodes.Expr, names: Mapping[str, Any]) -> bool:
    """Whether ``expr`` reads nothing but constants and the sandbox's globals (``range``…)."""
    return all(n.name in names for n in expr.find_all(nodes.Name)) and (
        not isinstance(expr, nodes.Name) or expr.name in names)


def _concat_node(concat: nodes.Concat) -> nodes.Expr:
    first, *rest = concat.nodes
    return nodes.Filter(first, "__budget_concat", rest, [], None, None, lineno=concat.lineno)


def _literal_text(body: list[nodes.Node]) -> int:
    """Characters of template text a loop body writes each time (branches counted as taken).

    Inner loops count their own; macro and call bodies are counted where they are called.
    """
    total = 0
    stack: list[nodes.Node] = list(body)
    while stack:
        node = stack.pop()
        if isinstance(node, (nodes.For, nodes.Macro, nodes.CallBlock)):
            continue
        if isinstance(node, nodes.Output):
            for child in node.nodes:
                if isinstance(child, nodes.TemplateData):
                    total += len(child.data)
                elif isinstance(child, nodes.Const):
                    total += len(str(child.value))
        stack.extend(node.iter_child_nodes())
    return total


def _template_line(exc: BaseException) -> int | None:
    """The template line an exception came from (Jinja rewrites tracebacks to template lines)."""
    line = getattr(exc, "lineno", None)
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == TEMPLATE_FILENAME:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


# ------------------------------------------------------------------------------ rendering


class TemplateRenderer:
    """Compiles (with a cache keyed by source) and renders templates under ``limits``."""

    #: renders in this process that ran out of memory (a render process exits after one)
    memory_errors: ClassVar[int] = 0

    def __init__(
        self,
        limits: RenderLimits = RenderLimits(),  # noqa: B008 - frozen, so one shared default is safe
        clock: Clock = SYSTEM_CLOCK,
        undefined: type[jinja2.Undefined] = ChainableUndefined,
        cache_size: int = 1024,
    ) -> None:
        self.limits = limits
        self.clock = clock
        self._envs = {escape: _Sandbox(escape, undefined) for escape in Escape}
        self.compile = functools.lru_cache(maxsize=cache_size)(self._compile)

    def _compile(self, source: str, escape: Escape) -> jinja2.Template:
        return self._envs[escape].from_string(source)

    def environment(self, escape: Escape) -> jinja2.Environment:
        return self._envs[escape]

    def constant_overruns(self, ast: nodes.Template, escape: Escape) -> list[tuple[str, int]]:
        """Expressions that do not depend on the alert and overrun the budget: (message, line).

        Found on save even in a branch the sample does not take (``{% if x %}{{ 'a' * 10**9 }}``):
        each such expression is compiled alone and run under the budget, as a render would.
        """
        environment = self._envs[escape]
        found: list[tuple[str, int]] = []
        stack: list[nodes.Node] = [ast]
        while stack:
            node = stack.pop()
            if isinstance(node, nodes.Expr) and _independent(node, environment.globals):
                if any(True for _ in node.find_all((nodes.BinExpr, nodes.Filter, nodes.Test, nodes.Call))) \
                        or isinstance(node, (nodes.BinExpr, nodes.Filter, nodes.Test, nodes.Call)):
                    message = self._overrun(environment, node)
                    if message is not None:
                        found.append((message, node.lineno))
                continue
            stack.extend(node.iter_child_nodes())
        return sorted(set(found), key=lambda f: f[1])

    def _overrun(self, environment: jinja2.Environment, expr: nodes.Expr) -> str | None:
        body = nodes.Template([nodes.Output([copy.deepcopy(expr)], lineno=expr.lineno)], lineno=expr.lineno)
        try:
            template = jinja2.Template.from_code(environment, environment.compile(body), environment.make_globals(None))
        except Exception:  # noqa: BLE001 - not ours to judge: the sample's render says what is wrong
            return None
        token = BUDGET.set(Budget(self.limits, self.clock.now(), "UTC"))
        try:
            for _ in template.root_render_func(template.new_context({})):
                pass
        except BudgetExceeded as exc:
            return str(exc)
        except Exception:  # noqa: BLE001 - as above
            return None
        finally:
            BUDGET.reset(token)
        return None

    def render_part(
        self, channel: str, part: str, source: str, context: Mapping[str, Any],
        *, now: datetime | None = None, timezone: str = "UTC",
    ) -> str:
        """One part, escaped as its channel's spec says; any failure is a RenderError naming the line."""
        try:
            escape = channels.current().parts(channel)[part]
        except (channels.UnknownChannel, KeyError) as exc:
            raise RenderError(channel, part, str(exc) if isinstance(exc, channels.UnknownChannel)
                              else f"{channel} has no part {part!r}") from None
        try:
            template = self.compile(source, escape)
        except jinja2.TemplateSyntaxError as exc:
            raise RenderError(channel, part, f"syntax error: {exc.message}", exc.lineno) from None
        budget = Budget(self.limits, now or self.clock.now(), timezone)
        token = BUDGET.set(budget)
        try:
            out: list[str] = []
            total = 0
            limit = self.limits.max_output
            try:
                # root_render_func rather than generate(): one generator hop less per chunk
                # new_context only unpacks its vars (dict(globals, **vars)): any Mapping does
                for chunk in template.root_render_func(template.new_context(cast("dict[str, Any]", context))):
                    total += len(chunk)
                    if total > limit:
                        raise BudgetExceeded(f"output longer than {limit} characters")
                    out.append(chunk)
            except Exception:  # noqa: BLE001 - not swallowed: re-raised with template line numbers
                template.environment.handle_exception()
            text = "".join(out)
        except RecursionError:
            raise RenderError(channel, part, "template recursed too deeply") from None
        except SecurityError as exc:
            raise RenderError(channel, part, str(exc), _template_line(exc)) from None
        except (jinja2.TemplateError, ArithmeticError, LookupError, TypeError, ValueError, AttributeError) as exc:
            message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
            raise RenderError(channel, part, message, _template_line(exc)) from None
        except MemoryError:
            TemplateRenderer.memory_errors += 1
            raise RenderError(channel, part, "template ran out of memory") from None
        finally:
            BUDGET.reset(token)
        return text.strip() if escape in (Escape.TEXT, Escape.HEADER) else text

    def render(
        self, template: Template, channel: str, context: Mapping[str, Any],
        *, now: datetime | None = None, timezone: str = "UTC",
    ) -> RenderedChannel:
        """Every part of one channel (the template's own, else the default)."""
        try:
            names = channels.current().parts(channel)
        except channels.UnknownChannel as exc:
            raise RenderError(channel, "", str(exc)) from None
        parts = {
            part: self.render_part(channel, part, template.source(channel, part), context, now=now, timezone=timezone)
            for part in names
        }
        return RenderedChannel(channel, parts)


_DEFAULT_RENDERER = TemplateRenderer()


def render(
    template: Template, channel: str, context: Mapping[str, Any],
    *, now: datetime | None = None, timezone: str = "UTC",
) -> RenderedChannel:
    """Render one channel with the process-wide renderer (shared compile cache)."""
    return _DEFAULT_RENDERER.render(template, channel, context, now=now, timezone=timezone)
