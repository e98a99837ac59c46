import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class AuthState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    AUTH_STATE_UNSPECIFIED: _ClassVar[AuthState]
    AUTH_STATE_DISCONNECTED: _ClassVar[AuthState]
    AUTH_STATE_CONNECTED: _ClassVar[AuthState]
    AUTH_STATE_RECONNECT_NEEDED: _ClassVar[AuthState]
    AUTH_STATE_REMOVED: _ClassVar[AuthState]

class GrantKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    GRANT_KIND_UNSPECIFIED: _ClassVar[GrantKind]
    GRANT_KIND_WEB_APP: _ClassVar[GrantKind]
    GRANT_KIND_SERVER_TO_SERVER: _ClassVar[GrantKind]
AUTH_STATE_UNSPECIFIED: AuthState
AUTH_STATE_DISCONNECTED: AuthState
AUTH_STATE_CONNECTED: AuthState
AUTH_STATE_RECONNECT_NEEDED: AuthState
AUTH_STATE_REMOVED: AuthState
GRANT_KIND_UNSPECIFIED: GrantKind
GRANT_KIND_WEB_APP: GrantKind
GRANT_KIND_SERVER_TO_SERVER: GrantKind

class GetAccessTokenRequest(_message.Message):
    __slots__ = ("force_refresh", "rejected_token", "connection")
    FORCE_REFRESH_FIELD_NUMBER: _ClassVar[int]
    REJECTED_TOKEN_FIELD_NUMBER: _ClassVar[int]
    CONNECTION_FIELD_NUMBER: _ClassVar[int]
    force_refresh: bool
    rejected_token: str
    connection: str
    def __init__(self, force_refresh: _Optional[bool] = ..., rejected_token: _Optional[str] = ..., connection: _Optional[str] = ...) -> None: ...

class AccessToken(_message.Message):
    __slots__ = ("access_token", "expires_at")
    ACCESS_TOKEN_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    access_token: str
    expires_at: _timestamp_pb2.Timestamp
    def __init__(self, access_token: _Optional[str] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class GetAuthStatusRequest(_message.Message):
    __slots__ = ("connection",)
    CONNECTION_FIELD_NUMBER: _ClassVar[int]
    connection: str
    def __init__(self, connection: _Optional[str] = ...) -> None: ...

class WatchAuthStatusRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListConnectionsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListConnectionsResponse(_message.Message):
    __slots__ = ("connections",)
    CONNECTIONS_FIELD_NUMBER: _ClassVar[int]
    connections: _containers.RepeatedCompositeFieldContainer[AuthStatus]
    def __init__(self, connections: _Optional[_Iterable[_Union[AuthStatus, _Mapping]]] = ...) -> None: ...

class AuthStatus(_message.Message):
    __slots__ = ("state", "grant", "user_name", "user_email", "account_id", "access_expires_at", "connected_at", "last_refresh_at", "refresh_count", "message", "reauth_deadline", "reauth_soon", "connection")
    STATE_FIELD_NUMBER: _ClassVar[int]
    GRANT_FIELD_NUMBER: _ClassVar[int]
    USER_NAME_FIELD_NUMBER: _ClassVar[int]
    USER_EMAIL_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    ACCESS_EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    CONNECTED_AT_FIELD_NUMBER: _ClassVar[int]
    LAST_REFRESH_AT_FIELD_NUMBER: _ClassVar[int]
    REFRESH_COUNT_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    REAUTH_DEADLINE_FIELD_NUMBER: _ClassVar[int]
    REAUTH_SOON_FIELD_NUMBER: _ClassVar[int]
    CONNECTION_FIELD_NUMBER: _ClassVar[int]
    state: AuthState
    grant: GrantKind
    user_name: str
    user_email: str
    account_id: str
    access_expires_at: _timestamp_pb2.Timestamp
    connected_at: _timestamp_pb2.Timestamp
    last_refresh_at: _timestamp_pb2.Timestamp
    refresh_count: int
    message: str
    reauth_deadline: _timestamp_pb2.Timestamp
    reauth_soon: bool
    connection: str
    def __init__(self, state: _Optional[_Union[AuthState, str]] = ..., grant: _Optional[_Union[GrantKind, str]] = ..., user_name: _Optional[str] = ..., user_email: _Optional[str] = ..., account_id: _Optional[str] = ..., access_expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., connected_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_refresh_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., refresh_count: _Optional[int] = ..., message: _Optional[str] = ..., reauth_deadline: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., reauth_soon: _Optional[bool] = ..., connection: _Optional[str] = ...) -> None: ...

class BeginAuthorizationRequest(_message.Message):
    __slots__ = ("binding", "redirect_uri", "connection")
    BINDING_FIELD_NUMBER: _ClassVar[int]
    REDIRECT_URI_FIELD_NUMBER: _ClassVar[int]
    CONNECTION_FIELD_NUMBER: _ClassVar[int]
    binding: str
    redirect_uri: str
    connection: str
    def __init__(self, binding: _Optional[str] = ..., redirect_uri: _Optional[str] = ..., connection: _Optional[str] = ...) -> None: ...

class BeginAuthorizationResponse(_message.Message):
    __slots__ = ("authorize_url", "state", "expires_at")
    AUTHORIZE_URL_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    authorize_url: str
    state: str
    expires_at: _timestamp_pb2.Timestamp
    def __init__(self, authorize_url: _Optional[str] = ..., state: _Optional[str] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CompleteAuthorizationRequest(_message.Message):
    __slots__ = ("code", "state", "binding", "connection")
    CODE_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    BINDING_FIELD_NUMBER: _ClassVar[int]
    CONNECTION_FIELD_NUMBER: _ClassVar[int]
    code: str
    state: str
    binding: str
    connection: str
    def __init__(self, code: _Optional[str] = ..., state: _Optional[str] = ..., binding: _Optional[str] = ..., connection: _Optional[str] = ...) -> None: ...

class DisconnectRequest(_message.Message):
    __slots__ = ("connection",)
    CONNECTION_FIELD_NUMBER: _ClassVar[int]
    connection: str
    def __init__(self, connection: _Optional[str] = ...) -> None: ...
