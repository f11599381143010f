"""How matching rules' actions combine into one RoutingDecision (the continue/merge rule).

Rules are walked in order; the walk stops at the first match unless that rule says
``continue_``. Each matching rule's actions are merged in, in order:

- escalation policy, template, ticket provider and severity: a rule that sets one replaces
  what an earlier rule set (the last rule that sets it wins); a rule that leaves it unset
  (None or "") changes nothing;
- channel destinations accumulate in order, without duplicates;
- labels accumulate; a later rule's value wins for the same key;
- suppress is sticky: once a matching rule suppresses, the alert stays suppressed.

When no rule matches, the default actions apply in full and ``default_route`` is true.
When rules match but none names an escalation policy (or a template), the default's is
used: an alert that only met enrichment rules (labels, severity) still pages someone.
"""

from __future__ import annotations

from oncall_hookspecs import RoutingDecision, RoutingRule, RuleActions, RuleTrace

#: longest error text kept per rule, so one odd condition cannot flood an alert's timeline
MAX_ERROR_CHARS = 500

# How each engine words "the map has no such key": a condition that reads a label the alert
# lacks simply does not match. It stays in the trace (TestRoute shows why) but is not an
# error on the alert's timeline, or every alert would collect one per rule it doesn't fit.
_MISSING_KEY = ("key not found in map", "no such member in mapping", "no such key")


def is_missing_key(error: str) -> bool:
    low = error.lower()
    return any(marker in low for marker in _MISSING_KEY)


class DecisionBuilder:
    """Collects the trace and merged actions of one routing walk."""

    def __init__(self) -> None:
        self.decision = RoutingDecision()

    def matched(self, rule: RoutingRule) -> None:
        self.decision.trace.append(RuleTrace(rule.id, rule.name, True))
        self.decision.matched_rules.append(rule.name)
        _merge(self.decision, rule.actions)

    def failed(self, rule: RoutingRule, error: str) -> None:
        """The rule's condition failed: not a match, and the reason goes on the record."""
        if len(error) > MAX_ERROR_CHARS:
            error = error[: MAX_ERROR_CHARS - 1] + "…"
        self.decision.trace.append(RuleTrace(rule.id, rule.name, False, error))
        if not is_missing_key(error):
            self.decision.errors.append(f"rule {rule.name!r}: {error}")

    def finish(self, default: RuleActions) -> RoutingDecision:
        decision = self.decision
        if not decision.matched_rules:
            _merge(decision, default)
            decision.default_route = True
        else:
            decision.escalation_policy_id = decision.escalation_policy_id or default.escalation_policy_id
            decision.template_id = decision.template_id or default.template_id
        return decision


def _merge(decision: RoutingDecision, actions: RuleActions) -> None:
    if actions.escalation_policy_id:
        decision.escalation_policy_id = actions.escalation_policy_id
    if actions.template_id:
        decision.template_id = actions.template_id
    if actions.ticket_provider:
        decision.ticket_provider = actions.ticket_provider
    if actions.set_severity:
        decision.severity = actions.set_severity
    for destination in actions.channel_destinations:
        if destination not in decision.channel_destinations:
            decision.channel_destinations.append(destination)
    decision.labels.update(actions.set_labels)
    decision.suppress = decision.suppress or actions.suppress
