"""PostFlow configuration: one typed, frozen object, validated at start.

Sources, later ones winning: built-in defaults, the JSON file, then environment variables
`POSTFLOW__SECTION__KEY` (nested: `POSTFLOW__STREAMER__TUNNEL__MODE`). Any secret may be
given as `<key>_file` in JSON or `…_FILE` in the environment: the file's content is used.
Every error names the key it is about.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import os
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from postflow.core.net import http_url

ENV_PREFIX = "POSTFLOW__"
CONFIG_ENV = "POSTFLOW_CONFIG"
V3_KEYS = ("server_to_server", "private_key_path", "manual_token_refresh")
FIFTY_GB = 50 * 1000**3


class ConfigError(ValueError):
    """A configuration problem; the message names the key."""


@dataclass(frozen=True)
class FrameioConfig:
    oauth_web_app: bool = True
    client_credentials: bool = False  # server-to-server (Admin-Console-managed accounts)
    client_id: str = ""
    client_secret: str = field(default="", repr=False)
    auto_token_refresh: bool = True
    api_version: str = "v4"
    redirect_uri: str = "https://localhost:8000/auth/callback"
    scopes: str = "openid email profile offline_access additional_info.roles"
    account_id: str = ""
    project_id: str = ""
    api_base_url: str = "https://api.frame.io"
    ims_base_url: str = "https://ims-na1.adobelogin.com"
    request_timeout_s: float = 60.0


@dataclass(frozen=True)
class AuthConfig:
    token_key: str | None = field(default=None, repr=False)  # Fernet key; generated if absent
    refresh_margin_s: float = 300.0  # refresh this long before the access token expires
    login_ttl_s: float = 600.0  # how long an authorization `state` stays valid


@dataclass(frozen=True)
class WatchConfig:
    root: str = ""
    include: tuple[str, ...] = ("*",)
    exclude: tuple[str, ...] = (".*", "*.tmp", "*.part", "~*")
    poll_interval_s: float = 2.0
    stable_after_s: float = 10.0
    mirror_folders: bool = True
    version_stacks: bool = True
    max_concurrent: int = 4
    max_attempts: int = 5
    backoff_base_s: float = 2.0
    backoff_max_s: float = 300.0
    status_poll_s: float = 1.0
    inotify: bool = False  # local disks only: kernel events shorten the wait for the next poll


@dataclass(frozen=True)
class TransferConfig:
    mode: str = "auto"  # auto | pull | push
    part_concurrency: int = 5
    pull_max_bytes: int = FIFTY_GB
    part_retries: int = 5


@dataclass(frozen=True)
class TunnelConfig:
    mode: str = "quick"  # quick | named | none
    cloudflared: str = "cloudflared"  # "" = cloudflared runs on its own (compose); read `metrics`
    token: str | None = field(default=None, repr=False)
    public_base_url: str | None = None
    metrics: str = "127.0.0.1:0"
    restart_backoff_max_s: float = 60.0


@dataclass(frozen=True)
class StreamerConfig:
    listen: str = "127.0.0.1:8080"
    ticket_ttl_s: int = 86400
    max_ranges: int = 16
    max_connections_per_publication: int = 32
    tunnel: TunnelConfig = TunnelConfig()


@dataclass(frozen=True)
class DashboardConfig:
    listen: str = "127.0.0.1:8000"
    access_token: str | None = field(default=None, repr=False)
    # Reverse proxies whose X-Forwarded-Proto/-For are believed (so cookies get Secure
    # behind TLS and the client's own address is checked): addresses, networks or "*".
    trusted_proxies: tuple[str, ...] = ("127.0.0.1",)


@dataclass(frozen=True)
class ServicesConfig:
    auth: str = "localhost:50051"
    watcher: str = "localhost:50052"
    streamer: str = "localhost:50053"


@dataclass(frozen=True)
class Config:
    frameio: FrameioConfig = FrameioConfig()
    auth: AuthConfig = AuthConfig()
    watch: WatchConfig = WatchConfig()
    transfer: TransferConfig = TransferConfig()
    streamer: StreamerConfig = StreamerConfig()
    dashboard: DashboardConfig = DashboardConfig()
    services: ServicesConfig = ServicesConfig()
    state_dir: str = "~/.local/state/postflow"
    log_level: str = "INFO"

    @property
    def state_path(self) -> Path:
        return Path(self.state_dir).expanduser()

    @property
    def watch_root(self) -> Path:
        return Path(self.watch.root).expanduser()


def load_config(path: str | os.PathLike | None = None, env: Mapping[str, str] | None = None) -> Config:
    """Loads, merges and validates; raises ConfigError naming the bad key."""
    env = os.environ if env is None else env
    path = path or env.get(CONFIG_ENV)
    raw: dict[str, Any] = {}
    if path:
        raw = read_json_file(Path(path))
    reject_v3(raw)
    merge_env(raw, env)
    config = build(Config, raw, "")
    validate(config)
    return config


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


def build(cls: type, raw: Any, prefix: str) -> Any:
    if not isinstance(raw, dict):
        raise ConfigError(f"{prefix.rstrip('.') or 'config'}: expected an object, got {type(raw).__name__}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    values: dict[str, Any] = {}
    for key, value in raw.items():
        if key.endswith("_file") and key[:-5] in names:
            key, value = key[:-5], read_secret_file(f"{prefix}{key}", value)
        if key not in names:
            raise ConfigError(f"{prefix}{key}: unknown key")
        values[key] = coerce(hints[key], value, f"{prefix}{key}")
    return cls(**values)


def read_secret_file(key: str, path: Any) -> str:
    if not isinstance(path, str):
        raise ConfigError(f"{key}: expected a file path")
    try:
        return Path(path).expanduser().read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(f"{key}: cannot read {path}: {exc.strerror}") from None


def coerce(hint: Any, value: Any, key: str) -> Any:
    if dataclasses.is_dataclass(hint):
        return build(hint, value, key + ".")
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (types.UnionType, typing.Union):
        if value is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return coerce(inner, value, key)
    if origin is tuple:
        if isinstance(value, str):
            value = [v for v in value.split(",") if v]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{key}: expected a list of strings")
        return tuple(value)
    if hint is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{key}: expected true or false, got {value!r}")
    if hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ConfigError(f"{key}: expected a whole number, got {value!r}")
    if hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise ConfigError(f"{key}: expected a number, got {value!r}")
    if hint is str:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)
        if isinstance(value, str):
            return value
        raise ConfigError(f"{key}: expected a string, got {value!r}")
    raise ConfigError(f"{key}: unsupported value {value!r}")


def split_address(address: str, key: str) -> tuple[str, int]:
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ConfigError(f"{key}: expected HOST:PORT, got {address!r}")
    return host.strip("[]"), int(port)


def local_url(address: str, key: str) -> str:
    """The http:// URL of a server listening on `address` (HOST:PORT), seen from this machine."""
    return http_url(*split_address(address, key))


SECRET_KEYS = (("frameio", "client_secret"), ("auth", "token_key"), ("dashboard", "access_token"),
               ("streamer", "tunnel", "token"))


def secret_values(config: Config) -> list[str]:
    """Every secret the config holds (for masking in logs)."""
    values = []
    for path in SECRET_KEYS:
        value: Any = config
        for name in path:
            value = getattr(value, name)
        if value:
            values.append(value)
    return values


def validate(config: Config) -> None:
    fio, watch, transfer, tunnel = config.frameio, config.watch, config.transfer, config.streamer.tunnel
    if fio.api_version != "v4":
        raise ConfigError(f"frameio.api_version: only 'v4' is supported, got {fio.api_version!r}")
    if not fio.oauth_web_app and not fio.client_credentials:
        raise ConfigError("frameio.oauth_web_app: set it to true (or frameio.client_credentials for server-to-server)")
    for key in ("api_base_url", "ims_base_url", "redirect_uri"):
        if not getattr(fio, key).startswith(("http://", "https://")):
            raise ConfigError(f"frameio.{key}: expected an http(s) URL")
    if transfer.mode not in ("auto", "pull", "push"):
        raise ConfigError(f"transfer.mode: expected auto, pull or push, got {transfer.mode!r}")
    if tunnel.mode not in ("quick", "named", "none"):
        raise ConfigError(f"streamer.tunnel.mode: expected quick, named or none, got {tunnel.mode!r}")
    _, metrics_port = split_address(tunnel.metrics, "streamer.tunnel.metrics")
    if tunnel.mode == "quick" and not tunnel.cloudflared and metrics_port == 0:
        raise ConfigError("streamer.tunnel.metrics: the address of the cloudflared that runs on its own "
                          "(cloudflared is \"\"), with its port")
    if tunnel.mode == "named" and not tunnel.public_base_url:
        raise ConfigError("streamer.tunnel.public_base_url: a named tunnel needs its public hostname")
    if tunnel.mode == "named" and tunnel.cloudflared and not tunnel.token:
        raise ConfigError("streamer.tunnel.token: required to run a named tunnel (or set cloudflared to \"\" "
                          "when cloudflared runs on its own, as in compose)")
    for key in ("poll_interval_s", "stable_after_s", "backoff_base_s", "backoff_max_s", "status_poll_s"):
        if getattr(watch, key) <= 0:
            raise ConfigError(f"watch.{key}: must be greater than 0")
    for key in ("max_concurrent", "max_attempts"):
        if getattr(watch, key) < 1:
            raise ConfigError(f"watch.{key}: must be at least 1")
    if config.auth.refresh_margin_s < 0:
        raise ConfigError("auth.refresh_margin_s: must be 0 or more")
    if config.auth.login_ttl_s <= 0:
        raise ConfigError("auth.login_ttl_s: must be greater than 0")
    if transfer.part_concurrency < 1:
        raise ConfigError("transfer.part_concurrency: must be at least 1")
    if config.streamer.ticket_ttl_s < 1:
        raise ConfigError("streamer.ticket_ttl_s: must be at least 1")
    if config.log_level.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise ConfigError(f"log_level: expected DEBUG, INFO, WARNING or ERROR, got {config.log_level!r}")
    split_address(config.streamer.listen, "streamer.listen")
    split_address(config.dashboard.listen, "dashboard.listen")
    for proxy in config.dashboard.trusted_proxies:
        if proxy != "*":
            try:
                ipaddress.ip_network(proxy, strict=False)
            except ValueError:
                raise ConfigError(f"dashboard.trusted_proxies: {proxy!r} is not an IP address or network") from None
    for name in ("auth", "watcher", "streamer"):
        split_address(getattr(config.services, name), f"services.{name}")


def require_watch_root(config: Config) -> Path:
    """The watch root, which must be an existing directory (watcher and streamer need it)."""
    if not config.watch.root:
        raise ConfigError("watch.root: required (the folder to watch)")
    root = config.watch_root
    if not root.is_dir():
        raise ConfigError(f"watch.root: {root} is not a directory")
    return root.resolve()


def require_client(config: Config) -> None:
    if not config.frameio.client_id:
        raise ConfigError("frameio.client_id: required (from the Adobe Developer Console)")
    if not config.frameio.client_secret:
        raise ConfigError("frameio.client_secret: required (or frameio.client_secret_file)")


def to_dict(config: Config) -> dict[str, Any]:
    """The config as JSON-ready data with secrets masked (for `check-config` and status)."""
    data = dataclasses.asdict(config)
    for *sections, key in SECRET_KEYS:
        holder = data
        for name in sections:
            holder = holder[name]
        if holder[key]:
            holder[key] = "***"
    return data


def write_config(data: Mapping[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
