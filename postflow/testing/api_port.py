"""The watcher with its job API port (mesh.api_listen) under test: certificates made in the
test's directory, the watcher in this event loop, channels to the port with or without a key."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import grpc

from postflow.core.config import Config, load_config, write_config
from postflow.core.mesh.certs import CertPaths, ensure_certs
from postflow.core.rpc import open_api_channel
from postflow.testing.ports import free_port
from postflow.testing.watcher import InProcess, WatcherEnvironment, environment, start_watcher
from services.watcher.server import WatcherService


@dataclass
class ApiPort:
    env: WatcherEnvironment
    config: Config
    certs: CertPaths
    address: str  # where the API port listens
    service: WatcherService
    ca: bytes  # the mesh CA certificate

    def channel(self, key: str) -> grpc.aio.Channel:
        """A TLS channel to the API port whose calls carry `key` as bearer."""
        return open_api_channel(self.address, self.ca, key)

    def keyless_channel(self) -> grpc.aio.Channel:
        """TLS (the watcher's certificate checked) but no key."""
        return grpc.aio.secure_channel(self.address, grpc.ssl_channel_credentials(self.ca),
                                       options=[("grpc.ssl_target_name_override", "watcher")])


@contextlib.asynccontextmanager
async def watcher_with_api_port(tmp_path: Path) -> AsyncIterator[ApiPort]:
    certs = CertPaths(tmp_path / "certs")
    await asyncio.to_thread(ensure_certs, certs)
    address = f"127.0.0.1:{free_port()}"
    async with environment(tmp_path, mesh={"api_listen": address, "certs_dir": str(certs.dir)}) as env:
        await start_watcher(env)
        watcher = env.watchers[-1]
        assert isinstance(watcher, InProcess) and watcher.service.api_port > 0
        # From now on the config file names the watcher where it listens (it bound a free port),
        # for the CLI to find it.
        env.config["services"]["watcher"] = f"127.0.0.1:{watcher.service.grpc_port}"
        write_config(env.config, env.config_path)
        ca = await asyncio.to_thread(certs.ca.read_bytes)
        yield ApiPort(env, load_config(env.config_path), certs, address, watcher.service, ca)
