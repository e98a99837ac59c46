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

class VersionPolicy(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    VERSION_POLICY_UNSPECIFIED: _ClassVar[VersionPolicy]
    VERSION_POLICY_STACK: _ClassVar[VersionPolicy]
    VERSION_POLICY_SEPARATE: _ClassVar[VersionPolicy]

class JobEventKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    JOB_EVENT_KIND_UNSPECIFIED: _ClassVar[JobEventKind]
    JOB_EVENT_KIND_SNAPSHOT: _ClassVar[JobEventKind]
    JOB_EVENT_KIND_CREATED: _ClassVar[JobEventKind]
    JOB_EVENT_KIND_STATE: _ClassVar[JobEventKind]
    JOB_EVENT_KIND_PROGRESS: _ClassVar[JobEventKind]
    JOB_EVENT_KIND_SNAPSHOT_END: _ClassVar[JobEventKind]

class HistoryBucketSize(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    HISTORY_BUCKET_SIZE_UNSPECIFIED: _ClassVar[HistoryBucketSize]
    HISTORY_BUCKET_SIZE_HOUR: _ClassVar[HistoryBucketSize]
    HISTORY_BUCKET_SIZE_DAY: _ClassVar[HistoryBucketSize]
VERSION_POLICY_UNSPECIFIED: VersionPolicy
VERSION_POLICY_STACK: VersionPolicy
VERSION_POLICY_SEPARATE: VersionPolicy
JOB_EVENT_KIND_UNSPECIFIED: JobEventKind
JOB_EVENT_KIND_SNAPSHOT: JobEventKind
JOB_EVENT_KIND_CREATED: JobEventKind
JOB_EVENT_KIND_STATE: JobEventKind
JOB_EVENT_KIND_PROGRESS: JobEventKind
JOB_EVENT_KIND_SNAPSHOT_END: JobEventKind
HISTORY_BUCKET_SIZE_UNSPECIFIED: HistoryBucketSize
HISTORY_BUCKET_SIZE_HOUR: HistoryBucketSize
HISTORY_BUCKET_SIZE_DAY: HistoryBucketSize

class SubmitFileRequest(_message.Message):
    __slots__ = ("path", "destination", "version_policy", "mode")
    PATH_FIELD_NUMBER: _ClassVar[int]
    DESTINATION_FIELD_NUMBER: _ClassVar[int]
    VERSION_POLICY_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    path: str
    destination: str
    version_policy: VersionPolicy
    mode: _common_pb2.TransferMode
    def __init__(self, path: _Optional[str] = ..., destination: _Optional[str] = ..., version_policy: _Optional[_Union[VersionPolicy, str]] = ..., mode: _Optional[_Union[_common_pb2.TransferMode, str]] = ...) -> None: ...

class GetJobRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class ListJobsRequest(_message.Message):
    __slots__ = ("states", "pipelines", "search", "path_prefix", "page_size", "page_token")
    STATES_FIELD_NUMBER: _ClassVar[int]
    PIPELINES_FIELD_NUMBER: _ClassVar[int]
    SEARCH_FIELD_NUMBER: _ClassVar[int]
    PATH_PREFIX_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    states: _containers.RepeatedScalarFieldContainer[_common_pb2.JobState]
    pipelines: _containers.RepeatedScalarFieldContainer[str]
    search: str
    path_prefix: str
    page_size: int
    page_token: str
    def __init__(self, states: _Optional[_Iterable[_Union[_common_pb2.JobState, str]]] = ..., pipelines: _Optional[_Iterable[str]] = ..., search: _Optional[str] = ..., path_prefix: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListJobsResponse(_message.Message):
    __slots__ = ("jobs", "next_page_token", "total")
    JOBS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    jobs: _containers.RepeatedCompositeFieldContainer[_common_pb2.Job]
    next_page_token: str
    total: int
    def __init__(self, jobs: _Optional[_Iterable[_Union[_common_pb2.Job, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., total: _Optional[int] = ...) -> None: ...

class WatchJobsRequest(_message.Message):
    __slots__ = ("after_seq",)
    AFTER_SEQ_FIELD_NUMBER: _ClassVar[int]
    after_seq: int
    def __init__(self, after_seq: _Optional[int] = ...) -> None: ...

class JobEvent(_message.Message):
    __slots__ = ("seq", "kind", "job", "message", "at", "totals")
    SEQ_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    JOB_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    AT_FIELD_NUMBER: _ClassVar[int]
    TOTALS_FIELD_NUMBER: _ClassVar[int]
    seq: int
    kind: JobEventKind
    job: _common_pb2.Job
    message: str
    at: _timestamp_pb2.Timestamp
    totals: JobTotals
    def __init__(self, seq: _Optional[int] = ..., kind: _Optional[_Union[JobEventKind, str]] = ..., job: _Optional[_Union[_common_pb2.Job, _Mapping]] = ..., message: _Optional[str] = ..., at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., totals: _Optional[_Union[JobTotals, _Mapping]] = ...) -> None: ...

class JobTotals(_message.Message):
    __slots__ = ("jobs_by_state", "files_delivered", "bytes_delivered")
    class JobsByStateEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    JOBS_BY_STATE_FIELD_NUMBER: _ClassVar[int]
    FILES_DELIVERED_FIELD_NUMBER: _ClassVar[int]
    BYTES_DELIVERED_FIELD_NUMBER: _ClassVar[int]
    jobs_by_state: _containers.ScalarMap[str, int]
    files_delivered: int
    bytes_delivered: int
    def __init__(self, jobs_by_state: _Optional[_Mapping[str, int]] = ..., files_delivered: _Optional[int] = ..., bytes_delivered: _Optional[int] = ...) -> None: ...

class RetryJobRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class CancelJobRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class GetStatsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class Stats(_message.Message):
    __slots__ = ("jobs_by_state", "bytes_delivered", "files_delivered", "files_seen", "last_scan_at", "last_scan_s", "watch_root", "last_seq", "watch_root_available", "watch_root_problem")
    class JobsByStateEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    JOBS_BY_STATE_FIELD_NUMBER: _ClassVar[int]
    BYTES_DELIVERED_FIELD_NUMBER: _ClassVar[int]
    FILES_DELIVERED_FIELD_NUMBER: _ClassVar[int]
    FILES_SEEN_FIELD_NUMBER: _ClassVar[int]
    LAST_SCAN_AT_FIELD_NUMBER: _ClassVar[int]
    LAST_SCAN_S_FIELD_NUMBER: _ClassVar[int]
    WATCH_ROOT_FIELD_NUMBER: _ClassVar[int]
    LAST_SEQ_FIELD_NUMBER: _ClassVar[int]
    WATCH_ROOT_AVAILABLE_FIELD_NUMBER: _ClassVar[int]
    WATCH_ROOT_PROBLEM_FIELD_NUMBER: _ClassVar[int]
    jobs_by_state: _containers.ScalarMap[str, int]
    bytes_delivered: int
    files_delivered: int
    files_seen: int
    last_scan_at: _timestamp_pb2.Timestamp
    last_scan_s: float
    watch_root: str
    last_seq: int
    watch_root_available: bool
    watch_root_problem: str
    def __init__(self, jobs_by_state: _Optional[_Mapping[str, int]] = ..., bytes_delivered: _Optional[int] = ..., files_delivered: _Optional[int] = ..., files_seen: _Optional[int] = ..., last_scan_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_scan_s: _Optional[float] = ..., watch_root: _Optional[str] = ..., last_seq: _Optional[int] = ..., watch_root_available: _Optional[bool] = ..., watch_root_problem: _Optional[str] = ...) -> None: ...

class ApiKey(_message.Message):
    __slots__ = ("name", "scopes", "created_at", "last_used_at", "revoked_at")
    NAME_FIELD_NUMBER: _ClassVar[int]
    SCOPES_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    LAST_USED_AT_FIELD_NUMBER: _ClassVar[int]
    REVOKED_AT_FIELD_NUMBER: _ClassVar[int]
    name: str
    scopes: _containers.RepeatedScalarFieldContainer[str]
    created_at: _timestamp_pb2.Timestamp
    last_used_at: _timestamp_pb2.Timestamp
    revoked_at: _timestamp_pb2.Timestamp
    def __init__(self, name: _Optional[str] = ..., scopes: _Optional[_Iterable[str]] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_used_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., revoked_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CreateApiKeyRequest(_message.Message):
    __slots__ = ("name", "scopes")
    NAME_FIELD_NUMBER: _ClassVar[int]
    SCOPES_FIELD_NUMBER: _ClassVar[int]
    name: str
    scopes: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, name: _Optional[str] = ..., scopes: _Optional[_Iterable[str]] = ...) -> None: ...

class CreateApiKeyResponse(_message.Message):
    __slots__ = ("key", "api_key")
    KEY_FIELD_NUMBER: _ClassVar[int]
    API_KEY_FIELD_NUMBER: _ClassVar[int]
    key: str
    api_key: ApiKey
    def __init__(self, key: _Optional[str] = ..., api_key: _Optional[_Union[ApiKey, _Mapping]] = ...) -> None: ...

class ListApiKeysRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListApiKeysResponse(_message.Message):
    __slots__ = ("api_keys",)
    API_KEYS_FIELD_NUMBER: _ClassVar[int]
    api_keys: _containers.RepeatedCompositeFieldContainer[ApiKey]
    def __init__(self, api_keys: _Optional[_Iterable[_Union[ApiKey, _Mapping]]] = ...) -> None: ...

class RevokeApiKeyRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class ListPipelinesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class PipelineStatus(_message.Message):
    __slots__ = ("name", "root", "connection", "project", "jobs_by_state", "unrouted", "waiting_on_start", "root_available", "root_problem", "on_start", "after_delivery")
    class JobsByStateEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    ROOT_FIELD_NUMBER: _ClassVar[int]
    CONNECTION_FIELD_NUMBER: _ClassVar[int]
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    JOBS_BY_STATE_FIELD_NUMBER: _ClassVar[int]
    UNROUTED_FIELD_NUMBER: _ClassVar[int]
    WAITING_ON_START_FIELD_NUMBER: _ClassVar[int]
    ROOT_AVAILABLE_FIELD_NUMBER: _ClassVar[int]
    ROOT_PROBLEM_FIELD_NUMBER: _ClassVar[int]
    ON_START_FIELD_NUMBER: _ClassVar[int]
    AFTER_DELIVERY_FIELD_NUMBER: _ClassVar[int]
    name: str
    root: str
    connection: str
    project: str
    jobs_by_state: _containers.ScalarMap[str, int]
    unrouted: int
    waiting_on_start: int
    root_available: bool
    root_problem: str
    on_start: str
    after_delivery: str
    def __init__(self, name: _Optional[str] = ..., root: _Optional[str] = ..., connection: _Optional[str] = ..., project: _Optional[str] = ..., jobs_by_state: _Optional[_Mapping[str, int]] = ..., unrouted: _Optional[int] = ..., waiting_on_start: _Optional[int] = ..., root_available: _Optional[bool] = ..., root_problem: _Optional[str] = ..., on_start: _Optional[str] = ..., after_delivery: _Optional[str] = ...) -> None: ...

class ListPipelinesResponse(_message.Message):
    __slots__ = ("pipelines",)
    PIPELINES_FIELD_NUMBER: _ClassVar[int]
    pipelines: _containers.RepeatedCompositeFieldContainer[PipelineStatus]
    def __init__(self, pipelines: _Optional[_Iterable[_Union[PipelineStatus, _Mapping]]] = ...) -> None: ...

class ListUnroutedRequest(_message.Message):
    __slots__ = ("pipeline", "page_size", "page_token", "pipelines")
    PIPELINE_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    PIPELINES_FIELD_NUMBER: _ClassVar[int]
    pipeline: str
    page_size: int
    page_token: str
    pipelines: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, pipeline: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., pipelines: _Optional[_Iterable[str]] = ...) -> None: ...

class UnroutedFile(_message.Message):
    __slots__ = ("pipeline", "path", "size", "reason", "seen_at")
    PIPELINE_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    SEEN_AT_FIELD_NUMBER: _ClassVar[int]
    pipeline: str
    path: str
    size: int
    reason: str
    seen_at: _timestamp_pb2.Timestamp
    def __init__(self, pipeline: _Optional[str] = ..., path: _Optional[str] = ..., size: _Optional[int] = ..., reason: _Optional[str] = ..., seen_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ListUnroutedResponse(_message.Message):
    __slots__ = ("files", "next_page_token", "total")
    FILES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    files: _containers.RepeatedCompositeFieldContainer[UnroutedFile]
    next_page_token: str
    total: int
    def __init__(self, files: _Optional[_Iterable[_Union[UnroutedFile, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., total: _Optional[int] = ...) -> None: ...

class RescanRequest(_message.Message):
    __slots__ = ("pipeline", "upload_existing")
    PIPELINE_FIELD_NUMBER: _ClassVar[int]
    UPLOAD_EXISTING_FIELD_NUMBER: _ClassVar[int]
    pipeline: str
    upload_existing: bool
    def __init__(self, pipeline: _Optional[str] = ..., upload_existing: _Optional[bool] = ...) -> None: ...

class RescanResponse(_message.Message):
    __slots__ = ("queued",)
    QUEUED_FIELD_NUMBER: _ClassVar[int]
    queued: int
    def __init__(self, queued: _Optional[int] = ...) -> None: ...

class ReloadConfigRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ReloadConfigResponse(_message.Message):
    __slots__ = ("added", "removed", "changed")
    ADDED_FIELD_NUMBER: _ClassVar[int]
    REMOVED_FIELD_NUMBER: _ClassVar[int]
    CHANGED_FIELD_NUMBER: _ClassVar[int]
    added: _containers.RepeatedScalarFieldContainer[str]
    removed: _containers.RepeatedScalarFieldContainer[str]
    changed: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, added: _Optional[_Iterable[str]] = ..., removed: _Optional[_Iterable[str]] = ..., changed: _Optional[_Iterable[str]] = ...) -> None: ...

class GetHistoryRequest(_message.Message):
    __slots__ = ("start", "end", "bucket", "pipelines")
    START_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    BUCKET_FIELD_NUMBER: _ClassVar[int]
    PIPELINES_FIELD_NUMBER: _ClassVar[int]
    start: _timestamp_pb2.Timestamp
    end: _timestamp_pb2.Timestamp
    bucket: HistoryBucketSize
    pipelines: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, start: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., bucket: _Optional[_Union[HistoryBucketSize, str]] = ..., pipelines: _Optional[_Iterable[str]] = ...) -> None: ...

class HistoryCounts(_message.Message):
    __slots__ = ("pipeline", "deliveries", "bytes", "failures", "median_s", "p95_s")
    PIPELINE_FIELD_NUMBER: _ClassVar[int]
    DELIVERIES_FIELD_NUMBER: _ClassVar[int]
    BYTES_FIELD_NUMBER: _ClassVar[int]
    FAILURES_FIELD_NUMBER: _ClassVar[int]
    MEDIAN_S_FIELD_NUMBER: _ClassVar[int]
    P95_S_FIELD_NUMBER: _ClassVar[int]
    pipeline: str
    deliveries: int
    bytes: int
    failures: int
    median_s: float
    p95_s: float
    def __init__(self, pipeline: _Optional[str] = ..., deliveries: _Optional[int] = ..., bytes: _Optional[int] = ..., failures: _Optional[int] = ..., median_s: _Optional[float] = ..., p95_s: _Optional[float] = ...) -> None: ...

class HistoryBucket(_message.Message):
    __slots__ = ("start", "all", "pipelines")
    START_FIELD_NUMBER: _ClassVar[int]
    ALL_FIELD_NUMBER: _ClassVar[int]
    PIPELINES_FIELD_NUMBER: _ClassVar[int]
    start: _timestamp_pb2.Timestamp
    all: HistoryCounts
    pipelines: _containers.RepeatedCompositeFieldContainer[HistoryCounts]
    def __init__(self, start: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., all: _Optional[_Union[HistoryCounts, _Mapping]] = ..., pipelines: _Optional[_Iterable[_Union[HistoryCounts, _Mapping]]] = ...) -> None: ...

class FailureCause(_message.Message):
    __slots__ = ("cause", "pipeline", "count", "example", "last_at")
    CAUSE_FIELD_NUMBER: _ClassVar[int]
    PIPELINE_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    EXAMPLE_FIELD_NUMBER: _ClassVar[int]
    LAST_AT_FIELD_NUMBER: _ClassVar[int]
    cause: str
    pipeline: str
    count: int
    example: str
    last_at: _timestamp_pb2.Timestamp
    def __init__(self, cause: _Optional[str] = ..., pipeline: _Optional[str] = ..., count: _Optional[int] = ..., example: _Optional[str] = ..., last_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class GetHistoryResponse(_message.Message):
    __slots__ = ("buckets", "all", "pipelines", "failure_causes", "capped")
    BUCKETS_FIELD_NUMBER: _ClassVar[int]
    ALL_FIELD_NUMBER: _ClassVar[int]
    PIPELINES_FIELD_NUMBER: _ClassVar[int]
    FAILURE_CAUSES_FIELD_NUMBER: _ClassVar[int]
    CAPPED_FIELD_NUMBER: _ClassVar[int]
    buckets: _containers.RepeatedCompositeFieldContainer[HistoryBucket]
    all: HistoryCounts
    pipelines: _containers.RepeatedCompositeFieldContainer[HistoryCounts]
    failure_causes: _containers.RepeatedCompositeFieldContainer[FailureCause]
    capped: bool
    def __init__(self, buckets: _Optional[_Iterable[_Union[HistoryBucket, _Mapping]]] = ..., all: _Optional[_Union[HistoryCounts, _Mapping]] = ..., pipelines: _Optional[_Iterable[_Union[HistoryCounts, _Mapping]]] = ..., failure_causes: _Optional[_Iterable[_Union[FailureCause, _Mapping]]] = ..., capped: _Optional[bool] = ...) -> None: ...

class ListDeliveriesRequest(_message.Message):
    __slots__ = ("limit",)
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    limit: int
    def __init__(self, limit: _Optional[int] = ...) -> None: ...

class Delivery(_message.Message):
    __slots__ = ("id", "kind", "target", "event", "status", "idempotency_key", "attempts", "last_error", "created_at", "next_attempt_at", "sent_at", "job_id", "path", "pipeline")
    ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    EVENT_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    LAST_ERROR_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    NEXT_ATTEMPT_AT_FIELD_NUMBER: _ClassVar[int]
    SENT_AT_FIELD_NUMBER: _ClassVar[int]
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    PIPELINE_FIELD_NUMBER: _ClassVar[int]
    id: int
    kind: str
    target: str
    event: str
    status: str
    idempotency_key: str
    attempts: int
    last_error: str
    created_at: _timestamp_pb2.Timestamp
    next_attempt_at: _timestamp_pb2.Timestamp
    sent_at: _timestamp_pb2.Timestamp
    job_id: str
    path: str
    pipeline: str
    def __init__(self, id: _Optional[int] = ..., kind: _Optional[str] = ..., target: _Optional[str] = ..., event: _Optional[str] = ..., status: _Optional[str] = ..., idempotency_key: _Optional[str] = ..., attempts: _Optional[int] = ..., last_error: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., next_attempt_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., sent_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., job_id: _Optional[str] = ..., path: _Optional[str] = ..., pipeline: _Optional[str] = ...) -> None: ...

class ListDeliveriesResponse(_message.Message):
    __slots__ = ("deliveries",)
    DELIVERIES_FIELD_NUMBER: _ClassVar[int]
    deliveries: _containers.RepeatedCompositeFieldContainer[Delivery]
    def __init__(self, deliveries: _Optional[_Iterable[_Union[Delivery, _Mapping]]] = ...) -> None: ...

class ReplayDeliveryRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: int
    def __init__(self, id: _Optional[int] = ...) -> None: ...

class FrameioWebhookDelivery(_message.Message):
    __slots__ = ("hook", "timestamp", "signature", "body", "remote_address")
    HOOK_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    BODY_FIELD_NUMBER: _ClassVar[int]
    REMOTE_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    hook: str
    timestamp: str
    signature: str
    body: bytes
    remote_address: str
    def __init__(self, hook: _Optional[str] = ..., timestamp: _Optional[str] = ..., signature: _Optional[str] = ..., body: _Optional[bytes] = ..., remote_address: _Optional[str] = ...) -> None: ...

class FrameioWebhookReceipt(_message.Message):
    __slots__ = ("outcome", "reason")
    class Outcome(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        OUTCOME_UNSPECIFIED: _ClassVar[FrameioWebhookReceipt.Outcome]
        ACCEPTED: _ClassVar[FrameioWebhookReceipt.Outcome]
        DUPLICATE: _ClassVar[FrameioWebhookReceipt.Outcome]
        IGNORED: _ClassVar[FrameioWebhookReceipt.Outcome]
        BAD_SIGNATURE: _ClassVar[FrameioWebhookReceipt.Outcome]
        STALE: _ClassVar[FrameioWebhookReceipt.Outcome]
        UNKNOWN_HOOK: _ClassVar[FrameioWebhookReceipt.Outcome]
        MALFORMED: _ClassVar[FrameioWebhookReceipt.Outcome]
    OUTCOME_UNSPECIFIED: FrameioWebhookReceipt.Outcome
    ACCEPTED: FrameioWebhookReceipt.Outcome
    DUPLICATE: FrameioWebhookReceipt.Outcome
    IGNORED: FrameioWebhookReceipt.Outcome
    BAD_SIGNATURE: FrameioWebhookReceipt.Outcome
    STALE: FrameioWebhookReceipt.Outcome
    UNKNOWN_HOOK: FrameioWebhookReceipt.Outcome
    MALFORMED: FrameioWebhookReceipt.Outcome
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    outcome: FrameioWebhookReceipt.Outcome
    reason: str
    def __init__(self, outcome: _Optional[_Union[FrameioWebhookReceipt.Outcome, str]] = ..., reason: _Optional[str] = ...) -> None: ...

class SetupFrameioWebhooksRequest(_message.Message):
    __slots__ = ("connection", "public_url", "dry_run")
    CONNECTION_FIELD_NUMBER: _ClassVar[int]
    PUBLIC_URL_FIELD_NUMBER: _ClassVar[int]
    DRY_RUN_FIELD_NUMBER: _ClassVar[int]
    connection: str
    public_url: str
    dry_run: bool
    def __init__(self, connection: _Optional[str] = ..., public_url: _Optional[str] = ..., dry_run: _Optional[bool] = ...) -> None: ...

class FrameioWebhookRegistration(_message.Message):
    __slots__ = ("connection", "account_id", "workspace_id", "workspace_name", "webhook_id", "url", "events", "outcome")
    CONNECTION_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    WORKSPACE_NAME_FIELD_NUMBER: _ClassVar[int]
    WEBHOOK_ID_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    connection: str
    account_id: str
    workspace_id: str
    workspace_name: str
    webhook_id: str
    url: str
    events: _containers.RepeatedScalarFieldContainer[str]
    outcome: str
    def __init__(self, connection: _Optional[str] = ..., account_id: _Optional[str] = ..., workspace_id: _Optional[str] = ..., workspace_name: _Optional[str] = ..., webhook_id: _Optional[str] = ..., url: _Optional[str] = ..., events: _Optional[_Iterable[str]] = ..., outcome: _Optional[str] = ...) -> None: ...

class SetupFrameioWebhooksResponse(_message.Message):
    __slots__ = ("registrations",)
    REGISTRATIONS_FIELD_NUMBER: _ClassVar[int]
    registrations: _containers.RepeatedCompositeFieldContainer[FrameioWebhookRegistration]
    def __init__(self, registrations: _Optional[_Iterable[_Union[FrameioWebhookRegistration, _Mapping]]] = ...) -> None: ...

class GetReviewRequest(_message.Message):
    __slots__ = ("job_id", "path", "pipeline", "refresh")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    PIPELINE_FIELD_NUMBER: _ClassVar[int]
    REFRESH_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    path: str
    pipeline: str
    refresh: bool
    def __init__(self, job_id: _Optional[str] = ..., path: _Optional[str] = ..., pipeline: _Optional[str] = ..., refresh: _Optional[bool] = ...) -> None: ...

class ReviewComment(_message.Message):
    __slots__ = ("id", "text", "frame", "duration_frames", "author", "author_email", "created_at", "completed", "completed_at", "link", "carried_from", "version")
    ID_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    FRAME_FIELD_NUMBER: _ClassVar[int]
    DURATION_FRAMES_FIELD_NUMBER: _ClassVar[int]
    AUTHOR_FIELD_NUMBER: _ClassVar[int]
    AUTHOR_EMAIL_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    COMPLETED_FIELD_NUMBER: _ClassVar[int]
    COMPLETED_AT_FIELD_NUMBER: _ClassVar[int]
    LINK_FIELD_NUMBER: _ClassVar[int]
    CARRIED_FROM_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    id: str
    text: str
    frame: int
    duration_frames: int
    author: str
    author_email: str
    created_at: _timestamp_pb2.Timestamp
    completed: bool
    completed_at: _timestamp_pb2.Timestamp
    link: str
    carried_from: str
    version: int
    def __init__(self, id: _Optional[str] = ..., text: _Optional[str] = ..., frame: _Optional[int] = ..., duration_frames: _Optional[int] = ..., author: _Optional[str] = ..., author_email: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., completed: _Optional[bool] = ..., completed_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., link: _Optional[str] = ..., carried_from: _Optional[str] = ..., version: _Optional[int] = ...) -> None: ...

class MediaTiming(_message.Message):
    __slots__ = ("rate_numerator", "rate_denominator", "drop_frame", "start_frame", "duration_frames", "source")
    RATE_NUMERATOR_FIELD_NUMBER: _ClassVar[int]
    RATE_DENOMINATOR_FIELD_NUMBER: _ClassVar[int]
    DROP_FRAME_FIELD_NUMBER: _ClassVar[int]
    START_FRAME_FIELD_NUMBER: _ClassVar[int]
    DURATION_FRAMES_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    rate_numerator: int
    rate_denominator: int
    drop_frame: bool
    start_frame: int
    duration_frames: int
    source: str
    def __init__(self, rate_numerator: _Optional[int] = ..., rate_denominator: _Optional[int] = ..., drop_frame: _Optional[bool] = ..., start_frame: _Optional[int] = ..., duration_frames: _Optional[int] = ..., source: _Optional[str] = ...) -> None: ...

class Review(_message.Message):
    __slots__ = ("job", "comments", "timing", "review_status", "synced_at")
    JOB_FIELD_NUMBER: _ClassVar[int]
    COMMENTS_FIELD_NUMBER: _ClassVar[int]
    TIMING_FIELD_NUMBER: _ClassVar[int]
    REVIEW_STATUS_FIELD_NUMBER: _ClassVar[int]
    SYNCED_AT_FIELD_NUMBER: _ClassVar[int]
    job: _common_pb2.Job
    comments: _containers.RepeatedCompositeFieldContainer[ReviewComment]
    timing: MediaTiming
    review_status: str
    synced_at: _timestamp_pb2.Timestamp
    def __init__(self, job: _Optional[_Union[_common_pb2.Job, _Mapping]] = ..., comments: _Optional[_Iterable[_Union[ReviewComment, _Mapping]]] = ..., timing: _Optional[_Union[MediaTiming, _Mapping]] = ..., review_status: _Optional[str] = ..., synced_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...
