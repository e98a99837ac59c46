"""PostFlow configuration: one typed, frozen object, validated at start.

Sources, later ones winning: built-in defaults, the JSON file, then environment variables
`POSTFLOW__SECTION__KEY` (nested: `POSTFLOW__STREAMER__TUNNEL__MODE`; a value is read as JSON
when it parses, else as a string). A list may also be written `a,b`. Any key may be given as
`<key>_file` in JSON or `…_FILE` in the environment: the file's content is used.
The sections are frozen pydantic dataclasses; every error names the key it is about.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import TypeAdapter, ValidationError, model_validator
from pydantic.dataclasses import dataclass

from postflow.core.config_types import (
    SECTION,
    Address,
    AtLeastOne,
    BandwidthLimit,
    ConfigError,
    Flag,
    HttpUrl,
    KeyProblem,
    LogLevel,
    NonNegativeSeconds,
    OptionalAddress,
    PositiveSeconds,
    Proxies,
    Seconds,
    Section,
    Strings,
    WholeNumber,
    describe,
    parse_address,
)
from postflow.core.net import WILDCARDS, http_url, is_loopback
from postflow.core.oidc_config import OidcConfig
from postflow.core.outbound_config import (
    Notifications,
    OutboundConfig,
    Webhooks,
    check_rules,
)
from postflow.core.pipelines import ConnectionConfig, PipelineConfig, check_pipelines, pipelines_of
from postflow.core.review_config import ReviewConfig

ENV_PREFIX = "POSTFLOW__"
CONFIG_ENV = "POSTFLOW_CONFIG"
V3_KEYS = ("server_to_server", "private_key_path", "manual_token_refresh")
REMOTE_UPLOAD_MAX_BYTES = 50 * 1000**3  # Frame.io: "Remote upload currently has a 50 GB file size limit"


@dataclass(frozen=True, config=SECTION)
class FrameioConfig(Section):
    oauth_web_app: Flag = True
    client_credentials: Flag = False  # server-to-server (Admin-Console-managed accounts)
    client_id: str = ""
    client_secret: str = dataclasses.field(default="", repr=False)
    auto_token_refresh: Flag = True
    api_version: Literal["v4"] = "v4"
    redirect_uri: HttpUrl = "https://localhost:8000/auth/callback"
    scopes: str = "openid email profile offline_access additional_info.roles"
    account_id: str = ""
    project_id: str = ""
    api_base_url: HttpUrl = "https://api.frame.io"
    ims_base_url: HttpUrl = "https://ims-na1.adobelogin.com"
    request_timeout_s: Seconds = 60.0
    server_error_backoff_s: PositiveSeconds = 30.0  # least wait after a 5xx/network error (Frame.io asks >= 30 s)

    @model_validator(mode="after")
    def check_login(self) -> FrameioConfig:
        if not self.oauth_web_app and not self.client_credentials:
            raise KeyProblem("oauth_web_app", "set it to true (or frameio.client_credentials for server-to-server)")
        return self


@dataclass(frozen=True, config=SECTION)
class AuthConfig(Section):
    token_key: str | None = dataclasses.field(default=None, repr=False)  # Fernet key; generated if absent
    refresh_margin_s: NonNegativeSeconds = 300.0  # refresh this long before expiry
    login_ttl_s: PositiveSeconds = 600.0  # how long an authorization `state` stays valid
    refresh_token_lifetime_s: PositiveSeconds = 14 * 86400.0  # IMS: from login, not extended by refreshing
    relogin_warning_s: NonNegativeSeconds = 2 * 86400.0  # warn this long before the re-login deadline


@dataclass(frozen=True, config=SECTION)
class WatchConfig(Section):
    root: str = ""
    include: Strings = ("*",)
    exclude: Strings = (".*", "*.tmp", "*.part", "~*")
    poll_interval_s: PositiveSeconds = 2.0
    stable_after_s: PositiveSeconds = 10.0
    mirror_folders: Flag = True
    version_stacks: Flag = True
    max_concurrent: AtLeastOne = 4
    max_attempts: AtLeastOne = 5
    backoff_base_s: PositiveSeconds = 2.0
    backoff_max_s: PositiveSeconds = 300.0
    status_poll_s: PositiveSeconds = 1.0
    processing_timeout_s: PositiveSeconds = 6 * 3600.0  # after the last byte, how long Frame.io may process
    inotify: Flag = False  # local disks only: kernel events shorten the wait for the next poll
    unresponsive_after_s: PositiveSeconds = 30.0  # a scan with no answer from the root this long: "not answering"


@dataclass(frozen=True, config=SECTION)
class TransferConfig(Section):
    mode: Literal["auto", "pull", "push"] = "auto"
    part_concurrency: AtLeastOne = 5
    pull_max_bytes: WholeNumber = REMOTE_UPLOAD_MAX_BYTES
    part_retries: WholeNumber = 5
    bwlimit: BandwidthLimit = "off"  # rclone's --bwlimit syntax: "off", "20M", "08:00,20M 19:00,off"

    @model_validator(mode="after")
    def check_pull_max_bytes(self) -> TransferConfig:
        if self.pull_max_bytes > REMOTE_UPLOAD_MAX_BYTES:
            raise KeyProblem("pull_max_bytes", f"at most {REMOTE_UPLOAD_MAX_BYTES} (Frame.io's remote upload "
                                               f"limit is 50 GB; larger files are pushed)")
        return self


@dataclass(frozen=True, config=SECTION)
class TunnelConfig(Section):
    mode: Literal["quick", "named", "none"] = "quick"
    cloudflared: str = "cloudflared"  # "" = cloudflared runs on its own (compose); read `metrics`
    token: str | None = dataclasses.field(default=None, repr=False)
    public_base_url: str | None = None
    metrics: Address = "127.0.0.1:0"
    restart_backoff_max_s: Seconds = 60.0

    @model_validator(mode="after")
    def check_mode(self) -> TunnelConfig:
        if self.mode == "quick" and not self.cloudflared and parse_address(self.metrics)[1] == 0:
            raise KeyProblem("metrics", "the address of the cloudflared that runs on its own "
                                        "(cloudflared is \"\"), with its port")
        if self.mode == "named" and not self.public_base_url:
            raise KeyProblem("public_base_url", "a named tunnel needs its public hostname")
        if self.mode == "named" and self.cloudflared and not self.token:
            raise KeyProblem("token", "required to run a named tunnel (or set cloudflared to \"\" "
                                      "when cloudflared runs on its own, as in compose)")
        return self


@dataclass(frozen=True, config=SECTION)
class StreamerConfig(Section):
    listen: Address = "127.0.0.1:8080"
    ticket_ttl_s: AtLeastOne = 86400
    max_ranges: WholeNumber = 16
    max_connections_per_publication: WholeNumber = 32
    tunnel: TunnelConfig = TunnelConfig()


@dataclass(frozen=True, config=SECTION)
class DashboardConfig(Section):
    listen: Address = "127.0.0.1:8000"
    access_token: str | None = dataclasses.field(default=None, repr=False)
    # Reverse proxies whose X-Forwarded-Proto/-For are believed (so cookies get Secure
    # behind TLS and the client's own address is checked): addresses, networks or "*".
    trusted_proxies: Proxies = ("127.0.0.1",)
    # HTTPS (see dashboard_tls): "auto" serves a self-signed certificate when
    # frameio.redirect_uri is https and points at this dashboard; tls_cert + tls_key (PEM
    # paths) serve that certificate instead.
    tls: Literal["auto", "self-signed", "off"] = "auto"
    tls_cert: str = ""
    tls_key: str = ""
    oidc: OidcConfig | None = None  # sign-in with an OpenID Connect provider (postflow.core.oidc_config)

    @model_validator(mode="after")
    def check_tls(self) -> DashboardConfig:
        for key in ("tls_cert", "tls_key"):
            if getattr(self, key).lstrip().startswith("-----BEGIN"):
                raise KeyProblem(key, f"holds PEM text, not a path: give the file's path in {key} "
                                      f"({key}_file would read the file into it)")
        if bool(self.tls_cert) != bool(self.tls_key):
            missing, given = ("tls_key", "tls_cert") if self.tls_cert else ("tls_cert", "tls_key")
            raise KeyProblem(missing, f"required with {given} (the certificate chain and its private key, PEM files)")
        if self.tls_cert and self.tls != "auto":
            raise KeyProblem("tls", f'"{self.tls}" contradicts tls_cert/tls_key; leave it "auto" to serve them')
        return self


@dataclass(frozen=True, config=SECTION)
class ServicesConfig(Section):
    auth: Address = "localhost:50051"
    watcher: Address = "localhost:50052"
    streamer: Address = "localhost:50053"


@dataclass(frozen=True, config=SECTION)
class MeshConfig(Section):
    # Mutual TLS on every service's gRPC port (postflow.core.mesh). Off, every caller is
    # trusted with everything: for a lab only.
    mtls: Flag = True
    certs_dir: str = ""  # the CA and each identity's certificate; default <state_dir>/certs
    # The watcher's job API for other tools: TLS and API keys (bearer); "" turns it off.
    api_listen: OptionalAddress = "localhost:50054"


@dataclass(frozen=True, config=SECTION)
class MetricsConfig(Section):
    # Where each service serves Prometheus metrics at /metrics (HOST:PORT); "" = off.
    auth: OptionalAddress = ""
    watcher: OptionalAddress = ""
    streamer: OptionalAddress = ""
    dashboard: OptionalAddress = ""


@dataclass(frozen=True, config=SECTION)
class Config(Section):
    frameio: FrameioConfig = FrameioConfig()
    auth: AuthConfig = AuthConfig()
    watch: WatchConfig = WatchConfig()
    transfer: TransferConfig = TransferConfig()
    streamer: StreamerConfig = StreamerConfig()
    dashboard: DashboardConfig = DashboardConfig()
    services: ServicesConfig = ServicesConfig()
    mesh: MeshConfig = MeshConfig()
    metrics: MetricsConfig = MetricsConfig()
    connections: dict[str, ConnectionConfig] = dataclasses.field(default_factory=dict)
    pipelines: tuple[PipelineConfig, ...] = ()
    notifications: Notifications = ()
    webhooks: Webhooks = ()
    outbound: OutboundConfig = OutboundConfig()
    review: ReviewConfig = ReviewConfig()
    state_dir: str = "~/.local/state/postflow"
    log_level: LogLevel = "INFO"

    @model_validator(mode="after")
    def check_pipelines(self) -> Config:
        check_pipelines(self)
        check_rules(self, {pipeline.name for pipeline in pipelines_of(self)})
        return self

    @property
    def state_path(self) -> Path:
        return Path(self.state_dir).expanduser()

    @property
    def certs_path(self) -> Path:
        return Path(self.mesh.certs_dir).expanduser() if self.mesh.certs_dir else self.state_path / "certs"


def load_config(path: str | os.PathLike | None = None, env: Mapping[str, str] | None = None) -> Config:
    """Loads, merges and validates; raises ConfigError naming the bad key."""
    env = os.environ if env is None else env
    path = path or env.get(CONFIG_ENV)
    raw: dict[str, Any] = {}
    if path:
        raw = read_json_file(Path(path))
    reject_v3(raw)
    merge_env(raw, env)
    return build_config(raw)


def read_json_file(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"config file {path}: {exc.strerror}") from None
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"config file {path}: invalid JSON at line {exc.lineno}: {exc.msg}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"config file {path}: the top level must be an object")
    return raw


def reject_v3(raw: Mapping[str, Any]) -> None:
    frameio = raw.get("frameio")
    if isinstance(frameio, dict):
        found = [k for k in V3_KEYS if k in frameio]
        if found:
            raise ConfigError(
                f"frameio.{found[0]}: this is a v3 (server-to-server) config; "
                "convert it with `postflow migrate-config OLD -o NEW`"
            )


def merge_env(raw: dict[str, Any], env: Mapping[str, str]) -> None:
    for name, value in env.items():
        if not name.startswith(ENV_PREFIX):
            continue
        parts = [p.lower() for p in name[len(ENV_PREFIX):].split("__") if p]
        if not parts:
            continue
        node = raw
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f"{name}: {'.'.join(parts[:-1])} is not a section")
            node = child
        node[parts[-1]] = parse_env_value(value)


def parse_env_value(value: str) -> Any:
    try:
        return json.loads(value)
    except json.JSONDecodeError:
        return value


def build_config(data: Mapping[str, Any]) -> Config:
    """The config that `data` (the JSON layout) describes; raises ConfigError naming each bad key."""
    try:
        return TypeAdapter(Config).validate_python(data)
    except ValidationError as exc:
        raise ConfigError("; ".join(describe(error) for error in exc.errors())) from None


def split_address(address: str, key: str) -> tuple[str, int]:
    try:
        return parse_address(address)
    except ValueError as exc:
        raise ConfigError(f"{key}: {exc}") from None


def local_url(address: str, key: str) -> str:
    """The http:// URL of a server listening on `address` (HOST:PORT), seen from this machine."""
    return http_url(*split_address(address, key))


def redirect_reaches_dashboard(config: Config, listen: str | None = None) -> bool:
    """Whether frameio.redirect_uri sends the browser to the dashboard listening on `listen`
    (default dashboard.listen): the same port, and the host it listens on (a loopback name
    for a loopback address), or any host when it listens on all of them."""
    redirect = urlsplit(config.frameio.redirect_uri)
    host, port = split_address(listen or config.dashboard.listen, "dashboard.listen")
    redirect_port = redirect.port or (443 if redirect.scheme == "https" else 80)
    redirect_host = redirect.hostname or ""
    same_host = redirect_host == host or (is_loopback(redirect_host) and is_loopback(host))
    return redirect_port == port and (same_host or host in WILDCARDS)


def dashboard_tls(config: Config, listen: str | None = None) -> Literal["files", "self-signed", "off"]:
    """How the dashboard on `listen` (default dashboard.listen) serves: "files" (tls_cert and
    tls_key), "self-signed", or "off" (plain HTTP). "auto" is self-signed when the OAuth
    redirect is https and comes to this dashboard (the default redirect URI works out of the
    box), else off (an http redirect, e.g. the demo's, or TLS ended by a proxy in front)."""
    dashboard = config.dashboard
    if dashboard.tls_cert:
        return "files"
    if dashboard.tls == "auto":
        https = config.frameio.redirect_uri.startswith("https://")
        return "self-signed" if https and redirect_reaches_dashboard(config, listen) else "off"
    return dashboard.tls


def dashboard_url(config: Config) -> str:
    """The dashboard's base URL seen from this machine: https when it serves TLS."""
    host, port = split_address(config.dashboard.listen, "dashboard.listen")
    return http_url(host, port, tls=dashboard_tls(config) != "off")


def require_client(config: Config) -> None:
    if not config.frameio.client_id:
        raise ConfigError("frameio.client_id: required (from the Adobe Developer Console)")
    if not config.frameio.client_secret:
        raise ConfigError("frameio.client_secret: required (or frameio.client_secret_file)")


def write_config(data: Mapping[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
