"""Clients of the three gRPC services (used by the dashboard and the CLI), and the names
they show for proto enum values."""

from __future__ import annotations

import asyncio
from pathlib import Path

from opentelemetry.trace import TracerProvider

from postflow.core.config import Config
from postflow.core.rpc import open_channel
from postflow.v1 import auth_pb2_grpc, common_pb2, streamer_pb2_grpc, watcher_pb2_grpc


class Clients:
    """Channels and stubs to auth, watcher and streamer; an async context manager."""

    def __init__(self, config: Config, tracer_provider: TracerProvider | None = None) -> None:
        self._channels = {
            name: open_channel(getattr(config.services, name), tracer_provider)
            for name in ("auth", "watcher", "streamer")
        }
        self.auth = auth_pb2_grpc.AuthServiceStub(self._channels["auth"])
        self.watcher = watcher_pb2_grpc.WatcherServiceStub(self._channels["watcher"])
        self.streamer = streamer_pb2_grpc.StreamerServiceStub(self._channels["streamer"])

    async def __aenter__(self) -> Clients:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await asyncio.gather(*(channel.close() for channel in self._channels.values()))


def state_name(state: int) -> str:
    """`JOB_STATE_DONE` → `done` (the name the dashboard and the CLI show)."""
    return common_pb2.JobState.Name(state).removeprefix("JOB_STATE_").lower()


def enum_name(enum, value: int, prefix: str) -> str:
    return enum.Name(value).removeprefix(prefix).lower()


def job_to_dict(job: common_pb2.Job) -> dict:
    return {
        "id": job.id, "path": job.path, "name": Path(job.path).name, "folder": str(Path(job.path).parent).strip("."),
        "size": job.size, "state": state_name(job.state),
        "mode": enum_name(common_pb2.TransferMode, job.mode, "TRANSFER_MODE_"),
        "attempts": job.attempts, "max_attempts": job.max_attempts, "error": job.error,
        "bytes_done": job.bytes_done, "rate_bps": job.rate_bps, "eta_s": job.eta_s,
        "destination": job.destination, "frameio_file_id": job.frameio_file_id, "view_url": job.view_url,
        "trace_id": job.trace_id, "waiting_reason": job.waiting_reason, "version": job.version,
        "created_at": job.created_at.ToJsonString() if job.HasField("created_at") else None,
        "updated_at": job.updated_at.ToJsonString() if job.HasField("updated_at") else None,
    }
