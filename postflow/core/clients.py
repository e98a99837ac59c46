"""Clients of the three gRPC services, and the small job/status helpers the CLI uses."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import grpc
import httpx

from postflow.core.config import Config, local_url, require_watch_root
from postflow.core.errors import InvalidArgument, Unavailable
from postflow.core.protos import label
from postflow.core.rpc import check_health, open_channel
from postflow.v1 import (
    auth_pb2,
    auth_pb2_grpc,
    common_pb2,
    streamer_pb2,
    streamer_pb2_grpc,
    watcher_pb2,
    watcher_pb2_grpc,
)

FINAL_STATES = {common_pb2.JOB_STATE_DONE, common_pb2.JOB_STATE_FAILED, common_pb2.JOB_STATE_CANCELLED}


class Clients:
    """Channels and stubs to auth, watcher and streamer; an async context manager."""

    def __init__(self, config: Config, tracer_provider=None) -> None:
        self._channels = {
            name: open_channel(getattr(config.services, name), tracer_provider)
            for name in ("auth", "watcher", "streamer")
        }
        self.auth = auth_pb2_grpc.AuthServiceStub(self._channels["auth"])
        self.watcher = watcher_pb2_grpc.WatcherServiceStub(self._channels["watcher"])
        self.streamer = streamer_pb2_grpc.StreamerServiceStub(self._channels["streamer"])

    async def __aenter__(self) -> Clients:
        return self

    async def __aexit__(self, *exc) -> None:
        await asyncio.gather(*(channel.close() for channel in self._channels.values()))


async def gather_status(config: Config, clients: Clients) -> dict:
    services = dict(zip(
        ("auth", "watcher", "streamer"),
        await asyncio.gather(*(check_health(getattr(config.services, n)) for n in ("auth", "watcher", "streamer"))),
    ))
    services["dashboard"] = await _dashboard_health(config)
    status: dict = {"services": services, "auth": None, "tunnel": None, "jobs": None}
    if services["auth"] == "SERVING":
        auth = await clients.auth.GetStatus(auth_pb2.GetAuthStatusRequest(), timeout=5)
        status["auth"] = {"state": label(auth_pb2.AuthState, auth.state),
                          "user": auth.user_email or auth.user_name, "message": auth.message}
    if services["streamer"] == "SERVING":
        tunnel = await clients.streamer.GetTunnelStatus(streamer_pb2.GetTunnelStatusRequest(), timeout=5)
        status["tunnel"] = {"mode": label(streamer_pb2.TunnelMode, tunnel.mode),
                            "state": label(streamer_pb2.TunnelState, tunnel.state),
                            "url": tunnel.public_url, "restarts": tunnel.restarts}
    if services["watcher"] == "SERVING":
        stats = await clients.watcher.GetStats(watcher_pb2.GetStatsRequest(), timeout=5)
        status["jobs"] = dict(stats.jobs_by_state)
    return status


async def _dashboard_health(config: Config) -> str:
    url = local_url(config.dashboard.listen, "dashboard.listen")
    async with httpx.AsyncClient(timeout=2) as client:
        try:
            response = await client.get(f"{url}/livez")
        except httpx.HTTPError:
            return "UNREACHABLE"
    return "SERVING" if response.status_code == 200 else "NOT_SERVING"


def print_status(status: dict, out=sys.stdout) -> None:
    for name, health in status["services"].items():
        print(f"{name:<10} {health}", file=out)
    if status["auth"]:
        auth = status["auth"]
        print(f"frame.io   {auth['state']}{' as ' + auth['user'] if auth['user'] else ''}", file=out)
    if status["tunnel"]:
        tunnel = status["tunnel"]
        print(f"tunnel     {tunnel['mode']} {tunnel['state']} {tunnel['url'] or '(no URL yet)'}", file=out)
    if status["jobs"] is not None:
        counts = ", ".join(f"{k} {v}" for k, v in sorted(status["jobs"].items()) if v) or "none"
        print(f"jobs       {counts}", file=out)


async def list_jobs(clients: Clients, states: list[str], limit: int) -> list[common_pb2.Job]:
    try:
        wanted = [common_pb2.JobState.Value(f"JOB_STATE_{s.upper()}") for s in states]
    except ValueError as exc:
        raise InvalidArgument(f"--state: {exc}") from None
    response = await clients.watcher.ListJobs(watcher_pb2.ListJobsRequest(states=wanted, page_size=limit), timeout=10)
    return list(response.jobs)


def print_jobs(jobs: list[common_pb2.Job], out=sys.stdout) -> None:
    if not jobs:
        print("no jobs", file=out)
    for job in jobs:
        progress = f"{100 * job.bytes_done // job.size if job.size else 0:>3}%"
        detail = job.error or job.waiting_reason or job.view_url
        print(f"{job.id}  {label(common_pb2.JobState, job.state):<10} {progress}  {job.path}  {detail}", file=out)


async def submit(clients: Clients, path: str, destination: str) -> tuple[common_pb2.Job, int]:
    """Queues the file; returns its job and the event sequence number from just before, so
    following it needs no snapshot of every job and misses none of its events."""
    absolute = os.path.abspath(path) if os.path.exists(path) else path
    stats = await clients.watcher.GetStats(watcher_pb2.GetStatsRequest(), timeout=30)
    job = await clients.watcher.SubmitFile(
        watcher_pb2.SubmitFileRequest(path=absolute, destination=destination), timeout=30
    )
    return job, stats.last_seq


async def follow_job(clients: Clients, job: common_pb2.Job, after_seq: int, out=sys.stderr) -> int:
    """Shows a progress bar until the job ends; exit code 0 only for DONE."""
    if job.state in FINAL_STATES:  # an earlier submission of the same file already finished
        return report_end(job)
    async for event in clients.watcher.WatchJobs(watcher_pb2.WatchJobsRequest(after_seq=after_seq)):
        if event.job.id != job.id:
            continue
        job = event.job
        fraction = job.bytes_done / job.size if job.size else 0.0
        bar = "#" * int(30 * fraction)
        state = label(common_pb2.JobState, job.state)
        print(f"\r[{bar:<30}] {100 * fraction:5.1f}% {state:<10}", end="", file=out, flush=True)
        if job.state in FINAL_STATES:
            print(file=out)
            return report_end(job)
    raise Unavailable("the watcher closed the job stream")


def report_end(job: common_pb2.Job) -> int:
    print(job.view_url or job.error or label(common_pb2.JobState, job.state))
    return 0 if job.state == common_pb2.JOB_STATE_DONE else 1


async def publish(config: Config, clients: Clients, path: str, ttl_s: int) -> streamer_pb2.Publication:
    root = require_watch_root(config)
    target = Path(path).expanduser()
    target = (target if target.is_absolute() else Path.cwd() / target).resolve()
    if not target.is_relative_to(root):
        raise InvalidArgument(f"{path}: not inside the watch root {root}")
    stat = target.stat()
    return await clients.streamer.Publish(streamer_pb2.PublishRequest(
        path=target.relative_to(root).as_posix(), size=stat.st_size, mtime_ns=stat.st_mtime_ns, ttl_s=ttl_s,
    ), timeout=30)


async def wait_connected(clients: Clients, timeout: float) -> auth_pb2.AuthStatus:
    async def first_connected() -> auth_pb2.AuthStatus:
        async for status in clients.auth.WatchStatus(auth_pb2.WatchAuthStatusRequest()):
            if status.state == auth_pb2.AUTH_STATE_CONNECTED:
                return status
        raise Unavailable("the auth service closed the status stream")

    try:
        return await asyncio.wait_for(first_connected(), timeout)
    except TimeoutError:
        raise Unavailable(f"not connected within {timeout:.0f}s") from None
    except grpc.RpcError as exc:
        raise Unavailable(f"auth service: {exc.details()}") from None
