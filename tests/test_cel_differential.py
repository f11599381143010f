"""Both CEL engines give the same answer (match, no match or error) for the whole corpus.

The corpus (tests/cel_corpus.py) runs over every sample alert through cel-expr and
cel-python. Each condition is routed on its own, and also as one long list of ``continue_``
rules, which cel-expr evaluates in batched segments: all of these must agree. Values are
compared too (conversions, ``string()``, indexing, macros), where a match could hide a
difference.
"""

from __future__ import annotations

import math
from collections import Counter

import pytest

from cel_corpus import ALERTS, CONDITIONS
from oncall_hookspecs import AlertView, RoutingRule, RuleActions
from oncall_cel_routing import CelRouter
from oncall_cel_routing.engine import Engine, EvaluationError, select_engine

ENGINES = ("cel-expr", "cel-python")


def outcome(matched: bool, error: str | None) -> str:
    return "error" if error is not None else "match" if matched else "no match"


@pytest.fixture(scope="module")
def routers() -> dict[str, CelRouter]:
    return {name: CelRouter(select_engine(name)) for name in ENGINES}


def corpus_rules() -> list[RoutingRule]:
    return [
        RoutingRule(id=f"c{i}", name=condition, condition=condition, continue_=True, position=i)
        for i, condition in enumerate(CONDITIONS)
    ]


def one_by_one(router: CelRouter, alert: AlertView) -> dict[str, str]:
    answers = {}
    for rule in corpus_rules():
        [trace] = router.route_now(alert, [rule], RuleActions()).trace
        answers[rule.condition] = outcome(trace.matched, trace.error)
    return answers


def all_at_once(router: CelRouter, alert: AlertView) -> dict[str, str]:
    decision = router.route_now(alert, corpus_rules(), RuleActions())
    assert len(decision.trace) == len(CONDITIONS)
    return {t.rule_name: outcome(t.matched, t.error) for t in decision.trace}


def test_the_corpus_is_broad_and_compiles_on_both_engines(routers: dict[str, CelRouter]) -> None:
    assert len(CONDITIONS) >= 50
    assert len(set(CONDITIONS)) == len(CONDITIONS)
    for name, router in routers.items():
        for alert in ALERTS.values():
            failed = [t.rule_name for t in router.route_now(alert, corpus_rules(), RuleActions()).trace
                      if t.error and t.error.startswith("does not compile")]
            assert failed == [], f"{name} cannot compile {failed}"


@pytest.mark.parametrize("alert_name", sorted(ALERTS))
def test_both_engines_agree_on_every_condition(routers: dict[str, CelRouter], alert_name: str) -> None:
    alert = ALERTS[alert_name]
    answers = {
        (name, how): run(router, alert)
        for name, router in routers.items()
        for how, run in (("one by one", one_by_one), ("all at once", all_at_once))
    }
    reference = answers[("cel-expr", "one by one")]
    differences = [
        f"{condition!r}: " + ", ".join(f"{name} ({how}) {answer[condition]}" for (name, how), answer in answers.items())
        for condition in CONDITIONS
        if len({answer[condition] for answer in answers.values()}) > 1
    ]
    assert differences == [], "\n".join(differences)
    # the alert exercises the corpus: no condition set is all one answer
    assert len(set(reference.values())) == 3, Counter(reference.values())


# Values, not just match / no match: conversions and formatting, where celpy's own differ.
VALUES = [
    'int("+1")', 'int(" 1")', 'int("0x10")', 'int("1e3")', 'int("١")', 'int("9223372036854775808")',
    'int("-9223372036854775808")', 'int("")', 'int("1_0")', 'uint("+1")', 'uint("-0")', 'uint("0x10")',
    'double("1e3")', 'double(" 1")', 'double("-Infinity")', 'double("0x1p3")', 'double("1_0")', 'double("")',
    'double("1.5f")', 'double(".5")', 'double(dyn(true))', 'bool("True")', 'bool("t")', 'bool("yes")', 'bool(dyn(1))',
    'duration("1d")', 'duration("0")', 'duration("")', 'duration("1")', 'duration("+1s")', 'duration("-1.5h")',
    'duration(".5s")', 'duration("1h30m")', 'duration("1µs")', 'duration("1us")', 'duration("1ms")',
    'duration("1S")', 'duration("315576000000s")', 'duration("315576000001s")', 'duration(" 1s")',
    'duration("1h 30m")', 'duration(dyn(1))',
    'timestamp("2024-01-01T00:00:00Z")', 'timestamp("2024-01-01t00:00:00z")', 'timestamp("2024-01-01 00:00:00Z")',
    'timestamp("2024-01-01T00:00:00+01:00")', 'timestamp("2024-01-01T00:00:00")', 'timestamp("2024-01-01")',
    'timestamp("2024-02-30T00:00:00Z")', 'timestamp("0001-01-01T00:00:00Z")', 'timestamp("9999-12-31T23:59:59-01:00")',
    'timestamp("2024-01-01T00:00:00+24:00")', 'timestamp(1700000000)', 'timestamp(dyn(253402300800))',
    'timestamp("2024-01-01T00:00:00+01:00").getHours()',
    'string(1.0)', 'string(-0.0)', 'string(100.0)', 'string(123456.0)', 'string(1234567.0)', 'string(1e15)',
    'string(1e-5)', 'string(0.0001)', 'string(1.0 / 3.0)', 'string(1e100)', 'string(double("nan"))',
    'string(true)', 'string(duration("1.5s"))', 'string(duration("-1ms"))',
    'string(timestamp("2024-01-01T00:00:00.5Z"))', 'string(timestamp("0001-01-01T00:00:00.000123Z"))',
    'string(dyn([1]))', 'string(dyn(null))',
    '[1, 2][-1]', '[1, 2][dyn(1.0)]', '[1, 2][dyn(1u)]', 'dyn([1, 2])[1.5]', 'dyn({1: "a"})[1.0]', 'dyn({1: "a"})[2]',
    '{0.75: 1}', '{null: 1}', '{"a": 1, "a": 2}', 'dyn("abc")[0]',
    '[1, 2, 3].map(x, x > 1, x * 2)', '{"a": 1, "b": 2}.map(k, k == "b", k + "!")', '[1, 2].map(x, dyn(x), x)',
    '[1, 2].filter(x, dyn(x))', '[1, 2].exists_one(x, dyn(x))', '[0, 1].map(x, 1 / x).size() == 2 || true',
    '"\\?\\`\\\\?"', 'b"\\?"', 'r"\\?"',
]


def value_of(engine: Engine, expression: str) -> object:
    try:
        return engine.evaluate_value(engine.compile_value(expression), engine.bind({}))
    except EvaluationError:
        return "error"


@pytest.mark.parametrize("expression", VALUES)
def test_both_engines_give_the_same_value(expression: str) -> None:
    cel_expr, cel_python = (value_of(select_engine(name), expression) for name in ENGINES)
    if isinstance(cel_expr, float) and math.isnan(cel_expr):
        assert isinstance(cel_python, float) and math.isnan(cel_python)
    else:
        assert cel_python == cel_expr
