"""Grafana's legacy (dashboard) alerting webhook: one notification per rule and state change.

States, and what each does:

* ``alerting`` triggers; ``no_data`` triggers too, because Grafana sends it only for rules
  set to notify on missing data, and silent monitoring is itself an incident. Both share
  the rule's dedup key, so a rule flapping between them stays one alert; the latest state
  is kept in the ``state`` annotation.
* ``ok`` resolves the rule's open alert.
* ``pending`` (the condition holds but not yet for its "for" duration) and ``paused`` (a
  person paused the rule) are accepted and ignored: neither says whether the problem is
  there, so neither pages nor closes what is open.
"""

from __future__ import annotations

from typing import Any

from oncall_hookspecs import Action, AlertEvent, BadRequest

from oncall_hookspecs import payload as fields

_ACTIONS: dict[str, Action | None] = {
    "alerting": Action.TRIGGER,
    "no_data": Action.TRIGGER,
    "ok": Action.RESOLVE,
    "pending": None,
    "paused": None,
}


def parse_legacy(doc: dict[str, Any]) -> list[AlertEvent]:
    """One event for the rule (none for ``pending``/``paused``), keyed by the rule id."""
    state = fields.string(doc, "state", required=True) or ""
    if state not in _ACTIONS:
        allowed = ", ".join(repr(s) for s in _ACTIONS)
        raise BadRequest("invalid_value", f"'state' must be one of {allowed}, got {state!r}")
    rule_id = fields.integer(doc, "ruleId")
    rule_name = (fields.string(doc, "ruleName") or "").strip()
    if rule_id is None and not rule_name:
        raise BadRequest("missing_field", "'ruleId' is required (or at least 'ruleName')")
    title = (fields.string(doc, "title") or "").strip()
    message = fields.string(doc, "message") or ""
    tags = fields.string_map(doc, "tags")
    matches = fields.array(doc, "evalMatches") or []
    for i, match in enumerate(matches):
        where = fields.at("evalMatches", i)
        if not isinstance(match, dict):
            raise BadRequest("invalid_type", f"'{where}' must be an object, got {fields.json_type(match)}")
        fields.string(match, "metric", where)
        fields.obj(match, "tags", where)

    annotations: dict[str, Any] = {"state": state}
    for name in ("ruleUrl", "imageUrl"):
        if value := fields.string(doc, name):
            annotations[name] = value
    if matches:
        annotations["evalMatches"] = matches
    for name in ("orgId", "dashboardId", "panelId"):
        if (number := fields.integer(doc, name)) is not None:
            annotations[name] = number

    action = _ACTIONS[state]
    if action is None:
        return []
    return [
        AlertEvent(
            action=action,
            # rule ids are unique within a Grafana instance; a name stands in only for
            # senders that leave the id out
            dedup_key=f"rule:{rule_id}" if rule_id is not None else f"rule-name:{rule_name}",
            summary=rule_name or title,
            details=message.strip(),
            severity=tags.get("severity", ""),
            labels=tags,
            annotations=annotations,
            raw=doc,
        )
    ]
