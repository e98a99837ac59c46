"""The watcher against the emulator and the fakes: an environment (watch root, emulator,
FakeAuth, FakeStreamer, config file) and the watcher either in this process or as a
`python -m services.watcher` child that a test can kill -9."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
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
from postflow.emulator.options import EmulatorOptions
from postflow.emulator.server import running_emulator
from postflow.testing.fakes import FakeAuth, FakeServices, FakeStreamer
from postflow.testing.polling import wait_for
from postflow.testing.ports import free_port
from postflow.testing.processes import child_env
from postflow.testing.stack import client_credentials_token
from postflow.v1 import auth_pb2, common_pb2, watcher_pb2, watcher_pb2_grpc
from services.watcher.server import WatcherService, build_service

FAST_WATCH = {"poll_interval_s": 0.05, "stable_after_s": 0.3, "status_poll_s": 0.05, "backoff_base_s": 0.2,
              "backoff_max_s": 1.0}
ROOT_DIR = Path(__file__).resolve().parents[2]
DONE = common_pb2.JOB_STATE_DONE
CONNECTED = auth_pb2.AuthStatus(state=auth_pb2.AUTH_STATE_CONNECTED, grant=auth_pb2.GRANT_KIND_SERVER_TO_SERVER)


@dataclass
class Env:
    tmp: Path
    root: Path
    emulator_url: str
    auth: FakeAuth
    streamer: FakeStreamer
    config_path: Path
    config: dict
    http: httpx.AsyncClient
    emulator_state: object  # postflow.emulator.app.EmulatorState, for what the API cannot do
    watchers: list = field(default_factory=list)
    spans: InMemorySpanExporter = field(default_factory=InMemorySpanExporter)

    async def emulator_report(self) -> dict:
        """The emulator's files ("files") and those deleted from it ("deleted")."""
        response = await self.http.get(f"{self.emulator_url}/_emulator/files")
        response.raise_for_status()
        return response.json()

    async def files(self) -> list[dict]:
        return (await self.emulator_report())["files"]

    async def faults(self, **spec) -> dict:
        response = await self.http.post(f"{self.emulator_url}/_emulator/faults", json=spec)
        response.raise_for_status()
        return response.json()

    async def clear_faults(self) -> None:
        (await self.http.delete(f"{self.emulator_url}/_emulator/faults")).raise_for_status()

    async def frameio(self, path: str, method: str = "GET", data: dict | None = None) -> dict:
        """A call to the emulator's Frame.io API with a token of its own."""
        token = await client_credentials_token(self.emulator_url)
        response = await self.http.request(method, f"{self.emulator_url}{path}", json=data and {"data": data},
                                           headers={"Authorization": f"Bearer {token}"})
        response.raise_for_status()
        return response.json()

    async def seeded(self) -> dict:
        return (await self.http.get(f"{self.emulator_url}/_emulator/state")).json()


@contextlib.asynccontextmanager
async def environment(tmp_path: Path, *, watch: dict | None = None, transfer: dict | None = None,
                      emulator: EmulatorOptions | None = None) -> AsyncIterator[Env]:
    root = tmp_path / "watch"
    root.mkdir()
    options = emulator or EmulatorOptions(rate_limits=False)
    async with running_emulator(options) as handle, httpx.AsyncClient(timeout=30) as http:
        fakes = FakeServices(streamer=FakeStreamer(root), auth=FakeAuth(CONNECTED, emulator_url=handle.url))
        async with fakes.streamer.serving_files(), fakes.serving("auth", "streamer"):
            config = {
                "frameio": {"client_id": "postflow-dev", "client_secret": "postflow-dev-secret",
                            "api_base_url": handle.url, "ims_base_url": handle.url},
                "watch": {"root": str(root), **FAST_WATCH, **(watch or {})},
                "transfer": transfer or {},
                "services": {"auth": fakes.address("auth"), "streamer": fakes.address("streamer"),
                             "watcher": f"127.0.0.1:{free_port()}"},
                "state_dir": str(tmp_path / "state"),
            }
            config_path = tmp_path / "watcher.json"
            config_path.write_text(json.dumps(config))
            env = Env(tmp_path, root, handle.url, fakes.auth, fakes.streamer, config_path, config, http,
                      handle.state)
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


async def start_watcher(env: Env) -> watcher_pb2_grpc.WatcherServiceStub:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(env.spans))
    service = build_service(Runtime(load_config(env.config_path), provider), grpc_address="127.0.0.1:0")
    await service.start()
    watcher = InProcess(service)
    watcher.channel = grpc.aio.insecure_channel(f"127.0.0.1:{service.grpc_port}")
    watcher.stub = watcher_pb2_grpc.WatcherServiceStub(watcher.channel)
    env.watchers.append(watcher)
    return watcher.stub


class Child:
    """`python -m services.watcher -c CONFIG` as a child process, output to a log file."""

    def __init__(self, env: Env, log_path: Path) -> None:
        self.env = env
        self.log_path = log_path
        self.process: asyncio.subprocess.Process | None = None
        self.channel = grpc.aio.insecure_channel(env.config["services"]["watcher"])
        self.stub = watcher_pb2_grpc.WatcherServiceStub(self.channel)

    async def start(self) -> None:
        with open(self.log_path, "ab") as log:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "services.watcher", "-c", str(self.env.config_path), cwd=ROOT_DIR,
                env=child_env(), stdout=log, stderr=log)

    async def kill9(self) -> None:
        os.kill(self.process.pid, signal.SIGKILL)
        await self.process.wait()

    async def close(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.terminate()
            try:
                await asyncio.wait_for(self.process.wait(), 10)
            except TimeoutError:
                await self.kill9()
        await self.channel.close()

    def log_lines(self) -> list[str]:
        return self.log_path.read_text(errors="replace").splitlines()


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
