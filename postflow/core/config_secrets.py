"""The secrets a config holds: their values, for the log mask, and the config with them masked,
for what shows it (`check-config`, status)."""

from __future__ import annotations

import dataclasses
from typing import Any

from postflow.core.config import Config
from postflow.core.outbound_config import mask_outbound, outbound_secrets

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
    if config.dashboard.oidc is not None and config.dashboard.oidc.client_secret:
        values.append(config.dashboard.oidc.client_secret)
    return values + [connection.client_secret for connection in config.connections.values()
                     if connection.client_secret] + outbound_secrets(config)


def to_dict(config: Config) -> dict[str, Any]:
    """The config as JSON-ready data with secrets masked (for `check-config` and status)."""
    data = dataclasses.asdict(config)
    for *sections, key in SECRET_KEYS:
        holder = data
        for name in sections:
            holder = holder[name]
        if holder[key]:
            holder[key] = "***"
    for connection in data["connections"].values():
        if connection["client_secret"]:
            connection["client_secret"] = "***"
    oidc = data["dashboard"]["oidc"]
    if oidc is not None and oidc["client_secret"]:
        oidc["client_secret"] = "***"
    mask_outbound(data)
    return data
