"""Parses Alertmanager's webhook payload (version 4) into one AlertEvent per alert entry."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from oncall_hookspecs import AlertEvent, BadRequest, InboundRequest
from oncall_hookspecs import payload as fields

log = logging.getLogger(__name__)

_ACTIONS = fields.PROMETHEUS_ACTIONS


class AlertmanagerSource:
    """``POST /api/v1/webhooks/alertmanager``, and GoAlert's path for the same payload."""

    name = "alertmanager"
    paths: Sequence[str] = ("/api/v2/prometheusalertmanager/incoming",)
    #: Alertmanager sends a whole group in one POST and takes a 413 as final (the group is
    #: lost), so the limit is sized for a storm: some 10,000-30,000 alerts at 0.5-1.5 KB each.
    #: Its webhook_config ``max_alerts`` keeps a group under it (see the README).
    max_body_bytes = 16 * 1024 * 1024

    def parse(self, request: InboundRequest) -> list[AlertEvent]:
        doc = fields.json_body(request)
        # Alertmanager has only ever sent version "4"; the type is checked, the value is not,
        # so a future version with the same fields keeps paging people.
        fields.string(doc, "version")
        group_status = fields.prometheus_status(doc)
        truncated = fields.integer(doc, "truncatedAlerts")
        if truncated is not None and truncated < 0:
            raise BadRequest("invalid_value", f"'truncatedAlerts' counts alerts left out: 0 or more, got {truncated}")
        for name in ("groupLabels", "commonLabels", "commonAnnotations"):
            fields.string_map(doc, name)
        context: dict[str, Any] = {
            name: value
            for name in ("externalURL", "receiver", "groupKey")
            if (value := fields.string(doc, name))
        }
        entries = fields.array(doc, "alerts", required=True) or []
        if truncated:
            # max_alerts cut the group: those alerts never reach us, so say so on the ones that did
            log.warning("an Alertmanager group (receiver %r, group %r) came without %d of its alerts"
                        " (webhook_config max_alerts)", context.get("receiver"), context.get("groupKey"), truncated)
            context["truncatedAlerts"] = truncated
        return [self._event(entry, i, group_status, context) for i, entry in enumerate(entries)]

    def _event(self, entry: Any, i: int, group_status: str | None, context: dict[str, Any]) -> AlertEvent:
        path = fields.at("alerts", i)
        if not isinstance(entry, dict):
            raise BadRequest("invalid_type", f"'{path}' must be an object, got {fields.json_type(entry)}")
        # every entry carries its own status; the group's stands in should one not
        status = fields.prometheus_status(entry, path) or group_status
        if status is None:
            raise BadRequest("missing_field", f"'{fields.at(path, 'status')}' is required")
        labels = fields.string_map(entry, "labels", path)
        annotations = fields.string_map(entry, "annotations", path)
        fingerprint = fields.string(entry, "fingerprint", path)
        if not fingerprint and not labels:
            raise BadRequest(
                "missing_field", f"'{path}' needs a 'fingerprint' or 'labels' to identify the alert"
            )
        starts_at = fields.timestamp(entry, "startsAt", path)
        fields.timestamp(entry, "endsAt", path)

        summary_note = annotations.get("summary", "").strip()
        description = annotations.get("description", "").strip()
        extra: dict[str, Any] = dict(annotations)
        if generator := fields.string(entry, "generatorURL", path):
            extra.setdefault("generatorURL", generator)
        for name, value in context.items():
            extra.setdefault(name, value)  # the sender's own annotations win a name clash

        return AlertEvent(
            action=_ACTIONS[status],
            dedup_key=fingerprint or fields.labels_key(labels),
            summary=summary_note or description or labels.get("alertname", ""),
            # the description is the details unless it already had to serve as the summary
            details=description if summary_note else "",
            severity=labels.get("severity", ""),
            labels=labels,
            annotations=extra,
            occurred_at=starts_at,
            raw=entry,
        )
