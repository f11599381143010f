import datetime

from google.api import annotations_pb2 as _annotations_pb2
from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class TargetKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TARGET_KIND_UNSPECIFIED: _ClassVar[TargetKind]
    TARGET_KIND_USER: _ClassVar[TargetKind]
    TARGET_KIND_SCHEDULE: _ClassVar[TargetKind]
    TARGET_KIND_CHANNEL: _ClassVar[TargetKind]
    TARGET_KIND_WEBHOOK: _ClassVar[TargetKind]

class EscalationState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ESCALATION_STATE_UNSPECIFIED: _ClassVar[EscalationState]
    ESCALATION_STATE_ACTIVE: _ClassVar[EscalationState]
    ESCALATION_STATE_HELD: _ClassVar[EscalationState]
    ESCALATION_STATE_STOPPED: _ClassVar[EscalationState]
    ESCALATION_STATE_DONE: _ClassVar[EscalationState]
TARGET_KIND_UNSPECIFIED: TargetKind
TARGET_KIND_USER: TargetKind
TARGET_KIND_SCHEDULE: TargetKind
TARGET_KIND_CHANNEL: TargetKind
TARGET_KIND_WEBHOOK: TargetKind
ESCALATION_STATE_UNSPECIFIED: EscalationState
ESCALATION_STATE_ACTIVE: EscalationState
ESCALATION_STATE_HELD: EscalationState
ESCALATION_STATE_STOPPED: EscalationState
ESCALATION_STATE_DONE: EscalationState

class EscalationTarget(_message.Message):
    __slots__ = ("kind", "id")
    KIND_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    kind: TargetKind
    id: str
    def __init__(self, kind: _Optional[_Union[TargetKind, str]] = ..., id: _Optional[str] = ...) -> None: ...

class EscalationStep(_message.Message):
    __slots__ = ("delay", "targets")
    DELAY_FIELD_NUMBER: _ClassVar[int]
    TARGETS_FIELD_NUMBER: _ClassVar[int]
    delay: _duration_pb2.Duration
    targets: _containers.RepeatedCompositeFieldContainer[EscalationTarget]
    def __init__(self, delay: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., targets: _Optional[_Iterable[_Union[EscalationTarget, _Mapping]]] = ...) -> None: ...

class EscalationPolicy(_message.Message):
    __slots__ = ("id", "name", "description", "steps", "repeat", "repeat_delay", "version", "created_at", "updated_at", "team_id")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    STEPS_FIELD_NUMBER: _ClassVar[int]
    REPEAT_FIELD_NUMBER: _ClassVar[int]
    REPEAT_DELAY_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    TEAM_ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    description: str
    steps: _containers.RepeatedCompositeFieldContainer[EscalationStep]
    repeat: int
    repeat_delay: _duration_pb2.Duration
    version: int
    created_at: _timestamp_pb2.Timestamp
    updated_at: _timestamp_pb2.Timestamp
    team_id: str
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., description: _Optional[str] = ..., steps: _Optional[_Iterable[_Union[EscalationStep, _Mapping]]] = ..., repeat: _Optional[int] = ..., repeat_delay: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., version: _Optional[int] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., team_id: _Optional[str] = ...) -> None: ...

class Escalation(_message.Message):
    __slots__ = ("alert_id", "policy_id", "state", "current_step", "next_step", "repeat", "next_due_at", "last_fired_at", "held_by")
    ALERT_ID_FIELD_NUMBER: _ClassVar[int]
    POLICY_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    CURRENT_STEP_FIELD_NUMBER: _ClassVar[int]
    NEXT_STEP_FIELD_NUMBER: _ClassVar[int]
    REPEAT_FIELD_NUMBER: _ClassVar[int]
    NEXT_DUE_AT_FIELD_NUMBER: _ClassVar[int]
    LAST_FIRED_AT_FIELD_NUMBER: _ClassVar[int]
    HELD_BY_FIELD_NUMBER: _ClassVar[int]
    alert_id: int
    policy_id: str
    state: EscalationState
    current_step: int
    next_step: int
    repeat: int
    next_due_at: _timestamp_pb2.Timestamp
    last_fired_at: _timestamp_pb2.Timestamp
    held_by: str
    def __init__(self, alert_id: _Optional[int] = ..., policy_id: _Optional[str] = ..., state: _Optional[_Union[EscalationState, str]] = ..., current_step: _Optional[int] = ..., next_step: _Optional[int] = ..., repeat: _Optional[int] = ..., next_due_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_fired_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., held_by: _Optional[str] = ...) -> None: ...

class NotificationRequest(_message.Message):
    __slots__ = ("id", "idempotency_key", "alert_id", "policy_id", "step", "repeat", "target_kind", "target_id", "user_id", "via", "template_id", "context", "status", "created_at")
    ID_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    ALERT_ID_FIELD_NUMBER: _ClassVar[int]
    POLICY_ID_FIELD_NUMBER: _ClassVar[int]
    STEP_FIELD_NUMBER: _ClassVar[int]
    REPEAT_FIELD_NUMBER: _ClassVar[int]
    TARGET_KIND_FIELD_NUMBER: _ClassVar[int]
    TARGET_ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    VIA_FIELD_NUMBER: _ClassVar[int]
    TEMPLATE_ID_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    id: int
    idempotency_key: str
    alert_id: int
    policy_id: str
    step: int
    repeat: int
    target_kind: TargetKind
    target_id: str
    user_id: str
    via: str
    template_id: str
    context: _struct_pb2.Struct
    status: str
    created_at: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[int] = ..., idempotency_key: _Optional[str] = ..., alert_id: _Optional[int] = ..., policy_id: _Optional[str] = ..., step: _Optional[int] = ..., repeat: _Optional[int] = ..., target_kind: _Optional[_Union[TargetKind, str]] = ..., target_id: _Optional[str] = ..., user_id: _Optional[str] = ..., via: _Optional[str] = ..., template_id: _Optional[str] = ..., context: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., status: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CreatePolicyRequest(_message.Message):
    __slots__ = ("name", "description", "steps", "repeat", "repeat_delay", "team_id")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    STEPS_FIELD_NUMBER: _ClassVar[int]
    REPEAT_FIELD_NUMBER: _ClassVar[int]
    REPEAT_DELAY_FIELD_NUMBER: _ClassVar[int]
    TEAM_ID_FIELD_NUMBER: _ClassVar[int]
    name: str
    description: str
    steps: _containers.RepeatedCompositeFieldContainer[EscalationStep]
    repeat: int
    repeat_delay: _duration_pb2.Duration
    team_id: str
    def __init__(self, name: _Optional[str] = ..., description: _Optional[str] = ..., steps: _Optional[_Iterable[_Union[EscalationStep, _Mapping]]] = ..., repeat: _Optional[int] = ..., repeat_delay: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., team_id: _Optional[str] = ...) -> None: ...

class CreatePolicyResponse(_message.Message):
    __slots__ = ("policy",)
    POLICY_FIELD_NUMBER: _ClassVar[int]
    policy: EscalationPolicy
    def __init__(self, policy: _Optional[_Union[EscalationPolicy, _Mapping]] = ...) -> None: ...

class UpdatePolicyRequest(_message.Message):
    __slots__ = ("policy_id", "name", "description", "steps", "repeat", "repeat_delay", "expected_version", "team_id")
    POLICY_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    STEPS_FIELD_NUMBER: _ClassVar[int]
    REPEAT_FIELD_NUMBER: _ClassVar[int]
    REPEAT_DELAY_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_VERSION_FIELD_NUMBER: _ClassVar[int]
    TEAM_ID_FIELD_NUMBER: _ClassVar[int]
    policy_id: str
    name: str
    description: str
    steps: _containers.RepeatedCompositeFieldContainer[EscalationStep]
    repeat: int
    repeat_delay: _duration_pb2.Duration
    expected_version: int
    team_id: str
    def __init__(self, policy_id: _Optional[str] = ..., name: _Optional[str] = ..., description: _Optional[str] = ..., steps: _Optional[_Iterable[_Union[EscalationStep, _Mapping]]] = ..., repeat: _Optional[int] = ..., repeat_delay: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., expected_version: _Optional[int] = ..., team_id: _Optional[str] = ...) -> None: ...

class UpdatePolicyResponse(_message.Message):
    __slots__ = ("policy",)
    POLICY_FIELD_NUMBER: _ClassVar[int]
    policy: EscalationPolicy
    def __init__(self, policy: _Optional[_Union[EscalationPolicy, _Mapping]] = ...) -> None: ...

class DeletePolicyRequest(_message.Message):
    __slots__ = ("policy_id",)
    POLICY_ID_FIELD_NUMBER: _ClassVar[int]
    policy_id: str
    def __init__(self, policy_id: _Optional[str] = ...) -> None: ...

class DeletePolicyResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetPolicyRequest(_message.Message):
    __slots__ = ("policy_id",)
    POLICY_ID_FIELD_NUMBER: _ClassVar[int]
    policy_id: str
    def __init__(self, policy_id: _Optional[str] = ...) -> None: ...

class GetPolicyResponse(_message.Message):
    __slots__ = ("policy",)
    POLICY_FIELD_NUMBER: _ClassVar[int]
    policy: EscalationPolicy
    def __init__(self, policy: _Optional[_Union[EscalationPolicy, _Mapping]] = ...) -> None: ...

class ListPoliciesRequest(_message.Message):
    __slots__ = ("team_ids", "my_teams")
    TEAM_IDS_FIELD_NUMBER: _ClassVar[int]
    MY_TEAMS_FIELD_NUMBER: _ClassVar[int]
    team_ids: _containers.RepeatedScalarFieldContainer[str]
    my_teams: bool
    def __init__(self, team_ids: _Optional[_Iterable[str]] = ..., my_teams: _Optional[bool] = ...) -> None: ...

class ListPoliciesResponse(_message.Message):
    __slots__ = ("policies",)
    POLICIES_FIELD_NUMBER: _ClassVar[int]
    policies: _containers.RepeatedCompositeFieldContainer[EscalationPolicy]
    def __init__(self, policies: _Optional[_Iterable[_Union[EscalationPolicy, _Mapping]]] = ...) -> None: ...

class GetEscalationStateRequest(_message.Message):
    __slots__ = ("alert_id",)
    ALERT_ID_FIELD_NUMBER: _ClassVar[int]
    alert_id: int
    def __init__(self, alert_id: _Optional[int] = ...) -> None: ...

class GetEscalationStateResponse(_message.Message):
    __slots__ = ("escalation",)
    ESCALATION_FIELD_NUMBER: _ClassVar[int]
    escalation: Escalation
    def __init__(self, escalation: _Optional[_Union[Escalation, _Mapping]] = ...) -> None: ...

class EscalateAlertRequest(_message.Message):
    __slots__ = ("alert_id", "user_id", "note", "restart")
    ALERT_ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    RESTART_FIELD_NUMBER: _ClassVar[int]
    alert_id: int
    user_id: str
    note: str
    restart: bool
    def __init__(self, alert_id: _Optional[int] = ..., user_id: _Optional[str] = ..., note: _Optional[str] = ..., restart: _Optional[bool] = ...) -> None: ...

class EscalateAlertResponse(_message.Message):
    __slots__ = ("escalation",)
    ESCALATION_FIELD_NUMBER: _ClassVar[int]
    escalation: Escalation
    def __init__(self, escalation: _Optional[_Union[Escalation, _Mapping]] = ...) -> None: ...

class ListNotificationRequestsRequest(_message.Message):
    __slots__ = ("alert_id", "status", "limit")
    ALERT_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    alert_id: int
    status: str
    limit: int
    def __init__(self, alert_id: _Optional[int] = ..., status: _Optional[str] = ..., limit: _Optional[int] = ...) -> None: ...

class ListNotificationRequestsResponse(_message.Message):
    __slots__ = ("requests",)
    REQUESTS_FIELD_NUMBER: _ClassVar[int]
    requests: _containers.RepeatedCompositeFieldContainer[NotificationRequest]
    def __init__(self, requests: _Optional[_Iterable[_Union[NotificationRequest, _Mapping]]] = ...) -> None: ...
