"""Grafana unified alerting's webhook: Alertmanager's shape plus Grafana's per-alert links and values."""

from __future__ import annotations

import logging
from typing import Any

from oncall_hookspecs import AlertEvent, BadRequest
from oncall_hookspecs import payload as fields

log = logging.getLogger(__name__)

_ACTIONS = fields.PROMETHEUS_ACTIONS

# Per-alert fields kept as annotations, in the order people look for them.
_LINKS = ("generatorURL", "silenceURL", "dashboardURL", "panelURL", "imageURL")


def parse_unified(doc: dict[str, Any]) -> list[AlertEvent]:
    """One event per entry of ``alerts``, keyed by the entry's fingerprint."""
    fields.string(doc, "version")
    fields.string(doc, "state")
    truncated = fields.integer(doc, "truncatedAlerts")
    if truncated is not None and truncated < 0:
        raise BadRequest("invalid_value", f"'truncatedAlerts' counts alerts left out: 0 or more, got {truncated}")
    for name in ("groupLabels", "commonLabels", "commonAnnotations"):
        fields.string_map(doc, name)
    group_status = fields.prometheus_status(doc)
    title = (fields.string(doc, "title") or "").strip()
    message = (fields.string(doc, "message") or "").strip()
    context: dict[str, Any] = {
        name: value for name in ("externalURL", "receiver", "groupKey") if (value := fields.string(doc, name))
    }
    if (org_id := fields.integer(doc, "orgId")) is not None:
        context["orgId"] = org_id
    if truncated:
        # the contact point's max_alerts cut the group: say so on the alerts that did come
        log.warning("a Grafana group (receiver %r) came without %d of its alerts (max_alerts)",
                    context.get("receiver"), truncated)
        context["truncatedAlerts"] = truncated
    entries = fields.array(doc, "alerts", required=True) or []
    # The group's message describes every alert in it; it is one alert's details only
    # when the group holds one alert.
    single_message = message if len(entries) == 1 else ""
    return [_event(entry, i, group_status, title, single_message, context) for i, entry in enumerate(entries)]


def _event(
    entry: Any, i: int, group_status: str | None, title: str, message: str, context: dict[str, Any]
) -> AlertEvent:
    path = fields.at("alerts", i)
    if not isinstance(entry, dict):
        raise BadRequest("invalid_type", f"'{path}' must be an object, got {fields.json_type(entry)}")
    status = fields.prometheus_status(entry, path) or group_status
    if status is None:
        raise BadRequest("missing_field", f"'{fields.at(path, 'status')}' is required")
    labels = fields.string_map(entry, "labels", path)
    annotations = fields.string_map(entry, "annotations", path)
    fingerprint = fields.string(entry, "fingerprint", path)
    if not fingerprint and not labels:
        raise BadRequest("missing_field", f"'{path}' needs a 'fingerprint' or 'labels' to identify the alert")
    starts_at = fields.timestamp(entry, "startsAt", path)
    fields.timestamp(entry, "endsAt", path)

    extra: dict[str, Any] = dict(annotations)
    for name in _LINKS:
        if value := fields.string(entry, name, path):
            extra.setdefault(name, value)
    if values := fields.obj(entry, "values", path):
        extra.setdefault("values", values)
    if value_string := fields.string(entry, "valueString", path):
        extra.setdefault("valueString", value_string)
    for name, value in context.items():
        extra.setdefault(name, value)  # the rule's own annotations win a name clash

    summary_note = annotations.get("summary", "").strip()
    description = annotations.get("description", "").strip()
    return AlertEvent(
        action=_ACTIONS[status],
        dedup_key=fingerprint or fields.labels_key(labels),
        summary=summary_note or description or labels.get("alertname", "") or title,
        details=(description if summary_note else "") or message,
        severity=labels.get("severity", ""),
        labels=labels,
        annotations=extra,
        occurred_at=starts_at,
        raw=entry,
    )
