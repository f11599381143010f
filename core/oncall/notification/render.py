"""Server-side template rendering in a Jinja2 sandbox, bounded in time, size and work.

A template is untrusted code written by any team. The sandbox stops attribute walks
(``''.__class__.__mro__`` → a SecurityError, not a silent blank), and a per-render budget
stops templates that would hang or exhaust memory: every ``{% for %}`` iteration, call and
filter counts against a step limit and a time budget, ``range`` and
string growth are capped, and output is streamed with a size cap. Each part's values are
escaped for its channel (see ``Escape``). The result is a mapping of named strings per
channel; a renderer plugin turns that into the channel's payload, so preview and send share
this one code path.
"""

from __future__ import annotations

import functools
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import jinja2
import orjson
from jinja2 import nodes
from jinja2.defaults import DEFAULT_FILTERS
from jinja2.runtime import ChainableUndefined, Context
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError
from markupsafe import Markup

from oncall.clock import SYSTEM_CLOCK, Clock
from oncall.notification.templates import CHANNEL_PARTS, Channel, Escape, Template

TEMPLATE_FILENAME = "<template>"


@dataclass(frozen=True)
class RenderLimits:
    """What one part's render may spend. Generous for any real template, fatal for a hostile one."""

    time_budget_s: float = 0.25
    max_steps: int = 200_000  # loop iterations + calls + filter applications
    max_range: int = 10_000
    max_string: int = 100_000  # any intermediate string or list built by the template
    max_output: int = 100_000  # characters of one rendered part


class RenderError(Exception):
    """A part failed to render; ``line`` is the template line when known."""

    def __init__(self, channel: Channel, part: str, message: str, line: int | None = None) -> None:
        self.channel, self.part, self.message, self.line = channel, part, message, line
        where = f"{channel}.{part}" + (f", line {line}" if line else "")
        super().__init__(f"{where}: {message}")


@dataclass(frozen=True)
class RenderedChannel:
    """One channel's rendered parts (``{"subject": ..., "html": ..., "text": ...}``)."""

    channel: Channel
    parts: Mapping[str, str]


class BudgetExceeded(SecurityError):
    """The template used more time, steps or memory than its budget allows."""


# ------------------------------------------------------------------------------ the budget


class _Budget:
    __slots__ = ("deadline", "limits", "max_steps", "now", "steps", "timezone")

    def __init__(self, limits: RenderLimits, now: datetime, timezone: str) -> None:
        self.limits = limits
        self.max_steps = limits.max_steps
        self.deadline = time.monotonic() + limits.time_budget_s
        self.steps = 0
        self.now = now
        self.timezone = timezone

    def tick(self, n: int = 1) -> None:
        self.steps += n
        if self.steps > self.max_steps:
            raise BudgetExceeded(f"template did too much work (more than {self.limits.max_steps} steps)")
        # the clock is read every 16th step: a step is microseconds, so the budget still holds
        if not self.steps & 15 and time.monotonic() > self.deadline:
            raise BudgetExceeded(f"template took longer than {self.limits.time_budget_s:g}s to render")

    def size(self, value: Any) -> Any:
        if isinstance(value, (str, list, tuple, dict)) and len(value) > self.limits.max_string:
            raise BudgetExceeded(f"template built a value longer than {self.limits.max_string} items")
        return value

    def iterate(self, iterable: Iterable[Any]) -> Iterator[Any]:
        for item in iterable:
            self.tick()
            yield item


_BUDGET: ContextVar[_Budget | None] = ContextVar("oncall_render_budget", default=None)


def _budget() -> _Budget:
    budget = _BUDGET.get()
    if budget is None:
        # Outside a render (Jinja folding constants at compile time): refuse, and the compiler
        # leaves the expression to run under a budget.
        raise nodes.Impossible()
    return budget


# ------------------------------------------------------------------------------ filters


def _parse_time(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value, UTC)
    if isinstance(value, str) and value:
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


def localtime(value: Any, zone: str | None = None, fmt: str = "%Y-%m-%d %H:%M %Z") -> str:
    """A time in an IANA zone (default: the render's zone, UTC unless given): ``{{ t|localtime('Europe/Paris') }}``."""
    when = _parse_time(value)
    if when is None:
        return "" if value is None else str(value)
    name = zone or _budget().timezone
    try:
        tz = ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r}") from None
    return when.astimezone(tz).strftime(fmt)


def _span(seconds: float) -> str:
    seconds = int(abs(seconds))
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            n = seconds // size
            return f"{n} {unit}{'s' if n != 1 else ''}"
    return f"{seconds} second{'s' if seconds != 1 else ''}"


def ago(value: Any) -> str:
    """How long ago a time was, from the render's now: ``5 minutes ago``, ``in 2 hours``, ``just now``."""
    when = _parse_time(value)
    if when is None:
        return "" if value is None else str(value)
    delta = (_budget().now - when).total_seconds()
    if abs(delta) < 1:
        return "just now"
    return f"{_span(delta)} ago" if delta > 0 else f"in {_span(delta)}"


def duration(value: Any) -> str:
    """A length of time, from seconds or a timedelta, to the two largest units: ``1h 5m``, ``2d 3h``, ``45s``."""
    seconds = int(value.total_seconds() if isinstance(value, timedelta) else float(value))
    sign, seconds = ("-" if seconds < 0 else ""), abs(seconds)
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size or (unit == "s" and not parts):
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
    return sign + " ".join(parts[:2])


def labels(value: Any, sep: str = ", ", exclude: Iterable[str] = ()) -> str:
    """Labels as ``key=value`` pairs sorted by key: ``{{ alert.labels|labels(exclude=['alertname']) }}``."""
    if not isinstance(value, Mapping):
        return "" if value is None else str(value)
    skip = set(exclude)
    return sep.join(f"{k}={v}" for k, v in sorted(value.items()) if k not in skip)


def mrkdwn(value: Any) -> str:
    """Escape text for Slack mrkdwn, so alert text cannot mention ``<!channel>`` or forge links."""
    if value is None:
        return ""
    # three replaces beat str.translate with a table several times over on alert-sized text
    return str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _check_widths(fmt: str) -> None:
    # "%999999999s" would allocate a gigabyte before any budget could look at the result
    for width in re.findall(r"%[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?", fmt):
        for w in width:
            if w == "*" or (w and int(w) > _budget().limits.max_string):
                raise BudgetExceeded("format width too large")


def _format(value: Any, *args: Any, **kwargs: Any) -> str:
    fmt = str(value)
    _check_widths(fmt)
    return fmt % (kwargs or args)


def _cap_int(name: str, n: Any) -> None:
    if isinstance(n, int) and abs(n) > _budget().limits.max_string:
        raise BudgetExceeded(f"{name} argument too large")


def _guarded(name: str, f: Callable[..., Any]) -> Callable[..., Any]:
    """A filter that counts a step, refuses size arguments that would explode, and caps its result."""
    if name in _SIZED_FILTERS or name in ("join", "replace"):

        @functools.wraps(f)
        def checked(*args: Any, **kwargs: Any) -> Any:
            budget = _budget()
            budget.tick()
            if name == "join":
                args = (args[0], list(budget.iterate(args[1])), *args[2:])
                _estimate(name, args, kwargs, budget)
            elif name == "replace":
                _estimate(name, args, kwargs, budget)
            else:
                for a in (*args[1:], *kwargs.values()):
                    _cap_int(name, a)
            return budget.size(f(*args, **kwargs))

        return checked

    # the common case, on every render's path: the same checks, inlined
    @functools.wraps(f)
    def run(*args: Any, **kwargs: Any) -> Any:
        budget = _BUDGET.get()
        if budget is None:
            raise nodes.Impossible()
        budget.steps += 1  # budget.tick(), inlined: this runs for every filter of every render
        if budget.steps > budget.max_steps or (not budget.steps & 15 and time.monotonic() > budget.deadline):
            budget.tick(0)  # raises the right error
        result = f(*args, **kwargs)
        if type(result) is str and len(result) > budget.limits.max_string:
            raise BudgetExceeded(f"template built a value longer than {budget.limits.max_string} items")
        return budget.size(result) if type(result) is not str else result

    return run


def _estimate(name: str, args: tuple[Any, ...], kwargs: Mapping[str, Any], budget: _Budget) -> None:
    # join and replace can multiply sizes in one call: bound the result before building it
    limit = budget.limits.max_string
    if name == "replace":
        # args: (eval_ctx, s, old, new[, count])
        s, old, new = (str(a) for a in args[1:4])
        occurrences = s.count(old) if old else len(s) + 1
        if len(s) + occurrences * len(new) > limit:
            raise BudgetExceeded("replace would build a value too long")
    elif name == "join":
        # args: (eval_ctx, items, separator[, attribute]), items already a list
        sep = str(args[2] if len(args) > 2 else kwargs.get("d", ""))
        items = args[1]
        total = sum(len(i) if isinstance(i, str) else 24 for i in items) + len(sep) * len(items)
        if total > limit:
            raise BudgetExceeded("join would build a value too long")


# filters whose numeric arguments are sizes to allocate
_SIZED_FILTERS = frozenset({"center", "indent", "batch", "slice"})


# Jinja's filters that are safe once guarded; anything not listed is not offered to templates.
_SAFE_FILTERS = (
    "abs", "attr", "batch", "capitalize", "center", "count", "d", "default", "dictsort", "e", "escape",
    "first", "float", "forceescape", "format", "groupby", "indent", "int", "items", "join", "last", "length",
    "list", "lower", "map", "max", "min", "reject", "rejectattr", "replace", "reverse", "round", "safe",
    "select", "selectattr", "slice", "sort", "string", "striptags", "title", "tojson", "trim", "truncate",
    "unique", "upper", "urlencode", "urlize", "wordcount", "wordwrap", "xmlattr",
)


def _sum_numbers(iterable: Iterable[Any], attribute: Any = None, start: Any = 0) -> Any:
    # Jinja's sum adds anything, and adding lists of lists can build a huge list in one call
    items = list(iterable)
    if attribute is not None:
        items = [i.get(attribute) if isinstance(i, Mapping) else None for i in items]
    if not all(isinstance(i, (int, float)) and not isinstance(i, bool) for i in [*items, start]):
        raise TypeError("sum adds numbers only")
    return sum(items, start)


def _filters() -> dict[str, Callable[..., Any]]:
    table: dict[str, Callable[..., Any]] = {name: DEFAULT_FILTERS[name] for name in _SAFE_FILTERS}
    table["format"] = _format
    table["sum"] = _sum_numbers
    table.update(localtime=localtime, ago=ago, duration=duration, labels=labels, mrkdwn=mrkdwn)
    return {name: _guarded(name, f) for name, f in table.items()} | {
        "__budget_iter": lambda it: _budget().iterate(it),
        "__budget_size": lambda v: _budget().size(v),
    }


# ------------------------------------------------------------------------------ the sandbox


def _finalize_for(escape: Escape) -> Callable[[Any], Any]:
    if escape is Escape.JSON:
        # inside a JSON string: quotes, backslashes, newlines and control characters escaped;
        # Markup (tojson's output, |safe) is already what the author means to write
        def finalize(value: Any) -> Any:
            if value is None:
                return ""
            if isinstance(value, Markup):
                return value
            text = value if type(value) is str else str(value)
            if text.isprintable() and '"' not in text and "\\" not in text:
                return text  # nothing to escape (the common case): skip the encoder
            return orjson.dumps(text).decode()[1:-1]
    elif escape is Escape.HEADER:
        def finalize(value: Any) -> Any:
            return "" if value is None else " ".join(str(value).split())
    else:
        def finalize(value: Any) -> Any:
            return "" if value is None else value
    return finalize


_DICT_ATTRIBUTES = frozenset(dir(dict))

# str methods that take a size and would allocate it before anything could check
_SIZED_METHODS = frozenset({"center", "ljust", "rjust", "zfill", "expandtabs"})


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
        self.filters = _filters()
        self.tests = dict(self.tests)
        self.globals = {"range": self._range, "dict": dict, "namespace": jinja2.utils.Namespace}

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
        budget = _budget()
        budget.tick()
        owner = getattr(__obj, "__self__", None)
        if isinstance(owner, str):
            name = getattr(__obj, "__name__", "")
            if name in _SIZED_METHODS:
                for a in (*args, *kwargs.values()):
                    _cap_int(name, a)
            elif name == "replace" and len(args) >= 2:
                _estimate("replace", (None, owner, *args[:2]), {}, budget)
            elif name == "join" and args:
                items = list(budget.iterate(args[0]))
                _estimate("join", (None, items, owner), {}, budget)
                args = (items, *args[1:])
        return budget.size(super().call(__context, __obj, *args, **kwargs))

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        budget = _budget()
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
            for seq, n in ((left, right), (right, left)):
                if isinstance(seq, (str, list, tuple)) and isinstance(n, int) and len(seq) * n > limit:
                    raise BudgetExceeded(f"template built a value longer than {limit} items")
            if isinstance(left, int) and isinstance(right, int) and left.bit_length() + right.bit_length() > 4096:
                raise BudgetExceeded("number too large")
            return left * right
        if operator == "%":
            if isinstance(left, str):
                _check_widths(left)
            return budget.size(left % right)
        return budget.size(left + right)

    def _range(self, *args: int) -> range:
        r = range(*args)
        if len(r) > _budget().limits.max_range:
            raise BudgetExceeded(f"range() is limited to {_budget().limits.max_range} items")
        return r

    def _generate(
        self, source: nodes.Template, name: str | None, filename: str | None, defer_init: bool = False
    ) -> str:
        # Every for-loop iterates through the budget and every ~ concatenation is size-checked:
        # those are the two ways a template repeats or grows without calling anything we see.
        for loop in source.find_all(nodes.For):
            loop.iter = nodes.Filter(loop.iter, "__budget_iter", [], [], None, None, lineno=loop.lineno)
        for parent in list(source.find_all(nodes.Node)):
            for field_name, value in parent.iter_fields():
                if isinstance(value, nodes.Concat):
                    setattr(parent, field_name, _capped(value))
                elif isinstance(value, list):
                    value[:] = [_capped(v) if isinstance(v, nodes.Concat) else v for v in value]
        return super()._generate(source, name, filename, defer_init)


def _capped(concat: nodes.Concat) -> nodes.Expr:
    return nodes.Filter(concat, "__budget_size", [], [], None, None, lineno=concat.lineno)


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

    def __init__(
        self,
        limits: RenderLimits = RenderLimits(),
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

    def render_part(
        self, channel: Channel, part: str, source: str, context: Mapping[str, Any],
        *, now: datetime | None = None, timezone: str = "UTC",
    ) -> str:
        """One part, escaped for its channel; any failure is a RenderError naming the line."""
        escape = CHANNEL_PARTS[channel][part]
        try:
            template = self.compile(source, escape)
        except jinja2.TemplateSyntaxError as exc:
            raise RenderError(channel, part, f"syntax error: {exc.message}", exc.lineno) from None
        budget = _Budget(self.limits, now or self.clock.now(), timezone)
        token = _BUDGET.set(budget)
        try:
            out: list[str] = []
            total = 0
            limit = self.limits.max_output
            try:
                # root_render_func rather than generate(): one generator hop less per chunk
                for chunk in template.root_render_func(template.new_context(context)):
                    total += len(chunk)
                    if total > limit:
                        raise BudgetExceeded(f"output longer than {limit} characters")
                    out.append(chunk)
            except Exception:
                template.environment.handle_exception()  # re-raises with template line numbers
            text = "".join(out)
        except RecursionError:
            raise RenderError(channel, part, "template recursed too deeply") from None
        except SecurityError as exc:
            raise RenderError(channel, part, str(exc), _template_line(exc)) from None
        except (jinja2.TemplateError, ArithmeticError, LookupError, TypeError, ValueError, AttributeError) as exc:
            message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
            raise RenderError(channel, part, message, _template_line(exc)) from None
        except MemoryError:
            raise RenderError(channel, part, "template ran out of memory") from None
        finally:
            _BUDGET.reset(token)
        return text.strip() if escape in (Escape.TEXT, Escape.HEADER) else text

    def render(
        self, template: Template, channel: Channel, context: Mapping[str, Any],
        *, now: datetime | None = None, timezone: str = "UTC",
    ) -> RenderedChannel:
        """Every part of one channel (the template's own, else the default)."""
        parts = {
            part: self.render_part(channel, part, template.source(channel, part), context, now=now, timezone=timezone)
            for part in CHANNEL_PARTS[channel]
        }
        return RenderedChannel(channel, parts)


_DEFAULT_RENDERER = TemplateRenderer()


def render(
    template: Template, channel: Channel, context: Mapping[str, Any],
    *, now: datetime | None = None, timezone: str = "UTC",
) -> RenderedChannel:
    """Render one channel with the process-wide renderer (shared compile cache)."""
    return _DEFAULT_RENDERER.render(template, channel, context, now=now, timezone=timezone)
