import datetime

from google.api import annotations_pb2 as _annotations_pb2
from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from oncall.alerting.v1 import alerting_pb2 as _alerting_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class IncidentStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    INCIDENT_STATUS_UNSPECIFIED: _ClassVar[IncidentStatus]
    INCIDENT_STATUS_TRIGGERED: _ClassVar[IncidentStatus]
    INCIDENT_STATUS_ACKNOWLEDGED: _ClassVar[IncidentStatus]
    INCIDENT_STATUS_RESOLVED: _ClassVar[IncidentStatus]
INCIDENT_STATUS_UNSPECIFIED: IncidentStatus
INCIDENT_STATUS_TRIGGERED: IncidentStatus
INCIDENT_STATUS_ACKNOWLEDGED: IncidentStatus
INCIDENT_STATUS_RESOLVED: IncidentStatus

class Incident(_message.Message):
    __slots__ = ("id", "status", "title", "severity", "integration_id", "first_alert_id", "alert_count", "open_alerts", "triggered_alerts", "resolve_on", "repage_on_new_alert", "grouping_rule_id", "group_key", "joinable", "created_at", "last_alert_at", "acknowledged_at", "acknowledged_by", "resolved_at", "resolved_by", "merged_into", "grouped", "routed_at", "escalation_policy_id", "team_id")
    ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    SEVERITY_FIELD_NUMBER: _ClassVar[int]
    INTEGRATION_ID_FIELD_NUMBER: _ClassVar[int]
    FIRST_ALERT_ID_FIELD_NUMBER: _ClassVar[int]
    ALERT_COUNT_FIELD_NUMBER: _ClassVar[int]
    OPEN_ALERTS_FIELD_NUMBER: _ClassVar[int]
    TRIGGERED_ALERTS_FIELD_NUMBER: _ClassVar[int]
    RESOLVE_ON_FIELD_NUMBER: _ClassVar[int]
    REPAGE_ON_NEW_ALERT_FIELD_NUMBER: _ClassVar[int]
    GROUPING_RULE_ID_FIELD_NUMBER: _ClassVar[int]
    GROUP_KEY_FIELD_NUMBER: _ClassVar[int]
    JOINABLE_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    LAST_ALERT_AT_FIELD_NUMBER: _ClassVar[int]
    ACKNOWLEDGED_AT_FIELD_NUMBER: _ClassVar[int]
    ACKNOWLEDGED_BY_FIELD_NUMBER: _ClassVar[int]
    RESOLVED_AT_FIELD_NUMBER: _ClassVar[int]
    RESOLVED_BY_FIELD_NUMBER: _ClassVar[int]
    MERGED_INTO_FIELD_NUMBER: _ClassVar[int]
    GROUPED_FIELD_NUMBER: _ClassVar[int]
    ROUTED_AT_FIELD_NUMBER: _ClassVar[int]
    ESCALATION_POLICY_ID_FIELD_NUMBER: _ClassVar[int]
    TEAM_ID_FIELD_NUMBER: _ClassVar[int]
    id: int
    status: IncidentStatus
    title: str
    severity: str
    integration_id: int
    first_alert_id: int
    alert_count: int
    open_alerts: int
    triggered_alerts: int
    resolve_on: str
    repage_on_new_alert: bool
    grouping_rule_id: str
    group_key: str
    joinable: bool
    created_at: _timestamp_pb2.Timestamp
    last_alert_at: _timestamp_pb2.Timestamp
    acknowledged_at: _timestamp_pb2.Timestamp
    acknowledged_by: str
    resolved_at: _timestamp_pb2.Timestamp
    resolved_by: str
    merged_into: int
    grouped: bool
    routed_at: _timestamp_pb2.Timestamp
    escalation_policy_id: str
    team_id: str
    def __init__(self, id: _Optional[int] = ..., status: _Optional[_Union[IncidentStatus, str]] = ..., title: _Optional[str] = ..., severity: _Optional[str] = ..., integration_id: _Optional[int] = ..., first_alert_id: _Optional[int] = ..., alert_count: _Optional[int] = ..., open_alerts: _Optional[int] = ..., triggered_alerts: _Optional[int] = ..., resolve_on: _Optional[str] = ..., repage_on_new_alert: _Optional[bool] = ..., grouping_rule_id: _Optional[str] = ..., group_key: _Optional[str] = ..., joinable: _Optional[bool] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_alert_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., acknowledged_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., acknowledged_by: _Optional[str] = ..., resolved_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., resolved_by: _Optional[str] = ..., merged_into: _Optional[int] = ..., grouped: _Optional[bool] = ..., routed_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., escalation_policy_id: _Optional[str] = ..., team_id: _Optional[str] = ...) -> None: ...

class IncidentTimelineEntry(_message.Message):
    __slots__ = ("source", "id", "incident_id", "alert_id", "kind", "at", "actor", "note", "data", "incident_event")
    class Source(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        SOURCE_UNSPECIFIED: _ClassVar[IncidentTimelineEntry.Source]
        SOURCE_INCIDENT: _ClassVar[IncidentTimelineEntry.Source]
        SOURCE_ALERT: _ClassVar[IncidentTimelineEntry.Source]
    SOURCE_UNSPECIFIED: IncidentTimelineEntry.Source
    SOURCE_INCIDENT: IncidentTimelineEntry.Source
    SOURCE_ALERT: IncidentTimelineEntry.Source
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    INCIDENT_ID_FIELD_NUMBER: _ClassVar[int]
    ALERT_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    AT_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    INCIDENT_EVENT_FIELD_NUMBER: _ClassVar[int]
    source: IncidentTimelineEntry.Source
    id: int
    incident_id: int
    alert_id: int
    kind: str
    at: _timestamp_pb2.Timestamp
    actor: str
    note: str
    data: _struct_pb2.Struct
    incident_event: bool
    def __init__(self, source: _Optional[_Union[IncidentTimelineEntry.Source, str]] = ..., id: _Optional[int] = ..., incident_id: _Optional[int] = ..., alert_id: _Optional[int] = ..., kind: _Optional[str] = ..., at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., actor: _Optional[str] = ..., note: _Optional[str] = ..., data: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., incident_event: _Optional[bool] = ...) -> None: ...

class ListIncidentsRequest(_message.Message):
    __slots__ = ("statuses", "labels", "integration_id", "created_after", "created_before", "page_size", "page_token", "team_ids", "my_teams")
    class LabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    STATUSES_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    INTEGRATION_ID_FIELD_NUMBER: _ClassVar[int]
    CREATED_AFTER_FIELD_NUMBER: _ClassVar[int]
    CREATED_BEFORE_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TEAM_IDS_FIELD_NUMBER: _ClassVar[int]
    MY_TEAMS_FIELD_NUMBER: _ClassVar[int]
    statuses: _containers.RepeatedScalarFieldContainer[IncidentStatus]
    labels: _containers.ScalarMap[str, str]
    integration_id: int
    created_after: _timestamp_pb2.Timestamp
    created_before: _timestamp_pb2.Timestamp
    page_size: int
    page_token: str
    team_ids: _containers.RepeatedScalarFieldContainer[str]
    my_teams: bool
    def __init__(self, statuses: _Optional[_Iterable[_Union[IncidentStatus, str]]] = ..., labels: _Optional[_Mapping[str, str]] = ..., integration_id: _Optional[int] = ..., created_after: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., created_before: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., team_ids: _Optional[_Iterable[str]] = ..., my_teams: _Optional[bool] = ...) -> None: ...

class ListIncidentsResponse(_message.Message):
    __slots__ = ("incidents", "next_page_token")
    INCIDENTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    incidents: _containers.RepeatedCompositeFieldContainer[Incident]
    next_page_token: str
    def __init__(self, incidents: _Optional[_Iterable[_Union[Incident, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class GetIncidentRequest(_message.Message):
    __slots__ = ("incident_id",)
    INCIDENT_ID_FIELD_NUMBER: _ClassVar[int]
    incident_id: int
    def __init__(self, incident_id: _Optional[int] = ...) -> None: ...

class GetIncidentResponse(_message.Message):
    __slots__ = ("incident",)
    INCIDENT_FIELD_NUMBER: _ClassVar[int]
    incident: Incident
    def __init__(self, incident: _Optional[_Union[Incident, _Mapping]] = ...) -> None: ...

class ListIncidentAlertsRequest(_message.Message):
    __slots__ = ("incident_id", "page_size", "page_token")
    INCIDENT_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    incident_id: int
    page_size: int
    page_token: str
    def __init__(self, incident_id: _Optional[int] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListIncidentAlertsResponse(_message.Message):
    __slots__ = ("alerts", "next_page_token")
    ALERTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    alerts: _containers.RepeatedCompositeFieldContainer[_alerting_pb2.Alert]
    next_page_token: str
    def __init__(self, alerts: _Optional[_Iterable[_Union[_alerting_pb2.Alert, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class AcknowledgeIncidentRequest(_message.Message):
    __slots__ = ("incident_id", "user_id", "note")
    INCIDENT_ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    incident_id: int
    user_id: str
    note: str
    def __init__(self, incident_id: _Optional[int] = ..., user_id: _Optional[str] = ..., note: _Optional[str] = ...) -> None: ...

class AcknowledgeIncidentResponse(_message.Message):
    __slots__ = ("incident",)
    INCIDENT_FIELD_NUMBER: _ClassVar[int]
    incident: Incident
    def __init__(self, incident: _Optional[_Union[Incident, _Mapping]] = ...) -> None: ...

class ResolveIncidentRequest(_message.Message):
    __slots__ = ("incident_id", "user_id", "note")
    INCIDENT_ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    incident_id: int
    user_id: str
    note: str
    def __init__(self, incident_id: _Optional[int] = ..., user_id: _Optional[str] = ..., note: _Optional[str] = ...) -> None: ...

class ResolveIncidentResponse(_message.Message):
    __slots__ = ("incident",)
    INCIDENT_FIELD_NUMBER: _ClassVar[int]
    incident: Incident
    def __init__(self, incident: _Optional[_Union[Incident, _Mapping]] = ...) -> None: ...

class EscalateIncidentRequest(_message.Message):
    __slots__ = ("incident_id", "user_id", "note", "restart")
    INCIDENT_ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    RESTART_FIELD_NUMBER: _ClassVar[int]
    incident_id: int
    user_id: str
    note: str
    restart: bool
    def __init__(self, incident_id: _Optional[int] = ..., user_id: _Optional[str] = ..., note: _Optional[str] = ..., restart: _Optional[bool] = ...) -> None: ...

class EscalateIncidentResponse(_message.Message):
    __slots__ = ("incident",)
    INCIDENT_FIELD_NUMBER: _ClassVar[int]
    incident: Incident
    def __init__(self, incident: _Optional[_Union[Incident, _Mapping]] = ...) -> None: ...

class AddIncidentNoteRequest(_message.Message):
    __slots__ = ("incident_id", "user_id", "note")
    INCIDENT_ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    incident_id: int
    user_id: str
    note: str
    def __init__(self, incident_id: _Optional[int] = ..., user_id: _Optional[str] = ..., note: _Optional[str] = ...) -> None: ...

class AddIncidentNoteResponse(_message.Message):
    __slots__ = ("entry",)
    ENTRY_FIELD_NUMBER: _ClassVar[int]
    entry: IncidentTimelineEntry
    def __init__(self, entry: _Optional[_Union[IncidentTimelineEntry, _Mapping]] = ...) -> None: ...

class MergeIncidentsRequest(_message.Message):
    __slots__ = ("target_incident_id", "source_incident_ids", "user_id", "note")
    TARGET_INCIDENT_ID_FIELD_NUMBER: _ClassVar[int]
    SOURCE_INCIDENT_IDS_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    target_incident_id: int
    source_incident_ids: _containers.RepeatedScalarFieldContainer[int]
    user_id: str
    note: str
    def __init__(self, target_incident_id: _Optional[int] = ..., source_incident_ids: _Optional[_Iterable[int]] = ..., user_id: _Optional[str] = ..., note: _Optional[str] = ...) -> None: ...

class MergeIncidentsResponse(_message.Message):
    __slots__ = ("incident",)
    INCIDENT_FIELD_NUMBER: _ClassVar[int]
    incident: Incident
    def __init__(self, incident: _Optional[_Union[Incident, _Mapping]] = ...) -> None: ...

class SplitAlertRequest(_message.Message):
    __slots__ = ("alert_id", "user_id", "note")
    ALERT_ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    alert_id: int
    user_id: str
    note: str
    def __init__(self, alert_id: _Optional[int] = ..., user_id: _Optional[str] = ..., note: _Optional[str] = ...) -> None: ...

class SplitAlertResponse(_message.Message):
    __slots__ = ("incident", "previous_incident")
    INCIDENT_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_INCIDENT_FIELD_NUMBER: _ClassVar[int]
    incident: Incident
    previous_incident: Incident
    def __init__(self, incident: _Optional[_Union[Incident, _Mapping]] = ..., previous_incident: _Optional[_Union[Incident, _Mapping]] = ...) -> None: ...

class GetIncidentTimelineRequest(_message.Message):
    __slots__ = ("incident_id",)
    INCIDENT_ID_FIELD_NUMBER: _ClassVar[int]
    incident_id: int
    def __init__(self, incident_id: _Optional[int] = ...) -> None: ...

class GetIncidentTimelineResponse(_message.Message):
    __slots__ = ("entries",)
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    entries: _containers.RepeatedCompositeFieldContainer[IncidentTimelineEntry]
    def __init__(self, entries: _Optional[_Iterable[_Union[IncidentTimelineEntry, _Mapping]]] = ...) -> None: ...

class WatchIncidentsRequest(_message.Message):
    __slots__ = ("include_open", "integration_id", "statuses")
    INCLUDE_OPEN_FIELD_NUMBER: _ClassVar[int]
    INTEGRATION_ID_FIELD_NUMBER: _ClassVar[int]
    STATUSES_FIELD_NUMBER: _ClassVar[int]
    include_open: bool
    integration_id: int
    statuses: _containers.RepeatedScalarFieldContainer[IncidentStatus]
    def __init__(self, include_open: _Optional[bool] = ..., integration_id: _Optional[int] = ..., statuses: _Optional[_Iterable[_Union[IncidentStatus, str]]] = ...) -> None: ...

class WatchIncidentsResponse(_message.Message):
    __slots__ = ("incident", "snapshot")
    INCIDENT_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_FIELD_NUMBER: _ClassVar[int]
    incident: Incident
    snapshot: bool
    def __init__(self, incident: _Optional[_Union[Incident, _Mapping]] = ..., snapshot: _Optional[bool] = ...) -> None: ...
