"""The filters templates may use, each bounded by the render budget before it does its work.

Ours (``localtime``, ``ago``, ``duration``, ``labels``, ``mrkdwn``, ``fit``) and Jinja's, the
ones that can grow text or walk lists replaced by versions that measure first (see
``budget``). ``FILTER_BOUNDS`` says how each one is bounded; nothing else is offered.
"""

from __future__ import annotations

import functools
import json
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from jinja2 import filters as jf
from jinja2 import nodes
from jinja2.filters import FILTERS as DEFAULT_FILTERS
from jinja2.runtime import markup_join, str_join
from jinja2.utils import pass_environment, pass_eval_context
from markupsafe import Markup

from .budget import (
    BUDGET,
    Budget,
    BudgetExceeded,
    cap_int,
    check_keys,
    check_text,
    current,
    measure,
    refuse_if,
    take,
)


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


MAX_TIME_FORMAT = 500  # characters of a strftime format: each directive writes up to ~30
_NOT_A_TIME = 100  # characters of a value that is not a time, shown as it is


def localtime(value: Any, zone: str | None = None, fmt: str = "%Y-%m-%d %H:%M %Z") -> str:
    """A time in an IANA zone (default: the render's zone, UTC unless given): ``{{ t|localtime('Europe/Paris') }}``."""
    when = _parse_time(value)
    if when is None:
        return "" if value is None else str(value)[:_NOT_A_TIME]
    if len(fmt) > MAX_TIME_FORMAT:
        raise BudgetExceeded(f"a time format is at most {MAX_TIME_FORMAT} characters")
    name = zone or current().timezone
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
        return "" if value is None else str(value)[:_NOT_A_TIME]
    delta = (current().now - when).total_seconds()
    if abs(delta) < 1:
        return "just now"
    return f"{_span(delta)} ago" if delta > 0 else f"in {_span(delta)}"


def duration(value: Any) -> str:
    """A length of time, from seconds or a timedelta, to the two largest units: ``1h 5m``, ``2d 3h``, ``45s``."""
    seconds = int(value.total_seconds() if isinstance(value, timedelta) else float(value))
    sign, seconds = ("-" if seconds < 0 else ""), abs(seconds)
    parts: list[str] = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size or (unit == "s" and not parts):
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
    return sign + " ".join(parts[:2])


ELLIPSIS = "…"


def labels(value: Any, sep: str = ", ", exclude: Iterable[str] = (), max_length: int | None = None) -> str:
    """Labels as ``key=value`` pairs sorted by key: ``{{ alert.labels|labels(exclude=['alertname']) }}``.

    ``max_length``: at most that many characters, ending in ``…`` when labels were left out, so
    an alert with thousands of labels still fits a message.
    """
    if not isinstance(value, Mapping):
        return "" if value is None else str(value)
    limit = current().limits.max_string
    room = limit if max_length is None else max(0, min(int(max_length), limit))
    skip = set(exclude)
    out: list[str] = []
    used = 0
    for key in sorted(value):
        if key in skip:
            continue
        v = value[key]
        if type(v) is not str and measure(v, room) > room:
            v = ELLIPSIS
        piece = f"{sep if out else ''}{key}={v}"
        if used + len(piece) > room:
            if max_length is None:
                raise BudgetExceeded(f"labels would make text longer than {limit} characters")
            out.append(piece[: max(0, room - used - 1)] + ELLIPSIS)
            break
        out.append(piece)
        used += len(piece)
    return "".join(out)


_MRKDWN_ENTITY = re.compile(r"&[a-z]{0,3}$")


def mrkdwn(value: Any, max_length: int | None = None) -> str:
    """Escape text for Slack mrkdwn, so alert text cannot mention ``<!channel>`` or forge links.

    ``max_length``: the escaped text is at most that long (ending in ``…``), never cutting an
    entity in half; Slack's limits count the escaped text.
    """
    if value is None:
        return ""
    text = str(value)
    if max_length is not None and len(text) > max_length:
        text = text[: max(0, max_length)]  # escaping never shortens: cut first, escape the rest
    # three replaces beat str.translate with a table several times over on alert-sized text
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    if max_length is not None and len(text) > max_length:
        cut = text[: max(0, max_length - 1)]
        cut = _MRKDWN_ENTITY.sub("", cut)
        text = cut + ELLIPSIS
    return text


# ------------------------------------------------------------------------------ fit: JSON that fits

_MAX_FIT_DEPTH = 32


def _json_str_cost(s: str) -> int:
    """Characters ``s`` takes in ``|tojson`` output (ASCII-only JSON, ``<>&'`` escaped for HTML)."""
    return len(json.encoder.encode_basestring_ascii(s)) + 5 * (
        s.count("<") + s.count(">") + s.count("&") + s.count("'"))


def _json_cost(value: Any, limit: int, depth: int = 0) -> int:
    """Characters ``value`` takes in ``|tojson`` output, or some number past ``limit``."""
    if isinstance(value, str):
        return len(value) + 2 if len(value) > limit else _json_str_cost(value)
    if value is None or isinstance(value, bool):
        return 5
    if isinstance(value, (int, float)):
        return len(json.dumps(value)) if abs(value) < 1e15 else 24
    if isinstance(value, (Mapping, list, tuple)):
        if depth >= _MAX_FIT_DEPTH:
            return limit + 1  # too deep to keep: fit cuts it
        total = 2 + 2 * max(0, len(value) - 1)
        if isinstance(value, Mapping):
            total += 2 * len(value)
            for k, v in value.items():
                if total > limit:
                    break
                total += _json_cost(str(k), limit - total) + _json_cost(v, limit - total, depth + 1)
        else:
            for v in value:
                if total > limit:
                    break
                total += _json_cost(v, limit - total, depth + 1)
        return total
    return _json_cost(str(value)[: limit + 1], limit)


def _fit_str(s: str, room: int) -> str:
    n = min(len(s), max(0, room - 8))
    while n > 0:
        cut = s[:n] + ELLIPSIS
        cost = _json_str_cost(cut)
        if cost <= room:
            return cut
        n = min(n - 1, n * room // cost - 1)
    return ELLIPSIS if room >= 8 else ""


_MIN_ROOM = 16  # what a cut entry needs at least to say something


def _fit(value: Any, room: int, depth: int) -> Any:
    """``value`` cut so that its JSON takes at most ``room`` characters; the same object when it fits."""
    if _json_cost(value, room, depth) <= room:
        return value
    if isinstance(value, str):
        return _fit_str(value, room)
    if not isinstance(value, (Mapping, list, tuple)):
        return _fit_str(str(value), room)
    if depth >= _MAX_FIT_DEPTH:
        return ELLIPSIS if room >= 8 else None
    if isinstance(value, Mapping):
        keys = list(value)
        try:
            keys.sort()  # the order tojson writes them in: the first ones are kept
        except TypeError:
            pass
        entries: list[tuple[Any, Any]] = [(k, value[k]) for k in keys]
        overhead = [_json_str_cost(str(k)) + 4 for k in keys]  # the key, ": " and ", "
    else:
        entries = [(None, v) for v in value]
        overhead = [2] * len(entries)
    # the first entries, in order, as long as they fit, a big one counted as an eighth of the
    # room (it will be cut): whole entries are worth more than many cut ones
    cap = max(room // 8, _MIN_ROOM)
    need: list[int] = []
    used = 2
    for extra, (_, v) in zip(overhead, entries, strict=True):
        n = extra + _json_cost(v, room, depth + 1)
        if used + min(n, cap) > room:
            break
        used += min(n, cap)
        need.append(n)
    count = len(need)
    entries, overhead = entries[:count], overhead[:count]
    # fair shares: small entries whole, the big ones share what is left alike
    share = [0] * count
    left = room - 2
    for n, i in enumerate(sorted(range(count), key=need.__getitem__)):
        share[i] = min(need[i], left // (count - n))
        left -= share[i]
    kept: list[tuple[Any, Any]] = []
    for i, (k, v) in enumerate(entries):
        if need[i] <= share[i]:
            kept.append((k, v))  # whole, however small (an id of 4 digits is shorter than any cut)
            continue
        inner = share[i] - overhead[i]
        if inner < 5:
            continue  # not even a cut string fits: left out
        kept.append((k, _fit(v, inner, depth + 1)))
    if isinstance(value, Mapping):
        return {k: v for k, v in kept}
    return [v for _, v in kept]


def fit(value: Any, max_length: int) -> Any:
    """``value`` cut down so that its ``|tojson`` is at most ``max_length`` characters.

    Long strings end in ``…``; a mapping keeps its small entries whole and shares what room is
    left among the big ones, leaving out those that get too little; a list keeps its first
    items. A value that fits comes back as it is (``value|fit(n) is sameas value``).
    """
    budget = current()
    room = max(0, min(int(max_length), budget.limits.max_string))
    budget.tick()
    return _fit(value, room, 0)


# ------------------------------------------------------------------------------ Jinja's filters, bounded


def check_format(fmt: str, args: Any) -> None:
    """``%``-formatting: the widths it pads to and the arguments it prints, before it runs."""
    limit = current().limits.max_string
    widths = 0
    for width, precision in _FORMAT_SPEC.findall(fmt):
        for w in (width, precision):
            if w == "*":
                raise BudgetExceeded("format width too large")
            if w:
                widths += int(w) if len(w) < 10 else limit + 1
    if widths > limit:
        raise BudgetExceeded("format width too large")
    if len(fmt) + measure(args, limit) > limit:
        raise BudgetExceeded(f"format would make text longer than {limit} characters")


# "%999999999s" would allocate a gigabyte before any budget could look at the result
_FORMAT_SPEC = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d*))?")


def _format(value: Any, *args: Any, **kwargs: Any) -> str:
    fmt = str(value)
    check_format(fmt, kwargs or args)
    return fmt % (kwargs or args)


def _center(value: Any, width: int = 80) -> str:
    cap_int("center", width)
    return jf.do_center(value, width)


def _indent(s: Any, width: int | str = 4, first: bool = False, blank: bool = False) -> str:
    s = str(s)
    step = len(width) if isinstance(width, str) else width if isinstance(width, int) else 0
    refuse_if(len(s) + (s.count("\n") + 1) * max(0, step) > current().limits.max_string, "indent")
    return jf.do_indent(s, width, first, blank)


def estimate_replace(s: str, old: str, new: str) -> None:
    occurrences = s.count(old) if old else len(s) + 1
    refuse_if(len(s) + occurrences * len(new) > current().limits.max_string, "replace")


@pass_eval_context
def _replace(eval_ctx: Any, s: Any, old: Any, new: Any, count: int | None = None) -> str:
    estimate_replace(str(s), str(old), str(new))
    return jf.do_replace(eval_ctx, s, old, new, count)


# textwrap splits a word longer than the width by copying the rest of it for every line it
# makes: a 100,000-character word at width 1 is 5·10⁹ characters copied. Refuse such work.
_WRAP_WORK = 2_000  # × max_string characters copied: some tens of milliseconds


@pass_environment
def _wordwrap(environment: Any, s: Any, width: int = 79, break_long_words: bool = True,
              wrapstring: str | None = None, break_on_hyphens: bool = True) -> str:
    s = str(s)
    limit = current().limits.max_string
    if not isinstance(width, int) or width < 1:
        raise ValueError("wordwrap width must be a positive number")
    joiner = len(wrapstring if wrapstring is not None else environment.newline_sequence)
    lines = len(s) // width + s.count("\n") + 1
    refuse_if(len(s) + lines * joiner > limit, "wordwrap")
    if break_long_words:
        longest = max(map(len, s.split()), default=0)
        if longest > width and longest * longest // (2 * width) > _WRAP_WORK * limit:
            raise BudgetExceeded(f"wordwrap would take too long (a {longest}-character word at width {width})")
    return jf.do_wordwrap(environment, s, width, break_long_words, wrapstring, break_on_hyphens)


MAX_JSON_INDENT = 8


@pass_eval_context
def _tojson(eval_ctx: Any, value: Any, indent: int | str | None = None) -> Markup:
    # escaping makes JSON at most 12× the text it holds, and the result is checked after
    limit = current().limits.max_string
    step = len(indent) if isinstance(indent, str) else indent or 0
    if step > MAX_JSON_INDENT:
        raise BudgetExceeded(f"tojson indents by at most {MAX_JSON_INDENT}")
    if measure(value, limit) > limit:
        raise BudgetExceeded(f"tojson would make text longer than {limit} characters")
    return jf.do_tojson(eval_ctx, value, indent)  # type: ignore[arg-type]  # a str indent works too


MAX_URLIZE_ATTRIBUTE = 200  # characters of target / rel: each link repeats them


@pass_eval_context
def _urlize(eval_ctx: Any, value: Any, trim_url_limit: int | None = None, nofollow: bool = False,
            target: str | None = None, rel: str | None = None, extra_schemes: Iterable[str] | None = None) -> str:
    text = str(value)
    extra = len(target or "") + len(rel or "")
    if extra > MAX_URLIZE_ATTRIBUTE:
        raise BudgetExceeded(f"urlize's target and rel are at most {MAX_URLIZE_ATTRIBUTE} characters")
    # a link repeats its URL and adds about 60 characters of markup: count the words that may be one
    links = [w for w in text.split() if "." in w or "@" in w or ":" in w]
    grown = sum(len(w) for w in links) + len(links) * (60 + extra)
    refuse_if(len(text) + grown > current().limits.max_string, "urlize")
    return jf.do_urlize(eval_ctx, value, trim_url_limit, nofollow, target, rel, extra_schemes)


@pass_eval_context
def _xmlattr(eval_ctx: Any, d: Any, autospace: bool = True) -> str:
    check_text(current(), "xmlattr", d)
    return jf.do_xmlattr(eval_ctx, d, autospace)


@pass_eval_context
def _join(eval_ctx: Any, value: Any, d: str = "", attribute: str | int | None = None) -> str:
    budget = current()
    items = take(budget, "join", value)
    if attribute is not None:
        getter = jf.make_attrgetter(eval_ctx.environment, attribute)
        items = [getter(i) for i in items]
    limit = budget.limits.max_string
    total = len(str(d)) * max(0, len(items) - 1)
    for item in items:
        total += len(item) if type(item) is str else measure(item, limit - total + 1)
        if total > limit:
            raise BudgetExceeded("join would build a value too long")
    return jf.sync_do_join(eval_ctx, items, d)


def _list(value: Any) -> list[Any]:
    return take(current(), "list", value)


def _reverse(value: Any) -> Any:
    if isinstance(value, str):
        return value[::-1]
    items = take(current(), "reverse", value)
    items.reverse()
    return items


def _keys_of(environment: Any, items: list[Any], attribute: Any, multi: bool = False) -> Iterable[Any]:
    if attribute is None:
        return items
    make = jf.make_multi_attrgetter if multi else jf.make_attrgetter
    getter = make(environment, attribute)
    return (getter(i) for i in items)


@pass_environment
def _sort(environment: Any, value: Any, reverse: bool = False, case_sensitive: bool = False,
          attribute: str | int | None = None) -> list[Any]:
    budget = current()
    items = take(budget, "sort", value)
    check_keys(budget, "sort", _keys_of(environment, items, attribute, multi=True))
    return jf.do_sort(environment, items, reverse, case_sensitive, attribute)


@pass_environment
def _unique(environment: Any, value: Any, case_sensitive: bool = False, attribute: str | int | None = None) -> Any:
    budget = current()
    items = take(budget, "unique", value)
    check_keys(budget, "unique", _keys_of(environment, items, attribute))
    return list(jf.do_unique(environment, items, case_sensitive, attribute))


@pass_environment
def _min(environment: Any, value: Any, case_sensitive: bool = False, attribute: str | int | None = None) -> Any:
    budget = current()
    items = take(budget, "min", value)
    check_keys(budget, "min", _keys_of(environment, items, attribute))
    return jf.do_min(environment, items, case_sensitive, attribute)


@pass_environment
def _max(environment: Any, value: Any, case_sensitive: bool = False, attribute: str | int | None = None) -> Any:
    budget = current()
    items = take(budget, "max", value)
    check_keys(budget, "max", _keys_of(environment, items, attribute))
    return jf.do_max(environment, items, case_sensitive, attribute)


@pass_environment
def _groupby(environment: Any, value: Any, attribute: str | int, default: Any = None,
             case_sensitive: bool = False) -> list[Any]:
    budget = current()
    items = take(budget, "groupby", value)
    getter = jf.make_attrgetter(environment, attribute, default=default)
    check_keys(budget, "groupby", (getter(i) for i in items))
    return jf.sync_do_groupby(environment, items, attribute, default, case_sensitive)


def _dictsort(value: Any, case_sensitive: bool = False, by: str = "key", reverse: bool = False) -> list[Any]:
    budget = current()
    if not isinstance(value, Mapping):
        raise TypeError("dictsort sorts a mapping")
    budget.tick(len(value))
    check_keys(budget, "dictsort", value.keys() if by == "key" else value.values())
    return jf.do_dictsort(value, case_sensitive, by, reverse)  # type: ignore[arg-type]


def _fill_check(budget: Budget, what: str, fill_with: Any, copies: int) -> None:
    cap_int(what, copies)
    if fill_with is not None and measure(fill_with, budget.limits.max_string) * copies > budget.limits.max_string:
        raise BudgetExceeded(f"{what} would build a value too long")


def _batch(value: Any, linecount: int, fill_with: Any = None) -> list[list[Any]]:
    budget = current()
    _fill_check(budget, "batch", fill_with, linecount)
    return list(jf.do_batch(take(budget, "batch", value), linecount, fill_with))


def _slice(value: Any, slices: int, fill_with: Any = None) -> list[list[Any]]:
    budget = current()
    _fill_check(budget, "slice", fill_with, slices)
    return list(jf.sync_do_slice(take(budget, "slice", value), slices, fill_with))


def _sum_numbers(iterable: Iterable[Any], attribute: Any = None, start: Any = 0) -> Any:
    # Jinja's sum adds anything, and adding lists of lists can build a huge list in one call;
    # numbers only, added as they come, so nothing is kept
    budget = current()
    total = start
    if not isinstance(total, (int, float)) or isinstance(total, bool):
        raise TypeError("sum adds numbers only")
    for item in iterable:
        budget.tick()
        if attribute is not None:
            item = item.get(attribute) if isinstance(item, Mapping) else None
        if not isinstance(item, (int, float)) or isinstance(item, bool):
            raise TypeError("sum adds numbers only")
        total += item
    return total


# How every filter a template may use is bounded (a test checks that each one offered is listed).
# "text": its input becomes text, so a container is measured before it is printed; "walks":
# it walks its input a step per item and refuses a list that would hold too much; "keys": what
# it compares or hashes is measured first; the rest is each filter's own bound.
FILTER_BOUNDS: Mapping[str, str] = {
    "abs": "a number", "attr": "a sandboxed attribute lookup", "count": "len()", "length": "len()",
    "d": "returns a value it was given", "default": "returns a value it was given",
    "first": "takes one item", "last": "takes one item of a sequence", "items": "a lazy view",
    "float": "a number", "int": "a number (Python refuses over 4,300 digits)",
    "round": "a number", "map": "lazy; each item calls a bounded filter or attribute",
    "select": "lazy; each item is a counted test", "reject": "lazy; each item is a counted test",
    "selectattr": "lazy; each item is a counted test", "rejectattr": "lazy; each item is a counted test",
    "capitalize": "text; linear", "lower": "text; linear", "upper": "text; at most 3× its input",
    "title": "text; linear", "trim": "text; linear", "striptags": "text; linear (markupsafe 3)",
    "wordcount": "text; linear", "truncate": "text; no longer than its input and end",
    "string": "text", "safe": "text", "e": "text; at most 6× its input", "escape": "text; at most 6× its input",
    "forceescape": "text; at most 6× its input", "urlencode": "text; at most 12× its input",
    "center": "text; width at most max_string", "indent": "text; lines × width estimated first",
    "replace": "text; occurrences × replacement estimated first",
    "wordwrap": "text; lines × separator estimated first, and the work of splitting long words",
    "format": "text; the sum of all widths and the printed arguments estimated first",
    "urlize": "text; the links it may make estimated first, target and rel capped",
    "tojson": "the value measured first, indent at most 8", "xmlattr": "the mapping measured first",
    "join": "walks; each item measured, separators counted, before joining",
    "list": "walks", "reverse": "walks (a string: linear)", "batch": "walks; fill_with × size estimated",
    "slice": "walks; fill_with × slices estimated", "sum": "walks; numbers only, nothing kept",
    "sort": "walks; keys", "unique": "walks; keys", "min": "walks; keys", "max": "walks; keys",
    "groupby": "walks; keys", "dictsort": "walks; keys",
    "localtime": "a time; the format at most 500 characters", "ago": "a time", "duration": "a number",
    "labels": "stops at max_length (else max_string)", "mrkdwn": "text; at most 5× its input, or max_length",
    "fit": "bounded by its max_length",
}

# filters whose input becomes text: a container there is measured before it is printed
_TEXT_INPUT = frozenset({
    "capitalize", "e", "escape", "forceescape", "lower", "safe", "string", "striptags", "title", "trim",
    "truncate", "upper", "urlencode", "wordcount", "mrkdwn", "center", "indent", "replace", "wordwrap", "urlize",
})

# Jinja's filters that are safe as they are or as replaced below; nothing else is offered.
_SAFE_FILTERS = (
    "abs", "attr", "capitalize", "count", "d", "default", "e", "escape", "first", "float", "forceescape",
    "int", "items", "last", "length", "lower", "map", "reject", "rejectattr", "round", "safe", "select",
    "selectattr", "string", "striptags", "title", "trim", "truncate", "upper", "urlencode", "wordcount",
)
_BOUNDED_FILTERS: Mapping[str, Callable[..., Any]] = {
    "batch": _batch, "center": _center, "dictsort": _dictsort, "format": _format, "groupby": _groupby,
    "indent": _indent, "join": _join, "list": _list, "max": _max, "min": _min, "replace": _replace,
    "reverse": _reverse, "slice": _slice, "sort": _sort, "sum": _sum_numbers, "tojson": _tojson,
    "unique": _unique, "urlize": _urlize, "wordwrap": _wordwrap, "xmlattr": _xmlattr,
    "localtime": localtime, "ago": ago, "duration": duration, "labels": labels, "mrkdwn": mrkdwn, "fit": fit,
}


def _guarded(name: str, f: Callable[..., Any]) -> Callable[..., Any]:
    """A filter that counts a step, measures a container it would print, and caps its result."""
    at = 1 if getattr(f, "jinja_pass_arg", None) is not None else 0  # where the value is
    text = name in _TEXT_INPUT

    # on every render's path: the checks inlined
    @functools.wraps(f)
    def run(*args: Any, **kwargs: Any) -> Any:
        budget = BUDGET.get()
        if budget is None:
            raise nodes.Impossible()
        budget.steps += 1  # budget.tick(), inlined: this runs for every filter of every render
        if budget.steps > budget.max_steps or (not budget.steps & 15 and time.monotonic() > budget.deadline):
            budget.tick(0)  # raises the right error
        if text and len(args) > at and type(args[at]) is not str:
            check_text(budget, name, args[at])
        result = f(*args, **kwargs)
        if type(result) is str:
            if len(result) > budget.limits.max_string:
                raise BudgetExceeded(f"template built a value longer than {budget.limits.max_string} items")
            return result
        return budget.size(result)

    return run


def filters() -> dict[str, Callable[..., Any]]:
    table: dict[str, Callable[..., Any]] = {name: DEFAULT_FILTERS[name] for name in _SAFE_FILTERS}
    table.update(_BOUNDED_FILTERS)
    return {name: _guarded(name, f) for name, f in table.items()} | {
        "__budget_iter": _loop_items,
        "__budget_concat": _concat,
    }


def _loop_items(iterable: Iterable[Any], literal: int = 0) -> Iterator[Any]:
    return current().iterate(iterable, literal)


@pass_eval_context
def _concat(eval_ctx: Any, *values: Any) -> str:
    """``a ~ b``: the parts measured before they are joined (a list in one becomes its text)."""
    budget = current()
    limit = budget.limits.max_string
    total = 0
    for v in values:
        total += len(v) if type(v) is str else measure(v, limit)
        if total > limit:
            raise BudgetExceeded(f"template built a value longer than {limit} items")
    return budget.size(markup_join(values) if eval_ctx.autoescape else str_join(values))


def ticked(test: Callable[..., Any]) -> Callable[..., Any]:
    """A test (``is odd``, ``select('in', …)``) counts a step: a filter may run one per item."""

    @functools.wraps(test)
    def run(*args: Any, **kwargs: Any) -> Any:
        current().tick()
        return test(*args, **kwargs)

    return run
