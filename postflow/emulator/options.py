"""What an emulator instance can be told at start: its default OAuth client, what it holds
before anyone calls (`seed`: users, accounts, workspaces, projects, more clients), token lifetimes, which
redirect URIs it accepts, rate limits, how the remote-upload puller fetches and how a refused
source is answered, local-upload part sizes, processing time, version-stack placement and the
timing of webhook deliveries.
Faults injected at run time (`/_emulator/faults`) override some of these per request."""

from __future__ import annotations

from dataclasses import dataclass, field

from postflow.emulator.seed import DEFAULT_SEED, SeedSpec

MIB = 1024 * 1024
DEV_CLIENT_ID = "postflow-dev"
DEV_CLIENT_SECRET = "postflow-dev-secret"
PULL_STRATEGIES = ("single", "ranges")
REFUSAL_STATUSES = (400, 422)
STACK_PLACEMENTS = ("head", "bottom")


@dataclass(frozen=True)
class PullStrategy:
    """`single`: one plain GET; `ranges`: `parallelism` concurrent Range GETs of `chunk_size`."""

    mode: str = "ranges"
    chunk_size: int = 8 * MIB
    parallelism: int = 4

    def __post_init__(self) -> None:
        if self.mode not in PULL_STRATEGIES:
            raise ValueError(f"pull strategy mode must be one of {PULL_STRATEGIES}, not {self.mode!r}")
        if self.chunk_size < 1 or self.parallelism < 1:
            raise ValueError("pull strategy chunk_size and parallelism must be at least 1")


@dataclass(frozen=True)
class EmulatorOptions:
    client_id: str = DEV_CLIENT_ID
    client_secret: str = DEV_CLIENT_SECRET
    seed: SeedSpec = DEFAULT_SEED
    access_token_ttl_s: int = 86399
    refresh_token_ttl_s: int = 14 * 86400  # absolute: counted from the login that started the grant
    allow_http_loopback_redirect: bool = False  # demo/test use only: IMS takes https redirect URIs only
    auth_code_ttl_s: int = 300
    rate_limits: bool = True
    pull: PullStrategy = field(default_factory=PullStrategy)
    pull_attempts: int = 3  # per range (or per file for a single GET), resuming where it stopped
    pull_timeout_s: float = 30.0
    pull_user_agent: str = "Frame.io-RemoteUpload/4 (PostFlow emulator)"
    remote_upload_max_bytes: int = 50 * 1000**3
    remote_upload_refusal: int = 400  # the status for an unreadable or oversize source_url
    local_upload_max_bytes: int = 5 * 1024**4
    upload_part_size: int = 20 * MIB  # 50,645,990 B → 3 parts, as in Frame.io's documented example
    upload_max_parts: int = 10_000  # above it, parts grow; nothing documents Frame.io's cap
    upload_url_ttl_s: int = 86400
    s3_reorder_buffer_bytes: int = 64 * MIB  # parts that arrive ahead of their turn wait here
    s3_part_wait_s: float = 60.0  # an early part with no room waits this long, then 503 SlowDown
    processing_delay_s: float = 1.0  # last byte (pushed or pulled) → upload_complete
    transcode_delay_s: float = 1.0  # upload_complete → status "transcoded"
    version_stack_placement: str = "head"  # where a file moved into a stack lands: "head" or "bottom"
    web_url: str = "https://next.frame.io"
    webhook_backoff_s: float = 15.0  # the first wait before a delivery is retried; doubles, with jitter
    webhook_deadline_s: float = 5.0  # a delivery not answered within it has failed

    def __post_init__(self) -> None:
        if self.remote_upload_refusal not in REFUSAL_STATUSES:
            raise ValueError(f"remote_upload_refusal must be one of {REFUSAL_STATUSES}")
        if self.version_stack_placement not in STACK_PLACEMENTS:
            raise ValueError(f"version_stack_placement must be one of {STACK_PLACEMENTS}")
        if self.webhook_backoff_s <= 0 or self.webhook_deadline_s <= 0:
            raise ValueError("webhook_backoff_s and webhook_deadline_s must be positive")
        if self.upload_part_size < 1 or self.upload_max_parts < 1:
            raise ValueError("upload_part_size and upload_max_parts must be at least 1")
