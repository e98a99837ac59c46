"""The one way every service process runs: `python -m services.NAME [-c FILE]` loads the
config (a bad key exits 2 naming it), sets up logging and tracing once, starts the service
and stops it cleanly on SIGTERM/SIGINT (health off, servers stopped, spans flushed)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import uvloop
from opentelemetry.sdk.trace import TracerProvider

from postflow.core.config import Config, ConfigError, load_config, secret_values
from postflow.core.logs import SecretMask, setup_logging
from postflow.core.telemetry import setup_tracing, shutdown_tracing

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    """What a process gives its service: config, tracer provider, and the log secret mask."""

    config: Config
    tracer_provider: TracerProvider | None = None
    secrets: SecretMask | None = None

    def add_secret(self, value: str | None) -> None:
        if self.secrets is not None:
            self.secrets.add(value)


class Service(Protocol):
    async def start(self) -> None: ...

    async def stop(self) -> None: ...


def parse_args(name: str, argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=f"python -m services.{name}", description=f"PostFlow {name} service")
    parser.add_argument("-c", "--config", help="JSON config file (default: $POSTFLOW_CONFIG, then built-in defaults)")
    return parser.parse_args(argv)


def run_service(name: str, build: Callable[[Runtime], Service], argv: list[str] | None = None) -> int:
    args = parse_args(name, argv)
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"postflow {name}: config error: {exc}", file=sys.stderr)
        return 2
    secrets = setup_logging(name, config.log_level)
    for value in secret_values(config):
        secrets.add(value)
    provider = setup_tracing(name)
    runtime = Runtime(config, provider, secrets)
    try:
        service = build(runtime)
    except ConfigError as exc:
        print(f"postflow {name}: config error: {exc}", file=sys.stderr)
        return 2
    try:
        return uvloop.run(serve_until_signalled(name, service))
    finally:
        shutdown_tracing(provider)


async def serve_until_signalled(name: str, service: Service) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await service.start()
    except OSError as exc:
        log.error("%s could not start: %s", name, exc)
        await service.stop()
        return 1
    log.info("%s ready", name)
    await stop.wait()
    log.info("%s stopping", name)
    await service.stop()
    return 0
