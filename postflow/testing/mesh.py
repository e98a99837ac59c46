"""The mesh in tests: certificates made in a directory of the test's own, or the mesh
explicitly off for in-process services whose tests are about something else."""

from __future__ import annotations

import asyncio
from pathlib import Path

from postflow.core.mesh.certs import CertPaths, Credentials, ensure_certs, load_credentials

MESH_OFF = {"mtls": False, "api_listen": ""}


async def make_certs(directory: Path) -> CertPaths:
    """The CA and every identity's certificate in `directory` (made once)."""
    paths = CertPaths(directory)
    await asyncio.to_thread(ensure_certs, paths)
    return paths


async def credentials(paths: CertPaths, identity: str) -> Credentials:
    return await asyncio.to_thread(load_credentials, paths, identity)
