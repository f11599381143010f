"""The CEL router: rule order, continue and the merge rule, the default route, suppress,
severity and labels, errors as misses, validation with positions, caching and engine choice.

Behaviour tests run on both engines; type-checking tests only on cel-expr (cel-python does
not type-check). The router is pure computation, so these tests need no database.
"""

from __future__ import annotations

import importlib.util
import logging
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from cel_corpus import CONDITIONS
from oncall_hookspecs import AlertView, RoutingRule, RuleActions
from oncall.plugins import load_plugins
from oncall_cel_routing import CelRouter
from oncall_cel_routing.cel_expr_engine import CelExprEngine
from oncall_cel_routing.engine import select_engine

ENGINES = ("cel-expr", "cel-python")
ROOT = Path(__file__).resolve().parent.parent
_T0 = datetime(2026, 1, 1, tzinfo=UTC)


def alert(
    labels: dict[str, str] | None = None,
    annotations: dict[str, Any] | None = None,
    severity: str = "critical",
    summary: str = "Disk almost full on db-1",
) -> AlertView:
    return AlertView(
        id=1,
        integration_id=1,
        integration_name="prod-alertmanager",
        source="alertmanager",
        dedup_key="k",
        status="triggered",
        summary=summary,
        details="",
        severity=severity,
        labels=labels if labels is not None else {"team": "db", "env": "prod"},
        annotations=annotations if annotations is not None else {},
        created_at=_T0,
        last_received_at=_T0,
    )


def rule(
    name: str,
    condition: str,
    position: int = 0,
    continue_: bool = False,
    version: int = 1,
    **actions: Any,
) -> RoutingRule:
    return RoutingRule(
        id=f"id-{name}",
        name=name,
        condition=condition,
        actions=RuleActions(**actions),
        continue_=continue_,
        position=position,
        version=version,
    )


@pytest.fixture(params=ENGINES, scope="module")
def router(request: pytest.FixtureRequest) -> CelRouter:
    return CelRouter(select_engine(request.param))


@pytest.fixture(scope="module")
def cel_expr() -> CelRouter:
    return CelRouter(select_engine("cel-expr"))


DEFAULT = RuleActions(escalation_policy_id="triage", template_id="plain", channel_destinations=["slack:#unrouted"])


# --------------------------------------------------------------------------- order and merging


async def test_the_first_match_by_position_wins_and_later_rules_are_not_evaluated(router: CelRouter) -> None:
    rules = [  # given out of order: position decides
        rule("catch-all", "true", position=9, escalation_policy_id="everyone"),
        rule("db", 'labels.team == "db"', position=2, escalation_policy_id="db-oncall"),
        rule("web", 'labels.team == "web"', position=1, escalation_policy_id="web-oncall"),
        rule("prod", 'labels.env == "prod"', position=5, escalation_policy_id="prod-oncall"),
    ]
    decision = await router.route(alert(), rules, DEFAULT)

    assert decision.matched_rules == ["db"]
    assert decision.escalation_policy_id == "db-oncall"
    assert [(t.rule_name, t.matched) for t in decision.trace] == [("web", False), ("db", True)]
    assert decision.default_route is False
    assert decision.errors == []


async def test_rules_sharing_a_position_keep_the_order_given(router: CelRouter) -> None:
    rules = [rule("second", "true", escalation_policy_id="b"), rule("first", "true", escalation_policy_id="a")]
    decision = await router.route(alert(), rules, DEFAULT)
    assert decision.matched_rules == ["second"]


async def test_continue_accumulates_later_matches_by_the_documented_merge_rule(router: CelRouter) -> None:
    rules = [
        rule("tag-prod", 'labels.env == "prod"', 1, continue_=True, escalation_policy_id="prod",
             channel_destinations=["slack:#prod"], set_labels={"tier": "1", "owner": "ops"}, set_severity="error"),
        rule("web", 'labels.team == "web"', 2, escalation_policy_id="web"),
        rule("db-chat", 'labels.team == "db"', 3, continue_=True, template_id="db-template",
             channel_destinations=["slack:#prod", "email:dba@example.com"], set_labels={"owner": "dba"}),
        rule("db-page", 'labels.team == "db"', 4, escalation_policy_id="db-oncall", ticket_provider="jira"),
        rule("never-reached", "true", 5, escalation_policy_id="everyone", suppress=True),
    ]
    decision = await router.route(alert(), rules, DEFAULT)

    assert decision.matched_rules == ["tag-prod", "db-chat", "db-page"]
    # single values: the last matching rule that sets one wins; an unset value changes nothing
    assert decision.escalation_policy_id == "db-oncall"
    assert decision.template_id == "db-template"
    assert decision.ticket_provider == "jira"
    assert decision.severity == "error"
    # destinations accumulate without duplicates; labels merge, later values win
    assert decision.channel_destinations == ["slack:#prod", "email:dba@example.com"]
    assert decision.labels == {"tier": "1", "owner": "dba"}
    assert decision.suppress is False
    assert [t.rule_name for t in decision.trace] == ["tag-prod", "web", "db-chat", "db-page"]


async def test_the_default_route_applies_in_full_when_nothing_matches(router: CelRouter) -> None:
    default = RuleActions(escalation_policy_id="triage", template_id="plain", channel_destinations=["slack:#unrouted"],
                          ticket_provider="jira", set_severity="warning", set_labels={"routed": "no"})
    rules = [rule("web", 'labels.team == "web"', escalation_policy_id="web")]
    decision = await router.route(alert(), rules, default)

    assert decision.default_route is True
    assert decision.matched_rules == []
    assert (decision.escalation_policy_id, decision.template_id, decision.ticket_provider) == ("triage", "plain", "jira")
    assert decision.channel_destinations == ["slack:#unrouted"]
    assert (decision.severity, decision.labels) == ("warning", {"routed": "no"})
    assert [(t.rule_name, t.matched) for t in decision.trace] == [("web", False)]


async def test_with_no_rules_the_default_route_applies(router: CelRouter) -> None:
    decision = await router.route(alert(), [], DEFAULT)
    assert decision.default_route is True
    assert decision.escalation_policy_id == "triage"


async def test_an_alert_that_only_meets_enrichment_rules_still_gets_the_default_policy(router: CelRouter) -> None:
    rules = [rule("label-prod", 'labels.env == "prod"', continue_=True, set_labels={"tier": "1"})]
    decision = await router.route(alert(), rules, DEFAULT)

    assert decision.default_route is False
    assert decision.matched_rules == ["label-prod"]
    assert decision.labels == {"tier": "1"}
    assert (decision.escalation_policy_id, decision.template_id) == ("triage", "plain")
    assert decision.channel_destinations == []  # the default's extras apply only when nothing matched


async def test_suppress_keeps_the_decision_and_sticks_through_later_matches(router: CelRouter) -> None:
    rules = [
        rule("maintenance", 'labels.env == "prod"', 1, continue_=True, suppress=True),
        rule("db", 'labels.team == "db"', 2, escalation_policy_id="db-oncall"),
    ]
    decision = await router.route(alert(), rules, DEFAULT)

    assert decision.suppress is True
    assert decision.matched_rules == ["maintenance", "db"]
    assert decision.escalation_policy_id == "db-oncall"  # the alert is still routed, just not paged


async def test_set_severity_and_labels_appear_in_the_decision(router: CelRouter) -> None:
    rules = [rule("downgrade-dev", 'labels.env == "prod"', set_severity="info", set_labels={"downgraded": "yes"})]
    decision = await router.route(alert(), rules, DEFAULT)
    assert decision.severity == "info"
    assert decision.labels == {"downgraded": "yes"}


async def test_conditions_see_every_documented_variable(router: CelRouter) -> None:
    condition = (
        'labels.team == "db" && annotations.runbook.startsWith("https://") && annotations.priority < 2'
        ' && severity == "critical" && summary.contains("Disk") && details == ""'
        ' && source == "alertmanager" && integration == "prod-alertmanager" && status == "triggered"'
    )
    seen = alert(annotations={"runbook": "https://runbooks.example/disk", "priority": 1})
    decision = await router.route(seen, [rule("all", condition, escalation_policy_id="p")], DEFAULT)
    assert decision.matched_rules == ["all"], decision.errors


# --------------------------------------------------------------------------- errors are misses


async def test_a_missing_label_is_a_quiet_miss_traced_but_not_an_error_and_routing_goes_on(router: CelRouter) -> None:
    rules = [
        rule("by-team", 'labels.team == "db"', 1, escalation_policy_id="db"),
        rule("prod", 'labels.env == "prod"', 2, escalation_policy_id="prod"),
    ]
    decision = await router.route(alert(labels={"env": "prod"}), rules, DEFAULT)

    assert decision.matched_rules == ["prod"]
    first = decision.trace[0]
    assert (first.rule_name, first.matched) == ("by-team", False)
    assert first.error is not None and "team" in first.error  # TestRoute shows why
    assert decision.errors == []  # not an error on the alert's timeline


async def test_a_runtime_error_is_a_miss_recorded_in_errors(router: CelRouter) -> None:
    rules = [rule("bad-int", "int(labels.count) > 3", 1, escalation_policy_id="x")]
    decision = await router.route(alert(labels={"count": "many"}), rules, DEFAULT)
    assert decision.default_route is True
    assert decision.errors == [f"rule 'bad-int': {decision.trace[0].error}"]


async def test_has_and_optional_selection_make_a_missing_label_a_quiet_miss(router: CelRouter) -> None:
    rules = [
        rule("has", 'has(labels.team) && labels.team == "db"', 1),
        rule("optional", 'labels.?team.orValue("") == "db"', 2),
        rule("index", 'labels[?"team"].hasValue()', 3),
    ]
    decision = await router.route(alert(labels={}), rules, DEFAULT)
    assert decision.default_route is True
    assert decision.errors == []
    assert [t.error for t in decision.trace] == [None, None, None]


async def test_a_non_boolean_result_is_an_error_not_a_match(router: CelRouter) -> None:
    decision = await router.route(alert(annotations={"priority": 1}), [rule("number", "annotations.priority")], DEFAULT)
    assert decision.default_route is True
    assert "not a boolean" in (decision.trace[0].error or "")


async def test_a_runtime_type_mismatch_is_an_error_not_a_match(router: CelRouter) -> None:
    rules = [rule("priority", "annotations.priority > 1", escalation_policy_id="p")]
    decision = await router.route(alert(annotations={"priority": "high"}), rules, DEFAULT)
    assert decision.default_route is True
    assert decision.trace[0].error
    assert len(decision.errors) == 1


async def test_errors_absorbed_by_logical_operators_are_not_errors(router: CelRouter) -> None:
    rules = [
        rule("or", 'labels.missing == "x" || severity == "critical"', 1, continue_=True),
        rule("and", 'labels.missing == "x" && severity == "info"', 2),
    ]
    decision = await router.route(alert(), rules, DEFAULT)
    assert decision.matched_rules == ["or"]
    assert decision.errors == []


async def test_a_rule_that_does_not_compile_is_a_miss_naming_the_problem(router: CelRouter) -> None:
    rules = [rule("broken", 'labels.team == ', 1), rule("prod", 'labels.env == "prod"', 2, escalation_policy_id="p")]
    decision = await router.route(alert(), rules, DEFAULT)
    assert decision.matched_rules == ["prod"]
    assert decision.trace[0].error is not None and decision.trace[0].error.startswith("does not compile: 1:")


async def test_a_failing_rule_among_many_hides_nothing_around_it(router: CelRouter) -> None:
    # Enough rules for cel-expr to evaluate them in segments: the failure sends its segment
    # down the one-by-one path, and every other rule still gets its own answer.
    rules = [rule(f"r{i}", f'labels.team == "team-{i}"', i) for i in range(120)]
    rules[50] = rule("r50", "labels.missing == 'x'", 50)
    rules[70] = rule("r70", 'labels.env == "prod"', 70, escalation_policy_id="p70")
    decision = await router.route(alert(), rules, DEFAULT)

    assert decision.matched_rules == ["r70"]
    assert len(decision.trace) == 71
    assert [t.rule_name for t in decision.trace if t.error] == ["r50"]
    assert [t.rule_name for t in decision.trace if t.matched] == ["r70"]


async def test_trailing_comments_do_not_leak_into_neighbouring_rules(router: CelRouter) -> None:
    rules = [rule(f"r{i}", f'labels.team == "team-{i}" // owned by team {i}', i) for i in range(80)]
    rules[60] = rule("r60", 'labels.env == "prod" // the match', 60, escalation_policy_id="p60")
    decision = await router.route(alert(), rules, DEFAULT)
    assert decision.matched_rules == ["r60"]
    assert decision.errors == []


async def test_string_literals_that_look_like_syntax_are_only_text(router: CelRouter) -> None:
    text = 'look: a.?b, x.matches("("), has(y.z) // not a comment'
    condition = f"summary == '{text}' && labels.?team.orValue('') == 'db' && summary.matches(r'matches\\(')"
    assert router.validate(condition) == []
    decision = await router.route(alert(summary=text), [rule("literal", condition, escalation_policy_id="p")], DEFAULT)
    assert decision.matched_rules == ["literal"], decision.errors


async def test_a_bad_regular_expression_at_runtime_is_an_error(router: CelRouter) -> None:
    rules = [rule("regex", 'summary.matches(labels.pattern)', escalation_policy_id="p")]
    decision = await router.route(alert(labels={"pattern": "disk (full"}), rules, DEFAULT)
    assert decision.default_route is True
    assert "invalid regular expression" in (decision.trace[0].error or "")


# --------------------------------------------------------------------------- validation


def test_a_valid_condition_has_no_problems(router: CelRouter) -> None:
    assert router.validate('has(labels.team) && labels.team in ["db", "web"] && summary.matches("(?i)disk")') == []


def test_an_empty_condition_is_refused(router: CelRouter) -> None:
    [problem] = router.validate("   ")
    assert "empty" in problem.message


def test_a_syntax_error_names_its_position(router: CelRouter) -> None:
    condition = 'labels.team == "db" &&'
    [problem] = router.validate(condition)
    assert (problem.position, problem.line, problem.column) == (len(condition), 1, len(condition) + 1)


def test_a_syntax_error_on_a_later_line_names_line_and_column(router: CelRouter) -> None:
    condition = 'labels.team == "db" &&\n  severity == == "critical"'
    problems = router.validate(condition)
    assert problems
    second_eq = condition.index("== ==") + 3
    assert (problems[0].position, problems[0].line, problems[0].column) == (second_eq, 2, 15)


def test_a_broken_literal_regular_expression_is_refused_at_its_position(router: CelRouter) -> None:
    condition = 'labels.team == "db" && summary.matches("disk (full")'
    [problem] = router.validate(condition)
    assert "invalid regular expression" in problem.message
    assert problem.position == condition.index('"disk (full"')


@pytest.mark.parametrize(
    ("condition", "at", "says"),
    [
        ("labels.team + 1 == 2", "+", "no matching overload"),
        ("severity > 3", ">", "no matching overload"),
        ('team == "db"', "team", "undeclared reference"),
        ('summary.matches(1)', "(", "no matching overload for 'matches'"),
    ],
)
def test_type_errors_are_refused_with_their_position(cel_expr: CelRouter, condition: str, at: str, says: str) -> None:
    [problem] = cel_expr.validate(condition)
    assert says in problem.message
    assert (problem.position, problem.line, problem.column) == (condition.index(at), 1, condition.index(at) + 1)


def test_a_condition_that_is_not_boolean_is_refused(cel_expr: CelRouter) -> None:
    [problem] = cel_expr.validate('labels.?team.orValue("")')
    assert problem.message == "the condition must be a boolean expression; it is a string"


def test_conditions_that_validate_compile(router: CelRouter) -> None:
    valid = [c for c in CONDITIONS if router.validate(c) == []]
    # a corpus pattern is deliberately broken, and some conversions of literals always fail
    assert set(CONDITIONS) - set(valid) == {
        'summary.matches("[")',
        'int("1_0") == 10',
        'double("1_0") == 10.0',
        'int("0x10") == 16',
        'duration("1d") > duration("1h")',
        'timestamp("2024-01-01 00:00:00Z") > timestamp("2023-01-01T00:00:00Z")',
    }
    decision = router.route_now(alert(), [rule(f"r{i}", c, i, continue_=True) for i, c in enumerate(valid)], DEFAULT)
    assert [t.error for t in decision.trace if t.error and t.error.startswith("does not compile")] == []


@pytest.mark.parametrize("condition", ["[?labels.?team].size() == 1", '{?"team": labels.?team}.size() == 1'])
def test_optional_entries_in_literals_are_refused_on_both_engines(router: CelRouter, condition: str) -> None:
    # cel-expr runs them, cel-python cannot: a rule saved on one replica must run on every one
    [problem] = router.validate(condition)
    assert "not supported by every engine" in problem.message
    assert problem.position == condition.index("?")


@pytest.mark.parametrize(
    ("condition", "literal", "says"),
    [
        ('duration("1d") > duration("1h")', '"1d"', "invalid duration '1d'"),
        ('labels.?x.orValue("") == "" && duration("1h 30m") < duration("2h")', '"1h 30m"', "invalid duration"),
        ('timestamp("2024-01-01 00:00:00Z") < timestamp("2025-01-01T00:00:00Z")', '"2024-01-01 00:00:00Z"',
         "invalid timestamp"),
        # cel-expr reads these, cel-python does not: neither may store them
        ('timestamp("2024-1-01T00:00:00Z") < timestamp("2025-01-01T00:00:00Z")', '"2024-1-01T00:00:00Z"',
         "write RFC 3339"),
        ('timestamp("2024-01-01T00:00:00+0100") < timestamp("2025-01-01T00:00:00Z")',
         '"2024-01-01T00:00:00+0100"', "write RFC 3339"),
        ('int("1_0") == 10', '"1_0"', "cannot convert string '1_0' to int"),
        ('int("0x10") == 16', '"0x10"', "to int"),
        ('double("1_0") == 10.0', '"1_0"', "to double"),
        ('uint("-1") == 1u', '"-1"', "to uint"),
    ],
)
def test_conversions_of_literals_that_fail_are_refused_at_their_position(
    router: CelRouter, condition: str, literal: str, says: str
) -> None:
    [problem] = router.validate(condition)
    assert says in problem.message
    at = condition.index(literal)
    assert (problem.position, problem.line, problem.column) == (at, 1, at + 1)


@pytest.mark.parametrize(
    "condition",
    [
        'duration("1h30m") == duration("90m") && duration("1.5s") > duration("300ms") && duration("0") < duration("1ns")',
        'timestamp("2024-01-01T00:00:00.5+01:00") < timestamp("2024-01-01t00:00:00z")',
        'int(" +1") == 1 && uint("7") == 7u && double("1e3") == 1000.0 && double("-inf") < 0.0',
        'duration(labels.?window.orValue("1d")) > duration("1h")',  # not a literal: an error when evaluated
    ],
)
def test_conversions_cel_reads_are_accepted(router: CelRouter, condition: str) -> None:
    assert router.validate(condition) == []


def test_a_grouping_key_with_a_failing_conversion_is_refused(router: CelRouter) -> None:
    key = '[labels.alertname, string(duration("1d"))]'
    [problem] = router.validate_key(key)
    assert "invalid duration" in problem.message and problem.position == key.index('"1d"')


# --------------------------------------------------------------------------- compiling once


class CountingEngine(CelExprEngine):
    """The real cel-expr engine, counting what it compiles."""

    def __init__(self) -> None:
        super().__init__()
        self.compiled: list[str] = []

    def compile(self, condition: str) -> Any:
        self.compiled.append(condition)
        return super().compile(condition)


async def test_each_rule_version_is_compiled_once_and_edits_take_effect() -> None:
    engine = CountingEngine()
    router = CelRouter(engine)
    v1 = [rule("sev", 'severity == "critical"', escalation_policy_id="p")]
    for _ in range(3):
        assert (await router.route(alert(), v1, DEFAULT)).matched_rules == ["sev"]
    assert engine.compiled == ['severity == "critical"']

    v2 = [rule("sev", 'severity == "info"', version=2, escalation_policy_id="p")]
    assert (await router.route(alert(), v2, DEFAULT)).default_route is True
    # a draft under the same id and version is compiled anew, never served the stale program
    draft = [rule("sev", 'severity != "info"', version=2, escalation_policy_id="p")]
    assert (await router.route(alert(), draft, DEFAULT)).matched_rules == ["sev"]
    assert engine.compiled == ['severity == "critical"', 'severity == "info"', 'severity != "info"']


def test_the_benchmark_rules_are_valid_and_its_alerts_match_where_intended(cel_expr: CelRouter) -> None:
    spec = importlib.util.spec_from_file_location("bench_routing", ROOT / "bench" / "routing.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    rules = bench.make_rules(1000)
    assert [r.name for r in rules if cel_expr.validate(r.condition)] == []
    decisions = [cel_expr.route_now(a, rules, DEFAULT) for a in bench.make_alerts(1000)]
    assert [d.matched_rules for d in decisions] == [["rule 100"], ["rule 500"], ["rule 900"], []]
    assert [d.errors for d in decisions] == [[], [], [], []]


# --------------------------------------------------------------------------- engine choice


def test_the_plugin_registers_the_cel_router() -> None:
    _, registry = load_plugins()
    info = next(p for p in registry.plugins if p.name == "cel-routing")
    assert (info.status, info.distribution, info.provides) == ("ok", "oncall-cel-routing", {"routers": ["cel"]})
    assert isinstance(registry.routers["cel"], CelRouter)


@pytest.mark.parametrize(("setting", "engine"), [(None, "cel-expr"), ("cel-expr", "cel-expr"), ("cel-python", "cel-python")])
def test_oncall_cel_engine_picks_the_engine(setting: str | None, engine: str) -> None:
    environ = {} if setting is None else {"ONCALL_CEL_ENGINE": setting}
    assert CelRouter(environ=environ).engine.name == engine


def test_an_unknown_engine_name_is_refused_with_the_choices() -> None:
    with pytest.raises(ValueError, match="cel-expr, cel-python"):
        CelRouter(environ={"ONCALL_CEL_ENGINE": "cel-go"})


@pytest.fixture
def without_cel_expr_python(monkeypatch: pytest.MonkeyPatch) -> None:
    """As on a platform with no cel-expr-python wheel: importing it raises ImportError."""
    for name in [m for m in sys.modules if m == "cel_expr_python" or m.startswith("cel_expr_python.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "cel_expr_python", None)
    monkeypatch.delitem(sys.modules, "oncall_cel_routing.cel_expr_engine", raising=False)


async def test_without_cel_expr_python_routing_falls_back_to_cel_python(without_cel_expr_python: None) -> None:
    router = CelRouter(environ={})
    assert router.engine.name == "cel-python"
    decision = await router.route(alert(), [rule("db", 'labels.?team.orValue("") == "db"', escalation_policy_id="p")], DEFAULT)
    assert decision.escalation_policy_id == "p"


def test_forcing_cel_expr_without_it_fails_the_plugin_load_with_the_reason(
    without_cel_expr_python: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ONCALL_CEL_ENGINE", "cel-expr")
    _, registry = load_plugins()
    info = next(p for p in registry.plugins if p.name == "cel-routing")
    assert info.status == "failed"
    assert "cel_expr_python" in info.error
    assert "cel" not in registry.routers


# --------------------------------------------------------------------------- which engine


@pytest.mark.parametrize("engine", ENGINES)
def test_the_router_says_at_start_which_engine_evaluates(
    engine: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import oncall_cel_routing

    monkeypatch.setenv("ONCALL_CEL_ENGINE", engine)
    registered: list[object] = []
    with caplog.at_level(logging.INFO, logger="oncall_cel_routing"):
        oncall_cel_routing.register_routers(registered.append)
    [router] = registered
    assert isinstance(router, CelRouter) and router.engine.name == engine
    distribution = {"cel-expr": "cel-expr-python", "cel-python": "cel-python"}[engine]
    assert any(f"evaluated by the {engine} engine ({distribution} " in r.getMessage() for r in caplog.records)
