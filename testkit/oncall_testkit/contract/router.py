"""The router contract: validation answers in problems, never exceptions, and every decision is well-typed.

``await check_router(router, valid=[…], invalid=[…])`` takes conditions the router accepts
and conditions it must refuse. Each valid condition validates with no problems; each
invalid one with at least one ``RuleProblem`` whose positions fall inside the condition;
hostile text (hypothesis) validates without raising. ``route`` must return a
``RoutingDecision`` whose fields have their declared types: the rules it names are rules
it was given, ``default_route`` is set exactly when none matched and then the default's
policy applies, a rule that fails to evaluate is an error in the decision rather than an
exception, and alerts with hostile labels route too.

A router that is also a :class:`~oncall_hookspecs.Grouper` is held to the grouping
contract as well (``check_grouper``; give ``check_router`` ``keys`` and ``invalid_keys``):
keys validate as conditions do; ``group`` answers synchronously with a well-typed
``GroupingMatch`` (the rule it names is a given rule, its key is non-empty text, the trace
names given rules and marks only that one matched); the lowest position wins whatever the
order given; a rule whose key is unusable never takes an alert, and the walk goes on past
it; the same alert and rules give the same key; hostile alerts group without raising.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from oncall_hookspecs import (
    AlertView,
    Grouper,
    GroupingMatch,
    GroupingRule,
    Router,
    RoutingDecision,
    RoutingRule,
    RuleActions,
    RuleProblem,
    RuleTrace,
)

from ..alerts import alert_view, grouping_rule, routing_rule
from ..registration import ContractViolation, check_shape

HOSTILE_CONDITIONS = [
    "", " ", "\x00", "(" * 10_000, ")" * 100, "'" * 7, '"unterminated', "a" * 100_000, "\ud800", "1 +", "&&",
    "labels[", "💥 == 1", "\\", "/* */", "true " * 5000,
]  # fmt: skip

#: how long one route or validate may take in the check: generous, for a busy machine
DEADLINE_S = 30.0


def _check_problems(problems: Any, condition: str, case: str) -> list[RuleProblem]:
    if not isinstance(problems, list) or not all(isinstance(p, RuleProblem) for p in problems):
        raise ContractViolation(f"validate must return a list of RuleProblem, got {problems!r:.300} ({case})")
    for p in problems:
        if not isinstance(p.message, str) or not p.message:
            raise ContractViolation(f"a RuleProblem needs a message ({case})")
        if p.position is not None and not (isinstance(p.position, int) and 0 <= p.position <= len(condition)):
            raise ContractViolation(f"problem position {p.position!r} is outside the condition ({case})")
        for name in ("line", "column"):
            value = getattr(p, name)
            if value is not None and not (isinstance(value, int) and value >= 1):
                raise ContractViolation(f"problem {name} {value!r} must be None or 1-based ({case})")
    return problems


def validated(router: Router, condition: str, case: str) -> list[RuleProblem]:
    try:
        problems = router.validate(condition)
    except Exception as exc:
        raise ContractViolation(f"validate raised {type(exc).__name__} ({case}): {str(exc)[:300]}") from exc
    return _check_problems(problems, condition, case)


def _strings(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def check_decision(decision: Any, rules: Sequence[RoutingRule], default: RuleActions, case: str = "") -> RoutingDecision:
    """``decision`` is a well-typed RoutingDecision for ``rules`` and ``default``."""
    where = f" ({case})" if case else ""
    if not isinstance(decision, RoutingDecision):
        raise ContractViolation(f"route must return a RoutingDecision, got {type(decision).__name__}{where}")
    problems = []
    names = {r.name for r in rules}
    ids = {r.id for r in rules}
    if not _strings(decision.matched_rules) or not set(decision.matched_rules) <= names:
        problems.append(f"matched_rules must name given rules, got {decision.matched_rules!r}")
    for name in ("escalation_policy_id", "template_id", "ticket_provider", "severity"):
        value = getattr(decision, name)
        if value is not None and not isinstance(value, str):
            problems.append(f"{name} must be a string or None, got {value!r}")
    if not _strings(decision.channel_destinations):
        problems.append(f"channel_destinations must be a list of strings, got {decision.channel_destinations!r}")
    if not isinstance(decision.labels, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in decision.labels.items()
    ):
        problems.append(f"labels must map strings to strings, got {decision.labels!r}")
    for name in ("suppress", "default_route"):
        if not isinstance(getattr(decision, name), bool):
            problems.append(f"{name} must be a bool, got {getattr(decision, name)!r}")
    if not isinstance(decision.trace, list) or not all(
        isinstance(t, RuleTrace) and t.rule_id in ids and isinstance(t.matched, bool) for t in decision.trace
    ):
        problems.append(f"trace must be RuleTrace entries for given rules, got {decision.trace!r:.300}")
    if not _strings(decision.errors):
        problems.append(f"errors must be a list of strings, got {decision.errors!r}")
    if decision.default_route == bool(decision.matched_rules):
        problems.append(
            f"default_route is {decision.default_route} while matched_rules is {decision.matched_rules!r}: "
            "it must be true exactly when no rule matched"
        )
    if decision.default_route and decision.escalation_policy_id != default.escalation_policy_id:
        problems.append(
            f"on the default route the policy must be the default's {default.escalation_policy_id!r}, "
            f"got {decision.escalation_policy_id!r}"
        )
    if problems:
        raise ContractViolation("; ".join(problems) + where)
    return decision


async def routed(
    router: Router, alert: AlertView, rules: Sequence[RoutingRule], default: RuleActions, case: str
) -> RoutingDecision:
    try:
        decision = await asyncio.wait_for(router.route(alert, rules, default), DEADLINE_S)
    except TimeoutError:
        raise ContractViolation(f"route did not answer within {DEADLINE_S:g} s ({case})") from None
    except Exception as exc:
        raise ContractViolation(f"route raised {type(exc).__name__} ({case}): {str(exc)[:300]}") from exc
    return check_decision(decision, rules, default, case)


async def check_router(
    router: Router,
    *,
    valid: Iterable[str],
    invalid: Iterable[str],
    alerts: Iterable[AlertView] = (),
    max_examples: int = 100,
    keys: Iterable[str] = (),
    invalid_keys: Iterable[str] = (),
) -> None:
    """Run the router contract; raises ContractViolation naming the first case that broke it.

    ``valid`` conditions must each validate clean (the first should match ``alert_view()``
    or one of ``alerts``, so a decision with a matched rule is seen); ``invalid`` ones
    must each give a problem. A router that is a :class:`Grouper` needs ``keys`` (grouping
    keys that validate clean; with the first valid condition, one should group an alert)
    and ``invalid_keys`` (keys it must refuse), and is checked with :func:`check_grouper`.
    """
    check_shape("routers", Router, router)
    valid, invalid = list(valid), list(invalid)
    keys, invalid_keys = list(keys), list(invalid_keys)
    if not valid or not invalid:
        raise ContractViolation("give check_router at least one valid and one invalid condition")
    if isinstance(router, Grouper):
        if not keys or not invalid_keys:
            raise ContractViolation("the router is a Grouper: give check_router keys=[…] and invalid_keys=[…] too")
        check_grouper(router, conditions=valid, keys=keys, invalid_keys=invalid_keys, alerts=alerts,
                      max_examples=max_examples)
    elif keys or invalid_keys:
        raise ContractViolation("keys were given but the router is not a Grouper (it lacks validate_key or group)")
    for condition in valid:
        if validated(router, condition, f"valid {condition!r}"):
            raise ContractViolation(f"valid condition {condition!r} has problems: {router.validate(condition)}")
    for condition in invalid:
        if not validated(router, condition, f"invalid {condition!r}"):
            raise ContractViolation(f"invalid condition {condition!r:.200} validated with no problems")
    for condition in HOSTILE_CONDITIONS:
        validated(router, condition, f"hostile {condition!r:.60}")

    default = RuleActions(escalation_policy_id="default-policy")
    samples = list(alerts) or [alert_view()]
    good = [routing_rule(c, escalation_policy_id=f"policy-{i}") for i, c in enumerate(valid)]
    bad = [routing_rule(c, escalation_policy_id="never") for c in invalid]
    matched = False
    for alert in samples:
        decision = await routed(router, alert, [], default, "no rules")
        if not decision.default_route:
            raise ContractViolation("with no rules the decision must be the default route")
        decision = await routed(router, alert, good, default, "the valid rules")
        matched = matched or not decision.default_route
        await routed(router, alert, bad + good, default, "invalid rules first")
        await routed(router, alert, [replace(r, continue_=True) for r in good], default, "every rule continuing")
    if not matched:
        raise ContractViolation("no valid condition matched any alert: give one that matches, to check a matched decision")
    await _fuzz(router, good + bad, default, max_examples)


async def _fuzz(router: Router, rules: list[RoutingRule], default: RuleActions, max_examples: int) -> None:
    texts = st.text(max_size=30) | st.sampled_from(["", "\x00", "\ud800", "x" * 10_000])
    # hypothesis drives synchronous functions: it draws the alerts here, and they are routed after
    alerts: list[AlertView] = []

    @settings(max_examples=max_examples, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(labels=st.dictionaries(texts, texts, max_size=6), summary=texts, severity=texts, condition=texts)
    def hostile(labels: dict[str, str], summary: str, severity: str, condition: str) -> None:
        validated(router, condition, f"condition {condition!r:.60}")
        alerts.append(alert_view(labels=labels, summary=summary, severity=severity))

    hostile()
    for alert in alerts:
        await routed(router, alert, rules, default, f"labels {dict(alert.labels)!r:.200}")


# --------------------------------------------------------------------------- grouping


def validated_key(grouper: Grouper, expression: str, case: str) -> list[RuleProblem]:
    try:
        problems = grouper.validate_key(expression)
    except Exception as exc:
        raise ContractViolation(f"validate_key raised {type(exc).__name__} ({case}): {str(exc)[:300]}") from exc
    return _check_problems(problems, expression, case)


def check_grouping_match(match: Any, rules: Sequence[GroupingRule], case: str = "") -> GroupingMatch:
    """``match`` is a well-typed GroupingMatch for ``rules``."""
    where = f" ({case})" if case else ""
    if not isinstance(match, GroupingMatch):
        raise ContractViolation(f"group must return a GroupingMatch, got {type(match).__name__}{where}")
    problems = []
    by_id = {r.id: r for r in rules}
    if match.rule_id is None:
        if match.rule_name is not None or match.key is not None:
            problems.append(f"with no rule (rule_id None) rule_name and key must be None, got {match.rule_name!r}, "
                            f"{match.key!r}")
    elif match.rule_id not in by_id:
        problems.append(f"rule_id must be a given rule's id, got {match.rule_id!r}")
    else:
        if match.rule_name != by_id[match.rule_id].name:
            problems.append(f"rule_name must be the name of rule {match.rule_id!r}, got {match.rule_name!r}")
        if not isinstance(match.key, str) or not match.key:
            problems.append(f"the key of a match must be non-empty text, got {match.key!r}")
    trace = match.trace
    if not isinstance(trace, list) or not all(
        isinstance(t, RuleTrace) and t.rule_id in by_id and isinstance(t.matched, bool)
        and (t.error is None or isinstance(t.error, str)) for t in trace
    ):
        problems.append(f"trace must be RuleTrace entries for given rules, got {trace!r:.300}")
    else:
        matched = [t.rule_id for t in trace if t.matched]
        wanted = [] if match.rule_id is None else [match.rule_id]
        if matched != wanted:
            problems.append(f"the trace must mark exactly the rule that took the alert as matched ({wanted!r}), "
                            f"got {matched!r}")
        elif wanted and trace[-1].rule_id != match.rule_id:
            problems.append("the walk stops at the rule that took the alert: it must be the trace's last entry")
    if not _strings(match.errors):
        problems.append(f"errors must be a list of strings, got {match.errors!r}")
    if problems:
        raise ContractViolation("; ".join(problems) + where)
    return match


def grouped(grouper: Grouper, alert: AlertView, rules: Sequence[GroupingRule], case: str) -> GroupingMatch:
    try:
        match = grouper.group(alert, rules)
    except Exception as exc:
        raise ContractViolation(f"group raised {type(exc).__name__} ({case}): {str(exc)[:300]}") from exc
    if inspect.isawaitable(match):
        if inspect.iscoroutine(match):
            match.close()
        raise ContractViolation(f"group must be synchronous (it runs on the ingest path), got an awaitable ({case})")
    return check_grouping_match(match, rules, case)


def check_grouper(
    grouper: Grouper,
    *,
    conditions: Iterable[str],
    keys: Iterable[str],
    invalid_keys: Iterable[str],
    alerts: Iterable[AlertView] = (),
    max_examples: int = 100,
) -> None:
    """The grouping contract; raises ContractViolation naming the first case that broke it.

    ``conditions`` are conditions the router's ``validate`` accepts (the first should hold
    for ``alert_view()`` or one of ``alerts``); ``keys`` key expressions that must validate
    clean (with the first condition, one should group an alert); ``invalid_keys`` ones that
    ``validate_key`` must refuse.
    """
    if not isinstance(grouper, Grouper):
        raise ContractViolation(f"{type(grouper).__name__} is not a Grouper: it needs validate_key and group")
    conditions, keys, invalid_keys = list(conditions), list(keys), list(invalid_keys)
    if not conditions or not keys or not invalid_keys:
        raise ContractViolation("give check_grouper at least one condition, one valid key and one invalid key")
    for key in keys:
        if validated_key(grouper, key, f"valid key {key!r}"):
            raise ContractViolation(f"valid key {key!r} has problems: {grouper.validate_key(key)}")
    for key in invalid_keys:
        if not validated_key(grouper, key, f"invalid key {key!r}"):
            raise ContractViolation(f"invalid key {key!r:.200} validated with no problems")
    for text in HOSTILE_CONDITIONS:
        validated_key(grouper, text, f"hostile key {text!r:.60}")

    samples = list(alerts) or [alert_view()]
    good = [grouping_rule(conditions[0], key, position=10 * i) for i, key in enumerate(keys)]
    good += [grouping_rule(c, keys[0], position=10 * (len(keys) + i)) for i, c in enumerate(conditions[1:])]
    bad = [grouping_rule(conditions[0], key, position=-10 - i) for i, key in enumerate(invalid_keys)]
    bad_ids = {r.id for r in bad}
    took = False
    for alert in samples:
        if grouped(grouper, alert, [], "no rules").rule_id is not None:
            raise ContractViolation("with no rules no rule can take the alert")
        first = grouped(grouper, alert, good, "the valid keys")
        took = took or first.rule_id is not None
        again = grouped(grouper, alert, good, "the same alert and rules again")
        if (again.rule_id, again.key) != (first.rule_id, first.key):
            raise ContractViolation(f"the same alert and rules gave {first.key!r}, then {again.key!r}")
        backwards = grouped(grouper, alert, list(reversed(good)), "the valid keys given in reverse order")
        if backwards.rule_id != first.rule_id:
            raise ContractViolation(f"rules are walked by position: given in reverse order, {backwards.rule_id!r} "
                                    f"took the alert instead of {first.rule_id!r}")
        behind = grouped(grouper, alert, bad + good, "invalid keys first")
        if behind.rule_id in bad_ids:
            raise ContractViolation(f"a rule with an invalid key ({behind.rule_id!r}) took the alert")
        if (behind.rule_id, behind.key) != (first.rule_id, first.key):
            raise ContractViolation(f"after rules with unusable keys the walk must go on: {behind.rule_id!r} took "
                                    f"the alert instead of {first.rule_id!r}")
    if not took:
        raise ContractViolation("no valid key grouped any alert: give a condition and key that take one, "
                                "to check a match")
    _fuzz_grouping(grouper, good + bad, max_examples)


def _fuzz_grouping(grouper: Grouper, rules: list[GroupingRule], max_examples: int) -> None:
    texts = st.text(max_size=30) | st.sampled_from(["", "\x00", "x" * 10_000])

    @settings(max_examples=max_examples, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(labels=st.dictionaries(texts, texts, max_size=6), summary=texts, key=texts)
    def hostile(labels: dict[str, str], summary: str, key: str) -> None:
        validated_key(grouper, key, f"key {key!r:.60}")
        alert = alert_view(labels=labels, summary=summary)
        grouped(grouper, alert, rules, f"labels {labels!r:.200}")

    hostile()
