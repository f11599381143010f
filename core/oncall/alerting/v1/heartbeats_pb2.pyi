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

class HeartbeatState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    HEARTBEAT_STATE_UNSPECIFIED: _ClassVar[HeartbeatState]
    HEARTBEAT_STATE_PENDING: _ClassVar[HeartbeatState]
    HEARTBEAT_STATE_UP: _ClassVar[HeartbeatState]
    HEARTBEAT_STATE_EXPIRED: _ClassVar[HeartbeatState]
HEARTBEAT_STATE_UNSPECIFIED: HeartbeatState
HEARTBEAT_STATE_PENDING: HeartbeatState
HEARTBEAT_STATE_UP: HeartbeatState
HEARTBEAT_STATE_EXPIRED: HeartbeatState

class Heartbeat(_message.Message):
    __slots__ = ("id", "name", "integration_id", "timeout", "last_beat_at", "expires_at", "state", "beat_path")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    INTEGRATION_ID_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    LAST_BEAT_AT_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    BEAT_PATH_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    integration_id: int
    timeout: _duration_pb2.Duration
    last_beat_at: _timestamp_pb2.Timestamp
    expires_at: _timestamp_pb2.Timestamp
    state: HeartbeatState
    beat_path: str
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., integration_id: _Optional[int] = ..., timeout: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., last_beat_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., state: _Optional[_Union[HeartbeatState, str]] = ..., beat_path: _Optional[str] = ...) -> None: ...

class CreateHeartbeatRequest(_message.Message):
    __slots__ = ("name", "timeout")
    NAME_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    name: str
    timeout: _duration_pb2.Duration
    def __init__(self, name: _Optional[str] = ..., timeout: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class CreateHeartbeatResponse(_message.Message):
    __slots__ = ("heartbeat", "key", "beat_url")
    HEARTBEAT_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    BEAT_URL_FIELD_NUMBER: _ClassVar[int]
    heartbeat: Heartbeat
    key: str
    beat_url: str
    def __init__(self, heartbeat: _Optional[_Union[Heartbeat, _Mapping]] = ..., key: _Optional[str] = ..., beat_url: _Optional[str] = ...) -> None: ...

class GetHeartbeatRequest(_message.Message):
    __slots__ = ("heartbeat_id",)
    HEARTBEAT_ID_FIELD_NUMBER: _ClassVar[int]
    heartbeat_id: str
    def __init__(self, heartbeat_id: _Optional[str] = ...) -> None: ...

class GetHeartbeatResponse(_message.Message):
    __slots__ = ("heartbeat",)
    HEARTBEAT_FIELD_NUMBER: _ClassVar[int]
    heartbeat: Heartbeat
    def __init__(self, heartbeat: _Optional[_Union[Heartbeat, _Mapping]] = ...) -> None: ...

class ListHeartbeatsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListHeartbeatsResponse(_message.Message):
    __slots__ = ("heartbeats",)
    HEARTBEATS_FIELD_NUMBER: _ClassVar[int]
    heartbeats: _containers.RepeatedCompositeFieldContainer[Heartbeat]
    def __init__(self, heartbeats: _Optional[_Iterable[_Union[Heartbeat, _Mapping]]] = ...) -> None: ...

class DeleteHeartbeatRequest(_message.Message):
    __slots__ = ("heartbeat_id",)
    HEARTBEAT_ID_FIELD_NUMBER: _ClassVar[int]
    heartbeat_id: str
    def __init__(self, heartbeat_id: _Optional[str] = ...) -> None: ...

class DeleteHeartbeatResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...
