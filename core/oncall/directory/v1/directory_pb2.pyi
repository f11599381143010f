from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ContactMethodType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CONTACT_METHOD_TYPE_UNSPECIFIED: _ClassVar[ContactMethodType]
    CONTACT_METHOD_TYPE_SMS: _ClassVar[ContactMethodType]
    CONTACT_METHOD_TYPE_VOICE: _ClassVar[ContactMethodType]
    CONTACT_METHOD_TYPE_EMAIL: _ClassVar[ContactMethodType]
    CONTACT_METHOD_TYPE_SLACK: _ClassVar[ContactMethodType]
    CONTACT_METHOD_TYPE_TEAMS: _ClassVar[ContactMethodType]
    CONTACT_METHOD_TYPE_PUSH: _ClassVar[ContactMethodType]
    CONTACT_METHOD_TYPE_WEBHOOK: _ClassVar[ContactMethodType]
CONTACT_METHOD_TYPE_UNSPECIFIED: ContactMethodType
CONTACT_METHOD_TYPE_SMS: ContactMethodType
CONTACT_METHOD_TYPE_VOICE: ContactMethodType
CONTACT_METHOD_TYPE_EMAIL: ContactMethodType
CONTACT_METHOD_TYPE_SLACK: ContactMethodType
CONTACT_METHOD_TYPE_TEAMS: ContactMethodType
CONTACT_METHOD_TYPE_PUSH: ContactMethodType
CONTACT_METHOD_TYPE_WEBHOOK: ContactMethodType

class User(_message.Message):
    __slots__ = ("id", "name", "email", "time_zone", "role", "groups")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    TIME_ZONE_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    GROUPS_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    email: str
    time_zone: str
    role: str
    groups: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., email: _Optional[str] = ..., time_zone: _Optional[str] = ..., role: _Optional[str] = ..., groups: _Optional[_Iterable[str]] = ...) -> None: ...

class ContactMethod(_message.Message):
    __slots__ = ("id", "type", "address", "priority", "disabled", "channel")
    ID_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    DISABLED_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    id: str
    type: ContactMethodType
    address: str
    priority: int
    disabled: bool
    channel: str
    def __init__(self, id: _Optional[str] = ..., type: _Optional[_Union[ContactMethodType, str]] = ..., address: _Optional[str] = ..., priority: _Optional[int] = ..., disabled: _Optional[bool] = ..., channel: _Optional[str] = ...) -> None: ...

class GetUserRequest(_message.Message):
    __slots__ = ("user_id",)
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    def __init__(self, user_id: _Optional[str] = ...) -> None: ...

class GetUserResponse(_message.Message):
    __slots__ = ("user",)
    USER_FIELD_NUMBER: _ClassVar[int]
    user: User
    def __init__(self, user: _Optional[_Union[User, _Mapping]] = ...) -> None: ...

class GetUsersRequest(_message.Message):
    __slots__ = ("user_ids",)
    USER_IDS_FIELD_NUMBER: _ClassVar[int]
    user_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, user_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class GetUsersResponse(_message.Message):
    __slots__ = ("users", "not_found_user_ids")
    USERS_FIELD_NUMBER: _ClassVar[int]
    NOT_FOUND_USER_IDS_FIELD_NUMBER: _ClassVar[int]
    users: _containers.RepeatedCompositeFieldContainer[User]
    not_found_user_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, users: _Optional[_Iterable[_Union[User, _Mapping]]] = ..., not_found_user_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class GetUserContactMethodsRequest(_message.Message):
    __slots__ = ("user_id",)
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    def __init__(self, user_id: _Optional[str] = ...) -> None: ...

class GetUserContactMethodsResponse(_message.Message):
    __slots__ = ("contact_methods",)
    CONTACT_METHODS_FIELD_NUMBER: _ClassVar[int]
    contact_methods: _containers.RepeatedCompositeFieldContainer[ContactMethod]
    def __init__(self, contact_methods: _Optional[_Iterable[_Union[ContactMethod, _Mapping]]] = ...) -> None: ...

class ContactAddress(_message.Message):
    __slots__ = ("channel", "address")
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    channel: str
    address: str
    def __init__(self, channel: _Optional[str] = ..., address: _Optional[str] = ...) -> None: ...

class ExternalIdentity(_message.Message):
    __slots__ = ("issuer", "subject")
    ISSUER_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    issuer: str
    subject: str
    def __init__(self, issuer: _Optional[str] = ..., subject: _Optional[str] = ...) -> None: ...

class FindUsersRequest(_message.Message):
    __slots__ = ("email", "contact", "external")
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    CONTACT_FIELD_NUMBER: _ClassVar[int]
    EXTERNAL_FIELD_NUMBER: _ClassVar[int]
    email: str
    contact: ContactAddress
    external: ExternalIdentity
    def __init__(self, email: _Optional[str] = ..., contact: _Optional[_Union[ContactAddress, _Mapping]] = ..., external: _Optional[_Union[ExternalIdentity, _Mapping]] = ...) -> None: ...

class FindUsersResponse(_message.Message):
    __slots__ = ("users",)
    USERS_FIELD_NUMBER: _ClassVar[int]
    users: _containers.RepeatedCompositeFieldContainer[User]
    def __init__(self, users: _Optional[_Iterable[_Union[User, _Mapping]]] = ...) -> None: ...

class AuthenticateRequest(_message.Message):
    __slots__ = ("user", "password")
    USER_FIELD_NUMBER: _ClassVar[int]
    PASSWORD_FIELD_NUMBER: _ClassVar[int]
    user: str
    password: str
    def __init__(self, user: _Optional[str] = ..., password: _Optional[str] = ...) -> None: ...

class AuthenticateResponse(_message.Message):
    __slots__ = ("authenticated", "user")
    AUTHENTICATED_FIELD_NUMBER: _ClassVar[int]
    USER_FIELD_NUMBER: _ClassVar[int]
    authenticated: bool
    user: User
    def __init__(self, authenticated: _Optional[bool] = ..., user: _Optional[_Union[User, _Mapping]] = ...) -> None: ...
