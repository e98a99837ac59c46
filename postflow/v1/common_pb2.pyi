import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class JobState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    JOB_STATE_UNSPECIFIED: _ClassVar[JobState]
    JOB_STATE_QUEUED: _ClassVar[JobState]
    JOB_STATE_PREPARING: _ClassVar[JobState]
    JOB_STATE_UPLOADING: _ClassVar[JobState]
    JOB_STATE_VERIFYING: _ClassVar[JobState]
    JOB_STATE_WAITING: _ClassVar[JobState]
    JOB_STATE_DONE: _ClassVar[JobState]
    JOB_STATE_FAILED: _ClassVar[JobState]
    JOB_STATE_CANCELLED: _ClassVar[JobState]

class TransferMode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TRANSFER_MODE_UNSPECIFIED: _ClassVar[TransferMode]
    TRANSFER_MODE_AUTO: _ClassVar[TransferMode]
    TRANSFER_MODE_PULL: _ClassVar[TransferMode]
    TRANSFER_MODE_PUSH: _ClassVar[TransferMode]
JOB_STATE_UNSPECIFIED: JobState
JOB_STATE_QUEUED: JobState
JOB_STATE_PREPARING: JobState
JOB_STATE_UPLOADING: JobState
JOB_STATE_VERIFYING: JobState
JOB_STATE_WAITING: JobState
JOB_STATE_DONE: JobState
JOB_STATE_FAILED: JobState
JOB_STATE_CANCELLED: JobState
TRANSFER_MODE_UNSPECIFIED: TransferMode
TRANSFER_MODE_AUTO: TransferMode
TRANSFER_MODE_PULL: TransferMode
TRANSFER_MODE_PUSH: TransferMode

class TraceContext(_message.Message):
    __slots__ = ("traceparent", "tracestate")
    TRACEPARENT_FIELD_NUMBER: _ClassVar[int]
    TRACESTATE_FIELD_NUMBER: _ClassVar[int]
    traceparent: str
    tracestate: str
    def __init__(self, traceparent: _Optional[str] = ..., tracestate: _Optional[str] = ...) -> None: ...

class Job(_message.Message):
    __slots__ = ("id", "path", "size", "mtime_ns", "state", "mode", "attempts", "max_attempts", "error", "bytes_done", "rate_bps", "eta_s", "destination", "frameio_file_id", "frameio_folder_id", "version_stack_id", "view_url", "trace_id", "created_at", "updated_at", "next_attempt_at", "waiting_reason", "version", "connections", "pipeline", "connection", "project", "route_rule", "acted", "acted_by")
    ID_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    MTIME_NS_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    MAX_ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    BYTES_DONE_FIELD_NUMBER: _ClassVar[int]
    RATE_BPS_FIELD_NUMBER: _ClassVar[int]
    ETA_S_FIELD_NUMBER: _ClassVar[int]
    DESTINATION_FIELD_NUMBER: _ClassVar[int]
    FRAMEIO_FILE_ID_FIELD_NUMBER: _ClassVar[int]
    FRAMEIO_FOLDER_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_STACK_ID_FIELD_NUMBER: _ClassVar[int]
    VIEW_URL_FIELD_NUMBER: _ClassVar[int]
    TRACE_ID_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    NEXT_ATTEMPT_AT_FIELD_NUMBER: _ClassVar[int]
    WAITING_REASON_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    CONNECTIONS_FIELD_NUMBER: _ClassVar[int]
    PIPELINE_FIELD_NUMBER: _ClassVar[int]
    CONNECTION_FIELD_NUMBER: _ClassVar[int]
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    ROUTE_RULE_FIELD_NUMBER: _ClassVar[int]
    ACTED_FIELD_NUMBER: _ClassVar[int]
    ACTED_BY_FIELD_NUMBER: _ClassVar[int]
    id: str
    path: str
    size: int
    mtime_ns: int
    state: JobState
    mode: TransferMode
    attempts: int
    max_attempts: int
    error: str
    bytes_done: int
    rate_bps: float
    eta_s: float
    destination: str
    frameio_file_id: str
    frameio_folder_id: str
    version_stack_id: str
    view_url: str
    trace_id: str
    created_at: _timestamp_pb2.Timestamp
    updated_at: _timestamp_pb2.Timestamp
    next_attempt_at: _timestamp_pb2.Timestamp
    waiting_reason: str
    version: int
    connections: int
    pipeline: str
    connection: str
    project: str
    route_rule: str
    acted: str
    acted_by: str
    def __init__(self, id: _Optional[str] = ..., path: _Optional[str] = ..., size: _Optional[int] = ..., mtime_ns: _Optional[int] = ..., state: _Optional[_Union[JobState, str]] = ..., mode: _Optional[_Union[TransferMode, str]] = ..., attempts: _Optional[int] = ..., max_attempts: _Optional[int] = ..., error: _Optional[str] = ..., bytes_done: _Optional[int] = ..., rate_bps: _Optional[float] = ..., eta_s: _Optional[float] = ..., destination: _Optional[str] = ..., frameio_file_id: _Optional[str] = ..., frameio_folder_id: _Optional[str] = ..., version_stack_id: _Optional[str] = ..., view_url: _Optional[str] = ..., trace_id: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., next_attempt_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., waiting_reason: _Optional[str] = ..., version: _Optional[int] = ..., connections: _Optional[int] = ..., pipeline: _Optional[str] = ..., connection: _Optional[str] = ..., project: _Optional[str] = ..., route_rule: _Optional[str] = ..., acted: _Optional[str] = ..., acted_by: _Optional[str] = ...) -> None: ...
