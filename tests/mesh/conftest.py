"""The three fakes, each on a server guarded by the mesh as its service (certificates made in
the test's directory), with the audit log kept in a list and the callers handlers saw."""

from __future__ import annotations

import asyncio
import datetime as dt
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import pytest_asyncio

from postflow.core.errors import Unauthenticated
from postflow.core.mesh.audit import AuditEntry
from postflow.core.mesh.certs import CertPaths, Credentials, ensure_certs, issue
from postflow.core.mesh.guard import Security, caller
from postflow.core.mesh.identity import Kind, Principal, Scope
from postflow.core.rpc import GrpcServer, Servicer
from postflow.testing.fakes import FakeAuth
from postflow.testing.fakes.services import GENERATED, FakeServices
from postflow.testing.mesh import credentials, make_certs
from postflow.v1 import auth_pb2

READER_KEY = "pf_reader_0123456789"


class AuditList:
    def __init__(self) -> None:
        self.entries: list[AuditEntry] = []

    def record(self, entry: AuditEntry) -> None:
        self.entries.append(entry)


class Keys:
    """One API key, with jobs:read only."""

    async def authenticate(self, bearer: str, peer: str) -> Principal:
        if bearer != READER_KEY:
            raise Unauthenticated("unknown API key")
        return Principal(Kind.API_KEY, "render-farm", frozenset({Scope.JOBS_READ}))

    def revocation(self, principal: Principal) -> asyncio.Event:
        return asyncio.Event()  # never revoked


class CallerAuth(FakeAuth):
    """The fake auth, remembering who asked for its status."""

    def __init__(self) -> None:
        super().__init__(auth_pb2.AuthStatus(state=auth_pb2.AUTH_STATE_CONNECTED))
        self.token = "a-frameio-token"
        self.callers: list[Principal] = []

    async def GetStatus(self, request, context):
        self.callers.append(caller())
        return await super().GetStatus(request, context)


@dataclass
class Mesh:
    certs: CertPaths
    fakes: FakeServices
    servers: dict[str, GrpcServer] = field(default_factory=dict)
    ports: dict[str, int] = field(default_factory=dict)
    audit: AuditList = field(default_factory=AuditList)

    def address(self, service: str) -> str:
        return f"127.0.0.1:{self.ports[service]}"

    async def credentials(self, identity: str) -> Credentials:
        return await credentials(self.certs, identity)

    async def channel(self, service: str, identity: str | None = None,
                      paths: CertPaths | None = None) -> grpc.aio.Channel:
        """A TLS channel to `service`, with `identity`'s certificate from `paths` (none: no certificate)."""
        ca = (await self.credentials("admin")).ca
        own = await credentials(paths or self.certs, identity) if identity else None
        creds = grpc.ssl_channel_credentials(ca, own and own.key, own and own.cert)
        return grpc.aio.secure_channel(self.address(service), creds,
                                       options=[("grpc.ssl_target_name_override", service)])


@pytest_asyncio.fixture
async def mesh(tmp_path: Path) -> AsyncIterator[Mesh]:
    fakes = FakeServices(auth=CallerAuth())
    found = Mesh(await make_certs(tmp_path / "certs"), fakes)
    try:
        for name, (proto, add_to_server) in GENERATED.items():
            security = Security(name, await found.credentials(name), Keys() if name == "watcher" else None,
                                found.audit)
            server = GrpcServer(security=security)
            server.add(Servicer(proto, add_to_server, getattr(fakes, name)))
            found.ports[name] = await server.start("127.0.0.1:0")
            await server.set_serving(True)
            found.servers[name] = server
        yield found
    finally:
        for server in found.servers.values():
            await server.stop(0.2)


def other_ca(directory: Path) -> CertPaths:
    """Certificates for every identity from a CA of their own."""
    paths = CertPaths(directory)
    ensure_certs(paths)
    return paths


def same_ca(mesh: Mesh, directory: Path) -> CertPaths:
    """A directory with the mesh's CA (and its key), for issuing odd certificates."""
    directory.mkdir()
    for source in (mesh.certs.ca, mesh.certs.ca_key):
        shutil.copy(source, directory / source.name)
    return CertPaths(directory)


def expired(mesh: Mesh, directory: Path, identity: str = "watcher") -> CertPaths:
    paths = same_ca(mesh, directory)
    issue(paths, identity, days=1, not_before=dt.datetime.now(dt.UTC) - dt.timedelta(days=3))
    return paths


def unknown_name(mesh: Mesh, directory: Path, identity: str = "mallory") -> CertPaths:
    paths = same_ca(mesh, directory)
    issue(paths, identity)
    return paths
