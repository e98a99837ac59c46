"""gRPC plumbing shared by every service: the server (health, reflection, interceptors in
a fixed order: tracing, the mesh's guard, error mapping; with mutual TLS on, the mesh's
front on the service's address), and client channels."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Callable
from types import ModuleType
from typing import Any, NamedTuple

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from opentelemetry.instrumentation.grpc import aio_client_interceptors, aio_server_interceptor, filters
from opentelemetry.trace import TracerProvider

from postflow.core.errors import PostflowError
from postflow.core.handlers import wrap_handler
from postflow.core.mesh.audit_query import AuditServicer
from postflow.core.mesh.certs import Credentials
from postflow.core.mesh.front import Front, PeerRegistry, server_context
from postflow.core.mesh.guard import Guard, Security
from postflow.core.net import CannotListen
from postflow.v1 import audit_pb2, audit_pb2_grpc

log = logging.getLogger(__name__)

GRACE_S = 5.0
# Message sizes, set explicitly rather than left to gRPC's defaults. A request is small
# whatever the work: a push's part URLs (thousands for a large file, up to ~1.5 KB each)
# travel in batches of at most postflow.push_requests.BATCH_BYTES. A sender refuses an
# oversize request itself, naming its size, rather than the receiver refusing it.
MAX_REQUEST_BYTES = 4 * 1024 * 1024
# Replies can be larger: a page of up to 500 jobs.
MAX_REPLY_BYTES = 16 * 1024 * 1024
_NOT_HEALTH = filters.negate(filters.health_check())
# Control messages are small: the pings that size the flow-control window to the link would
# only add round trips (each one through the mesh front's TLS).
_NO_BDP_PROBE = [("grpc.http2.bdp_probe", 0)]
_CHANNEL_OPTIONS = [
    ("grpc.service_config", json.dumps({"methodConfig": [{"name": [{}], "waitForReady": True}]})),
    ("grpc.keepalive_time_ms", 30_000),
    # A restarted service is found again within seconds, not after gRPC's default 120 s cap.
    ("grpc.initial_reconnect_backoff_ms", 500),
    ("grpc.max_reconnect_backoff_ms", 5_000),
    ("grpc.max_send_message_length", MAX_REQUEST_BYTES),
    ("grpc.max_receive_message_length", MAX_REPLY_BYTES),
    *_NO_BDP_PROBE,
]
_SERVER_OPTIONS = [
    ("grpc.max_receive_message_length", MAX_REQUEST_BYTES),
    ("grpc.max_send_message_length", MAX_REPLY_BYTES),
    # gRPC's default SO_REUSEPORT lets a second server on a taken port start and share its
    # connections with the first: a port someone else holds must fail the start instead.
    ("grpc.so_reuseport", 0),
    *_NO_BDP_PROBE,
]


class ErrorMappingInterceptor(grpc.aio.ServerInterceptor):
    """Turns a PostflowError raised by any handler (all four RPC shapes) into its status."""

    async def intercept_service(self, continuation, handler_call_details):
        handler = await continuation(handler_call_details)
        return None if handler is None else wrap_handler(handler, _mapping_errors)


@contextlib.asynccontextmanager
async def _mapping_errors(request, context: grpc.aio.ServicerContext) -> AsyncIterator[None]:
    try:
        yield
    except PostflowError as exc:
        await context.abort(exc.code, str(exc))


class Servicer(NamedTuple):
    """One gRPC service to serve: its generated `*_pb2` module (which names it), the generated
    `add_…Servicer_to_server`, and the implementation."""

    proto: ModuleType
    add_to_server: Callable[[Any, grpc.aio.Server], None]
    implementation: object


def service_name(proto: ModuleType) -> str:
    """The full name (`postflow.v1.AuthService`) of the one service a generated `*_pb2` module defines."""
    services = list(proto.DESCRIPTOR.services_by_name.values())
    if len(services) != 1:
        raise ValueError(f"{proto.__name__} defines {len(services)} services, not one")
    return services[0].full_name


class GrpcServer:
    """A grpc.aio server with health (NOT_SERVING from before it listens until
    `set_serving(True)`), reflection, the mesh's guard, and the service's audit log
    (`security.audit`; AuditService answers with its entries, none without one). With `security` credentials
    (mesh.mtls on) the mesh's front listens on the address given to `start` and the server
    itself on loopback behind it; without (mesh.mtls off, or no `security`: the fakes of
    tests) the server listens on the address and trusts every caller."""

    def __init__(self, tracer_provider: TracerProvider | None = None, security: Security | None = None) -> None:
        self.security = security or Security("", None)
        self.peers = PeerRegistry()
        self.front: Front | None = None
        self.server = grpc.aio.server(
            interceptors=[
                aio_server_interceptor(tracer_provider=tracer_provider, filter_=_NOT_HEALTH),
                Guard(self.security, self.peers),
                ErrorMappingInterceptor(),
            ],
            options=_SERVER_OPTIONS,
        )
        self.health = health.aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        self._service_names: list[str] = []
        self.audit = self.security.audit
        self.add(Servicer(audit_pb2, audit_pb2_grpc.add_AuditServiceServicer_to_server, AuditServicer(self.audit)))

    def add(self, servicer: Servicer) -> None:
        servicer.add_to_server(servicer.implementation, self.server)
        self._service_names.append(service_name(servicer.proto))

    def add_tls_port(self, address: str, credentials: Credentials) -> int:
        """Another port, before `start`, where gRPC itself speaks TLS with `credentials` and
        asks no client certificate: callers there present API keys (the watcher's job API)."""
        return _added(address, lambda: self.server.add_secure_port(
            address, grpc.ssl_server_credentials([(credentials.key, credentials.cert)], require_client_auth=False)))

    async def start(self, address: str) -> int:
        """Listens on `address` (port 0: any free port); the port it listens on."""
        reflection.enable_server_reflection(
            [*self._service_names, health.SERVICE_NAME, reflection.SERVICE_NAME], self.server
        )
        credentials = self.security.credentials
        inner = "127.0.0.1:0" if credentials is not None else address
        port = _added(inner, lambda: self.server.add_insecure_port(inner))
        await self.set_serving(False)  # before the first call can arrive: the library's default is SERVING
        await self.server.start()
        if credentials is None:
            return port
        self.front = Front(await asyncio.to_thread(server_context, credentials), self.peers, port)
        return await self.front.start(address)  # CannotListen naming the address

    async def set_serving(self, serving: bool) -> None:
        status = health_pb2.HealthCheckResponse.SERVING if serving else health_pb2.HealthCheckResponse.NOT_SERVING
        for name in ("", *self._service_names):
            await self.health.set(name, status)

    async def stop(self, grace: float = GRACE_S, end_streams: Callable[[], None] | None = None) -> None:
        """Health NOT_SERVING for good, then `end_streams()` (long server streams that would
        otherwise hold the server for the whole grace), then calls in flight get `grace` s."""
        await self.health.enter_graceful_shutdown()
        if self.front is not None:
            self.front.stop_listening()
        if end_streams is not None:
            end_streams()
        await self.server.stop(grace)
        if self.front is not None:
            await self.front.close()


def _added(address: str, add_port: Callable[[], int]) -> int:
    """The port `add_port()` bound for `address`; CannotListen naming it when it could not
    (gRPC raises RuntimeError for that, or returns 0 in older releases, never saying why)."""
    try:
        port = add_port()
    except RuntimeError:
        port = 0
    if port == 0:
        raise CannotListen(f"cannot listen on {address}: in use, or not an address of this machine")
    return port


def bind_address(address: str) -> str:
    """Where a service listens, given the address others use to reach it: loopback names
    bind loopback; any other name (a compose service, a host name) binds every interface."""
    host, _, port = address.rpartition(":")
    loopback = host in ("localhost", "127.0.0.1", "[::1]", "::1")
    return f"{'127.0.0.1' if loopback else '0.0.0.0'}:{port}"


def open_channel(address: str, tracer_provider: TracerProvider | None = None,
                 credentials: Credentials | None = None, service: str = "") -> grpc.aio.Channel:
    """A channel to the PostFlow `service` at `address`; calls wait for it to be up
    (waitForReady). With the caller's mesh `credentials`, mutual TLS: the server must prove
    it is `service`, whatever the address."""
    interceptors = aio_client_interceptors(tracer_provider=tracer_provider, filter_=_NOT_HEALTH)
    if credentials is None:
        return grpc.aio.insecure_channel(address, options=_CHANNEL_OPTIONS, interceptors=interceptors)
    return grpc.aio.secure_channel(
        address, grpc.ssl_channel_credentials(credentials.ca, credentials.key, credentials.cert),
        options=[*_CHANNEL_OPTIONS, ("grpc.ssl_target_name_override", service)], interceptors=interceptors)


def open_api_channel(address: str, ca: bytes, key: str,
                     tracer_provider: TracerProvider | None = None) -> grpc.aio.Channel:
    """A channel to the watcher's job API port (TLS, the watcher's certificate checked against
    the mesh CA `ca`) whose every call carries `authorization: Bearer <key>`."""
    credentials = grpc.composite_channel_credentials(grpc.ssl_channel_credentials(root_certificates=ca),
                                                     grpc.access_token_call_credentials(key))
    return grpc.aio.secure_channel(
        address, credentials, options=[*_CHANNEL_OPTIONS, ("grpc.ssl_target_name_override", "watcher")],
        interceptors=aio_client_interceptors(tracer_provider=tracer_provider, filter_=_NOT_HEALTH))


async def check_health(address: str, timeout: float = 2.0, service: str = "") -> str:
    """The health status name of the service at `address` (UNREACHABLE when it does not answer)."""
    async with grpc.aio.insecure_channel(address) as channel:
        try:
            response = await health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=service), timeout=timeout
            )
        except grpc.RpcError:
            return "UNREACHABLE"
        return health_pb2.HealthCheckResponse.ServingStatus.Name(response.status)
