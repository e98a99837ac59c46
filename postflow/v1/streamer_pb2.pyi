import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from postflow.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class TransferKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TRANSFER_KIND_UNSPECIFIED: _ClassVar[TransferKind]
    TRANSFER_KIND_PULL: _ClassVar[TransferKind]
    TRANSFER_KIND_PUSH: _ClassVar[TransferKind]

class TransferPhase(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TRANSFER_PHASE_UNSPECIFIED: _ClassVar[TransferPhase]
    TRANSFER_PHASE_ACTIVE: _ClassVar[TransferPhase]
    TRANSFER_PHASE_COMPLETE: _ClassVar[TransferPhase]
    TRANSFER_PHASE_SOURCE_CHANGED: _ClassVar[TransferPhase]
    TRANSFER_PHASE_FAILED: _ClassVar[TransferPhase]
    TRANSFER_PHASE_URLS_EXPIRED: _ClassVar[TransferPhase]

class TunnelMode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TUNNEL_MODE_UNSPECIFIED: _ClassVar[TunnelMode]
    TUNNEL_MODE_QUICK: _ClassVar[TunnelMode]
    TUNNEL_MODE_NAMED: _ClassVar[TunnelMode]
    TUNNEL_MODE_NONE: _ClassVar[TunnelMode]

class TunnelState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TUNNEL_STATE_UNSPECIFIED: _ClassVar[TunnelState]
    TUNNEL_STATE_STARTING: _ClassVar[TunnelState]
    TUNNEL_STATE_UP: _ClassVar[TunnelState]
    TUNNEL_STATE_DOWN: _ClassVar[TunnelState]
    TUNNEL_STATE_STOPPED: _ClassVar[TunnelState]
TRANSFER_KIND_UNSPECIFIED: TransferKind
TRANSFER_KIND_PULL: TransferKind
TRANSFER_KIND_PUSH: TransferKind
TRANSFER_PHASE_UNSPECIFIED: TransferPhase
TRANSFER_PHASE_ACTIVE: TransferPhase
TRANSFER_PHASE_COMPLETE: TransferPhase
TRANSFER_PHASE_SOURCE_CHANGED: TransferPhase
TRANSFER_PHASE_FAILED: TransferPhase
TRANSFER_PHASE_URLS_EXPIRED: TransferPhase
TUNNEL_MODE_UNSPECIFIED: TunnelMode
TUNNEL_MODE_QUICK: TunnelMode
TUNNEL_MODE_NAMED: TunnelMode
TUNNEL_MODE_NONE: TunnelMode
TUNNEL_STATE_UNSPECIFIED: TunnelState
TUNNEL_STATE_STARTING: TunnelState
TUNNEL_STATE_UP: TunnelState
TUNNEL_STATE_DOWN: TunnelState
TUNNEL_STATE_STOPPED: TunnelState

class PublishRequest(_message.Message):
    __slots__ = ("pipeline", "path", "size", "mtime_ns", "ttl_s", "job_id", "trace_context")
    PIPELINE_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    MTIME_NS_FIELD_NUMBER: _ClassVar[int]
    TTL_S_FIELD_NUMBER: _ClassVar[int]
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    TRACE_CONTEXT_FIELD_NUMBER: _ClassVar[int]
    pipeline: str
    path: str
    size: int
    mtime_ns: int
    ttl_s: int
    job_id: str
    trace_context: _common_pb2.TraceContext
    def __init__(self, pipeline: _Optional[str] = ..., path: _Optional[str] = ..., size: _Optional[int] = ..., mtime_ns: _Optional[int] = ..., ttl_s: _Optional[int] = ..., job_id: _Optional[str] = ..., trace_context: _Optional[_Union[_common_pb2.TraceContext, _Mapping]] = ...) -> None: ...

class Publication(_message.Message):
    __slots__ = ("ticket_id", "url", "pipeline", "path", "size", "mtime_ns", "job_id", "expires_at", "revoked", "bytes_covered")
    TICKET_ID_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    PIPELINE_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    MTIME_NS_FIELD_NUMBER: _ClassVar[int]
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    REVOKED_FIELD_NUMBER: _ClassVar[int]
    BYTES_COVERED_FIELD_NUMBER: _ClassVar[int]
    ticket_id: str
    url: str
    pipeline: str
    path: str
    size: int
    mtime_ns: int
    job_id: str
    expires_at: _timestamp_pb2.Timestamp
    revoked: bool
    bytes_covered: int
    def __init__(self, ticket_id: _Optional[str] = ..., url: _Optional[str] = ..., pipeline: _Optional[str] = ..., path: _Optional[str] = ..., size: _Optional[int] = ..., mtime_ns: _Optional[int] = ..., job_id: _Optional[str] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., revoked: _Optional[bool] = ..., bytes_covered: _Optional[int] = ...) -> None: ...

class RevokeRequest(_message.Message):
    __slots__ = ("ticket_id",)
    TICKET_ID_FIELD_NUMBER: _ClassVar[int]
    ticket_id: str
    def __init__(self, ticket_id: _Optional[str] = ...) -> None: ...

class RevokeResponse(_message.Message):
    __slots__ = ("revoked",)
    REVOKED_FIELD_NUMBER: _ClassVar[int]
    revoked: bool
    def __init__(self, revoked: _Optional[bool] = ...) -> None: ...

class GetPublicationRequest(_message.Message):
    __slots__ = ("ticket_id",)
    TICKET_ID_FIELD_NUMBER: _ClassVar[int]
    ticket_id: str
    def __init__(self, ticket_id: _Optional[str] = ...) -> None: ...

class UploadPart(_message.Message):
    __slots__ = ("size", "url")
    SIZE_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    size: int
    url: str
    def __init__(self, size: _Optional[int] = ..., url: _Optional[str] = ...) -> None: ...

class PushHeader(_message.Message):
    __slots__ = ("pipeline", "path", "size", "mtime_ns", "content_type", "job_id", "trace_context", "concurrency", "part_count")
    PIPELINE_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    MTIME_NS_FIELD_NUMBER: _ClassVar[int]
    CONTENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    TRACE_CONTEXT_FIELD_NUMBER: _ClassVar[int]
    CONCURRENCY_FIELD_NUMBER: _ClassVar[int]
    PART_COUNT_FIELD_NUMBER: _ClassVar[int]
    pipeline: str
    path: str
    size: int
    mtime_ns: int
    content_type: str
    job_id: str
    trace_context: _common_pb2.TraceContext
    concurrency: int
    part_count: int
    def __init__(self, pipeline: _Optional[str] = ..., path: _Optional[str] = ..., size: _Optional[int] = ..., mtime_ns: _Optional[int] = ..., content_type: _Optional[str] = ..., job_id: _Optional[str] = ..., trace_context: _Optional[_Union[_common_pb2.TraceContext, _Mapping]] = ..., concurrency: _Optional[int] = ..., part_count: _Optional[int] = ...) -> None: ...

class PushParts(_message.Message):
    __slots__ = ("parts",)
    PARTS_FIELD_NUMBER: _ClassVar[int]
    parts: _containers.RepeatedCompositeFieldContainer[UploadPart]
    def __init__(self, parts: _Optional[_Iterable[_Union[UploadPart, _Mapping]]] = ...) -> None: ...

class PushRequest(_message.Message):
    __slots__ = ("header", "parts")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    PARTS_FIELD_NUMBER: _ClassVar[int]
    header: PushHeader
    parts: PushParts
    def __init__(self, header: _Optional[_Union[PushHeader, _Mapping]] = ..., parts: _Optional[_Union[PushParts, _Mapping]] = ...) -> None: ...

class TransferProgress(_message.Message):
    __slots__ = ("ticket_id", "job_id", "path", "kind", "phase", "size", "bytes_done", "rate_bps", "active_connections", "error", "trace_context")
    TICKET_ID_FIELD_NUMBER: _ClassVar[int]
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    PHASE_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    BYTES_DONE_FIELD_NUMBER: _ClassVar[int]
    RATE_BPS_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_CONNECTIONS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    TRACE_CONTEXT_FIELD_NUMBER: _ClassVar[int]
    ticket_id: str
    job_id: str
    path: str
    kind: TransferKind
    phase: TransferPhase
    size: int
    bytes_done: int
    rate_bps: float
    active_connections: int
    error: str
    trace_context: _common_pb2.TraceContext
    def __init__(self, ticket_id: _Optional[str] = ..., job_id: _Optional[str] = ..., path: _Optional[str] = ..., kind: _Optional[_Union[TransferKind, str]] = ..., phase: _Optional[_Union[TransferPhase, str]] = ..., size: _Optional[int] = ..., bytes_done: _Optional[int] = ..., rate_bps: _Optional[float] = ..., active_connections: _Optional[int] = ..., error: _Optional[str] = ..., trace_context: _Optional[_Union[_common_pb2.TraceContext, _Mapping]] = ...) -> None: ...

class GetTunnelStatusRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class TunnelStatus(_message.Message):
    __slots__ = ("mode", "state", "public_url", "restarts", "message", "since", "bandwidth_limit_bps", "bandwidth_schedule")
    MODE_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    PUBLIC_URL_FIELD_NUMBER: _ClassVar[int]
    RESTARTS_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    SINCE_FIELD_NUMBER: _ClassVar[int]
    BANDWIDTH_LIMIT_BPS_FIELD_NUMBER: _ClassVar[int]
    BANDWIDTH_SCHEDULE_FIELD_NUMBER: _ClassVar[int]
    mode: TunnelMode
    state: TunnelState
    public_url: str
    restarts: int
    message: str
    since: _timestamp_pb2.Timestamp
    bandwidth_limit_bps: int
    bandwidth_schedule: str
    def __init__(self, mode: _Optional[_Union[TunnelMode, str]] = ..., state: _Optional[_Union[TunnelState, str]] = ..., public_url: _Optional[str] = ..., restarts: _Optional[int] = ..., message: _Optional[str] = ..., since: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., bandwidth_limit_bps: _Optional[int] = ..., bandwidth_schedule: _Optional[str] = ...) -> None: ...

class WatchStreamerEventsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class StreamerEvent(_message.Message):
    __slots__ = ("seq", "at", "transfer", "tunnel")
    SEQ_FIELD_NUMBER: _ClassVar[int]
    AT_FIELD_NUMBER: _ClassVar[int]
    TRANSFER_FIELD_NUMBER: _ClassVar[int]
    TUNNEL_FIELD_NUMBER: _ClassVar[int]
    seq: int
    at: _timestamp_pb2.Timestamp
    transfer: TransferProgress
    tunnel: TunnelStatus
    def __init__(self, seq: _Optional[int] = ..., at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., transfer: _Optional[_Union[TransferProgress, _Mapping]] = ..., tunnel: _Optional[_Union[TunnelStatus, _Mapping]] = ...) -> None: ...
