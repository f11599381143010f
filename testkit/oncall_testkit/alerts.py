"""Builders for what the core hands plugins about alerts: views, lifecycle events, rules and channel messages.

Each takes only what a test cares about; the rest is a plausible default.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from oncall_hookspecs.types import ALERT_LIFECYCLE_KINDS
from oncall_hookspecs import (
    AlertLifecycleEvent,
    AlertView,
    ChannelMessage,
    GroupingRule,
    RoutingRule,
    RuleActions,
)

#: the kinds a lifecycle listener hears unless it names others (``alert_kinds``), in a stable order
LIFECYCLE_KINDS: tuple[str, ...] = tuple(sorted(ALERT_LIFECYCLE_KINDS))
#: kinds the timeline records besides, heard by a listener whose ``alert_kinds`` is None or names them
OTHER_TIMELINE_KINDS = ("duplicate", "routed", "routing_error", "notified", "notification")

_ids = itertools.count(1)
_EPOCH = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def alert_view(**overrides: Any) -> AlertView:
    """A triggered alert from a Prometheus-style source; any field can be given."""
    fields: dict[str, Any] = {
        "id": 42,
        "integration_id": 1,
        "integration_name": "prod",
        "source": "alertmanager",
        "dedup_key": "disk-full-db-1",
        "status": "triggered",
        "summary": "Disk full on db-1",
        "details": "/var is 97% full",
        "severity": "critical",
        "labels": {"alertname": "DiskFull", "instance": "db-1", "team": "storage"},
        "annotations": {"runbook": "https://runbooks.example.com/disk"},
        "created_at": _EPOCH,
        "last_received_at": _EPOCH,
    }
    fields.update(overrides)
    return AlertView(**fields)


def lifecycle_event(kind: str = "created", alert: AlertView | None = None, **overrides: Any) -> AlertLifecycleEvent:
    """An ``AlertLifecycleEvent`` of ``kind`` about ``alert`` (``alert_view()`` by default), its status to match."""
    alert = alert or alert_view()
    status = {"acknowledged": "acknowledged", "resolved": "resolved"}.get(kind)
    if status is not None and alert.status != status:
        alert = replace(alert, status=status)
    fields: dict[str, Any] = {"kind": kind, "alert": alert, "at": _EPOCH, "actor": "user-ann" if status else None,
                              "note": "looking into it" if kind == "note" else None, "id": next(_ids)}
    fields.update(overrides)
    return AlertLifecycleEvent(**fields)


def routing_rule(condition: str, name: str | None = None, **actions: Any) -> RoutingRule:
    """A rule with ``condition``; keyword arguments are its ``RuleActions`` (``escalation_policy_id=…``)."""
    continue_ = bool(actions.pop("continue_", False))
    number = next(_ids)
    return RoutingRule(id=f"rule-{number}", name=name or f"rule {number}", condition=condition,
                       actions=RuleActions(**actions), continue_=continue_, position=number)


def grouping_rule(condition: str, key: str, name: str | None = None, **fields: Any) -> GroupingRule:
    """A grouping rule taking alerts where ``condition`` holds, grouped by ``key``; any other field can be given."""
    number = next(_ids)
    values: dict[str, Any] = {"id": f"group-{number}", "name": name or f"grouping {number}", "condition": condition,
                              "key": key, "position": number}
    values.update(fields)
    return GroupingRule(**values)


def channel_message(destination: str, payload: Any, channel: str = "", **overrides: Any) -> ChannelMessage:
    """A ``ChannelMessage`` for one delivery of ``payload`` to ``destination``, about alert 42."""
    number = next(_ids)
    alert: Mapping[str, Any] = overrides.pop("alert", {"id": 42, "status": "triggered", "summary": "Disk full on db-1"})
    fields: dict[str, Any] = {"delivery_id": f"d-{number}", "idempotency_key": f"idem-{number}",
                              "destination": destination, "payload": payload, "alert_id": 42, "channel": channel,
                              "alert": alert}
    fields.update(overrides)
    return ChannelMessage(**fields)
