"""How every service process runs and lives, written once.

`run_service`: `python -m services.NAME [-c FILE]` loads the config (a bad key exits 2 naming
it), sets up logging and tracing once, starts the service and stops it cleanly on SIGTERM or
SIGINT (also one that arrives while the service is still starting), then flushes spans. On
SIGHUP the service `reload`s: it takes what it can of the config as it is now, without a
restart (one reload at a time; a SIGHUP while starting reloads once the service is ready).
`Lifecycle` and `GrpcService`: the order of a service's life, each service filling in its steps.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from abc import ABC, abstractmethod
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import uvloop
from opentelemetry.sdk.trace import TracerProvider

from postflow.core.config import Config, ConfigError, load_config
from postflow.core.config_secrets import secret_values
from postflow.core.logs import SecretMask, setup_logging
from postflow.core.mesh.audit import AuditLog, audit_path
from postflow.core.mesh.certs import Credentials
from postflow.core.mesh.config import mesh_credentials
from postflow.core.mesh.guard import Security
from postflow.core.mesh.identity import Authenticator
from postflow.core.metrics import Metrics
from postflow.core.net import CannotListen
from postflow.core.rpc import GRACE_S, GrpcServer, Servicer
from postflow.core.telemetry import setup_tracing, shutdown_tracing

log = logging.getLogger(__name__)

EXIT_CONFIG = 2
EXIT_CANNOT_LISTEN = 3  # restarting on the same address cannot help while another socket holds it


@dataclass
class Runtime:
    """What a process gives its service: config, tracer provider, the log secret mask, and
    where the config came from (the -c file; None: $POSTFLOW_CONFIG, then built-in defaults)."""

    config: Config
    tracer_provider: TracerProvider | None = None
    secrets: SecretMask | None = None
    config_path: str | None = None

    def read_config(self) -> Config:
        """The config as it is now, read as at the start: the same file and environment
        (blocking: call it on a thread). Raises ConfigError naming the bad key."""
        return load_config(self.config_path)

    def add_secret(self, value: str | None) -> None:
        if self.secrets is not None:
            self.secrets.add(value)

    def mask(self, text: str) -> str:
        return self.secrets.mask(text) if self.secrets is not None else text


class Lifecycle(ABC):
    """start: open → listen → metrics → start_background → ready → announce_ready
    stop:  metrics off → drain → cancel the background tasks → close

    Each service fills in open, start_background, ready (stating what "ready" means for it)
    and close; each kind of server listen, announce_ready and drain. `build_service(runtime, …)`
    checks the config (ConfigError) and constructs the service, whose `__init__` keeps values
    and in-memory objects only. `stop` may follow a `start` that failed or was cancelled at
    any step, and runs once however often it is called.

    `metrics` is the service's Prometheus registry, served at `/metrics` on its
    `metrics.<service>` address from after `listen` until the start of `stop` (postflow.core.metrics);
    `open` registers in it what the service counts."""

    def __init__(self, metrics: Metrics | None = None) -> None:
        self._tasks: list[asyncio.Task[Any]] = []
        self._stopped = False
        self.metrics = metrics or Metrics()

    @abstractmethod
    async def open(self) -> None:
        """Acquires the resources: databases, channels, HTTP clients, listening sockets."""

    @abstractmethod
    async def start_background(self) -> None:
        """Starts the background work: tasks through `spawn`, components through their own start."""

    @abstractmethod
    async def ready(self) -> None:
        """Returns once the service does what it is for: each service states what that means."""

    @abstractmethod
    async def close(self) -> None:
        """Releases what `open` acquired, in reverse order, also after an `open` that failed half-way."""

    @abstractmethod
    async def listen(self) -> None:
        """Starts accepting requests, not yet announced as ready."""

    @abstractmethod
    async def announce_ready(self) -> None:
        """Tells the probes that the service is ready."""

    @abstractmethod
    async def drain(self) -> None:
        """Stops accepting requests and lets those in flight end, within a grace period."""

    async def reload(self) -> None:
        """SIGHUP: takes what the service can of its config as it is now (`Runtime.read_config`)
        without a restart; a config it cannot take is logged as an error naming the key, and
        the service carries on as before. By default it takes nothing."""
        log.warning("SIGHUP: this service applies a changed config only when it restarts")

    async def start(self) -> None:
        await self.open()
        await self.listen()
        await self.metrics.start()
        await self.start_background()
        await self.ready()
        await self.announce_ready()

    async def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        await self.metrics.stop()
        await self.drain()
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.close()

    def spawn(self, name: str, work: Coroutine[Any, Any, object]) -> None:
        """Runs `work` in the background until `stop`; a crash is logged, not lost."""
        task = asyncio.create_task(work, name=name)
        task.add_done_callback(_log_crash)
        self._tasks.append(task)


def _log_crash(task: asyncio.Task[Any]) -> None:
    if not task.cancelled() and (error := task.exception()) is not None:
        log.error("background task %s failed", task.get_name(), exc_info=error)


class GrpcService(Lifecycle):
    """A service behind a gRPC server (postflow.core.rpc): `listen` starts it with health
    already NOT_SERVING, `announce_ready` makes it SERVING, `drain` enters graceful shutdown
    (NOT_SERVING for good), ends the service's long streams and stops it with a grace period,
    then writes out its audit log (`<state_dir>/audit/<identity>.jsonl`). With mesh.mtls on,
    the server admits callers by their mesh certificates (the service's own from
    mesh.certs_dir) and, where `open` set an `authenticator`, by API keys."""

    identity: ClassVar[str]  # the service's name in the mesh: its certificate's common name

    def __init__(self, runtime: Runtime, grpc_address: str) -> None:
        super().__init__(Metrics.of(runtime.config, self.identity))
        self.runtime = runtime
        self.grpc_address = grpc_address
        self.grpc_port = 0
        self.server: GrpcServer | None = None  # made in listen(): grpc.aio binds to the running loop
        self.authenticator: Authenticator | None = None
        self.audit = AuditLog(audit_path(runtime.config.state_path, self.identity), mask=runtime.mask)
        self._credentials: Credentials | None = None

    async def credentials(self) -> Credentials | None:
        """The service's mesh credentials, also for its own channels (None: mesh.mtls off)."""
        if self._credentials is None:
            self._credentials = await mesh_credentials(self.runtime.config, self.identity)
        return self._credentials

    @abstractmethod
    def servicers(self) -> Sequence[Servicer]:
        """What the server serves, built from what `open` acquired."""

    def end_streams(self) -> None:  # noqa: B027 (a service without long server streams has nothing to end)
        """Ends the service's long server streams, so that stopping need not wait out the grace."""

    def add_ports(self, server: GrpcServer) -> None:  # noqa: B027 (most services listen on one port)
        """Adds the ports the service serves besides its own address (before the server starts)."""

    async def listen(self) -> None:
        credentials = await self.credentials()
        if credentials is None:
            log.warning("mesh.mtls is off: the %s service's gRPC port trusts every caller", self.identity)
        self.server = GrpcServer(self.runtime.tracer_provider,
                                 Security(self.identity, credentials, self.authenticator, self.audit))
        for servicer in self.servicers():
            self.server.add(servicer)
        self.add_ports(self.server)
        self.grpc_port = await self.server.start(self.grpc_address)
        log.info("gRPC on port %d%s", self.grpc_port, ", mutual TLS" if credentials else "")

    async def announce_ready(self) -> None:
        if self.server is not None:
            await self.server.set_serving(True)

    async def drain(self) -> None:
        if self.server is not None:
            await self.server.stop(GRACE_S, self.end_streams)
        await self.audit.close()


def run_service(name: str, build: Callable[[Runtime], Lifecycle], argv: list[str] | None = None) -> int:
    """Builds and runs the service until SIGTERM/SIGINT. Exit codes: 0 after a clean stop,
    1 when it cannot start, 2 for a config error (also one found while opening resources),
    3 when it cannot listen on one of its addresses (the log line names it)."""
    parser = argparse.ArgumentParser(prog=f"python -m services.{name}", description=f"PostFlow {name} service")
    parser.add_argument("-c", "--config", help="JSON config file (default: $POSTFLOW_CONFIG, then built-in defaults)")
    args = parser.parse_args(argv)
    provider = None
    try:
        config = load_config(args.config)
        secrets = setup_logging(name, config.log_level)
        for value in secret_values(config):
            secrets.add(value)
        provider = setup_tracing(name)
        return uvloop.run(serve_until_signalled(name, build(Runtime(config, provider, secrets, args.config))))
    except ConfigError as exc:
        print(f"postflow {name}: config error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    finally:
        shutdown_tracing(provider)


async def serve_until_signalled(name: str, service: Lifecycle) -> int:
    loop = asyncio.get_running_loop()
    signalled = asyncio.Event()
    reload_asked = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, signalled.set)
    loop.add_signal_handler(signal.SIGHUP, reload_asked.set)
    try:
        if await _started(service, signalled):
            log.info("%s ready", name)
            service.spawn("reload-on-sighup", _reload_when_asked(service, reload_asked))
            await signalled.wait()
        log.info("%s stopping", name)
        await service.stop()
        return 0
    except CannotListen as exc:
        log.error("%s could not start: %s", name, exc)
        return EXIT_CANNOT_LISTEN
    except OSError as exc:
        log.error("%s could not start: %s", name, exc)
        return 1
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            loop.remove_signal_handler(sig)


async def _reload_when_asked(service: Lifecycle, asked: asyncio.Event) -> None:
    """Reloads the service each time `asked` is set, one reload at a time."""
    while True:
        await asked.wait()
        asked.clear()
        try:
            await service.reload()
        except Exception:  # a reload that went wrong must not end the service
            log.exception("reloading the config failed; carrying on as before")


async def _started(service: Lifecycle, signalled: asyncio.Event) -> bool:
    """Starts `service`; False when a signal came first (the start is cancelled). A start
    that fails stops what it had started and raises."""
    starting = asyncio.create_task(service.start(), name="start")
    waiting = asyncio.create_task(signalled.wait(), name="signal")
    await asyncio.wait({starting, waiting}, return_when=asyncio.FIRST_COMPLETED)
    waiting.cancel()
    if not starting.done():
        starting.cancel()
    try:
        await starting
    except asyncio.CancelledError:
        return False
    except BaseException:
        await service.stop()
        raise
    return True
