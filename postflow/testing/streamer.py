"""The streamer service under test: its config, the service in this event loop on loopback
ports with a gRPC stub to it and helpers to publish files, and the stand-in `cloudflared`."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import grpc
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from postflow.core.config import Config, load_config
from postflow.core.pipelines import require_roots
from postflow.core.service import Runtime
from postflow.push_requests import push_requests
from postflow.testing import fakes
from postflow.testing.media import write_media
from postflow.testing.mesh import MESH_OFF
from postflow.testing.ports import free_port
from postflow.testing.processes import child_env
from postflow.v1 import streamer_pb2, streamer_pb2_grpc
from services.streamer.frameio_hooks import HookLimits
from services.streamer.http_connection import HttpLimits
from services.streamer.http_request import HeadLimits
from services.streamer.server import StreamerService, build_service

FAKE_CLOUDFLARED = Path(fakes.__file__).with_name("cloudflared.py")
TEST_LIMITS = HttpLimits(HeadLimits(), idle_timeout_s=2.0, head_timeout_s=0.6, send_stall_timeout_s=5.0)


def streamer_config(tmp_path: Path, streamer: dict | None = None, pipelines: Sequence[str] = (),
                    **sections) -> Config:
    """The config, also written to `tmp_path/config.json`: the single watch root `tmp_path/watch`,
    or with `pipelines` each named one's root `tmp_path/<name>`."""
    roots = {name: tmp_path / name for name in pipelines} or {"": tmp_path / "watch"}
    for root in roots.values():
        root.mkdir(exist_ok=True)
    where = ({"pipelines": [{"name": name, "root": str(root)} for name, root in roots.items()]} if pipelines
             else {"watch": {"root": str(roots[""])}})
    raw = {**where, "state_dir": str(tmp_path / "state"), "mesh": MESH_OFF,
           "streamer": {"tunnel": {"mode": "none"}, **(streamer or {})}, **sections}
    path = tmp_path / "config.json"
    path.write_text(json.dumps(raw))
    return load_config(path, env={})


def fake_cloudflared(tmp_path: Path) -> tuple[Path, Path]:
    """An executable `cloudflared` that runs the stand-in, and its control directory."""
    control = tmp_path / "cloudflared-control"
    control.mkdir(exist_ok=True)
    launcher = tmp_path / "cloudflared"
    launcher.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{FAKE_CLOUDFLARED}" "$@"\n')
    launcher.chmod(0o755)
    return launcher, control


@dataclass
class Streamer:
    service: StreamerService
    stub: streamer_pb2_grpc.StreamerServiceStub
    channel: grpc.aio.Channel
    roots: dict[str, Path]  # by pipeline, as the streamer started with
    spans: InMemorySpanExporter

    @property
    def root(self) -> Path:
        """The root of the only pipeline (most tests serve one)."""
        (root,) = self.roots.values()
        return root

    def root_of(self, pipeline: str) -> Path:
        return self.roots[pipeline] if pipeline else self.root

    @property
    def http_port(self) -> int:
        return self.service.http_port

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def media(self, relative: str, size: int, seed: int = 0, pipeline: str = "") -> str:
        """Writes a file under the pipeline's root ("": the only one); returns its sha256."""
        return write_media(self.root_of(pipeline) / relative, size, seed)

    async def publish(self, relative: str, ttl_s: int = 0, job_id: str = "job-1", pipeline: str = "",
                      **extra) -> streamer_pb2.Publication:
        st = (self.root_of(pipeline) / relative).stat()
        return await self.stub.Publish(streamer_pb2.PublishRequest(
            pipeline=pipeline, path=relative, size=st.st_size, mtime_ns=st.st_mtime_ns, ttl_s=ttl_s, job_id=job_id,
            **extra), timeout=10)

    async def revoke(self, ticket_id: str) -> None:
        await self.stub.Revoke(streamer_pb2.RevokeRequest(ticket_id=ticket_id), timeout=10)


async def start_streamer(config: Config, spans: InMemorySpanExporter | None = None,
                         limits: HttpLimits = TEST_LIMITS, config_path: Path | None = None,
                         hook_limits: HookLimits | None = None) -> Streamer:
    """`config_path`: the file a reload reads (streamer_config's), if the test reloads."""
    spans = spans or InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    runtime = Runtime(config, provider, config_path=str(config_path) if config_path else None)
    service = build_service(runtime, grpc_address="127.0.0.1:0", http_address="127.0.0.1:0", http_limits=limits,
                            hook_limits=hook_limits)
    await service.start()
    return connected(service, spans)


def connected(service: StreamerService, spans: InMemorySpanExporter) -> Streamer:
    """The started `service` with a channel to it."""
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{service.grpc_port}")
    return Streamer(service, streamer_pb2_grpc.StreamerServiceStub(channel), channel,
                    require_roots(service.runtime.config), spans)


async def stop_streamer(streamer: Streamer) -> None:
    await streamer.channel.close()
    await streamer.service.stop()


def push_header(root: Path, relative: str, created: dict, **extra) -> streamer_pb2.PushHeader:
    """The header of a push of `relative` (under `root`; the pipeline is in `extra`, if any) into
    the Frame.io file `created` (local_upload's data)."""
    st = (root / relative).stat()
    fields = {"path": relative, "size": st.st_size, "mtime_ns": st.st_mtime_ns,
              "content_type": created["media_type"] or "", "job_id": "job-push", **extra}
    return streamer_pb2.PushHeader(**fields)


def upload_parts(created: dict) -> list[streamer_pb2.UploadPart]:
    return [streamer_pb2.UploadPart(size=p["size"], url=p["url"]) for p in created["upload_urls"]]


def push_call(stub: streamer_pb2_grpc.StreamerServiceStub, root: Path, relative: str, created: dict,
              timeout: float | None = None, **extra) -> grpc.aio.StreamStreamCall:
    """A Push call of `relative` into the Frame.io file `created`, its parts as they were given."""
    return stub.Push(push_requests(push_header(root, relative, created, **extra), upload_parts(created)),
                     timeout=timeout, wait_for_ready=True)


async def collect(call) -> list[streamer_pb2.TransferProgress]:
    return [progress async for progress in call]


@contextlib.asynccontextmanager
async def limited_streamer(tmp_path: Path, bwlimit: str,
                           clock: Callable[[], datetime] = datetime.now) -> AsyncIterator[Streamer]:
    """The real streamer with `transfer.bwlimit` = `bwlimit`, reading its timetable at `clock`."""
    config = streamer_config(tmp_path, transfer={"bwlimit": bwlimit})
    service = build_service(Runtime(config, TracerProvider()), grpc_address="127.0.0.1:0",
                            http_address="127.0.0.1:0", http_limits=TEST_LIMITS, clock=clock)
    await service.start()
    streamer = connected(service, InMemorySpanExporter())
    try:
        yield streamer
    finally:
        await stop_streamer(streamer)


def run_streamer_process(tmp_path: Path, **sections: object) -> subprocess.CompletedProcess[str]:
    """`python -m services.streamer` on a config with a fresh watch root, loopback ports and
    `sections` on top, run to its end (a config it refuses ends it at once)."""
    (tmp_path / "watch").mkdir(exist_ok=True)
    config = {"watch": {"root": str(tmp_path / "watch")}, "state_dir": str(tmp_path / "state"), "mesh": MESH_OFF,
              "streamer": {"listen": f"127.0.0.1:{free_port()}", "tunnel": {"mode": "none"}},
              "services": {"streamer": f"127.0.0.1:{free_port()}"}, **sections}
    (tmp_path / "config.json").write_text(json.dumps(config))
    return subprocess.run([sys.executable, "-m", "services.streamer", "-c", str(tmp_path / "config.json")],
                          env=child_env(), capture_output=True, text=True, timeout=30)
