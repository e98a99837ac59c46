"""The watcher service under test, against the emulator and the fakes of auth and the streamer:
an environment (watch root, emulator, fakes, config file) and the watcher either in this event
loop or as a `python -m services.watcher` process that a test can kill -9."""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import httpx
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from postflow.core.config import load_config
from postflow.core.service import Runtime
from postflow.emulator.app import EmulatorState
from postflow.emulator.options import EmulatorOptions
from postflow.emulator.server import running_emulator
from postflow.testing.emulator import (
    clear_faults,
    client_credentials_token,
    emulator_report,
    seeded_state,
    set_faults,
)
from postflow.testing.fakes import FakeAuth, FakeServices, FakeStreamer
from postflow.testing.mesh import MESH_OFF
from postflow.testing.polling import wait_for
from postflow.testing.ports import free_port
from postflow.testing.processes import ServiceProcess
from postflow.v1 import auth_pb2, common_pb2, watcher_pb2, watcher_pb2_grpc
from services.watcher.jobs import QUEUED, Job, new_job_id
from services.watcher.ledger import Ledger
from services.watcher.scanner import FileStat
from services.watcher.server import WatcherService, build_service

FAST_WATCH = {"poll_interval_s": 0.05, "stable_after_s": 0.3, "status_poll_s": 0.05, "backoff_base_s": 0.2,
              "backoff_max_s": 1.0}
DONE = common_pb2.JOB_STATE_DONE
CONNECTED = auth_pb2.AuthStatus(state=auth_pb2.AUTH_STATE_CONNECTED, grant=auth_pb2.GRANT_KIND_SERVER_TO_SERVER)


@dataclass
class WatcherEnvironment:
    tmp: Path
    root: Path
    emulator_url: str
    auth: FakeAuth
    streamer: FakeStreamer
    config_path: Path
    config: dict
    http: httpx.AsyncClient
    emulator_state: EmulatorState  # for what the emulator's API cannot do
    watchers: list[InProcess | WatcherProcess] = field(default_factory=list)
    spans: InMemorySpanExporter = field(default_factory=InMemorySpanExporter)

    async def emulator_report(self) -> dict:
        """The emulator's files ("files") and those deleted from it ("deleted")."""
        return await emulator_report(self.emulator_url)

    async def files(self) -> list[dict]:
        return (await self.emulator_report())["files"]

    async def faults(self, **spec) -> dict:
        return await set_faults(self.emulator_url, spec)

    async def clear_faults(self) -> None:
        await clear_faults(self.emulator_url)

    async def frameio(self, path: str, method: str = "GET", data: dict | None = None) -> dict:
        """A call to the emulator's Frame.io API with a token of its own."""
        token = await client_credentials_token(self.emulator_url)
        response = await self.http.request(method, f"{self.emulator_url}{path}", json=data and {"data": data},
                                           headers={"Authorization": f"Bearer {token}"})
        response.raise_for_status()
        return response.json()

    async def seeded(self) -> dict:
        return await seeded_state(self.emulator_url)


@contextlib.asynccontextmanager
async def environment(tmp_path: Path, *, watch: dict | None = None, transfer: dict | None = None,
                      frameio: dict | None = None, emulator: EmulatorOptions | None = None,
                      mesh: dict | None = None, metrics: dict | None = None,
                      extra: dict | None = None) -> AsyncIterator[WatcherEnvironment]:
    """`mesh`: the config's mesh section; by default outside the mesh, without the API port.
    `metrics`: the config's metrics section (default: off). `extra`: more of the config's keys
    (webhooks, notifications, outbound, …)."""
    root = tmp_path / "watch"
    root.mkdir()
    options = emulator or EmulatorOptions(rate_limits=False)
    async with running_emulator(options) as handle, httpx.AsyncClient(timeout=30) as http:
        fakes = FakeServices(streamer=FakeStreamer(root), auth=FakeAuth(CONNECTED, emulator_url=handle.url))
        async with fakes.streamer.serving_files(), fakes.serving("auth", "streamer"):
            config = {
                "frameio": {"client_id": "postflow-dev", "client_secret": "postflow-dev-secret",
                            "api_base_url": handle.url, "ims_base_url": handle.url,
                            "server_error_backoff_s": 0.1, **(frameio or {})},
                "watch": {"root": str(root), **FAST_WATCH, **(watch or {})},
                "transfer": transfer or {},
                "services": {"auth": fakes.address("auth"), "streamer": fakes.address("streamer"),
                             "watcher": f"127.0.0.1:{free_port()}"},
                "mesh": mesh or MESH_OFF,  # the fakes trust every caller
                "metrics": metrics or {},
                "state_dir": str(tmp_path / "state"),
                **(extra or {}),
            }
            config_path = tmp_path / "watcher.json"
            config_path.write_text(json.dumps(config))
            env = WatcherEnvironment(tmp_path, root, handle.url, fakes.auth, fakes.streamer, config_path, config,
                                     http, handle.state)
            try:
                yield env
            finally:
                for watcher in env.watchers:
                    await watcher.close()


class InProcess:
    """The watcher service in this event loop, with a client stub."""

    def __init__(self, service: WatcherService) -> None:
        self.service = service
        self.channel: grpc.aio.Channel | None = None
        self.stub: watcher_pb2_grpc.WatcherServiceStub | None = None

    async def close(self) -> None:
        if self.channel is not None:
            await self.channel.close()
            self.channel = None
            await self.service.stop()


async def start_watcher(env: WatcherEnvironment) -> watcher_pb2_grpc.WatcherServiceStub:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(env.spans))
    runtime = Runtime(load_config(env.config_path), provider, config_path=str(env.config_path))
    service = build_service(runtime, grpc_address="127.0.0.1:0")
    await service.start()
    watcher = InProcess(service)
    watcher.channel = grpc.aio.insecure_channel(f"127.0.0.1:{service.grpc_port}")
    watcher.stub = watcher_pb2_grpc.WatcherServiceStub(watcher.channel)
    env.watchers.append(watcher)
    return watcher.stub


class WatcherProcess(ServiceProcess):
    """`python -m services.watcher` with the environment's config, and a client stub."""

    def __init__(self, env: WatcherEnvironment, log_path: Path) -> None:
        super().__init__("services.watcher", env.config_path, log_path)
        self.channel = grpc.aio.insecure_channel(env.config["services"]["watcher"])
        self.stub = watcher_pb2_grpc.WatcherServiceStub(self.channel)

    async def kill9(self) -> None:
        self.kill()
        await self.wait()

    async def close(self) -> None:
        await self.stop(timeout=10)
        await self.channel.close()


async def list_jobs(stub, **filters) -> list[common_pb2.Job]:
    response = await stub.ListJobs(watcher_pb2.ListJobsRequest(page_size=500, **filters), timeout=15,
                                   wait_for_ready=True)
    return list(response.jobs)


async def wait_jobs(stub, count: int, state: int = DONE, timeout: float = 30.0) -> list[common_pb2.Job]:
    async def check():
        jobs = await list_jobs(stub)
        finished = [j for j in jobs if j.state == state]
        return finished if len(finished) >= count else None

    return await wait_for(check, timeout=timeout, interval=0.1,
                          message=f"{count} jobs {common_pb2.JobState.Name(state)}")


async def wait_job_state(stub, path: str, state: int, timeout: float = 30.0) -> common_pb2.Job:
    async def check():
        jobs = await list_jobs(stub, path_prefix=path)
        return next((j for j in jobs if j.path == path and j.state == state), None)

    return await wait_for(check, timeout=timeout, interval=0.05,
                          message=f"{path} {common_pb2.JobState.Name(state)}")


def error_records(caplog) -> list[logging.LogRecord]:
    """ERROR (or worse) lines logged by PostFlow's own code (the emulator is not ours)."""
    return [r for r in caplog.records if r.levelno >= logging.ERROR and not r.name.startswith("postflow.emulator")]


def make_job(file: FileStat) -> Job:
    now = time.time()
    return Job(id=new_job_id(), path=file.path, size=file.size, mtime_ns=file.mtime_ns, state=QUEUED,
               max_attempts=3, created_at=now, updated_at=now)



@contextlib.asynccontextmanager
async def opened_ledger(path: Path) -> AsyncIterator[Ledger]:
    ledger = Ledger(path)
    await ledger.open()
    try:
        yield ledger
    finally:
        await ledger.close()


async def older_ledger(path: Path, downgrade: str) -> Job:
    """A ledger at `path` holding one job, made older by the SQL script `downgrade` (closed)."""
    async with opened_ledger(path) as ledger:
        (job,), _ = await ledger.register([make_job(FileStat("a.mov", 10, 1, 1))], "detected")
        await ledger.run(lambda: ledger.db.executescript(downgrade))
    return job
