"""Grouping rules plain enough to read in Python: their answer for an alert without crossing into CEL.

Most grouping rules are lookups: a condition ``true`` or ``has(labels.x) && has(labels.y)``,
a key ``annotations.groupKey`` or ``[labels.alertname, labels.cluster]``. Binding an alert's
variables and crossing into the engine costs far more than reading two labels, and
grouping runs for every new alert. :func:`direct_rule` recognises such a rule from its
text; :func:`direct_match` then gives the engine's answer for an alert, or None where it
cannot be sure of it, and the engine decides as before. It is sure only when the answer is a
match or a miss: anything that would be an error (a missing label, a value that is not a
string, an empty key) is left to the engine, which words the error. The data a rule reads
must also be plain (str keys and values, JSON types, no NUL and no lone surrogate, not
deeply nested): engines convert such data as it is, and other data (cel-expr truncates a
string at NUL and refuses a lone surrogate) is left to them.

Only rules whose condition and key the engine compiled are read here, so a text the engine
refuses (a reserved word as a field, say) never reaches this module's reading of it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from oncall_hookspecs import AlertView, GroupingMatch, GroupingRule, RuleTrace

from .lexer import Token, significant
from .variables import STRING_VARIABLES

#: the maps a lookup may read a field of
MAPS = ("labels", "annotations")
#: how json.dumps(…, ensure_ascii=False) writes a string (the C function it uses)
_JSON_STRING = json.encoder.encode_basestring
#: nesting beyond this in a map the rule reads: left to the engine
MAX_DEPTH = 32


@dataclass(frozen=True, slots=True)
class Lookup:
    """``labels.<field>``, ``annotations.<field>``, or a string variable (``field`` None)."""

    variable: str
    field: str | None = None


@dataclass(frozen=True, slots=True)
class DirectRule:
    """A rule read in Python: the fields its condition needs present, and the key's lookups."""

    present: tuple[Lookup, ...]  # ``has()`` of each, joined by &&; empty: the condition ``true``
    key: tuple[Lookup, ...]
    key_is_list: bool
    maps: tuple[str, ...]  # the maps it reads (labels, annotations)


def direct_rule(condition: str, key: str) -> DirectRule | None:
    """The rule as lookups, or None when its condition or key is more than that."""
    present = _condition(significant(condition))
    if present is None:
        return None
    toks = significant(key)
    is_list = bool(toks) and toks[0].text == "[" and toks[-1].text == "]"
    items = _list(toks[1:-1]) if is_list else (_lookup(toks),)
    if not items or None in items:
        return None
    lookups = tuple(item for item in items if item is not None)
    maps = tuple(name for name in MAPS if any(lookup.variable == name for lookup in present + lookups))
    return DirectRule(present, lookups, is_list, maps)


def _condition(toks: list[Token]) -> tuple[Lookup, ...] | None:
    if len(toks) == 1 and toks[0].kind == "ident" and toks[0].text == "true":
        return ()
    present: list[Lookup] = []
    for part in _split(toks, "&&"):
        # has ( map . field )
        if (len(part) != 6 or part[0].text != "has" or part[0].kind != "ident" or part[1].text != "("
                or part[5].text != ")"):
            return None
        found = _lookup(part[2:5])
        if found is None or found.field is None:
            return None
        present.append(found)
    return tuple(present) or None


def _list(toks: list[Token]) -> tuple[Lookup, ...] | None:
    items = []
    for part in _split(toks, ","):
        found = _lookup(part)
        if found is None:
            return None
        items.append(found)
    return tuple(items)


def _split(toks: list[Token], separator: str) -> list[list[Token]]:
    parts: list[list[Token]] = [[]]
    for tok in toks:
        if tok.kind == "punct" and tok.text == separator:
            parts.append([])
        else:
            parts[-1].append(tok)
    return parts


def _lookup(toks: list[Token]) -> Lookup | None:
    if len(toks) == 1 and toks[0].kind == "ident" and toks[0].text in STRING_VARIABLES:
        return Lookup(toks[0].text)
    if (len(toks) == 3 and toks[0].kind == "ident" and toks[0].text in MAPS and toks[1].text == "."
            and toks[2].kind == "ident"):
        return Lookup(toks[0].text, toks[2].text)
    return None


# --------------------------------------------------------------------------- reading an alert

_UNSURE = object()  # the engine must decide


def direct_match(alert: AlertView, ordered: Sequence[GroupingRule], direct: Sequence[DirectRule | None]
                 ) -> GroupingMatch | None:
    """The engine's answer for ``alert`` over ``ordered`` rules (``direct[i]`` read as rule i),
    or None when any rule walked is not direct or its outcome is not certain."""
    maps: dict[str, Mapping[str, Any]] = {}  # the maps read so far, each checked plain once
    trace: list[RuleTrace] = []
    for rule, plan in zip(ordered, direct, strict=True):
        if plan is None:
            return None
        for name in plan.maps:
            if name not in maps:
                value = alert.labels if name == "labels" else alert.annotations
                if not _plain_map(value, name == "labels"):
                    return None
                maps[name] = value
        if not all(lookup.field in maps[lookup.variable] for lookup in plan.present):
            trace.append(RuleTrace(rule.id, rule.name, False))
            continue
        key = _key(alert, maps, plan)
        if key is None:
            return None  # an error, worded by the engine
        trace.append(RuleTrace(rule.id, rule.name, True))
        return GroupingMatch(rule_id=rule.id, rule_name=rule.name, key=key, trace=trace)
    return GroupingMatch(trace=trace)


def _read(alert: AlertView, maps: dict[str, Mapping[str, Any]], lookup: Lookup) -> Any:
    """The looked-up value, or _UNSURE (missing, not plain)."""
    if lookup.field is not None:
        return maps[lookup.variable].get(lookup.field, _UNSURE)
    value = getattr(alert, "integration_name" if lookup.variable == "integration" else lookup.variable) or ""
    return value if type(value) is str and _plain_text(value) else _UNSURE


def _key(alert: AlertView, maps: dict[str, Mapping[str, Any]], plan: DirectRule) -> str | None:
    if not plan.key_is_list:
        value = _read(alert, maps, plan.key[0])
        return value if type(value) is str and value else None
    items = []
    for lookup in plan.key:
        value = _read(alert, maps, lookup)
        if type(value) is not str:
            return None
        items.append(value)
    return "[" + ",".join(map(_JSON_STRING, items)) + "]"


def _plain_text(text: str) -> bool:
    if "\x00" in text:
        return False
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate
        return False
    return True


def _plain_map(value: Any, strings_only: bool) -> bool:
    if type(value) is not dict and not isinstance(value, Mapping):
        return False
    if strings_only:  # labels: str to str, checked in one pass over the joined text
        try:
            return _plain_text("".join(value) + "\x01" + "".join(value.values()))
        except TypeError:  # a key or value that is not a str
            return False
    return _plain_json(value, 0)


def _plain_json(value: Any, depth: int) -> bool:
    kind = type(value)
    if kind is str:
        return _plain_text(value)
    if value is None or kind is bool or kind is int or kind is float:
        return True
    if depth >= MAX_DEPTH:
        return False
    if kind is dict or isinstance(value, Mapping):
        return all(type(k) is str and _plain_text(k) and _plain_json(v, depth + 1) for k, v in value.items())
    if kind is list or kind is tuple:
        return all(_plain_json(v, depth + 1) for v in value)
    return False
