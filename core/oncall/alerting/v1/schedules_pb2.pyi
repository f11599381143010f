import datetime

from google.api import annotations_pb2 as _annotations_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ShiftUnit(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SHIFT_UNIT_UNSPECIFIED: _ClassVar[ShiftUnit]
    SHIFT_UNIT_HOUR: _ClassVar[ShiftUnit]
    SHIFT_UNIT_DAY: _ClassVar[ShiftUnit]
    SHIFT_UNIT_WEEK: _ClassVar[ShiftUnit]

class Weekday(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    WEEKDAY_UNSPECIFIED: _ClassVar[Weekday]
    WEEKDAY_MONDAY: _ClassVar[Weekday]
    WEEKDAY_TUESDAY: _ClassVar[Weekday]
    WEEKDAY_WEDNESDAY: _ClassVar[Weekday]
    WEEKDAY_THURSDAY: _ClassVar[Weekday]
    WEEKDAY_FRIDAY: _ClassVar[Weekday]
    WEEKDAY_SATURDAY: _ClassVar[Weekday]
    WEEKDAY_SUNDAY: _ClassVar[Weekday]
SHIFT_UNIT_UNSPECIFIED: ShiftUnit
SHIFT_UNIT_HOUR: ShiftUnit
SHIFT_UNIT_DAY: ShiftUnit
SHIFT_UNIT_WEEK: ShiftUnit
WEEKDAY_UNSPECIFIED: Weekday
WEEKDAY_MONDAY: Weekday
WEEKDAY_TUESDAY: Weekday
WEEKDAY_WEDNESDAY: Weekday
WEEKDAY_THURSDAY: Weekday
WEEKDAY_FRIDAY: Weekday
WEEKDAY_SATURDAY: Weekday
WEEKDAY_SUNDAY: Weekday

class ShiftLength(_message.Message):
    __slots__ = ("count", "unit")
    COUNT_FIELD_NUMBER: _ClassVar[int]
    UNIT_FIELD_NUMBER: _ClassVar[int]
    count: int
    unit: ShiftUnit
    def __init__(self, count: _Optional[int] = ..., unit: _Optional[_Union[ShiftUnit, str]] = ...) -> None: ...

class WeeklyWindow(_message.Message):
    __slots__ = ("start_day", "start_time", "end_day", "end_time")
    START_DAY_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_DAY_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    start_day: Weekday
    start_time: str
    end_day: Weekday
    end_time: str
    def __init__(self, start_day: _Optional[_Union[Weekday, str]] = ..., start_time: _Optional[str] = ..., end_day: _Optional[_Union[Weekday, str]] = ..., end_time: _Optional[str] = ...) -> None: ...

class Layer(_message.Message):
    __slots__ = ("name", "participants", "shift_length", "handoff", "start", "restrictions")
    NAME_FIELD_NUMBER: _ClassVar[int]
    PARTICIPANTS_FIELD_NUMBER: _ClassVar[int]
    SHIFT_LENGTH_FIELD_NUMBER: _ClassVar[int]
    HANDOFF_FIELD_NUMBER: _ClassVar[int]
    START_FIELD_NUMBER: _ClassVar[int]
    RESTRICTIONS_FIELD_NUMBER: _ClassVar[int]
    name: str
    participants: _containers.RepeatedScalarFieldContainer[str]
    shift_length: ShiftLength
    handoff: str
    start: _timestamp_pb2.Timestamp
    restrictions: _containers.RepeatedCompositeFieldContainer[WeeklyWindow]
    def __init__(self, name: _Optional[str] = ..., participants: _Optional[_Iterable[str]] = ..., shift_length: _Optional[_Union[ShiftLength, _Mapping]] = ..., handoff: _Optional[str] = ..., start: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., restrictions: _Optional[_Iterable[_Union[WeeklyWindow, _Mapping]]] = ...) -> None: ...

class TemporaryShift(_message.Message):
    __slots__ = ("start", "end", "user_ids")
    START_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    USER_IDS_FIELD_NUMBER: _ClassVar[int]
    start: _timestamp_pb2.Timestamp
    end: _timestamp_pb2.Timestamp
    user_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, start: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., user_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class TemporarySchedule(_message.Message):
    __slots__ = ("id", "start", "end", "shifts")
    ID_FIELD_NUMBER: _ClassVar[int]
    START_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    SHIFTS_FIELD_NUMBER: _ClassVar[int]
    id: str
    start: _timestamp_pb2.Timestamp
    end: _timestamp_pb2.Timestamp
    shifts: _containers.RepeatedCompositeFieldContainer[TemporaryShift]
    def __init__(self, id: _Optional[str] = ..., start: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., shifts: _Optional[_Iterable[_Union[TemporaryShift, _Mapping]]] = ...) -> None: ...

class Schedule(_message.Message):
    __slots__ = ("id", "name", "time_zone", "description", "layers", "temporary_schedules", "version", "created_at", "updated_at", "team_id")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    TIME_ZONE_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    LAYERS_FIELD_NUMBER: _ClassVar[int]
    TEMPORARY_SCHEDULES_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    TEAM_ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    time_zone: str
    description: str
    layers: _containers.RepeatedCompositeFieldContainer[Layer]
    temporary_schedules: _containers.RepeatedCompositeFieldContainer[TemporarySchedule]
    version: int
    created_at: _timestamp_pb2.Timestamp
    updated_at: _timestamp_pb2.Timestamp
    team_id: str
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., time_zone: _Optional[str] = ..., description: _Optional[str] = ..., layers: _Optional[_Iterable[_Union[Layer, _Mapping]]] = ..., temporary_schedules: _Optional[_Iterable[_Union[TemporarySchedule, _Mapping]]] = ..., version: _Optional[int] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., team_id: _Optional[str] = ...) -> None: ...

class Override(_message.Message):
    __slots__ = ("id", "schedule_id", "start", "end", "add_user_id", "remove_user_id", "created_at")
    ID_FIELD_NUMBER: _ClassVar[int]
    SCHEDULE_ID_FIELD_NUMBER: _ClassVar[int]
    START_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    ADD_USER_ID_FIELD_NUMBER: _ClassVar[int]
    REMOVE_USER_ID_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    id: str
    schedule_id: str
    start: _timestamp_pb2.Timestamp
    end: _timestamp_pb2.Timestamp
    add_user_id: str
    remove_user_id: str
    created_at: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., schedule_id: _Optional[str] = ..., start: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., add_user_id: _Optional[str] = ..., remove_user_id: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class LayerReason(_message.Message):
    __slots__ = ("index", "name")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    index: int
    name: str
    def __init__(self, index: _Optional[int] = ..., name: _Optional[str] = ...) -> None: ...

class OnCallReason(_message.Message):
    __slots__ = ("layer", "override_id", "temporary_schedule_id")
    LAYER_FIELD_NUMBER: _ClassVar[int]
    OVERRIDE_ID_FIELD_NUMBER: _ClassVar[int]
    TEMPORARY_SCHEDULE_ID_FIELD_NUMBER: _ClassVar[int]
    layer: LayerReason
    override_id: str
    temporary_schedule_id: str
    def __init__(self, layer: _Optional[_Union[LayerReason, _Mapping]] = ..., override_id: _Optional[str] = ..., temporary_schedule_id: _Optional[str] = ...) -> None: ...

class OnCallUser(_message.Message):
    __slots__ = ("user_id", "reason")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    reason: OnCallReason
    def __init__(self, user_id: _Optional[str] = ..., reason: _Optional[_Union[OnCallReason, _Mapping]] = ...) -> None: ...

class Shift(_message.Message):
    __slots__ = ("start", "end", "user_id", "reason")
    START_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    start: _timestamp_pb2.Timestamp
    end: _timestamp_pb2.Timestamp
    user_id: str
    reason: OnCallReason
    def __init__(self, start: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., user_id: _Optional[str] = ..., reason: _Optional[_Union[OnCallReason, _Mapping]] = ...) -> None: ...

class CalendarToken(_message.Message):
    __slots__ = ("id", "schedule_id", "user_id", "prefix", "created_at")
    ID_FIELD_NUMBER: _ClassVar[int]
    SCHEDULE_ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    PREFIX_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    id: str
    schedule_id: str
    user_id: str
    prefix: str
    created_at: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., schedule_id: _Optional[str] = ..., user_id: _Optional[str] = ..., prefix: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CreateScheduleRequest(_message.Message):
    __slots__ = ("name", "time_zone", "description", "layers", "team_id")
    NAME_FIELD_NUMBER: _ClassVar[int]
    TIME_ZONE_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    LAYERS_FIELD_NUMBER: _ClassVar[int]
    TEAM_ID_FIELD_NUMBER: _ClassVar[int]
    name: str
    time_zone: str
    description: str
    layers: _containers.RepeatedCompositeFieldContainer[Layer]
    team_id: str
    def __init__(self, name: _Optional[str] = ..., time_zone: _Optional[str] = ..., description: _Optional[str] = ..., layers: _Optional[_Iterable[_Union[Layer, _Mapping]]] = ..., team_id: _Optional[str] = ...) -> None: ...

class CreateScheduleResponse(_message.Message):
    __slots__ = ("schedule",)
    SCHEDULE_FIELD_NUMBER: _ClassVar[int]
    schedule: Schedule
    def __init__(self, schedule: _Optional[_Union[Schedule, _Mapping]] = ...) -> None: ...

class UpdateScheduleRequest(_message.Message):
    __slots__ = ("schedule_id", "name", "time_zone", "description", "layers", "expected_version", "team_id")
    SCHEDULE_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    TIME_ZONE_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    LAYERS_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_VERSION_FIELD_NUMBER: _ClassVar[int]
    TEAM_ID_FIELD_NUMBER: _ClassVar[int]
    schedule_id: str
    name: str
    time_zone: str
    description: str
    layers: _containers.RepeatedCompositeFieldContainer[Layer]
    expected_version: int
    team_id: str
    def __init__(self, schedule_id: _Optional[str] = ..., name: _Optional[str] = ..., time_zone: _Optional[str] = ..., description: _Optional[str] = ..., layers: _Optional[_Iterable[_Union[Layer, _Mapping]]] = ..., expected_version: _Optional[int] = ..., team_id: _Optional[str] = ...) -> None: ...

class UpdateScheduleResponse(_message.Message):
    __slots__ = ("schedule",)
    SCHEDULE_FIELD_NUMBER: _ClassVar[int]
    schedule: Schedule
    def __init__(self, schedule: _Optional[_Union[Schedule, _Mapping]] = ...) -> None: ...

class DeleteScheduleRequest(_message.Message):
    __slots__ = ("schedule_id",)
    SCHEDULE_ID_FIELD_NUMBER: _ClassVar[int]
    schedule_id: str
    def __init__(self, schedule_id: _Optional[str] = ...) -> None: ...

class DeleteScheduleResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetScheduleRequest(_message.Message):
    __slots__ = ("schedule_id",)
    SCHEDULE_ID_FIELD_NUMBER: _ClassVar[int]
    schedule_id: str
    def __init__(self, schedule_id: _Optional[str] = ...) -> None: ...

class GetScheduleResponse(_message.Message):
    __slots__ = ("schedule",)
    SCHEDULE_FIELD_NUMBER: _ClassVar[int]
    schedule: Schedule
    def __init__(self, schedule: _Optional[_Union[Schedule, _Mapping]] = ...) -> None: ...

class ListSchedulesRequest(_message.Message):
    __slots__ = ("team_ids", "my_teams")
    TEAM_IDS_FIELD_NUMBER: _ClassVar[int]
    MY_TEAMS_FIELD_NUMBER: _ClassVar[int]
    team_ids: _containers.RepeatedScalarFieldContainer[str]
    my_teams: bool
    def __init__(self, team_ids: _Optional[_Iterable[str]] = ..., my_teams: _Optional[bool] = ...) -> None: ...

class ListSchedulesResponse(_message.Message):
    __slots__ = ("schedules",)
    SCHEDULES_FIELD_NUMBER: _ClassVar[int]
    schedules: _containers.RepeatedCompositeFieldContainer[Schedule]
    def __init__(self, schedules: _Optional[_Iterable[_Union[Schedule, _Mapping]]] = ...) -> None: ...

class AddOverrideRequest(_message.Message):
    __slots__ = ("schedule_id", "start", "end", "add_user_id", "remove_user_id")
    SCHEDULE_ID_FIELD_NUMBER: _ClassVar[int]
    START_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    ADD_USER_ID_FIELD_NUMBER: _ClassVar[int]
    REMOVE_USER_ID_FIELD_NUMBER: _ClassVar[int]
    schedule_id: str
    start: _timestamp_pb2.Timestamp
    end: _timestamp_pb2.Timestamp
    add_user_id: str
    remove_user_id: str
    def __init__(self, schedule_id: _Optional[str] = ..., start: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., add_user_id: _Optional[str] = ..., remove_user_id: _Optional[str] = ...) -> None: ...

class AddOverrideResponse(_message.Message):
    __slots__ = ("override",)
    OVERRIDE_FIELD_NUMBER: _ClassVar[int]
    override: Override
    def __init__(self, override: _Optional[_Union[Override, _Mapping]] = ...) -> None: ...

class RemoveOverrideRequest(_message.Message):
    __slots__ = ("schedule_id", "override_id")
    SCHEDULE_ID_FIELD_NUMBER: _ClassVar[int]
    OVERRIDE_ID_FIELD_NUMBER: _ClassVar[int]
    schedule_id: str
    override_id: str
    def __init__(self, schedule_id: _Optional[str] = ..., override_id: _Optional[str] = ...) -> None: ...

class RemoveOverrideResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListOverridesRequest(_message.Message):
    __slots__ = ("schedule_id", "start", "end")
    SCHEDULE_ID_FIELD_NUMBER: _ClassVar[int]
    START_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    schedule_id: str
    start: _timestamp_pb2.Timestamp
    end: _timestamp_pb2.Timestamp
    def __init__(self, schedule_id: _Optional[str] = ..., start: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ListOverridesResponse(_message.Message):
    __slots__ = ("overrides",)
    OVERRIDES_FIELD_NUMBER: _ClassVar[int]
    overrides: _containers.RepeatedCompositeFieldContainer[Override]
    def __init__(self, overrides: _Optional[_Iterable[_Union[Override, _Mapping]]] = ...) -> None: ...

class SetTemporaryScheduleRequest(_message.Message):
    __slots__ = ("schedule_id", "temporary_schedule_id", "start", "end", "shifts")
    SCHEDULE_ID_FIELD_NUMBER: _ClassVar[int]
    TEMPORARY_SCHEDULE_ID_FIELD_NUMBER: _ClassVar[int]
    START_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    SHIFTS_FIELD_NUMBER: _ClassVar[int]
    schedule_id: str
    temporary_schedule_id: str
    start: _timestamp_pb2.Timestamp
    end: _timestamp_pb2.Timestamp
    shifts: _containers.RepeatedCompositeFieldContainer[TemporaryShift]
    def __init__(self, schedule_id: _Optional[str] = ..., temporary_schedule_id: _Optional[str] = ..., start: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., shifts: _Optional[_Iterable[_Union[TemporaryShift, _Mapping]]] = ...) -> None: ...

class SetTemporaryScheduleResponse(_message.Message):
    __slots__ = ("temporary_schedule",)
    TEMPORARY_SCHEDULE_FIELD_NUMBER: _ClassVar[int]
    temporary_schedule: TemporarySchedule
    def __init__(self, temporary_schedule: _Optional[_Union[TemporarySchedule, _Mapping]] = ...) -> None: ...

class ClearTemporaryScheduleRequest(_message.Message):
    __slots__ = ("schedule_id", "temporary_schedule_id")
    SCHEDULE_ID_FIELD_NUMBER: _ClassVar[int]
    TEMPORARY_SCHEDULE_ID_FIELD_NUMBER: _ClassVar[int]
    schedule_id: str
    temporary_schedule_id: str
    def __init__(self, schedule_id: _Optional[str] = ..., temporary_schedule_id: _Optional[str] = ...) -> None: ...

class ClearTemporaryScheduleResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetOnCallUsersRequest(_message.Message):
    __slots__ = ("schedule_id", "at")
    SCHEDULE_ID_FIELD_NUMBER: _ClassVar[int]
    AT_FIELD_NUMBER: _ClassVar[int]
    schedule_id: str
    at: _timestamp_pb2.Timestamp
    def __init__(self, schedule_id: _Optional[str] = ..., at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class GetOnCallUsersResponse(_message.Message):
    __slots__ = ("at", "users")
    AT_FIELD_NUMBER: _ClassVar[int]
    USERS_FIELD_NUMBER: _ClassVar[int]
    at: _timestamp_pb2.Timestamp
    users: _containers.RepeatedCompositeFieldContainer[OnCallUser]
    def __init__(self, at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., users: _Optional[_Iterable[_Union[OnCallUser, _Mapping]]] = ...) -> None: ...

class ListShiftsRequest(_message.Message):
    __slots__ = ("schedule_id", "start", "end", "user_id")
    SCHEDULE_ID_FIELD_NUMBER: _ClassVar[int]
    START_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    schedule_id: str
    start: _timestamp_pb2.Timestamp
    end: _timestamp_pb2.Timestamp
    user_id: str
    def __init__(self, schedule_id: _Optional[str] = ..., start: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., user_id: _Optional[str] = ...) -> None: ...

class ListShiftsResponse(_message.Message):
    __slots__ = ("shifts",)
    SHIFTS_FIELD_NUMBER: _ClassVar[int]
    shifts: _containers.RepeatedCompositeFieldContainer[Shift]
    def __init__(self, shifts: _Optional[_Iterable[_Union[Shift, _Mapping]]] = ...) -> None: ...

class CreateCalendarTokenRequest(_message.Message):
    __slots__ = ("schedule_id", "user_id")
    SCHEDULE_ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    schedule_id: str
    user_id: str
    def __init__(self, schedule_id: _Optional[str] = ..., user_id: _Optional[str] = ...) -> None: ...

class CreateCalendarTokenResponse(_message.Message):
    __slots__ = ("token", "secret", "calendar_url")
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    SECRET_FIELD_NUMBER: _ClassVar[int]
    CALENDAR_URL_FIELD_NUMBER: _ClassVar[int]
    token: CalendarToken
    secret: str
    calendar_url: str
    def __init__(self, token: _Optional[_Union[CalendarToken, _Mapping]] = ..., secret: _Optional[str] = ..., calendar_url: _Optional[str] = ...) -> None: ...

class ListCalendarTokensRequest(_message.Message):
    __slots__ = ("schedule_id",)
    SCHEDULE_ID_FIELD_NUMBER: _ClassVar[int]
    schedule_id: str
    def __init__(self, schedule_id: _Optional[str] = ...) -> None: ...

class ListCalendarTokensResponse(_message.Message):
    __slots__ = ("tokens",)
    TOKENS_FIELD_NUMBER: _ClassVar[int]
    tokens: _containers.RepeatedCompositeFieldContainer[CalendarToken]
    def __init__(self, tokens: _Optional[_Iterable[_Union[CalendarToken, _Mapping]]] = ...) -> None: ...

class RevokeCalendarTokenRequest(_message.Message):
    __slots__ = ("schedule_id", "token_id")
    SCHEDULE_ID_FIELD_NUMBER: _ClassVar[int]
    TOKEN_ID_FIELD_NUMBER: _ClassVar[int]
    schedule_id: str
    token_id: str
    def __init__(self, schedule_id: _Optional[str] = ..., token_id: _Optional[str] = ...) -> None: ...

class RevokeCalendarTokenResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...
