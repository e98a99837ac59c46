"""The secrets a config holds: their values, for the log mask, and the config with them masked,
for what shows it (`check-config`, status)."""

from __future__ import annotations

import dataclasses
from typing import Any

from postflow.core.config import Config
from postflow.core.outbound_config import mask_outbound, outbound_secrets

SECRET_KEYS = (("frameio", "client_secret"), ("auth", "token_key"), ("dashboard", "access_token"),
               ("streamer", "tunnel", "token"))


def secret_keys(config: Config) -> list[tuple[str, ...]]:
    """Where the config holds a secret (outside `notifications` and `webhooks`): SECRET_KEYS,
    each connection's client_secret, the dashboard's OIDC client_secret."""
    keys = [*SECRET_KEYS, *(("connections", name, "client_secret") for name in config.connections)]
    if config.dashboard.oidc is not None:
        keys.append(("dashboard", "oidc", "client_secret"))
    return keys


def secret_values(config: Config) -> list[str]:
    """Every secret the config holds (for masking in logs)."""
    values = []
    for path in secret_keys(config):
        value: Any = config
        for name in path:
            value = value[name] if isinstance(value, dict) else getattr(value, name)
        if value:
            values.append(value)
    return values + outbound_secrets(config)


def to_dict(config: Config) -> dict[str, Any]:
    """The config as JSON-ready data with secrets masked (for `check-config` and status)."""
    data = dataclasses.asdict(config)
    for *sections, key in secret_keys(config):
        holder = data
        for name in sections:
            holder = holder[name]
        if holder[key]:
            holder[key] = "***"
    mask_outbound(data)
    return data
