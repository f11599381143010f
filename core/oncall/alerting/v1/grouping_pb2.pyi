import datetime

from google.api import annotations_pb2 as _annotations_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class GroupingRuleSpec(_message.Message):
    __slots__ = ("name", "condition", "key", "integration_id", "window_seconds", "idle_seconds", "resolve_on", "title_template", "repage_on_new_alert")
    NAME_FIELD_NUMBER: _ClassVar[int]
    CONDITION_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    INTEGRATION_ID_FIELD_NUMBER: _ClassVar[int]
    WINDOW_SECONDS_FIELD_NUMBER: _ClassVar[int]
    IDLE_SECONDS_FIELD_NUMBER: _ClassVar[int]
    RESOLVE_ON_FIELD_NUMBER: _ClassVar[int]
    TITLE_TEMPLATE_FIELD_NUMBER: _ClassVar[int]
    REPAGE_ON_NEW_ALERT_FIELD_NUMBER: _ClassVar[int]
    name: str
    condition: str
    key: str
    integration_id: int
    window_seconds: int
    idle_seconds: int
    resolve_on: str
    title_template: str
    repage_on_new_alert: bool
    def __init__(self, name: _Optional[str] = ..., condition: _Optional[str] = ..., key: _Optional[str] = ..., integration_id: _Optional[int] = ..., window_seconds: _Optional[int] = ..., idle_seconds: _Optional[int] = ..., resolve_on: _Optional[str] = ..., title_template: _Optional[str] = ..., repage_on_new_alert: _Optional[bool] = ...) -> None: ...

class GroupingRule(_message.Message):
    __slots__ = ("id", "spec", "position", "version", "created_at", "updated_at", "team_id")
    ID_FIELD_NUMBER: _ClassVar[int]
    SPEC_FIELD_NUMBER: _ClassVar[int]
    POSITION_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    TEAM_ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    spec: GroupingRuleSpec
    position: int
    version: int
    created_at: _timestamp_pb2.Timestamp
    updated_at: _timestamp_pb2.Timestamp
    team_id: str
    def __init__(self, id: _Optional[str] = ..., spec: _Optional[_Union[GroupingRuleSpec, _Mapping]] = ..., position: _Optional[int] = ..., version: _Optional[int] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., team_id: _Optional[str] = ...) -> None: ...

class GroupingPreset(_message.Message):
    __slots__ = ("name", "description", "spec")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    SPEC_FIELD_NUMBER: _ClassVar[int]
    name: str
    description: str
    spec: GroupingRuleSpec
    def __init__(self, name: _Optional[str] = ..., description: _Optional[str] = ..., spec: _Optional[_Union[GroupingRuleSpec, _Mapping]] = ...) -> None: ...

class CreateGroupingRuleRequest(_message.Message):
    __slots__ = ("spec", "position", "preset", "team_id")
    SPEC_FIELD_NUMBER: _ClassVar[int]
    POSITION_FIELD_NUMBER: _ClassVar[int]
    PRESET_FIELD_NUMBER: _ClassVar[int]
    TEAM_ID_FIELD_NUMBER: _ClassVar[int]
    spec: GroupingRuleSpec
    position: int
    preset: str
    team_id: str
    def __init__(self, spec: _Optional[_Union[GroupingRuleSpec, _Mapping]] = ..., position: _Optional[int] = ..., preset: _Optional[str] = ..., team_id: _Optional[str] = ...) -> None: ...

class CreateGroupingRuleResponse(_message.Message):
    __slots__ = ("rule",)
    RULE_FIELD_NUMBER: _ClassVar[int]
    rule: GroupingRule
    def __init__(self, rule: _Optional[_Union[GroupingRule, _Mapping]] = ...) -> None: ...

class GetGroupingRuleRequest(_message.Message):
    __slots__ = ("rule_id",)
    RULE_ID_FIELD_NUMBER: _ClassVar[int]
    rule_id: str
    def __init__(self, rule_id: _Optional[str] = ...) -> None: ...

class GetGroupingRuleResponse(_message.Message):
    __slots__ = ("rule",)
    RULE_FIELD_NUMBER: _ClassVar[int]
    rule: GroupingRule
    def __init__(self, rule: _Optional[_Union[GroupingRule, _Mapping]] = ...) -> None: ...

class ListGroupingRulesRequest(_message.Message):
    __slots__ = ("team_ids", "my_teams")
    TEAM_IDS_FIELD_NUMBER: _ClassVar[int]
    MY_TEAMS_FIELD_NUMBER: _ClassVar[int]
    team_ids: _containers.RepeatedScalarFieldContainer[str]
    my_teams: bool
    def __init__(self, team_ids: _Optional[_Iterable[str]] = ..., my_teams: _Optional[bool] = ...) -> None: ...

class ListGroupingRulesResponse(_message.Message):
    __slots__ = ("rules",)
    RULES_FIELD_NUMBER: _ClassVar[int]
    rules: _containers.RepeatedCompositeFieldContainer[GroupingRule]
    def __init__(self, rules: _Optional[_Iterable[_Union[GroupingRule, _Mapping]]] = ...) -> None: ...

class UpdateGroupingRuleRequest(_message.Message):
    __slots__ = ("rule_id", "spec", "expected_version", "position", "team_id")
    RULE_ID_FIELD_NUMBER: _ClassVar[int]
    SPEC_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_VERSION_FIELD_NUMBER: _ClassVar[int]
    POSITION_FIELD_NUMBER: _ClassVar[int]
    TEAM_ID_FIELD_NUMBER: _ClassVar[int]
    rule_id: str
    spec: GroupingRuleSpec
    expected_version: int
    position: int
    team_id: str
    def __init__(self, rule_id: _Optional[str] = ..., spec: _Optional[_Union[GroupingRuleSpec, _Mapping]] = ..., expected_version: _Optional[int] = ..., position: _Optional[int] = ..., team_id: _Optional[str] = ...) -> None: ...

class UpdateGroupingRuleResponse(_message.Message):
    __slots__ = ("rule",)
    RULE_FIELD_NUMBER: _ClassVar[int]
    rule: GroupingRule
    def __init__(self, rule: _Optional[_Union[GroupingRule, _Mapping]] = ...) -> None: ...

class DeleteGroupingRuleRequest(_message.Message):
    __slots__ = ("rule_id",)
    RULE_ID_FIELD_NUMBER: _ClassVar[int]
    rule_id: str
    def __init__(self, rule_id: _Optional[str] = ...) -> None: ...

class DeleteGroupingRuleResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ReorderGroupingRulesRequest(_message.Message):
    __slots__ = ("rule_ids",)
    RULE_IDS_FIELD_NUMBER: _ClassVar[int]
    rule_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, rule_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class ReorderGroupingRulesResponse(_message.Message):
    __slots__ = ("rules",)
    RULES_FIELD_NUMBER: _ClassVar[int]
    rules: _containers.RepeatedCompositeFieldContainer[GroupingRule]
    def __init__(self, rules: _Optional[_Iterable[_Union[GroupingRule, _Mapping]]] = ...) -> None: ...

class ListGroupingPresetsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListGroupingPresetsResponse(_message.Message):
    __slots__ = ("presets",)
    PRESETS_FIELD_NUMBER: _ClassVar[int]
    presets: _containers.RepeatedCompositeFieldContainer[GroupingPreset]
    def __init__(self, presets: _Optional[_Iterable[_Union[GroupingPreset, _Mapping]]] = ...) -> None: ...

class TestGroupingRequest(_message.Message):
    __slots__ = ("draft", "rule_id", "preset", "since", "until", "last")
    DRAFT_FIELD_NUMBER: _ClassVar[int]
    RULE_ID_FIELD_NUMBER: _ClassVar[int]
    PRESET_FIELD_NUMBER: _ClassVar[int]
    SINCE_FIELD_NUMBER: _ClassVar[int]
    UNTIL_FIELD_NUMBER: _ClassVar[int]
    LAST_FIELD_NUMBER: _ClassVar[int]
    draft: GroupingRuleSpec
    rule_id: str
    preset: str
    since: _timestamp_pb2.Timestamp
    until: _timestamp_pb2.Timestamp
    last: int
    def __init__(self, draft: _Optional[_Union[GroupingRuleSpec, _Mapping]] = ..., rule_id: _Optional[str] = ..., preset: _Optional[str] = ..., since: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., until: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last: _Optional[int] = ...) -> None: ...

class TestedIncident(_message.Message):
    __slots__ = ("key", "alert_ids", "alert_count", "first_alert_at", "last_alert_at", "title", "resolved_at", "joinable_until")
    KEY_FIELD_NUMBER: _ClassVar[int]
    ALERT_IDS_FIELD_NUMBER: _ClassVar[int]
    ALERT_COUNT_FIELD_NUMBER: _ClassVar[int]
    FIRST_ALERT_AT_FIELD_NUMBER: _ClassVar[int]
    LAST_ALERT_AT_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    RESOLVED_AT_FIELD_NUMBER: _ClassVar[int]
    JOINABLE_UNTIL_FIELD_NUMBER: _ClassVar[int]
    key: str
    alert_ids: _containers.RepeatedScalarFieldContainer[int]
    alert_count: int
    first_alert_at: _timestamp_pb2.Timestamp
    last_alert_at: _timestamp_pb2.Timestamp
    title: str
    resolved_at: _timestamp_pb2.Timestamp
    joinable_until: _timestamp_pb2.Timestamp
    def __init__(self, key: _Optional[str] = ..., alert_ids: _Optional[_Iterable[int]] = ..., alert_count: _Optional[int] = ..., first_alert_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_alert_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., title: _Optional[str] = ..., resolved_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., joinable_until: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class TestGroupingResponse(_message.Message):
    __slots__ = ("incidents", "not_taken_alert_ids", "errors", "alerts_replayed", "truncated")
    INCIDENTS_FIELD_NUMBER: _ClassVar[int]
    NOT_TAKEN_ALERT_IDS_FIELD_NUMBER: _ClassVar[int]
    ERRORS_FIELD_NUMBER: _ClassVar[int]
    ALERTS_REPLAYED_FIELD_NUMBER: _ClassVar[int]
    TRUNCATED_FIELD_NUMBER: _ClassVar[int]
    incidents: _containers.RepeatedCompositeFieldContainer[TestedIncident]
    not_taken_alert_ids: _containers.RepeatedScalarFieldContainer[int]
    errors: _containers.RepeatedScalarFieldContainer[str]
    alerts_replayed: int
    truncated: bool
    def __init__(self, incidents: _Optional[_Iterable[_Union[TestedIncident, _Mapping]]] = ..., not_taken_alert_ids: _Optional[_Iterable[int]] = ..., errors: _Optional[_Iterable[str]] = ..., alerts_replayed: _Optional[int] = ..., truncated: _Optional[bool] = ...) -> None: ...
