"""Plain grouping rules read in Python (``oncall_cel_routing.direct``) give exactly the engine's answer.

Each case groups the same alert twice with the same router, once reading plain rules in
Python and once through the engine only, and compares the whole GroupingMatch: rule, key,
trace and errors. Hostile alerts (missing labels, NUL, lone surrogates, values of every
JSON type, non-string keys) come from hypothesis. Pure computation: no database.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from oncall_hookspecs import AlertView, GroupingMatch, GroupingRule

from oncall_cel_routing import CelRouter
from oncall_cel_routing.direct import DirectRule, Lookup, direct_rule
from oncall_cel_routing.engine import select_engine

ENGINES = ("cel-expr", "cel-python")
_T0 = datetime(2026, 1, 1, tzinfo=UTC)

#: (condition, key) pairs read in Python: the shipped presets and the usual keys
PLAIN = [
    ("true", "[labels.alertname, labels.cluster]"),
    ("has(annotations.groupKey)", "annotations.groupKey"),
    ("has(labels.alertname) && has(labels.cluster)", "[labels.alertname, labels.cluster]"),
    ("true", "integration"),
    ("true", "labels.alertname"),
    ("has(labels.team)", "[labels.team, annotations.groupKey, severity, source, status, summary]"),
]


def alert(labels: Any, annotations: Any, summary: str = "CPU at 97%", severity: str = "critical") -> AlertView:
    return AlertView(
        id=1, integration_id=1, integration_name="prod-alertmanager", source="alertmanager", dedup_key="fp",
        status="triggered", summary=summary, details="", severity=severity, labels=labels, annotations=annotations,
        created_at=_T0, last_received_at=_T0,
    )


def rules(pairs: list[tuple[str, str]]) -> list[GroupingRule]:
    return [GroupingRule(id=f"r{i}", name=f"rule {i}", condition=c, key=k, position=i) for i, (c, k) in enumerate(pairs)]


def both_ways(router: CelRouter, view: AlertView, walked: list[GroupingRule]) -> tuple[GroupingMatch, GroupingMatch]:
    grouping = router._grouping
    grouping.direct = True
    direct = router.group(view, walked)
    grouping.direct = False
    try:
        engine = router.group(view, walked)
    finally:
        grouping.direct = True
    return direct, engine


@pytest.fixture(params=ENGINES, scope="module")
def router(request: pytest.FixtureRequest) -> CelRouter:
    return CelRouter(select_engine(request.param))


def test_the_presets_and_usual_keys_are_read_in_python() -> None:
    assert direct_rule("true", "[labels.alertname, labels.cluster]") == DirectRule(
        (), (Lookup("labels", "alertname"), Lookup("labels", "cluster")), True, ("labels",))
    assert direct_rule("has(annotations.groupKey)", "annotations.groupKey") == DirectRule(
        (Lookup("annotations", "groupKey"),), (Lookup("annotations", "groupKey"),), False, ("annotations",))
    assert direct_rule(" true ", "integration") == DirectRule((), (Lookup("integration"),), False, ())


@pytest.mark.parametrize(
    ("condition", "key"),
    [
        ('labels.team == "db"', "labels.alertname"),
        ("true", 'labels.?cluster.orValue("")'),
        ("true", '[labels.alertname, "x"]'),
        ("has(labels.a) || has(labels.b)", "labels.a"),
        ("true", "labels"),
        ("true", "[]"),
        ("true", "[labels.a,]"),
        ("has(labels)", "labels.a"),
        ("true && true", "labels.a"),
        ("true", "labels[\"a\"]"),
        ("true", "nothing"),
    ],
)
def test_anything_more_than_lookups_is_left_to_the_engine(condition: str, key: str) -> None:
    assert direct_rule(condition, key) is None


def test_a_plain_alert_is_grouped_in_python_as_the_engine_groups_it(router: CelRouter) -> None:
    view = alert({"alertname": "HighCPU", "cluster": "eu-1", "team": "db"}, {"groupKey": '{}:{alertname="x"}'})
    for pair in PLAIN:
        direct, engine = both_ways(router, view, rules([pair]))
        assert direct == engine
        assert direct.rule_id == "r0" and direct.key, pair


def test_a_false_has_passes_the_alert_on_as_the_engine_does(router: CelRouter) -> None:
    view = alert({"alertname": "HighCPU", "cluster": "eu-1"}, {})
    walked = rules([("has(annotations.groupKey)", "annotations.groupKey"), ("true", "[labels.alertname, labels.cluster]")])
    direct, engine = both_ways(router, view, walked)
    assert direct == engine
    assert [(t.rule_id, t.matched) for t in direct.trace] == [("r0", False), ("r1", True)]
    nothing = rules([("has(annotations.groupKey)", "annotations.groupKey")])
    assert both_ways(router, view, nothing)[0] == both_ways(router, view, nothing)[1] == GroupingMatch(
        trace=direct.trace[:1])


@pytest.mark.parametrize(
    ("labels", "annotations"),
    [
        ({"alertname": "HighCPU"}, {}),  # a missing label: an error the engine words
        ({"alertname": "", "cluster": ""}, {"groupKey": ""}),  # an empty key
        ({"alertname": "nul\x00inside", "cluster": "eu"}, {"groupKey": "a\x00b"}),  # cel-expr stops at NUL
        ({"alertname": "\ud800", "cluster": "eu"}, {"groupKey": "\udfff"}),  # cel-expr cannot take a surrogate
        ({"alertname": "x", "cluster": "eu", "k\x00": "v", "k": "w"}, {"groupKey": "g", "a\x00": 1, "a": 2}),
        ({"alertname": 5, "cluster": None}, {"groupKey": 7}),  # not strings (a careless caller)
        ({"alertname": "x", "cluster": "eu"}, {"groupKey": ["a", 1, True], "deep": [[[[[1]]]]] * 3}),
        ({"alertname": "x", "cluster": "eu"}, {"groupKey": {"k": "v"}, "n": 2**70, "f": 1.5, "z": None}),
        ({"alertname": "x", "cluster": "eu"}, {"groupKey": "g", "nested": {"\ud800": "x"}}),
    ],
)
def test_odd_data_gets_the_engines_answer(router: CelRouter, labels: Any, annotations: Any) -> None:
    view = alert(labels, annotations, summary="")
    for pair in PLAIN:
        direct, engine = both_ways(router, view, rules([pair]))
        assert direct == engine, pair


def test_a_rule_after_one_the_engine_must_walk_is_walked_by_the_engine(router: CelRouter) -> None:
    view = alert({"alertname": "HighCPU", "cluster": "eu-1", "team": "db"}, {"groupKey": "g"})
    walked = rules([('labels.team == "storage"', "labels.alertname"), ("true", "[labels.alertname, labels.cluster]")])
    direct, engine = both_ways(router, view, walked)
    assert direct == engine and direct.rule_id == "r1"


_TEXT = st.text(max_size=8) | st.sampled_from(["", "\x00", "\ud800", "alertname", "cluster", "groupKey", "é💥"])
_JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | _TEXT,
                     lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_TEXT, inner, max_size=3),
                     max_leaves=8)
_NAMES = st.sampled_from(["alertname", "cluster", "team", "groupKey"]) | _TEXT


@pytest.mark.parametrize("engine_name", ENGINES)
def test_hostile_alerts_get_the_engines_answer(engine_name: str) -> None:
    router = CelRouter(select_engine(engine_name))
    walked = rules(PLAIN[1:3] + PLAIN[:1] + PLAIN[3:])

    @settings(max_examples=300 if engine_name == "cel-expr" else 60, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(labels=st.dictionaries(_NAMES, _TEXT | st.integers(), max_size=5),
           annotations=st.dictionaries(_NAMES, _JSON, max_size=4), summary=_TEXT, severity=_TEXT)
    def same(labels: dict[str, Any], annotations: dict[str, Any], summary: str, severity: str) -> None:
        view = alert(labels, annotations, summary, severity)
        for start in range(len(walked)):
            direct, engine = both_ways(router, view, walked[start:])
            assert direct == engine, (labels, annotations, walked[start].key)

    same()
