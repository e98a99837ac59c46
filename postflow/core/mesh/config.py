"""The mesh as the config sets it up: each identity's credentials from `mesh.certs_dir`."""

from __future__ import annotations

import asyncio

from postflow.core.config import Config, ConfigError
from postflow.core.mesh.certs import CertPaths, Credentials, MeshError, load_credentials


async def mesh_credentials(config: Config, identity: str) -> Credentials | None:
    """`identity`'s credentials, None when mesh.mtls is off. Missing files are a ConfigError
    naming the file and `postflow certs create`."""
    if not config.mesh.mtls:
        return None
    try:
        return await asyncio.to_thread(load_credentials, CertPaths(config.certs_path), identity)
    except MeshError as exc:
        raise ConfigError(f"mesh.certs_dir: {exc}") from None
