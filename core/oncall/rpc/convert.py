"""Conversions between oncall.alerting.v1 messages and the domain's records: alerts,
routing rules, escalation policies and state, silences, heartbeat monitors.

Requests are checked here, on the way in, so a malformed one is refused with
INVALID_ARGUMENT (raised as a domain error) before anything is read or written.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from datetime import time as dt_time, UTC
from typing import Any

from google.protobuf import json_format
from google.protobuf.duration_pb2 import Duration
from google.protobuf.struct_pb2 import Struct
from google.protobuf.timestamp_pb2 import Timestamp
from oncall_hookspecs import Action, AlertEvent, AlertView, RoutingDecision, RoutingRule, RuleActions

from ..auth.principal import acting_user
from ..alerting.ingest import MAX_DETAILS, MAX_SUMMARY, normalize_severity
from ..alerting.models import MAX_KEY
from ..alerting.models import MANUAL_SOURCE, Alert, AlertFilter, TimelineEvent
from ..alerting.v1 import alerting_pb2 as pb
from ..alerting.v1 import escalation_pb2 as escalation_pb
from ..alerting.v1 import heartbeats_pb2 as heartbeats_pb
from ..alerting.v1 import routing_pb2 as routing_pb
from ..alerting.v1 import schedules_pb2 as schedules_pb
from ..alerting.v1 import silences_pb2 as silences_pb
from ..errors import InvalidArgument
from . import teams
from ..escalation.heartbeats import Heartbeat
from ..escalation.policies import Policy, PolicyInput, Step, Target
from ..escalation.silences import Matcher, Silence, SilenceInput, maintenance_input
from ..paths import BEAT_PATH
from ..escalation.state import EscalationState, NotificationRequest
from ..routing.rules import RuleInput
from ..schedules import (
    Layer,
    LayerReason,
    OnCallEntry,
    OverrideReason,
    Reason,
    Shift,
    ShiftLength,
    ShiftUnit,
    TemporaryReason,
    TemporarySchedule,
    TemporaryShift,
    Weekday,
    WeeklyWindow,
)
from ..schedules.store import CalendarToken, ScheduleInput, StoredOverride, StoredSchedule

_STATUS_TO_PROTO: dict[str, pb.AlertStatus] = {
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
        routed_at=timestamp(alert.routed_at),
        route=_route_to_proto(alert.routing) if alert.routed_at is not None else None,
        escalation_policy_id=alert.escalation_policy_id or "",
        silenced_by=alert.silenced_by or "",
        incident_id=alert.incident_id or 0,
        team_id=alert.team_id or "",
    )


def _route_to_proto(routing: Mapping[str, Any] | None) -> pb.AlertRoute:
    """The summary of a stored routing decision (``alerts.routing``: the decision as JSON)."""
    routing = routing or {}
    return pb.AlertRoute(
        matched_rules=list(routing.get("matched_rules") or []),
        default_route=bool(routing.get("default_route")),
        escalation_policy_id=routing.get("escalation_policy_id") or "",
        suppressed=bool(routing.get("suppress")),
        errors=list(routing.get("errors") or []),
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


def list_filter(request: pb.ListAlertsRequest) -> AlertFilter:
    flt = AlertFilter(
        statuses=_statuses(request.statuses),
        labels=dict(request.labels),
        integration_id=request.integration_id if request.HasField("integration_id") else None,
        created_after=instant(request.created_after, "created_after") if request.HasField("created_after") else None,
        created_before=(
            instant(request.created_before, "created_before") if request.HasField("created_before") else None
        ),
        teams=teams.team_filter(request),
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


def _severity(value: str) -> str:
    """A severity or alias, normalised; empty means "unknown"; anything else is refused."""
    severity = normalize_severity(value) if value else "unknown"
    if severity == "unknown" and value.strip().lower() not in ("", "unknown"):
        raise InvalidArgument(f"severity {value!r} is not known; use critical, error, warning or info")
    return severity


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
    severity = _severity(request.severity)
    return AlertEvent(
        action=Action.TRIGGER,
        dedup_key=request.dedup_key or f"manual:{uuid.uuid4().hex}",
        summary=summary,
        details=request.details,
        severity=severity,
        labels=dict(request.labels),
        annotations=json_format.MessageToDict(request.annotations) if request.HasField("annotations") else {},
    )


# --------------------------------------------------------------------------- shared


def duration(seconds: float) -> Duration:
    d = Duration()
    d.FromTimedelta(timedelta(seconds=seconds))
    return d


def instant(ts: Timestamp, field: str) -> datetime:
    """A Timestamp as a UTC datetime; one no datetime can hold (outside years 1–9999) is refused."""
    try:
        when: datetime = ts.ToDatetime(tzinfo=UTC)  # protobuf's runtime is untyped: Any
    except (ValueError, OverflowError):
        raise InvalidArgument(f"{field} is not a valid timestamp") from None
    return when


def later(start: datetime, span: timedelta, field: str) -> datetime:
    """``start + span``, refused when it falls past the year 9999 (no datetime holds it)."""
    try:
        return start + span
    except OverflowError:
        raise InvalidArgument(f"{field} is too long: it would end after the year 9999") from None


def whole_seconds(value: Duration, field: str) -> int:
    """A Duration the domain counts in whole seconds; a fraction or a negative is refused."""
    if value.nanos:
        raise InvalidArgument(f"{field} must be a whole number of seconds")
    if value.seconds < 0:
        raise InvalidArgument(f"{field} must not be negative")
    seconds: int = value.seconds
    return seconds


def required(value: str, field: str) -> str:
    """A required string id or name, stripped."""
    value = value.strip()
    if not value:
        raise InvalidArgument(f"{field} is required")
    return value


def _limit(value: int, field: str, default: int, maximum: int) -> int:
    if value < 0:
        raise InvalidArgument(f"{field} must not be negative")
    return min(value or default, maximum)


# --------------------------------------------------------------------------- routing


def actions_from_proto(actions: routing_pb.RuleActions) -> RuleActions:
    """Rule actions as sent; the domain checks them (severities, label names, the policy)."""
    return RuleActions(
        escalation_policy_id=actions.escalation_policy_id.strip() or None,
        template_id=actions.template_id.strip() or None,
        channel_destinations=[d.strip() for d in actions.channel_destinations],
        ticket_provider=actions.ticket_provider.strip() or None,
        set_severity=actions.set_severity.strip().lower() or None,
        set_labels=dict(actions.set_labels),
        suppress=actions.suppress,
    )


def actions_to_proto(actions: RuleActions) -> routing_pb.RuleActions:
    return routing_pb.RuleActions(
        escalation_policy_id=actions.escalation_policy_id or "",
        template_id=actions.template_id or "",
        channel_destinations=actions.channel_destinations,
        ticket_provider=actions.ticket_provider or "",
        set_severity=actions.set_severity or "",
        set_labels=actions.set_labels,
        suppress=actions.suppress,
    )


def rule_to_proto(rule: RoutingRule) -> routing_pb.RoutingRule:
    return routing_pb.RoutingRule(
        id=rule.id,
        name=rule.name,
        condition=rule.condition,
        actions=actions_to_proto(rule.actions),
        continue_matching=rule.continue_,
        position=rule.position,
        version=rule.version,
        team_id=rule.team_id or "",
    )


def rule_input(request: routing_pb.CreateRuleRequest | routing_pb.UpdateRuleRequest) -> RuleInput:
    return RuleInput(
        name=required(request.name, "name"),
        condition=request.condition,
        actions=actions_from_proto(request.actions),
        continue_=request.continue_matching,
        team_id=teams.moved_to(request) if isinstance(request, routing_pb.UpdateRuleRequest)
        else teams.created_in(request.team_id),
    )


def rule_position(request: routing_pb.CreateRuleRequest) -> int | None:
    if not request.HasField("position"):
        return None
    if request.position < 0:
        raise InvalidArgument("position must not be negative (0 is first; leave it unset for last)")
    return request.position


def rule_ids(values: Iterable[str]) -> list[str]:
    ids = [v.strip() for v in values]
    if not all(ids):
        raise InvalidArgument("rule_ids has an empty id; list every rule's id, in the new order")
    return ids


def sample_alert(sample: routing_pb.SampleAlert, now: datetime) -> AlertView:
    """The alert TestRoute routes: what a source would have stored, never stored itself."""
    status: str | None
    if sample.status == pb.ALERT_STATUS_UNSPECIFIED:
        status = "triggered"
    else:
        status = _STATUS_FROM_PROTO.get(sample.status)
        if status is None:
            raise InvalidArgument(f"alert.status: {sample.status} is not a status")
    return AlertView(
        id=0,
        integration_id=sample.integration_id if sample.HasField("integration_id") else 0,
        integration_name=sample.integration or MANUAL_SOURCE,
        source=sample.source or MANUAL_SOURCE,
        dedup_key="",
        status=status,
        summary=sample.summary,
        details=sample.details,
        severity=_severity(sample.severity),
        labels=dict(sample.labels),
        annotations=json_format.MessageToDict(sample.annotations) if sample.HasField("annotations") else {},
        created_at=now,
        last_received_at=now,
    )


def decision_to_proto(decision: RoutingDecision) -> routing_pb.RoutingDecision:
    return routing_pb.RoutingDecision(
        matched_rules=decision.matched_rules,
        default_route=decision.default_route,
        escalation_policy_id=decision.escalation_policy_id or "",
        template_id=decision.template_id or "",
        channel_destinations=decision.channel_destinations,
        ticket_provider=decision.ticket_provider or "",
        severity=decision.severity or "",
        labels=decision.labels,
        suppress=decision.suppress,
        trace=[
            routing_pb.RuleTrace(rule_id=t.rule_id, rule_name=t.rule_name, matched=t.matched, error=t.error or "")
            for t in decision.trace
        ],
        errors=decision.errors,
    )


# --------------------------------------------------------------------------- escalation

_TARGET_KIND_TO_PROTO: dict[str, escalation_pb.TargetKind] = {
    "user": escalation_pb.TARGET_KIND_USER,
    "schedule": escalation_pb.TARGET_KIND_SCHEDULE,
    "channel": escalation_pb.TARGET_KIND_CHANNEL,
    "webhook": escalation_pb.TARGET_KIND_WEBHOOK,
}
_TARGET_KIND_FROM_PROTO: dict[int, str] = {v: k for k, v in _TARGET_KIND_TO_PROTO.items()}

_ESCALATION_STATE_TO_PROTO: dict[str, escalation_pb.EscalationState] = {
    "active": escalation_pb.ESCALATION_STATE_ACTIVE,
    "held": escalation_pb.ESCALATION_STATE_HELD,
    "stopped": escalation_pb.ESCALATION_STATE_STOPPED,
    "done": escalation_pb.ESCALATION_STATE_DONE,
}

DEFAULT_REPEAT_DELAY_S = 300
DEFAULT_REQUESTS_LIMIT = 500
MAX_REQUESTS_LIMIT = 5000


def _steps(steps: Iterable[escalation_pb.EscalationStep]) -> list[Step]:
    out = []
    for i, step in enumerate(steps, 1):
        targets = []
        for target in step.targets:
            kind = _TARGET_KIND_FROM_PROTO.get(target.kind)
            if kind is None:
                raise InvalidArgument(
                    f"step {i}: target kind {target.kind} is not one of TARGET_KIND_USER, "
                    "TARGET_KIND_SCHEDULE, TARGET_KIND_CHANNEL, TARGET_KIND_WEBHOOK"
                )
            targets.append(Target(kind, target.id.strip()))
        out.append(Step(delay_seconds=whole_seconds(step.delay, f"step {i}: delay"), targets=tuple(targets)))
    return out


def policy_input(request: escalation_pb.CreatePolicyRequest | escalation_pb.UpdatePolicyRequest) -> PolicyInput:
    """The policy a request defines; the domain checks the rest (limits, target ids)."""
    repeat_delay = (
        whole_seconds(request.repeat_delay, "repeat_delay")
        if request.HasField("repeat_delay")
        else DEFAULT_REPEAT_DELAY_S
    )
    return PolicyInput(
        name=request.name.strip(),
        description=request.description,
        steps=_steps(request.steps),
        repeat=request.repeat,
        repeat_delay_seconds=repeat_delay,
        team_id=teams.moved_to(request) if isinstance(request, escalation_pb.UpdatePolicyRequest)
        else teams.created_in(request.team_id),
    )


def policy_to_proto(policy: Policy) -> escalation_pb.EscalationPolicy:
    return escalation_pb.EscalationPolicy(
        id=policy.id,
        name=policy.name,
        description=policy.description,
        steps=[
            escalation_pb.EscalationStep(
                delay=duration(step.delay_seconds),
                targets=[
                    escalation_pb.EscalationTarget(
                        kind=_TARGET_KIND_TO_PROTO.get(t.kind, escalation_pb.TARGET_KIND_UNSPECIFIED), id=t.id
                    )
                    for t in step.targets
                ],
            )
            for step in policy.steps
        ],
        repeat=policy.repeat,
        repeat_delay=duration(policy.repeat_delay_seconds),
        version=policy.version,
        created_at=timestamp(policy.created_at),
        updated_at=timestamp(policy.updated_at),
        team_id=policy.team_id or "",
    )


def escalation_to_proto(state: EscalationState) -> escalation_pb.Escalation:
    return escalation_pb.Escalation(
        alert_id=state.alert_id,
        policy_id=state.policy_id,
        state=_ESCALATION_STATE_TO_PROTO.get(state.state, escalation_pb.ESCALATION_STATE_UNSPECIFIED),
        current_step=state.current_step,
        next_step=state.next_step,
        repeat=state.repeat,
        next_due_at=timestamp(state.next_due_at),
        last_fired_at=timestamp(state.last_fired_at),
        held_by=state.held_by or "",
    )


def requests_filter(request: escalation_pb.ListNotificationRequestsRequest) -> tuple[int | None, str | None, int]:
    """(alert id, status, limit) for ``state.list_requests``."""
    alert = alert_id(request.alert_id) if request.HasField("alert_id") else None
    limit = _limit(request.limit, "limit", DEFAULT_REQUESTS_LIMIT, MAX_REQUESTS_LIMIT)
    return alert, request.status.strip() or None, limit


def notification_request_to_proto(r: NotificationRequest) -> escalation_pb.NotificationRequest:
    return escalation_pb.NotificationRequest(
        id=r.id,
        idempotency_key=r.idempotency_key,
        alert_id=r.alert_id,
        policy_id=r.policy_id or "",
        step=r.step,
        repeat=r.repeat,
        target_kind=_TARGET_KIND_TO_PROTO.get(r.target_kind, escalation_pb.TARGET_KIND_UNSPECIFIED),
        target_id=r.target_id,
        user_id=r.user_id or "",
        via=r.via or "",
        template_id=r.template_id or "",
        context=struct(r.context),
        status=r.status,
        created_at=timestamp(r.created_at),
    )


# --------------------------------------------------------------------------- silences

_OP_FROM_PROTO: dict[silences_pb.MatchOperator, str] = {
    silences_pb.MATCH_OPERATOR_EQUAL: "=",
    silences_pb.MATCH_OPERATOR_NOT_EQUAL: "!=",
    silences_pb.MATCH_OPERATOR_REGEX: "=~",
    silences_pb.MATCH_OPERATOR_NOT_REGEX: "!~",
}
_OP_TO_PROTO: dict[str, silences_pb.MatchOperator] = {v: k for k, v in _OP_FROM_PROTO.items()}

_SILENCE_STATE_TO_PROTO: dict[str, silences_pb.SilenceState] = {
    "pending": silences_pb.SILENCE_STATE_PENDING,
    "active": silences_pb.SILENCE_STATE_ACTIVE,
    "expired": silences_pb.SILENCE_STATE_EXPIRED,
}


def _matchers(matchers: Iterable[silences_pb.Matcher]) -> list[Matcher]:
    out = []
    for i, m in enumerate(matchers):
        op = _OP_FROM_PROTO.get(m.op)
        if op is None:
            raise InvalidArgument(
                f"matchers[{i}]: op is required: MATCH_OPERATOR_EQUAL, MATCH_OPERATOR_NOT_EQUAL, "
                "MATCH_OPERATOR_REGEX or MATCH_OPERATOR_NOT_REGEX"
            )
        out.append(Matcher(name=m.name.strip(), op=op, value=m.value))
    return out


def _positive(value: Duration, field: str) -> timedelta:
    try:
        span: timedelta = value.ToTimedelta()
    except (ValueError, OverflowError):  # past protobuf's ±10,000 years
        raise InvalidArgument(f"{field} is not a valid duration") from None
    if span <= timedelta(0):
        raise InvalidArgument(f"{field} must be positive")
    return span


def silence_input(request: silences_pb.CreateSilenceRequest, now: datetime) -> SilenceInput:
    """The silence a request asks for; the domain checks the rest (scope, regexes, times)."""
    starts_at = instant(request.starts_at, "starts_at") if request.HasField("starts_at") else None
    end = request.WhichOneof("end")
    if end == "ends_at":
        ends_at = instant(request.ends_at, "ends_at")
    elif end == "duration":
        ends_at = later(starts_at or now, _positive(request.duration, "duration"), "duration")
    else:
        raise InvalidArgument("ends_at or duration is required: a silence must end")
    return SilenceInput(
        created_by=acting_user(request.created_by),
        starts_at=starts_at,
        ends_at=ends_at,
        matchers=_matchers(request.matchers),
        condition=request.condition.strip() or None,
        integration_id=request.integration_id if request.HasField("integration_id") else None,
        policy_id=request.policy_id.strip() or None,
        comment=request.comment,
    )


def maintenance(request: silences_pb.SetMaintenanceRequest, now: datetime) -> SilenceInput:
    scope = request.WhichOneof("scope")
    if scope is None:
        raise InvalidArgument("integration_id or policy_id is required: say what goes into maintenance")
    if not request.HasField("duration"):
        raise InvalidArgument("duration is required")
    span = _positive(request.duration, "duration")
    later(now, span, "duration")  # maintenance_input adds it to now
    return maintenance_input(
        created_by=acting_user(request.created_by),
        minutes=span.total_seconds() / 60,
        now=now,
        integration_id=request.integration_id if scope == "integration_id" else None,
        policy_id=required(request.policy_id, "policy_id") if scope == "policy_id" else None,
        comment=request.comment or "maintenance",
    )


def silence_to_proto(silence: Silence, now: datetime) -> silences_pb.Silence:
    return silences_pb.Silence(
        id=silence.id,
        matchers=[
            silences_pb.Matcher(
                name=m.name, op=_OP_TO_PROTO.get(m.op, silences_pb.MATCH_OPERATOR_UNSPECIFIED), value=m.value
            )
            for m in silence.matchers
        ],
        condition=silence.condition or "",
        integration_id=silence.integration_id,
        policy_id=silence.policy_id or "",
        starts_at=timestamp(silence.starts_at),
        ends_at=timestamp(silence.ends_at),
        created_by=silence.created_by,
        comment=silence.comment,
        created_at=timestamp(silence.created_at),
        state=_SILENCE_STATE_TO_PROTO[silence.state(now)],
        version=silence.version,
    )


# --------------------------------------------------------------------------- heartbeats

_HEARTBEAT_STATE_TO_PROTO: dict[str, heartbeats_pb.HeartbeatState] = {
    "pending": heartbeats_pb.HEARTBEAT_STATE_PENDING,
    "up": heartbeats_pb.HEARTBEAT_STATE_UP,
    "expired": heartbeats_pb.HEARTBEAT_STATE_EXPIRED,
}


def heartbeat_timeout(request: heartbeats_pb.CreateHeartbeatRequest) -> int:
    if not request.HasField("timeout"):
        raise InvalidArgument("timeout is required: how long after a beat the next must arrive")
    return whole_seconds(request.timeout, "timeout")


def heartbeat_to_proto(hb: Heartbeat) -> heartbeats_pb.Heartbeat:
    return heartbeats_pb.Heartbeat(
        id=hb.id,
        name=hb.name,
        integration_id=hb.integration_id,
        timeout=duration(hb.timeout_seconds),
        last_beat_at=timestamp(hb.last_beat_at),
        expires_at=timestamp(hb.expires_at),
        state=_HEARTBEAT_STATE_TO_PROTO.get(hb.state, heartbeats_pb.HEARTBEAT_STATE_UNSPECIFIED),
        beat_path=BEAT_PATH.format(id=hb.id),
    )


# --------------------------------------------------------------------------- schedules

_SHIFT_UNIT_FROM_PROTO: dict[schedules_pb.ShiftUnit, ShiftUnit] = {
    schedules_pb.SHIFT_UNIT_HOUR: ShiftUnit.HOUR,
    schedules_pb.SHIFT_UNIT_DAY: ShiftUnit.DAY,
    schedules_pb.SHIFT_UNIT_WEEK: ShiftUnit.WEEK,
}
_SHIFT_UNIT_TO_PROTO: dict[ShiftUnit, schedules_pb.ShiftUnit] = {v: k for k, v in _SHIFT_UNIT_FROM_PROTO.items()}
_TIME_OF_DAY = re.compile(r"^([01]\d|2[0-3]):[0-5]\d(:[0-5]\d)?$")


def time_of_day(text: str, field: str) -> dt_time:
    """``"HH:MM"`` or ``"HH:MM:SS"`` (24-hour clock) as a local wall-clock time."""
    text = text.strip()
    if not _TIME_OF_DAY.match(text):
        raise InvalidArgument(f"{field} must be a time of day like \"09:00\" or \"21:30:00\", got {text!r}")
    return dt_time.fromisoformat(text)


def time_of_day_text(value: dt_time) -> str:
    return value.strftime("%H:%M:%S" if value.second else "%H:%M")


def _required_instant(message: Any, name: str, field: str | None = None) -> datetime:
    if not message.HasField(name):
        raise InvalidArgument(f"{field or name} is required")
    return instant(getattr(message, name), field or name)


_WEEKDAY_TO_PROTO: dict[Weekday, schedules_pb.Weekday] = {
    Weekday.MONDAY: schedules_pb.WEEKDAY_MONDAY,
    Weekday.TUESDAY: schedules_pb.WEEKDAY_TUESDAY,
    Weekday.WEDNESDAY: schedules_pb.WEEKDAY_WEDNESDAY,
    Weekday.THURSDAY: schedules_pb.WEEKDAY_THURSDAY,
    Weekday.FRIDAY: schedules_pb.WEEKDAY_FRIDAY,
    Weekday.SATURDAY: schedules_pb.WEEKDAY_SATURDAY,
    Weekday.SUNDAY: schedules_pb.WEEKDAY_SUNDAY,
}


def _weekday(value: int, field: str) -> Weekday:
    if not schedules_pb.WEEKDAY_MONDAY <= value <= schedules_pb.WEEKDAY_SUNDAY:
        raise InvalidArgument(f"{field} is required: WEEKDAY_MONDAY … WEEKDAY_SUNDAY")
    return Weekday(value - schedules_pb.WEEKDAY_MONDAY)  # the model counts from Monday = 0


def _user_ids(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(v.strip() for v in values)


def layer_from_proto(layer: schedules_pb.Layer, where: str) -> Layer:
    """A layer of a request, checked by the schedule model; errors say ``where`` it is."""
    try:
        if not layer.HasField("shift_length"):
            raise InvalidArgument("shift_length is required")
        unit = _SHIFT_UNIT_FROM_PROTO.get(layer.shift_length.unit)
        if unit is None:
            raise InvalidArgument("shift_length.unit is required: SHIFT_UNIT_HOUR, SHIFT_UNIT_DAY or SHIFT_UNIT_WEEK")
        windows = tuple(
            WeeklyWindow(
                _weekday(w.start_day, f"restrictions[{j}].start_day"),
                time_of_day(w.start_time, f"restrictions[{j}].start_time"),
                _weekday(w.end_day, f"restrictions[{j}].end_day"),
                time_of_day(w.end_time, f"restrictions[{j}].end_time"),
            )
            for j, w in enumerate(layer.restrictions)
        )
        return Layer(
            name=layer.name.strip(),
            participants=_user_ids(layer.participants),
            shift_length=ShiftLength(layer.shift_length.count, unit),
            handoff=time_of_day(layer.handoff, "handoff"),
            start=_required_instant(layer, "start"),
            restrictions=windows,
        )
    except InvalidArgument as exc:
        raise InvalidArgument(f"{where}: {exc.detail}") from None


def schedule_input(
    request: schedules_pb.CreateScheduleRequest | schedules_pb.UpdateScheduleRequest,
) -> ScheduleInput:
    """The schedule a request defines; the store checks the rest (name, limits, zone)."""
    time_zone = request.time_zone.strip()
    if not time_zone:
        raise InvalidArgument("time_zone is required: an IANA name such as \"Europe/Berlin\"")
    return ScheduleInput(
        name=request.name,
        time_zone=time_zone,
        description=request.description,
        layers=tuple(layer_from_proto(layer, f"layers[{i}]") for i, layer in enumerate(request.layers)),
        team_id=teams.moved_to(request) if isinstance(request, schedules_pb.UpdateScheduleRequest)
        else teams.created_in(request.team_id),
    )


def layer_to_proto(layer: Layer) -> schedules_pb.Layer:
    return schedules_pb.Layer(
        name=layer.name,
        participants=layer.participants,
        shift_length=schedules_pb.ShiftLength(
            count=layer.shift_length.count, unit=_SHIFT_UNIT_TO_PROTO[layer.shift_length.unit]
        ),
        handoff=time_of_day_text(layer.handoff),
        start=timestamp(layer.start),
        restrictions=[
            schedules_pb.WeeklyWindow(
                start_day=_WEEKDAY_TO_PROTO[w.start_day],
                start_time=time_of_day_text(w.start_time),
                end_day=_WEEKDAY_TO_PROTO[w.end_day],
                end_time=time_of_day_text(w.end_time),
            )
            for w in layer.restrictions
        ],
    )


def temporary_schedule_to_proto(t: TemporarySchedule) -> schedules_pb.TemporarySchedule:
    return schedules_pb.TemporarySchedule(
        id=t.id,
        start=timestamp(t.start),
        end=timestamp(t.end),
        shifts=[
            schedules_pb.TemporaryShift(start=timestamp(s.start), end=timestamp(s.end), user_ids=s.users)
            for s in t.shifts
        ],
    )


def schedule_to_proto(s: StoredSchedule) -> schedules_pb.Schedule:
    return schedules_pb.Schedule(
        id=s.id,
        name=s.name,
        time_zone=s.time_zone,
        description=s.description,
        layers=[layer_to_proto(layer) for layer in s.layers],
        temporary_schedules=[temporary_schedule_to_proto(t) for t in s.temporary_schedules],
        version=s.version,
        created_at=timestamp(s.created_at),
        updated_at=timestamp(s.updated_at),
        team_id=s.team_id or "",
    )


def override_request(request: schedules_pb.AddOverrideRequest) -> tuple[datetime, datetime, str | None, str | None]:
    """(start, end, add user, remove user) of an AddOverride; the store checks the rest."""
    add, remove = request.add_user_id.strip() or None, request.remove_user_id.strip() or None
    if add is None and remove is None:
        raise InvalidArgument("add_user_id, remove_user_id or both (a replace) is required")
    return _required_instant(request, "start"), _required_instant(request, "end"), add, remove


def override_to_proto(o: StoredOverride) -> schedules_pb.Override:
    return schedules_pb.Override(
        id=o.id,
        schedule_id=o.schedule_id,
        start=timestamp(o.start),
        end=timestamp(o.end),
        add_user_id=o.add_user or "",
        remove_user_id=o.remove_user or "",
        created_at=timestamp(o.created_at),
    )


def overrides_window(request: schedules_pb.ListOverridesRequest) -> tuple[datetime | None, datetime | None]:
    start = instant(request.start, "start") if request.HasField("start") else None
    end = instant(request.end, "end") if request.HasField("end") else None
    return start, end


def temporary_request(
    request: schedules_pb.SetTemporaryScheduleRequest,
) -> tuple[str | None, datetime, datetime, list[TemporaryShift]]:
    """(id or None for a new one, start, end, shifts) of a SetTemporarySchedule."""
    found = []
    for i, s in enumerate(request.shifts):
        try:
            found.append(TemporaryShift(
                _required_instant(s, "start"), _required_instant(s, "end"), _user_ids(s.user_ids)
            ))
        except InvalidArgument as exc:
            raise InvalidArgument(f"shifts[{i}]: {exc.detail}") from None
    return (
        request.temporary_schedule_id.strip() or None,
        _required_instant(request, "start"),
        _required_instant(request, "end"),
        found,
    )


def reason_to_proto(reason: Reason) -> schedules_pb.OnCallReason:
    if isinstance(reason, LayerReason):
        return schedules_pb.OnCallReason(layer=schedules_pb.LayerReason(index=reason.index, name=reason.name))
    if isinstance(reason, OverrideReason):
        return schedules_pb.OnCallReason(override_id=reason.override_id)
    if isinstance(reason, TemporaryReason):
        return schedules_pb.OnCallReason(temporary_schedule_id=reason.temporary_schedule_id)
    raise TypeError(f"not a reason: {reason!r}")


def on_call_user_to_proto(entry: OnCallEntry) -> schedules_pb.OnCallUser:
    return schedules_pb.OnCallUser(user_id=entry.user, reason=reason_to_proto(entry.reason))


def shifts_range(request: schedules_pb.ListShiftsRequest) -> tuple[datetime, datetime]:
    return _required_instant(request, "start"), _required_instant(request, "end")


def shift_to_proto(s: Shift) -> schedules_pb.Shift:
    return schedules_pb.Shift(
        start=timestamp(s.start), end=timestamp(s.end), user_id=s.user, reason=reason_to_proto(s.reason)
    )


def calendar_token_to_proto(t: CalendarToken) -> schedules_pb.CalendarToken:
    return schedules_pb.CalendarToken(
        id=t.id,
        schedule_id=t.schedule_id,
        user_id=t.user_id or "",
        prefix=t.prefix,
        created_at=timestamp(t.created_at),
    )
