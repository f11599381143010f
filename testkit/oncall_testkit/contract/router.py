"""The router contract: validation answers in problems, never exceptions, and every decision is well-typed.

``await check_router(router, valid=[…], invalid=[…])`` takes conditions the router accepts
and conditions it must refuse. Each valid condition validates with no problems; each
invalid one with at least one ``RuleProblem`` whose positions fall inside the condition;
hostile text (hypothesis) validates without raising. ``route`` must return a
``RoutingDecision`` whose fields have their declared types: the rules it names are rules
it was given, ``default_route`` is set exactly when none matched and then the default's
policy applies, a rule that fails to evaluate is an error in the decision rather than an
exception, and alerts with hostile labels route too.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from oncall_hookspecs import (
    AlertView,
    Router,
    RoutingDecision,
    RoutingRule,
    RuleActions,
    RuleProblem,
    RuleTrace,
)

from ..alerts import alert_view, routing_rule
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
) -> None:
    """Run the router contract; raises ContractViolation naming the first case that broke it.

    ``valid`` conditions must each validate clean (the first should match ``alert_view()``
    or one of ``alerts``, so a decision with a matched rule is seen); ``invalid`` ones
    must each give a problem.
    """
    check_shape("routers", Router, router)
    valid, invalid = list(valid), list(invalid)
    if not valid or not invalid:
        raise ContractViolation("give check_router at least one valid and one invalid condition")
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
