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

from cel_corpus import ALERTS, CONDITIONS, VALUES
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
