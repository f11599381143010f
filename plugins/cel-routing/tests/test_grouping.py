"""The cel router as a Grouper: which grouping rule takes an alert, the canonical key it gives,
errors that pass the alert on to the next rule, ordering, caching, and key validation.

Behaviour tests run on both engines; the type check of a key only on cel-expr (cel-python
does not type-check). Pure computation: no database.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import pytest
from oncall_hookspecs import AlertView, Grouper, GroupingMatch, GroupingRule, RuleProblem

from oncall_cel_routing import CelRouter
from oncall_cel_routing.engine import Engine, select_engine

ENGINES = ("cel-expr", "cel-python")
_T0 = datetime(2026, 1, 1, tzinfo=UTC)

LABELS = {"alertname": "HighCPU", "cluster": "eu-1", "team": "db"}
ANNOTATIONS: dict[str, Any] = {
    "groupKey": "incident-42",
    "mixed": ["a", 7, True, False],
    "nested": ["a", ["b"]],
    "object": {"k": "v"},
    "number": 5,
    "blank": "",
    "none": [],
    "ratio": 1.5,
}


def alert(labels: Mapping[str, str] | None = None, annotations: Mapping[str, Any] | None = None) -> AlertView:
    return AlertView(
        id=1, integration_id=1, integration_name="prod-alertmanager", source="alertmanager", dedup_key="fp",
        status="triggered", summary="CPU at 97% on node-3", details="", severity="critical",
        labels=LABELS if labels is None else labels,
        annotations=ANNOTATIONS if annotations is None else annotations,
        created_at=_T0, last_received_at=_T0,
    )


def rule(name: str, key: str, condition: str = "true", position: int = 0, version: int = 1) -> GroupingRule:
    return GroupingRule(id=f"id-{name}", name=name, condition=condition, key=key, position=position, version=version)


@pytest.fixture(params=ENGINES, scope="module")
def router(request: pytest.FixtureRequest) -> CelRouter:
    return CelRouter(select_engine(request.param))


@pytest.fixture(scope="module")
def cel_expr() -> CelRouter:
    return CelRouter(select_engine("cel-expr"))


def key_of(router: CelRouter, key: str, a: AlertView | None = None) -> GroupingMatch:
    match: GroupingMatch = router.group(a or alert(), [rule("only", key)])
    return match


# --------------------------------------------------------------------------- keys


def test_the_cel_router_is_a_grouper(router: CelRouter) -> None:
    assert isinstance(router, Grouper)


def test_a_string_key_is_the_string_itself(router: CelRouter) -> None:
    match = key_of(router, "labels.alertname")
    assert (match.rule_id, match.rule_name, match.key, match.errors) == ("id-only", "only", "HighCPU", [])
    assert [(t.rule_id, t.matched, t.error) for t in match.trace] == [("id-only", True, None)]


def test_a_list_key_is_compact_json_text(router: CelRouter) -> None:
    match = key_of(router, "[labels.alertname, labels.cluster]")
    assert match.key == '["HighCPU","eu-1"]'
    assert json.loads(match.key) == ["HighCPU", "eu-1"]


def test_a_key_from_annotations(router: CelRouter) -> None:
    assert key_of(router, "annotations.groupKey").key == "incident-42"


def test_integers_and_booleans_in_a_list_become_their_string_form(router: CelRouter) -> None:
    assert key_of(router, "[labels.alertname, 3, true, false]").key == '["HighCPU","3","true","false"]'
    assert key_of(router, "annotations.mixed").key == '["a","7","true","false"]'


def test_non_ascii_text_stays_as_it_is_in_the_key(router: CelRouter) -> None:
    match = key_of(router, '[labels.alertname, "é", "💥"]', alert(labels={"alertname": 'disk "full" ü'}))
    assert match.key == '["disk \\"full\\" ü","é","💥"]'
    assert match.key == json.dumps(['disk "full" ü', "é", "💥"], ensure_ascii=False, separators=(",", ":"))


@pytest.mark.parametrize(
    ("key", "says"),
    [
        ('""', "the key is an empty string"),
        ("annotations.blank", "the key is an empty string"),
        ("annotations.none", "the key is an empty list"),
        ("annotations.nested", "the key's item 2 is a list"),
        ("annotations.object", "the key is a map"),
        ("annotations.number", "the key is an int"),
        ("[labels.alertname, annotations.ratio]", "the key's item 2 is a double"),
    ],
)
def test_an_unusable_key_is_an_error_naming_the_rule_and_no_rule_takes_the_alert(
    router: CelRouter, key: str, says: str
) -> None:
    match = key_of(router, key)
    assert (match.rule_id, match.rule_name, match.key) == (None, None, None)
    [error] = match.errors
    assert error.startswith("rule 'only': " + says), error
    [trace] = match.trace
    assert trace.matched is False and trace.error is not None and trace.error.startswith(says)


@pytest.mark.parametrize("key", ["[]", "[[labels.alertname]]", '[labels.alertname, {"a": 1}]', "true", "1"])
def test_literal_keys_that_cannot_group_are_errors_on_both_engines(router: CelRouter, key: str) -> None:
    # cel-expr refuses them when compiling (their type), cel-python when evaluating (their value)
    match = key_of(router, key)
    assert match.rule_id is None and len(match.errors) == 1
    assert match.errors[0].startswith("rule 'only': the key"), match.errors


# --------------------------------------------------------------------------- the walk


def test_a_missing_label_in_the_key_is_an_error_and_the_next_rule_takes_the_alert(router: CelRouter) -> None:
    rules = [
        rule("by-region", "[labels.alertname, labels.region]", position=1),
        rule("by-cluster", "[labels.alertname, labels.cluster]", position=2),
    ]
    match = router.group(alert(), rules)
    assert (match.rule_name, match.key) == ("by-cluster", '["HighCPU","eu-1"]')
    [error] = match.errors
    assert error.startswith("rule 'by-region': the key could not be evaluated: ") and "region" in error
    assert [(t.rule_name, t.matched) for t in match.trace] == [("by-region", False), ("by-cluster", True)]
    assert match.trace[0].error is not None and match.trace[1].error is None


def test_a_false_condition_passes_the_alert_to_the_next_rule_without_an_error(router: CelRouter) -> None:
    rules = [
        rule("storage", "labels.alertname", condition='labels.team == "storage"', position=1),
        rule("db", "labels.cluster", condition='labels.team == "db"', position=2),
    ]
    match = router.group(alert(), rules)
    assert (match.rule_name, match.key, match.errors) == ("db", "eu-1", [])
    assert [(t.rule_name, t.matched, t.error) for t in match.trace] == [("storage", False, None), ("db", True, None)]


def test_a_failing_condition_is_in_the_trace_only_and_the_walk_goes_on(router: CelRouter) -> None:
    rules = [
        rule("region", "labels.alertname", condition='labels.region == "eu"', position=1),  # no region label
        rule("non-boolean", "labels.alertname", condition="labels.team", position=2),
        rule("broken", "labels.alertname", condition="labels.team ==", position=3),
        rule("catch-all", "labels.cluster", position=4),
    ]
    match = router.group(alert(), rules)
    assert (match.rule_name, match.key, match.errors) == ("catch-all", "eu-1", [])
    assert [t.rule_name for t in match.trace] == ["region", "non-boolean", "broken", "catch-all"]
    assert all(t.error for t in match.trace[:3]) and match.trace[3].matched


def test_a_key_that_does_not_compile_is_an_error_and_the_walk_goes_on(router: CelRouter) -> None:
    match = router.group(alert(), [rule("bad", "[labels.alertname,", position=1), rule("good", "labels.team", position=2)])
    assert (match.rule_name, match.key) == ("good", "db")
    assert len(match.errors) == 1 and match.errors[0].startswith("rule 'bad': the key does not compile: ")


def test_no_rule_taking_the_alert_is_a_match_with_no_rule(router: CelRouter) -> None:
    match = router.group(alert(), [rule("never", "labels.alertname", condition="false")])
    assert (match.rule_id, match.rule_name, match.key, match.errors) == (None, None, None, [])
    assert router.group(alert(), []) == GroupingMatch()


def test_rules_are_walked_by_position_and_ties_keep_the_order_given(router: CelRouter) -> None:
    rules = [rule("third", '"c"', position=30), rule("first", '"a"', position=10), rule("second", '"b"', position=20)]
    assert router.group(alert(), rules).rule_name == "first"
    tied = [rule("x", '"x"', position=5), rule("y", '"y"', position=5)]
    assert router.group(alert(), tied).rule_name == "x"
    assert router.group(alert(), list(reversed(tied))).rule_name == "y"


def test_rules_after_the_one_that_takes_the_alert_are_not_in_the_trace(router: CelRouter) -> None:
    rules = [rule(f"r{i}", f'"key-{i}"', condition=f'labels.team == "{"db" if i == 3 else "other"}"', position=i)
             for i in range(40)]
    match = router.group(alert(), rules)
    assert (match.rule_name, match.key) == ("r3", "key-3")
    assert [t.rule_name for t in match.trace] == ["r0", "r1", "r2", "r3"]


def test_a_long_list_with_failures_keeps_each_outcome_on_its_rule(router: CelRouter) -> None:
    # on cel-expr runs of rules are walked by one program; a failing condition sends its run
    # one rule at a time
    rules = [rule(f"r{i}", f'"key-{i}"', position=i,
                  condition='labels.missing == "x"' if i % 7 == 3 else f'labels.team == "t{i}"')
             for i in range(60)]
    rules.append(rule("last", "labels.alertname", condition='labels.team == "db"', position=100))
    match = router.group(alert(), rules)
    assert (match.rule_name, match.key, match.errors) == ("last", "HighCPU", [])
    assert [t.rule_name for t in match.trace] == [r.name for r in rules]
    assert [bool(t.error) for t in match.trace[:-1]] == [i % 7 == 3 for i in range(60)]


def test_deeply_nested_conditions_are_walked_alike_however_the_runs_are_split(router: CelRouter) -> None:
    # each rule is a nesting level of cel-expr's walk program, and its parser stops at 32:
    # runs of deep conditions are split until they fit, or walked one by one
    deep = "(" * 28 + 'labels.team == "{}"' + ")" * 28
    rules = [rule(f"r{i}", f'[labels.alertname, "{i}"]', condition=deep.format("db" if i == 14 else f"t{i}"),
                  position=i) for i in range(16)]
    match = router.group(alert(), rules)
    assert (match.rule_name, match.key, match.errors) == ("r14", '["HighCPU","14"]', [])
    assert [t.rule_name for t in match.trace] == [f"r{i}" for i in range(15)]


def test_a_failing_condition_or_key_after_the_rule_that_takes_the_alert_changes_nothing(router: CelRouter) -> None:
    rules = [rule("first", "labels.team", condition='labels.team == "db"', position=1),
             rule("fails", "labels.missing", condition='labels.missing == "x"', position=2),
             rule("bad-key", "labels.missing", position=3)]
    match = router.group(alert(), rules)
    assert (match.rule_name, match.key, match.errors) == ("first", "db", [])
    assert [t.rule_name for t in match.trace] == ["first"]


def test_odd_alerts_and_rules_never_make_group_raise(router: CelRouter) -> None:
    odd = alert(labels={"": "", "nul": "\x00", "alertname": "x" * 10_000}, annotations={"deep": [[[[1]]]], "n": 2**70})
    rules = [rule("a", "(" * 5000), rule("b", "labels.alertname", condition=")" * 50),
             rule("c", "annotations.deep"), rule("d", "[annotations.n]"), rule("e", "labels.alertname")]
    match = router.group(odd, rules)
    assert match.rule_name == "e" and match.key == "x" * 10_000
    assert all(len(e) <= 520 for e in match.errors)
    # text no stored alert holds (a lone surrogate): cel-expr cannot take it, and nothing raises
    unstorable = router.group(alert(labels={"alertname": "\ud800"}), rules)
    assert unstorable.rule_name in (None, "e")


# --------------------------------------------------------------------------- caching


class CountingEngine:
    """Wraps an engine and counts what it compiles."""

    def __init__(self, inner: Engine) -> None:
        self.inner = inner
        self.name, self.batches, self.blocking = inner.name, inner.batches, inner.blocking
        self.conditions: list[str] = []
        self.keys: list[str] = []

    def compile(self, condition: str) -> Any:
        self.conditions.append(condition)
        return self.inner.compile(condition)

    def compile_batch(self, conditions: Sequence[str]) -> Any | None:
        return self.inner.compile_batch(conditions)

    def bind(self, variables: Mapping[str, Any]) -> Any:
        return self.inner.bind(variables)

    def evaluate(self, program: Any, activation: Any) -> bool:
        held: bool = self.inner.evaluate(program, activation)
        return held

    def evaluate_batch(self, batch: Any, activation: Any) -> list[bool] | None:
        held: list[bool] | None = self.inner.evaluate_batch(batch, activation)
        return held

    def compile_value(self, expression: str) -> Any:
        self.keys.append(expression)
        return self.inner.compile_value(expression)

    def value_type(self, program: Any) -> str | None:
        kind: str | None = self.inner.value_type(program)
        return kind

    def evaluate_value(self, program: Any, activation: Any) -> Any:
        return self.inner.evaluate_value(program, activation)

    def compile_walk(self, pairs: Sequence[tuple[str, str]]) -> Any | None:
        return self.inner.compile_walk(pairs)

    def evaluate_walk(self, walk: Any, activation: Any) -> tuple[int, Any] | None:
        found: tuple[int, Any] | None = self.inner.evaluate_walk(walk, activation)
        return found


@pytest.mark.parametrize("engine_name", ENGINES)
def test_each_rule_version_is_compiled_once_and_edits_take_effect(engine_name: str) -> None:
    engine = CountingEngine(select_engine(engine_name))
    router = CelRouter(engine)
    v1 = [rule("g", "labels.alertname", condition='labels.team == "db"')]
    for _ in range(3):
        assert router.group(alert(), v1).key == "HighCPU"
    assert (engine.conditions, engine.keys) == (['labels.team == "db"'], ["labels.alertname"])

    v2 = [rule("g", "labels.cluster", condition='labels.team == "db"', version=2)]
    assert router.group(alert(), v2).key == "eu-1"
    # a draft under the same id and version is compiled anew, never served the stale program
    draft_key = [rule("g", "labels.team", condition='labels.team == "db"', version=2)]
    assert router.group(alert(), draft_key).key == "db"
    draft_condition = [rule("g", "labels.team", condition='labels.team == "storage"', version=2)]
    assert router.group(alert(), draft_condition).rule_id is None
    assert engine.keys == ["labels.alertname", "labels.cluster", "labels.team", "labels.team"]
    assert engine.conditions == ['labels.team == "db"'] * 3 + ['labels.team == "storage"']
    # back to a version seen before: still cached
    router.group(alert(), v1)
    assert len(engine.keys) == 4


def test_grouping_and_routing_rules_sharing_an_id_do_not_share_programs(router: CelRouter) -> None:
    from oncall_hookspecs import RoutingRule, RuleActions

    shared = "id-shared"
    routing = [RoutingRule(id=shared, name="r", condition='labels.team == "db"',
                           actions=RuleActions(escalation_policy_id="p"))]
    grouping = [GroupingRule(id=shared, name="g", condition='labels.team == "storage"', key="labels.alertname")]
    assert router.route_now(alert(), routing, RuleActions()).matched_rules == ["r"]
    assert router.group(alert(), grouping).rule_id is None
    assert router.route_now(alert(), routing, RuleActions()).matched_rules == ["r"]


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    "key",
    ["labels.alertname", "[labels.alertname, labels.cluster]", "annotations.groupKey", "[labels.alertname, 1, true]",
     'labels.?cluster.orValue("none")', 'summary.matches("^CPU") ? "cpu" : labels.alertname'],
)
def test_a_usable_key_has_no_problems(router: CelRouter, key: str) -> None:
    assert router.validate_key(key) == []


def test_an_empty_key_is_refused(router: CelRouter) -> None:
    assert [(p.position, p.line, p.column) for p in router.validate_key("  ")] == [(0, 1, 1)]


def test_a_syntax_error_in_a_key_names_its_position(router: CelRouter) -> None:
    [problem] = router.validate_key("[labels.alertname,\n labels.]")
    assert (problem.line, problem.column) == (2, 9)
    assert problem.position == len("[labels.alertname,\n labels.")


def test_a_broken_literal_pattern_in_a_key_is_refused_at_its_position(router: CelRouter) -> None:
    key = 'summary.matches("cpu (") ? "cpu" : "other"'
    [problem] = router.validate_key(key)
    assert problem.position == key.index('"cpu (')


@pytest.mark.parametrize(
    ("key", "kind"),
    [("true", "a bool"), ('labels.team == "db"', "a bool"), ("1 + 2", "an int"), ("2.5", "a double"),
     ("labels", "a map(string, string)"), ("[1, 2]", "a list(int)"), ("[[labels.team]]", "a list(list(string))"),
     ("labels.?team", "an optional(string)")],
)
def test_a_key_whose_type_cannot_be_a_key_is_refused_at_its_start(cel_expr: CelRouter, key: str, kind: str) -> None:
    [problem] = cel_expr.validate_key(f"  // the key\n  {key}")
    assert problem.message == f"the key must be a string or a list of strings; it is {kind}"
    assert (problem.position, problem.line, problem.column) == (len("  // the key\n  "), 2, 3)


def test_type_errors_in_a_key_are_refused_with_their_position(cel_expr: CelRouter) -> None:
    [problem] = cel_expr.validate_key('"x" + 1')
    assert problem.position == 4 and "overload" in problem.message


def test_hostile_key_text_validates_without_raising(router: CelRouter) -> None:
    for text in ["(" * 10_000, "\x00", "\ud800", '"unterminated', "a" * 100_000, "[" * 3000, "💥"]:
        problems = router.validate_key(text)
        assert all(isinstance(p, RuleProblem) for p in problems)
        assert all(p.position is None or 0 <= p.position <= len(text) for p in problems)


# --------------------------------------------------------------------------- both engines agree

DIFFERENTIAL = [
    "labels.alertname",
    "[labels.alertname, labels.cluster]",
    "[labels.alertname, 1, true, false, -3]",
    "annotations.groupKey",
    "annotations.mixed",
    'labels.?region.orValue("global")',
    '[labels.alertname, labels.?region.orValue("")]',
    'labels.team + "/" + labels.cluster',
    '[severity, integration, source, status]',
    'summary.matches("^CPU") ? [labels.team] : [labels.alertname]',
    "annotations.nested",
    "[labels.missing]",
    '""',
    "labels.filter(k, k.startsWith(\"a\"))",
    "[labels.alertname].map(x, x + \"!\")",
]


def outcome(match: GroupingMatch) -> str:
    return match.key if match.key is not None else "error" if match.errors else "none"


def test_both_engines_give_the_same_canonical_key() -> None:
    routers = {name: CelRouter(select_engine(name)) for name in ENGINES}
    samples = [alert(), alert(labels={"alertname": "Überlast", "cluster": "ap", "team": "web", "region": "apac"})]
    for sample in samples:
        answers = {name: [outcome(r.group(sample, [rule("k", key)])) for key in DIFFERENTIAL]
                   for name, r in routers.items()}
        assert answers["cel-expr"] == answers["cel-python"], list(zip(DIFFERENTIAL, *answers.values(), strict=True))
    keys = [outcome(routers["cel-expr"].group(alert(), [rule("k", key)])) for key in DIFFERENTIAL]
    assert keys[:3] == ["HighCPU", '["HighCPU","eu-1"]', '["HighCPU","1","true","false","-3"]']
    assert keys.count("error") == 3
