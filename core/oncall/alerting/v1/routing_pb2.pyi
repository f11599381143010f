from google.api import annotations_pb2 as _annotations_pb2
from google.protobuf import struct_pb2 as _struct_pb2
from oncall.alerting.v1 import alerting_pb2 as _alerting_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class RuleActions(_message.Message):
    __slots__ = ("escalation_policy_id", "template_id", "channel_destinations", "ticket_provider", "set_severity", "set_labels", "suppress")
    class SetLabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    ESCALATION_POLICY_ID_FIELD_NUMBER: _ClassVar[int]
    TEMPLATE_ID_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_DESTINATIONS_FIELD_NUMBER: _ClassVar[int]
    TICKET_PROVIDER_FIELD_NUMBER: _ClassVar[int]
    SET_SEVERITY_FIELD_NUMBER: _ClassVar[int]
    SET_LABELS_FIELD_NUMBER: _ClassVar[int]
    SUPPRESS_FIELD_NUMBER: _ClassVar[int]
    escalation_policy_id: str
    template_id: str
    channel_destinations: _containers.RepeatedScalarFieldContainer[str]
    ticket_provider: str
    set_severity: str
    set_labels: _containers.ScalarMap[str, str]
    suppress: bool
    def __init__(self, escalation_policy_id: _Optional[str] = ..., template_id: _Optional[str] = ..., channel_destinations: _Optional[_Iterable[str]] = ..., ticket_provider: _Optional[str] = ..., set_severity: _Optional[str] = ..., set_labels: _Optional[_Mapping[str, str]] = ..., suppress: _Optional[bool] = ...) -> None: ...

class RoutingRule(_message.Message):
    __slots__ = ("id", "name", "condition", "actions", "continue_matching", "position", "version", "team_id")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    CONDITION_FIELD_NUMBER: _ClassVar[int]
    ACTIONS_FIELD_NUMBER: _ClassVar[int]
    CONTINUE_MATCHING_FIELD_NUMBER: _ClassVar[int]
    POSITION_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    TEAM_ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    condition: str
    actions: RuleActions
    continue_matching: bool
    position: int
    version: int
    team_id: str
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., condition: _Optional[str] = ..., actions: _Optional[_Union[RuleActions, _Mapping]] = ..., continue_matching: _Optional[bool] = ..., position: _Optional[int] = ..., version: _Optional[int] = ..., team_id: _Optional[str] = ...) -> None: ...

class RuleTrace(_message.Message):
    __slots__ = ("rule_id", "rule_name", "matched", "error")
    RULE_ID_FIELD_NUMBER: _ClassVar[int]
    RULE_NAME_FIELD_NUMBER: _ClassVar[int]
    MATCHED_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    rule_id: str
    rule_name: str
    matched: bool
    error: str
    def __init__(self, rule_id: _Optional[str] = ..., rule_name: _Optional[str] = ..., matched: _Optional[bool] = ..., error: _Optional[str] = ...) -> None: ...

class RoutingDecision(_message.Message):
    __slots__ = ("matched_rules", "default_route", "escalation_policy_id", "template_id", "channel_destinations", "ticket_provider", "severity", "labels", "suppress", "trace", "errors")
    class LabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    MATCHED_RULES_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_ROUTE_FIELD_NUMBER: _ClassVar[int]
    ESCALATION_POLICY_ID_FIELD_NUMBER: _ClassVar[int]
    TEMPLATE_ID_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_DESTINATIONS_FIELD_NUMBER: _ClassVar[int]
    TICKET_PROVIDER_FIELD_NUMBER: _ClassVar[int]
    SEVERITY_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    SUPPRESS_FIELD_NUMBER: _ClassVar[int]
    TRACE_FIELD_NUMBER: _ClassVar[int]
    ERRORS_FIELD_NUMBER: _ClassVar[int]
    matched_rules: _containers.RepeatedScalarFieldContainer[str]
    default_route: bool
    escalation_policy_id: str
    template_id: str
    channel_destinations: _containers.RepeatedScalarFieldContainer[str]
    ticket_provider: str
    severity: str
    labels: _containers.ScalarMap[str, str]
    suppress: bool
    trace: _containers.RepeatedCompositeFieldContainer[RuleTrace]
    errors: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, matched_rules: _Optional[_Iterable[str]] = ..., default_route: _Optional[bool] = ..., escalation_policy_id: _Optional[str] = ..., template_id: _Optional[str] = ..., channel_destinations: _Optional[_Iterable[str]] = ..., ticket_provider: _Optional[str] = ..., severity: _Optional[str] = ..., labels: _Optional[_Mapping[str, str]] = ..., suppress: _Optional[bool] = ..., trace: _Optional[_Iterable[_Union[RuleTrace, _Mapping]]] = ..., errors: _Optional[_Iterable[str]] = ...) -> None: ...

class CreateRuleRequest(_message.Message):
    __slots__ = ("name", "condition", "actions", "continue_matching", "position", "team_id")
    NAME_FIELD_NUMBER: _ClassVar[int]
    CONDITION_FIELD_NUMBER: _ClassVar[int]
    ACTIONS_FIELD_NUMBER: _ClassVar[int]
    CONTINUE_MATCHING_FIELD_NUMBER: _ClassVar[int]
    POSITION_FIELD_NUMBER: _ClassVar[int]
    TEAM_ID_FIELD_NUMBER: _ClassVar[int]
    name: str
    condition: str
    actions: RuleActions
    continue_matching: bool
    position: int
    team_id: str
    def __init__(self, name: _Optional[str] = ..., condition: _Optional[str] = ..., actions: _Optional[_Union[RuleActions, _Mapping]] = ..., continue_matching: _Optional[bool] = ..., position: _Optional[int] = ..., team_id: _Optional[str] = ...) -> None: ...

class CreateRuleResponse(_message.Message):
    __slots__ = ("rule",)
    RULE_FIELD_NUMBER: _ClassVar[int]
    rule: RoutingRule
    def __init__(self, rule: _Optional[_Union[RoutingRule, _Mapping]] = ...) -> None: ...

class UpdateRuleRequest(_message.Message):
    __slots__ = ("rule_id", "name", "condition", "actions", "continue_matching", "expected_version", "team_id")
    RULE_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    CONDITION_FIELD_NUMBER: _ClassVar[int]
    ACTIONS_FIELD_NUMBER: _ClassVar[int]
    CONTINUE_MATCHING_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_VERSION_FIELD_NUMBER: _ClassVar[int]
    TEAM_ID_FIELD_NUMBER: _ClassVar[int]
    rule_id: str
    name: str
    condition: str
    actions: RuleActions
    continue_matching: bool
    expected_version: int
    team_id: str
    def __init__(self, rule_id: _Optional[str] = ..., name: _Optional[str] = ..., condition: _Optional[str] = ..., actions: _Optional[_Union[RuleActions, _Mapping]] = ..., continue_matching: _Optional[bool] = ..., expected_version: _Optional[int] = ..., team_id: _Optional[str] = ...) -> None: ...

class UpdateRuleResponse(_message.Message):
    __slots__ = ("rule",)
    RULE_FIELD_NUMBER: _ClassVar[int]
    rule: RoutingRule
    def __init__(self, rule: _Optional[_Union[RoutingRule, _Mapping]] = ...) -> None: ...

class DeleteRuleRequest(_message.Message):
    __slots__ = ("rule_id",)
    RULE_ID_FIELD_NUMBER: _ClassVar[int]
    rule_id: str
    def __init__(self, rule_id: _Optional[str] = ...) -> None: ...

class DeleteRuleResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ReorderRulesRequest(_message.Message):
    __slots__ = ("rule_ids",)
    RULE_IDS_FIELD_NUMBER: _ClassVar[int]
    rule_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, rule_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class ReorderRulesResponse(_message.Message):
    __slots__ = ("rules",)
    RULES_FIELD_NUMBER: _ClassVar[int]
    rules: _containers.RepeatedCompositeFieldContainer[RoutingRule]
    def __init__(self, rules: _Optional[_Iterable[_Union[RoutingRule, _Mapping]]] = ...) -> None: ...

class ListRulesRequest(_message.Message):
    __slots__ = ("team_ids", "my_teams")
    TEAM_IDS_FIELD_NUMBER: _ClassVar[int]
    MY_TEAMS_FIELD_NUMBER: _ClassVar[int]
    team_ids: _containers.RepeatedScalarFieldContainer[str]
    my_teams: bool
    def __init__(self, team_ids: _Optional[_Iterable[str]] = ..., my_teams: _Optional[bool] = ...) -> None: ...

class ListRulesResponse(_message.Message):
    __slots__ = ("rules",)
    RULES_FIELD_NUMBER: _ClassVar[int]
    rules: _containers.RepeatedCompositeFieldContainer[RoutingRule]
    def __init__(self, rules: _Optional[_Iterable[_Union[RoutingRule, _Mapping]]] = ...) -> None: ...

class GetRuleRequest(_message.Message):
    __slots__ = ("rule_id",)
    RULE_ID_FIELD_NUMBER: _ClassVar[int]
    rule_id: str
    def __init__(self, rule_id: _Optional[str] = ...) -> None: ...

class GetRuleResponse(_message.Message):
    __slots__ = ("rule",)
    RULE_FIELD_NUMBER: _ClassVar[int]
    rule: RoutingRule
    def __init__(self, rule: _Optional[_Union[RoutingRule, _Mapping]] = ...) -> None: ...

class GetDefaultRouteRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetDefaultRouteResponse(_message.Message):
    __slots__ = ("actions",)
    ACTIONS_FIELD_NUMBER: _ClassVar[int]
    actions: RuleActions
    def __init__(self, actions: _Optional[_Union[RuleActions, _Mapping]] = ...) -> None: ...

class SetDefaultRouteRequest(_message.Message):
    __slots__ = ("actions",)
    ACTIONS_FIELD_NUMBER: _ClassVar[int]
    actions: RuleActions
    def __init__(self, actions: _Optional[_Union[RuleActions, _Mapping]] = ...) -> None: ...

class SetDefaultRouteResponse(_message.Message):
    __slots__ = ("actions",)
    ACTIONS_FIELD_NUMBER: _ClassVar[int]
    actions: RuleActions
    def __init__(self, actions: _Optional[_Union[RuleActions, _Mapping]] = ...) -> None: ...

class SampleAlert(_message.Message):
    __slots__ = ("summary", "details", "severity", "labels", "annotations", "source", "integration", "integration_id", "status")
    class LabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    DETAILS_FIELD_NUMBER: _ClassVar[int]
    SEVERITY_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    ANNOTATIONS_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    INTEGRATION_FIELD_NUMBER: _ClassVar[int]
    INTEGRATION_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    summary: str
    details: str
    severity: str
    labels: _containers.ScalarMap[str, str]
    annotations: _struct_pb2.Struct
    source: str
    integration: str
    integration_id: int
    status: _alerting_pb2.AlertStatus
    def __init__(self, summary: _Optional[str] = ..., details: _Optional[str] = ..., severity: _Optional[str] = ..., labels: _Optional[_Mapping[str, str]] = ..., annotations: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., source: _Optional[str] = ..., integration: _Optional[str] = ..., integration_id: _Optional[int] = ..., status: _Optional[_Union[_alerting_pb2.AlertStatus, str]] = ...) -> None: ...

class TestRouteRequest(_message.Message):
    __slots__ = ("alert",)
    ALERT_FIELD_NUMBER: _ClassVar[int]
    alert: SampleAlert
    def __init__(self, alert: _Optional[_Union[SampleAlert, _Mapping]] = ...) -> None: ...

class TestRouteResponse(_message.Message):
    __slots__ = ("decision", "silenced_by")
    DECISION_FIELD_NUMBER: _ClassVar[int]
    SILENCED_BY_FIELD_NUMBER: _ClassVar[int]
    decision: RoutingDecision
    silenced_by: str
    def __init__(self, decision: _Optional[_Union[RoutingDecision, _Mapping]] = ..., silenced_by: _Optional[str] = ...) -> None: ...
