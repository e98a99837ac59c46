"""The `postflow` sub-commands that talk to the running services: each a thin wrapper over
their gRPC API (and the dashboard's `/livez`) that prints the answer and returns the exit code."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

import grpc
import httpx

from postflow.cli import output
from postflow.cli.supervisor import SERVICES, read_metrics_addresses
from postflow.core.clients import ApiKeyAccess, Clients
from postflow.core.config import Config, dashboard_url, load_config
from postflow.core.errors import InvalidArgument, Unavailable, from_rpc_error
from postflow.core.mesh.audit_query import entry_view, merged_audit, parse_since
from postflow.core.mesh.certs import CertPaths, certificate_report
from postflow.core.pipelines import DEFAULT
from postflow.core.rpc import check_health
from postflow.v1 import auth_pb2, common_pb2, streamer_pb2, watcher_pb2
from services.dashboard.views import auth_view, job_to_dict, tunnel_view
from services.watcher.routing import NotRouted, Router

CALL_TIMEOUT_S = 30
PROBE_TIMEOUT_S = 5
FINAL_STATES = {common_pb2.JOB_STATE_DONE, common_pb2.JOB_STATE_FAILED, common_pb2.JOB_STATE_CANCELLED}
GRPC_SERVICES = ("auth", "watcher", "streamer")


def run_rpc(config: Config, call: Callable[[Clients], Awaitable[int]]) -> int:
    """Runs `call(clients)` against the services named in the config (the watcher on its API
    port when $POSTFLOW_API_KEY is set); gRPC errors become PostflowErrors."""
    api_key = ApiKeyAccess.from_env(config)

    async def go() -> int:
        async with Clients(config, api_key=api_key) as clients:
            try:
                return await call(clients)
            except grpc.RpcError as exc:
                raise from_rpc_error(exc) from None

    return asyncio.run(go())


# -- the job API -------------------------------------------------------------------------------

def cmd_jobs(args: argparse.Namespace) -> int:
    try:
        wanted = [common_pb2.JobState.Value(f"JOB_STATE_{state.upper()}") for state in args.state]
    except ValueError as exc:
        raise InvalidArgument(f"--state: {exc}") from None

    async def call(clients: Clients) -> int:
        request = watcher_pb2.ListJobsRequest(states=wanted, page_size=args.limit)
        jobs = list((await clients.watcher.ListJobs(request, timeout=CALL_TIMEOUT_S)).jobs)
        print(json.dumps([job_to_dict(job) for job in jobs], indent=2)) if args.json else output.print_jobs(jobs)
        return 0

    return run_rpc(load_config(args.config), call)


def cmd_submit(args: argparse.Namespace) -> int:
    path = os.path.abspath(args.path) if os.path.exists(args.path) else args.path

    async def call(clients: Clients) -> int:
        # The sequence number from just before: following the job needs no snapshot and misses none of its events.
        stats = await clients.watcher.GetStats(watcher_pb2.GetStatsRequest(), timeout=CALL_TIMEOUT_S)
        job = await clients.watcher.SubmitFile(
            watcher_pb2.SubmitFileRequest(path=path, destination=args.destination), timeout=CALL_TIMEOUT_S)
        output.print_job("queued", job)
        return await follow_job(clients, job, stats.last_seq) if args.wait else 0

    return run_rpc(load_config(args.config), call)


async def follow_job(clients: Clients, job: common_pb2.Job, after_seq: int) -> int:
    """Shows a progress bar until the job ends; exit code 0 only for DONE."""
    if job.state not in FINAL_STATES:  # else an earlier submission of the same file already finished
        async for event in clients.watcher.WatchJobs(watcher_pb2.WatchJobsRequest(after_seq=after_seq)):
            if event.job.id != job.id:
                continue
            job = event.job
            output.print_progress(job)
            if job.state in FINAL_STATES:
                output.end_progress()
                break
        else:
            raise Unavailable("the watcher closed the job stream")
    output.print_outcome(job)
    return 0 if job.state == common_pb2.JOB_STATE_DONE else 1


def cmd_retry(args: argparse.Namespace) -> int:
    request = watcher_pb2.RetryJobRequest(id=args.id)
    return job_action(args, "retrying", lambda clients: clients.watcher.RetryJob(request, timeout=CALL_TIMEOUT_S))


def cmd_cancel(args: argparse.Namespace) -> int:
    request = watcher_pb2.CancelJobRequest(id=args.id)
    return job_action(args, "cancelled", lambda clients: clients.watcher.CancelJob(request, timeout=CALL_TIMEOUT_S))


def job_action(args: argparse.Namespace, verb: str, act: Callable[[Clients], Awaitable[common_pb2.Job]]) -> int:
    async def call(clients: Clients) -> int:
        output.print_job(verb, await act(clients))
        return 0

    return run_rpc(load_config(args.config), call)


def cmd_publish(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    try:
        pipeline, relpath = Router(config).locate(args.path)
    except NotRouted as exc:
        raise InvalidArgument(str(exc)) from None
    try:
        stat = Path(args.path).expanduser().stat()
    except OSError as exc:
        raise InvalidArgument(f"{args.path}: {exc.strerror}") from None
    request = streamer_pb2.PublishRequest(pipeline=pipeline.config.name, path=relpath, size=stat.st_size,
                                          mtime_ns=stat.st_mtime_ns, ttl_s=args.ttl)

    async def call(clients: Clients) -> int:
        print((await clients.streamer.Publish(request, timeout=CALL_TIMEOUT_S)).url)
        return 0

    return run_rpc(config, call)


# -- status and Frame.io connection ----------------------------------------------------------

def cmd_status(args: argparse.Namespace) -> int:
    config = load_config(args.config)

    async def call(clients: Clients) -> int:
        status = await gather_status(config, clients)
        print(json.dumps(status, indent=2)) if args.json else output.print_status(status)
        return 0 if all(health == "SERVING" for health in status["services"].values()) else 1

    return run_rpc(config, call)


async def gather_status(config: Config, clients: Clients) -> dict:
    *health, dashboard = await asyncio.gather(*(check_health(getattr(config.services, name))
                                                for name in GRPC_SERVICES), dashboard_health(config))
    services = {**dict(zip(GRPC_SERVICES, health, strict=True)), "dashboard": dashboard}
    status: dict = {"services": services, "auth": None, "connections": [], "tunnel": None, "jobs": None,
                    "watch_root": None, "metrics": await asyncio.to_thread(served_metrics, config),
                    "certificates": await certificates(config)}
    if services["auth"] == "SERVING":
        listed = await clients.auth.ListConnections(auth_pb2.ListConnectionsRequest(), timeout=PROBE_TIMEOUT_S)
        status["connections"] = [auth_view(connection) for connection in listed.connections]
        status["auth"] = next((view for view in status["connections"] if view["connection"] == DEFAULT), None)
    if services["streamer"] == "SERVING":
        status["tunnel"] = tunnel_view(await clients.streamer.GetTunnelStatus(streamer_pb2.GetTunnelStatusRequest(),
                                                                              timeout=PROBE_TIMEOUT_S))
    if services["watcher"] == "SERVING":
        stats = await clients.watcher.GetStats(watcher_pb2.GetStatsRequest(), timeout=PROBE_TIMEOUT_S)
        status["jobs"] = dict(stats.jobs_by_state)
        status["watch_root"] = {"path": stats.watch_root, "available": stats.watch_root_available,
                                "problem": stats.watch_root_problem}
    return status


def served_metrics(config: Config) -> dict[str, str]:
    """Where each service serves its metrics: as `postflow up` runs them, else as configured
    (only those that are on)."""
    running = read_metrics_addresses(config.state_path)
    if running is not None:
        return running
    return {name: address for name in SERVICES if (address := getattr(config.metrics, name))}


async def certificates(config: Config) -> list[dict] | None:
    """Each mesh certificate's expiry (None with mesh.mtls off), read from this machine's certs dir."""
    if not config.mesh.mtls:
        return None
    return await asyncio.to_thread(certificate_report, CertPaths(config.certs_path))


async def dashboard_health(config: Config) -> str:
    """The dashboard's `/livez`, over https when it serves TLS. The certificate is not checked:
    this probe sends nothing secret, and a certificate for the public name (dashboard.tls_cert)
    does not name the local address it is asked at."""
    async with httpx.AsyncClient(timeout=2, verify=False) as client:
        try:
            response = await client.get(f"{dashboard_url(config)}/livez")
        except httpx.HTTPError:
            return "UNREACHABLE"
    return "SERVING" if response.status_code == 200 else "NOT_SERVING"


def cmd_logout(args: argparse.Namespace) -> int:
    async def call(clients: Clients) -> int:
        status = await clients.auth.Disconnect(auth_pb2.DisconnectRequest(connection=args.connection),
                                               timeout=CALL_TIMEOUT_S)
        print(f"disconnected{output.named(status.connection)}; tokens revoked and wiped")
        return 0

    return run_rpc(load_config(args.config), call)


# -- the audit log ----------------------------------------------------------------------------

def cmd_audit(args: argparse.Namespace) -> int:
    """Every service's audit entries and the CLI's own, newest last. A service that does not
    answer is named on stderr; the others' entries are still shown (exit code 0)."""
    config = load_config(args.config)
    since = parse_since(args.since) if args.since else None

    async def call(clients: Clients) -> int:
        merged = await merged_audit(config, clients.audit, since, args.limit, PROBE_TIMEOUT_S)
        for name, problem in merged.unavailable.items():
            print(f"postflow: warning: no audit entries from {name}: {problem}", file=sys.stderr)
        if args.json:
            for entry in merged.entries:
                print(json.dumps(entry_view(entry)))
        else:
            output.print_audit(merged.entries)
        return 0

    return run_rpc(config, call)
