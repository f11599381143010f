import datetime

from google.api import annotations_pb2 as _annotations_pb2
from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class MatchOperator(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    MATCH_OPERATOR_UNSPECIFIED: _ClassVar[MatchOperator]
    MATCH_OPERATOR_EQUAL: _ClassVar[MatchOperator]
    MATCH_OPERATOR_NOT_EQUAL: _ClassVar[MatchOperator]
    MATCH_OPERATOR_REGEX: _ClassVar[MatchOperator]
    MATCH_OPERATOR_NOT_REGEX: _ClassVar[MatchOperator]

class SilenceState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SILENCE_STATE_UNSPECIFIED: _ClassVar[SilenceState]
    SILENCE_STATE_PENDING: _ClassVar[SilenceState]
    SILENCE_STATE_ACTIVE: _ClassVar[SilenceState]
    SILENCE_STATE_EXPIRED: _ClassVar[SilenceState]
MATCH_OPERATOR_UNSPECIFIED: MatchOperator
MATCH_OPERATOR_EQUAL: MatchOperator
MATCH_OPERATOR_NOT_EQUAL: MatchOperator
MATCH_OPERATOR_REGEX: MatchOperator
MATCH_OPERATOR_NOT_REGEX: MatchOperator
SILENCE_STATE_UNSPECIFIED: SilenceState
SILENCE_STATE_PENDING: SilenceState
SILENCE_STATE_ACTIVE: SilenceState
SILENCE_STATE_EXPIRED: SilenceState

class Matcher(_message.Message):
    __slots__ = ("name", "op", "value")
    NAME_FIELD_NUMBER: _ClassVar[int]
    OP_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    name: str
    op: MatchOperator
    value: str
    def __init__(self, name: _Optional[str] = ..., op: _Optional[_Union[MatchOperator, str]] = ..., value: _Optional[str] = ...) -> None: ...

class Silence(_message.Message):
    __slots__ = ("id", "matchers", "condition", "integration_id", "policy_id", "starts_at", "ends_at", "created_by", "comment", "created_at", "state", "version")
    ID_FIELD_NUMBER: _ClassVar[int]
    MATCHERS_FIELD_NUMBER: _ClassVar[int]
    CONDITION_FIELD_NUMBER: _ClassVar[int]
    INTEGRATION_ID_FIELD_NUMBER: _ClassVar[int]
    POLICY_ID_FIELD_NUMBER: _ClassVar[int]
    STARTS_AT_FIELD_NUMBER: _ClassVar[int]
    ENDS_AT_FIELD_NUMBER: _ClassVar[int]
    CREATED_BY_FIELD_NUMBER: _ClassVar[int]
    COMMENT_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    id: str
    matchers: _containers.RepeatedCompositeFieldContainer[Matcher]
    condition: str
    integration_id: int
    policy_id: str
    starts_at: _timestamp_pb2.Timestamp
    ends_at: _timestamp_pb2.Timestamp
    created_by: str
    comment: str
    created_at: _timestamp_pb2.Timestamp
    state: SilenceState
    version: int
    def __init__(self, id: _Optional[str] = ..., matchers: _Optional[_Iterable[_Union[Matcher, _Mapping]]] = ..., condition: _Optional[str] = ..., integration_id: _Optional[int] = ..., policy_id: _Optional[str] = ..., starts_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., ends_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., created_by: _Optional[str] = ..., comment: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., state: _Optional[_Union[SilenceState, str]] = ..., version: _Optional[int] = ...) -> None: ...

class CreateSilenceRequest(_message.Message):
    __slots__ = ("matchers", "condition", "integration_id", "policy_id", "starts_at", "ends_at", "duration", "created_by", "comment")
    MATCHERS_FIELD_NUMBER: _ClassVar[int]
    CONDITION_FIELD_NUMBER: _ClassVar[int]
    INTEGRATION_ID_FIELD_NUMBER: _ClassVar[int]
    POLICY_ID_FIELD_NUMBER: _ClassVar[int]
    STARTS_AT_FIELD_NUMBER: _ClassVar[int]
    ENDS_AT_FIELD_NUMBER: _ClassVar[int]
    DURATION_FIELD_NUMBER: _ClassVar[int]
    CREATED_BY_FIELD_NUMBER: _ClassVar[int]
    COMMENT_FIELD_NUMBER: _ClassVar[int]
    matchers: _containers.RepeatedCompositeFieldContainer[Matcher]
    condition: str
    integration_id: int
    policy_id: str
    starts_at: _timestamp_pb2.Timestamp
    ends_at: _timestamp_pb2.Timestamp
    duration: _duration_pb2.Duration
    created_by: str
    comment: str
    def __init__(self, matchers: _Optional[_Iterable[_Union[Matcher, _Mapping]]] = ..., condition: _Optional[str] = ..., integration_id: _Optional[int] = ..., policy_id: _Optional[str] = ..., starts_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., ends_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., duration: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., created_by: _Optional[str] = ..., comment: _Optional[str] = ...) -> None: ...

class CreateSilenceResponse(_message.Message):
    __slots__ = ("silence",)
    SILENCE_FIELD_NUMBER: _ClassVar[int]
    silence: Silence
    def __init__(self, silence: _Optional[_Union[Silence, _Mapping]] = ...) -> None: ...

class ExpireSilenceRequest(_message.Message):
    __slots__ = ("silence_id", "expected_version")
    SILENCE_ID_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_VERSION_FIELD_NUMBER: _ClassVar[int]
    silence_id: str
    expected_version: int
    def __init__(self, silence_id: _Optional[str] = ..., expected_version: _Optional[int] = ...) -> None: ...

class ExpireSilenceResponse(_message.Message):
    __slots__ = ("silence",)
    SILENCE_FIELD_NUMBER: _ClassVar[int]
    silence: Silence
    def __init__(self, silence: _Optional[_Union[Silence, _Mapping]] = ...) -> None: ...

class GetSilenceRequest(_message.Message):
    __slots__ = ("silence_id",)
    SILENCE_ID_FIELD_NUMBER: _ClassVar[int]
    silence_id: str
    def __init__(self, silence_id: _Optional[str] = ...) -> None: ...

class GetSilenceResponse(_message.Message):
    __slots__ = ("silence",)
    SILENCE_FIELD_NUMBER: _ClassVar[int]
    silence: Silence
    def __init__(self, silence: _Optional[_Union[Silence, _Mapping]] = ...) -> None: ...

class ListSilencesRequest(_message.Message):
    __slots__ = ("include_expired",)
    INCLUDE_EXPIRED_FIELD_NUMBER: _ClassVar[int]
    include_expired: bool
    def __init__(self, include_expired: _Optional[bool] = ...) -> None: ...

class ListSilencesResponse(_message.Message):
    __slots__ = ("silences",)
    SILENCES_FIELD_NUMBER: _ClassVar[int]
    silences: _containers.RepeatedCompositeFieldContainer[Silence]
    def __init__(self, silences: _Optional[_Iterable[_Union[Silence, _Mapping]]] = ...) -> None: ...

class SetMaintenanceRequest(_message.Message):
    __slots__ = ("integration_id", "policy_id", "duration", "created_by", "comment")
    INTEGRATION_ID_FIELD_NUMBER: _ClassVar[int]
    POLICY_ID_FIELD_NUMBER: _ClassVar[int]
    DURATION_FIELD_NUMBER: _ClassVar[int]
    CREATED_BY_FIELD_NUMBER: _ClassVar[int]
    COMMENT_FIELD_NUMBER: _ClassVar[int]
    integration_id: int
    policy_id: str
    duration: _duration_pb2.Duration
    created_by: str
    comment: str
    def __init__(self, integration_id: _Optional[int] = ..., policy_id: _Optional[str] = ..., duration: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., created_by: _Optional[str] = ..., comment: _Optional[str] = ...) -> None: ...

class SetMaintenanceResponse(_message.Message):
    __slots__ = ("silence",)
    SILENCE_FIELD_NUMBER: _ClassVar[int]
    silence: Silence
    def __init__(self, silence: _Optional[_Union[Silence, _Mapping]] = ...) -> None: ...
