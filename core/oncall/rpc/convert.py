"""Conversions between oncall.alerting.v1 messages and the alerting domain's records.

Requests are checked here, on the way in, so a malformed one is refused with
INVALID_ARGUMENT (raised as a domain error) before anything is read or written.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from typing import Any

from google.protobuf import json_format
from google.protobuf.struct_pb2 import Struct
from google.protobuf.timestamp_pb2 import Timestamp
from oncall_hookspecs import Action, AlertEvent

from ..alerting.ingest import MAX_DETAILS, MAX_KEY, MAX_SUMMARY, normalize_severity
from ..alerting.models import Alert, AlertFilter, TimelineEvent
from ..alerting.v1 import alerting_pb2 as pb
from ..errors import InvalidArgument

_STATUS_TO_PROTO: dict[str, int] = {
    "triggered": pb.ALERT_STATUS_TRIGGERED,
    "acknowledged": pb.ALERT_STATUS_ACKNOWLEDGED,
    "resolved": pb.ALERT_STATUS_RESOLVED,
}
_STATUS_FROM_PROTO: dict[int, str] = {v: k for k, v in _STATUS_TO_PROTO.items()}

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000


# --------------------------------------------------------------------------- domain → proto


def timestamp(value: datetime | None) -> Timestamp | None:
    """A protobuf Timestamp, or None so the message field stays unset."""
    if value is None:
        return None
    ts = Timestamp()
    ts.FromDatetime(value)
    return ts


def struct(value: Mapping[str, Any] | None) -> Struct | None:
    if value is None:
        return None
    s = Struct()
    s.update(value)
    return s


def alert_to_proto(alert: Alert) -> pb.Alert:
    return pb.Alert(
        id=alert.id,
        integration_id=alert.integration_id,
        integration_name=alert.integration_name,
        source=alert.source,
        dedup_key=alert.dedup_key,
        status=_STATUS_TO_PROTO.get(alert.status, pb.ALERT_STATUS_UNSPECIFIED),
        summary=alert.summary,
        details=alert.details,
        severity=alert.severity,
        labels=alert.labels,
        annotations=struct(alert.annotations),
        created_at=timestamp(alert.created_at),
        last_received_at=timestamp(alert.last_received_at),
        started_at=timestamp(alert.started_at),
        acknowledged_at=timestamp(alert.acknowledged_at),
        acknowledged_by=alert.acknowledged_by or "",
        resolved_at=timestamp(alert.resolved_at),
        resolved_by=alert.resolved_by or "",
        duplicate_count=alert.duplicate_count,
    )


def event_to_proto(event: TimelineEvent) -> pb.TimelineEvent:
    return pb.TimelineEvent(
        id=event.id,
        alert_id=event.alert_id,
        kind=event.kind,
        at=timestamp(event.at),
        actor=event.actor or "",
        note=event.note or "",
        data=struct(event.data),
    )


# --------------------------------------------------------------------------- proto → domain


def alert_id(value: int) -> int:
    if value <= 0:
        raise InvalidArgument("alert_id is required (a positive alert id)")
    return value


def _statuses(values: Iterable[int]) -> tuple[str, ...]:
    out: list[str] = []
    for v in values:
        status = _STATUS_FROM_PROTO.get(v)
        if status is None:
            raise InvalidArgument(
                f"statuses: {v} is not a status; use ALERT_STATUS_TRIGGERED, "
                "ALERT_STATUS_ACKNOWLEDGED or ALERT_STATUS_RESOLVED"
            )
        out.append(status)
    return tuple(dict.fromkeys(out))


def _datetime(ts: Timestamp) -> datetime:
    return ts.ToDatetime(tzinfo=timezone.utc)


def list_filter(request: pb.ListAlertsRequest) -> AlertFilter:
    flt = AlertFilter(
        statuses=_statuses(request.statuses),
        labels=dict(request.labels),
        integration_id=request.integration_id if request.HasField("integration_id") else None,
        created_after=_datetime(request.created_after) if request.HasField("created_after") else None,
        created_before=_datetime(request.created_before) if request.HasField("created_before") else None,
    )
    if flt.created_after and flt.created_before and flt.created_after > flt.created_before:
        raise InvalidArgument("created_after is later than created_before: nothing can match")
    return flt


def page_size(value: int) -> int:
    if value < 0:
        raise InvalidArgument("page_size must not be negative")
    return min(value or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)


def watch_filter(request: pb.WatchAlertsRequest) -> AlertFilter:
    return AlertFilter(
        statuses=_statuses(request.statuses),
        labels=dict(request.labels),
        integration_id=request.integration_id if request.HasField("integration_id") else None,
    )


def manual_event(request: pb.CreateAlertRequest) -> AlertEvent:
    """The trigger a CreateAlert asks for, checked as strictly as an API caller deserves.

    Webhook input is truncated to fit, since a monitoring system can't be argued with; a
    person or script calling the API is told instead.
    """
    summary = request.summary.strip()
    if not summary:
        raise InvalidArgument("summary is required")
    if len(summary) > MAX_SUMMARY:
        raise InvalidArgument(f"summary is {len(summary)} characters; the limit is {MAX_SUMMARY}")
    if len(request.details) > MAX_DETAILS:
        raise InvalidArgument(f"details are {len(request.details)} characters; the limit is {MAX_DETAILS}")
    if len(request.dedup_key) > MAX_KEY:
        raise InvalidArgument(f"dedup_key is {len(request.dedup_key)} characters; the limit is {MAX_KEY}")
    severity = normalize_severity(request.severity) if request.severity else "unknown"
    if severity == "unknown" and request.severity.strip().lower() not in ("", "unknown"):
        raise InvalidArgument(
            f"severity {request.severity!r} is not known; use critical, error, warning or info"
        )
    return AlertEvent(
        action=Action.TRIGGER,
        dedup_key=request.dedup_key or f"manual:{uuid.uuid4().hex}",
        summary=summary,
        details=request.details,
        severity=severity,
        labels=dict(request.labels),
        annotations=json_format.MessageToDict(request.annotations) if request.HasField("annotations") else {},
    )

