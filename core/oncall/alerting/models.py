"""The alerting service's records: integrations, alerts and timeline events."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from oncall_hookspecs import AlertView

#: the longest key (an alert's dedup key, an incident's group key) stored as it is
MAX_KEY = 512
_DIGEST = len("sha256:") + 64


def bounded_key(key: str, keep: int = 0) -> str:
    """``key`` as it is stored: itself when at most ``MAX_KEY`` characters, else its SHA-256
    after its first ``keep`` characters (``abc…sha256:<hex>``, or ``sha256:<hex>`` for 0).

    Never a prefix alone: two long keys that differ only past the cut must stay two keys
    (two alerts, two incidents), and the same long key must always give the same stored one.
    """
    if len(key) <= MAX_KEY:
        return key
    digest = "sha256:" + hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()
    keep = max(0, min(keep, MAX_KEY - _DIGEST - 1))
    return f"{key[:keep]}…{digest}" if keep else digest


STATUSES = ("triggered", "acknowledged", "resolved")
MANUAL_SOURCE = "manual"


@dataclass(frozen=True, slots=True)
class Integration:
    id: int
    name: str
    source: str
    key_prefix: str
    enabled: bool
    created_at: datetime
    #: increases with every change (UpdateIntegration's expected_version)
    version: int = 1
    #: the team it belongs to (its alerts and incidents with it); None: no team
    team_id: str | None = None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Integration:
        return cls(
            id=row["id"],
            name=row["name"],
            source=row["source"],
            key_prefix=row["key_prefix"],
            enabled=row["enabled"],
            created_at=row["created_at"],
            version=row["version"],
            team_id=row.get("team_id"),
        )


@dataclass(slots=True)
class Alert:
    id: int
    integration_id: int
    integration_name: str
    source: str
    dedup_key: str
    status: str
    summary: str
    details: str
    severity: str
    labels: dict[str, str]
    annotations: dict[str, Any]
    created_at: datetime
    last_received_at: datetime
    started_at: datetime | None = None
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = None
    resolved_at: datetime | None = None
    resolved_by: str | None = None
    duplicate_count: int = 0
    raw: Any = field(default=None, repr=False)
    routed_at: datetime | None = None
    routing: dict[str, Any] | None = None
    escalation_policy_id: str | None = None
    silenced_by: str | None = None
    incident_id: int | None = None
    #: the team of its integration; None: no team
    team_id: str | None = None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Alert:
        return cls(
            id=row["id"],
            integration_id=row["integration_id"],
            integration_name=row["integration_name"],
            source=row["source"],
            dedup_key=row["dedup_key"],
            status=row["status"],
            summary=row["summary"],
            details=row["details"],
            severity=row["severity"],
            labels=row["labels"],
            annotations=row["annotations"],
            created_at=row["created_at"],
            last_received_at=row["last_received_at"],
            started_at=row.get("started_at"),
            acknowledged_at=row["acknowledged_at"],
            acknowledged_by=row["acknowledged_by"],
            resolved_at=row["resolved_at"],
            resolved_by=row["resolved_by"],
            duplicate_count=row["duplicate_count"],
            raw=row.get("raw"),
            routed_at=row.get("routed_at"),
            routing=row.get("routing"),
            escalation_policy_id=row.get("escalation_policy_id"),
            silenced_by=row.get("silenced_by"),
            incident_id=row.get("incident_id"),
            team_id=row.get("team_id"),
        )

    def view(self) -> AlertView:
        return AlertView(
            id=self.id,
            integration_id=self.integration_id,
            integration_name=self.integration_name,
            source=self.source,
            dedup_key=self.dedup_key,
            status=self.status,
            summary=self.summary,
            details=self.details,
            severity=self.severity,
            labels=dict(self.labels),
            annotations=dict(self.annotations),
            created_at=self.created_at,
            last_received_at=self.last_received_at,
            acknowledged_at=self.acknowledged_at,
            resolved_at=self.resolved_at,
            acknowledged_by=self.acknowledged_by,
            resolved_by=self.resolved_by,
            duplicate_count=self.duplicate_count,
        )


@dataclass(frozen=True, slots=True)
class TimelineEvent:
    id: int
    alert_id: int
    at: datetime
    kind: str  # created | duplicate | acknowledged | resolved | note
    actor: str | None
    note: str | None
    data: dict[str, Any] | None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> TimelineEvent:
        return cls(
            id=row["id"],
            alert_id=row["alert_id"],
            at=row["at"],
            kind=row["kind"],
            actor=row["actor"],
            note=row["note"],
            data=row["data"],
        )


@dataclass(frozen=True, slots=True)
class AlertFilter:
    """ListAlerts' filter. Empty fields don't filter."""

    statuses: tuple[str, ...] = ()
    labels: dict[str, str] = field(default_factory=dict)
    integration_id: int | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None
    #: only those of these teams' integrations; None: any
    teams: tuple[str, ...] | None = None
