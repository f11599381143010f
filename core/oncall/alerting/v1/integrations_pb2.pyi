import datetime

from google.api import annotations_pb2 as _annotations_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Integration(_message.Message):
    __slots__ = ("id", "source", "name", "key_prefix", "created_at", "version", "enabled", "team_id")
    ID_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    KEY_PREFIX_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    ENABLED_FIELD_NUMBER: _ClassVar[int]
    TEAM_ID_FIELD_NUMBER: _ClassVar[int]
    id: int
    source: str
    name: str
    key_prefix: str
    created_at: _timestamp_pb2.Timestamp
    version: int
    enabled: bool
    team_id: str
    def __init__(self, id: _Optional[int] = ..., source: _Optional[str] = ..., name: _Optional[str] = ..., key_prefix: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., version: _Optional[int] = ..., enabled: _Optional[bool] = ..., team_id: _Optional[str] = ...) -> None: ...

class CreateIntegrationRequest(_message.Message):
    __slots__ = ("source", "name", "team_id")
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    TEAM_ID_FIELD_NUMBER: _ClassVar[int]
    source: str
    name: str
    team_id: str
    def __init__(self, source: _Optional[str] = ..., name: _Optional[str] = ..., team_id: _Optional[str] = ...) -> None: ...

class CreateIntegrationResponse(_message.Message):
    __slots__ = ("integration", "key", "webhook_urls")
    INTEGRATION_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    WEBHOOK_URLS_FIELD_NUMBER: _ClassVar[int]
    integration: Integration
    key: str
    webhook_urls: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, integration: _Optional[_Union[Integration, _Mapping]] = ..., key: _Optional[str] = ..., webhook_urls: _Optional[_Iterable[str]] = ...) -> None: ...

class ListIntegrationsRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "team_ids", "my_teams")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TEAM_IDS_FIELD_NUMBER: _ClassVar[int]
    MY_TEAMS_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    team_ids: _containers.RepeatedScalarFieldContainer[str]
    my_teams: bool
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., team_ids: _Optional[_Iterable[str]] = ..., my_teams: _Optional[bool] = ...) -> None: ...

class ListIntegrationsResponse(_message.Message):
    __slots__ = ("integrations", "next_page_token")
    INTEGRATIONS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    integrations: _containers.RepeatedCompositeFieldContainer[Integration]
    next_page_token: str
    def __init__(self, integrations: _Optional[_Iterable[_Union[Integration, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class GetIntegrationRequest(_message.Message):
    __slots__ = ("integration_id",)
    INTEGRATION_ID_FIELD_NUMBER: _ClassVar[int]
    integration_id: int
    def __init__(self, integration_id: _Optional[int] = ...) -> None: ...

class GetIntegrationResponse(_message.Message):
    __slots__ = ("integration",)
    INTEGRATION_FIELD_NUMBER: _ClassVar[int]
    integration: Integration
    def __init__(self, integration: _Optional[_Union[Integration, _Mapping]] = ...) -> None: ...

class UpdateIntegrationRequest(_message.Message):
    __slots__ = ("integration_id", "name", "expected_version", "team_id")
    INTEGRATION_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_VERSION_FIELD_NUMBER: _ClassVar[int]
    TEAM_ID_FIELD_NUMBER: _ClassVar[int]
    integration_id: int
    name: str
    expected_version: int
    team_id: str
    def __init__(self, integration_id: _Optional[int] = ..., name: _Optional[str] = ..., expected_version: _Optional[int] = ..., team_id: _Optional[str] = ...) -> None: ...

class UpdateIntegrationResponse(_message.Message):
    __slots__ = ("integration",)
    INTEGRATION_FIELD_NUMBER: _ClassVar[int]
    integration: Integration
    def __init__(self, integration: _Optional[_Union[Integration, _Mapping]] = ...) -> None: ...

class RotateIntegrationKeyRequest(_message.Message):
    __slots__ = ("integration_id",)
    INTEGRATION_ID_FIELD_NUMBER: _ClassVar[int]
    integration_id: int
    def __init__(self, integration_id: _Optional[int] = ...) -> None: ...

class RotateIntegrationKeyResponse(_message.Message):
    __slots__ = ("integration", "key")
    INTEGRATION_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    integration: Integration
    key: str
    def __init__(self, integration: _Optional[_Union[Integration, _Mapping]] = ..., key: _Optional[str] = ...) -> None: ...

class DeleteIntegrationRequest(_message.Message):
    __slots__ = ("integration_id",)
    INTEGRATION_ID_FIELD_NUMBER: _ClassVar[int]
    integration_id: int
    def __init__(self, integration_id: _Optional[int] = ...) -> None: ...

class DeleteIntegrationResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...
