"""Parses Alertmanager's webhook payload (version 4) into one AlertEvent per alert entry."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from oncall_hookspecs import Action, AlertEvent, BadRequest, InboundRequest

from oncall_hookspecs import payload as fields

_ACTIONS = {"firing": Action.TRIGGER, "resolved": Action.RESOLVE}


def labels_key(labels: dict[str, str]) -> str:
    """A stable dedup key from a label set, for entries that carry no fingerprint.

    Alertmanager's own fingerprint is a hash of the label set too, so an alert keeps the
    same key for as long as its labels stay the same, whichever way it is computed.
    """
    # ASCII-escaped, so that any label text (lone surrogates included) hashes
    canonical = json.dumps(sorted(labels.items()), separators=(",", ":"))
    return "labels:" + hashlib.sha256(canonical.encode("ascii")).hexdigest()


def _status(doc: dict[str, Any], path: str) -> str | None:
    value = fields.string(doc, "status", path)
    if value is not None and value not in _ACTIONS:
        raise BadRequest(
            "invalid_value", f"'{fields.at(path, 'status')}' must be 'firing' or 'resolved', got {value!r}"
        )
    return value


class AlertmanagerSource:
    """``POST /api/v1/webhooks/alertmanager``, and GoAlert's path for the same payload."""

    name = "alertmanager"
    paths = ("/api/v2/prometheusalertmanager/incoming",)

    def parse(self, request: InboundRequest) -> list[AlertEvent]:
        doc = fields.json_body(request)
        # Alertmanager has only ever sent version "4"; the type is checked, the value is not,
        # so a future version with the same fields keeps paging people.
        fields.string(doc, "version")
        group_status = _status(doc, "")
        fields.integer(doc, "truncatedAlerts")
        for name in ("groupLabels", "commonLabels", "commonAnnotations"):
            fields.string_map(doc, name)
        context = {
            name: value
            for name in ("externalURL", "receiver", "groupKey")
            if (value := fields.string(doc, name))
        }
        entries = fields.array(doc, "alerts", required=True) or []
        return [self._event(entry, i, group_status, context) for i, entry in enumerate(entries)]

    def _event(self, entry: Any, i: int, group_status: str | None, context: dict[str, str]) -> AlertEvent:
        path = fields.at("alerts", i)
        if not isinstance(entry, dict):
            raise BadRequest("invalid_type", f"'{path}' must be an object, got {fields.json_type(entry)}")
        # every entry carries its own status; the group's stands in should one not
        status = _status(entry, path) or group_status
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
            dedup_key=fingerprint or labels_key(labels),
            summary=summary_note or description or labels.get("alertname", ""),
            # the description is the details unless it already had to serve as the summary
            details=description if summary_note else "",
            severity=labels.get("severity", ""),
            labels=labels,
            annotations=extra,
            occurred_at=starts_at,
            raw=entry,
        )
