"""The pipeline commands: `postflow route PATH` (where a file would go and why, from the
config alone), `postflow pipelines` (each one as running, with counts), `postflow rescan`,
and `postflow reload` (the config file again, without a restart)."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys

from postflow.cli import output
from postflow.cli.commands import CALL_TIMEOUT_S, run_rpc
from postflow.cli.supervisor import read_pid
from postflow.core.clients import Clients
from postflow.core.config import load_config
from postflow.core.pipelines import require_roots
from postflow.v1 import watcher_pb2
from services.watcher.routing import NotRouted, Router

# Read the config file again on SIGHUP; the watcher is asked over gRPC (it answers what changed).
RELOADED_BY_SIGNAL = ("streamer", "auth")

ROUTE_FIELDS = ("pipeline", "connection", "project", "folder", "name", "mode", "rule")


def cmd_route(args: argparse.Namespace) -> int:
    router = Router(load_config(args.config))
    try:
        route = router.route(args.path)
    except NotRouted as exc:
        print(f"postflow route: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(route.as_dict()))
        return 0
    shown = route.as_dict()
    shown["project"] = shown["project"] or "(the connection's default project)"
    shown["folder"] = shown["folder"] or "(the project's root folder)"
    width = max(map(len, ROUTE_FIELDS))
    for field in ROUTE_FIELDS:
        print(f"{field:<{width}}  {shown[field]}")
    return 0


def cmd_pipelines(args: argparse.Namespace) -> int:
    async def call(clients: Clients) -> int:
        answer = await clients.watcher.ListPipelines(watcher_pb2.ListPipelinesRequest(), timeout=CALL_TIMEOUT_S)
        if args.json:
            print(json.dumps([output.pipeline_to_dict(pipeline) for pipeline in answer.pipelines], indent=2))
        else:
            output.print_pipelines(list(answer.pipelines))
        return 0

    return run_rpc(load_config(args.config), call)


def cmd_rescan(args: argparse.Namespace) -> int:
    async def call(clients: Clients) -> int:
        answer = await clients.watcher.Rescan(watcher_pb2.RescanRequest(
            pipeline=args.pipeline, upload_existing=args.upload_existing), timeout=CALL_TIMEOUT_S)
        queued = f"; {answer.queued} files present at its first start queued" if args.upload_existing else ""
        print(f"pipeline {args.pipeline}: scanning afresh{queued}")
        return 0

    return run_rpc(load_config(args.config), call)


def cmd_reload(args: argparse.Namespace) -> int:
    """Checks the config first (a bad one changes nothing anywhere), then has the streamer and
    auth read it (SIGHUP, when `postflow up` runs them here) and asks the watcher."""
    config = load_config(args.config)
    require_roots(config)
    signalled = []
    for name in RELOADED_BY_SIGNAL:
        pid = read_pid(config.state_path, name)
        if pid is not None:
            try:
                os.kill(pid, signal.SIGHUP)
                signalled.append(name)
            except ProcessLookupError:
                pass
    missed = [name for name in RELOADED_BY_SIGNAL if name not in signalled]
    if missed:
        print(f"postflow reload: {' and '.join(missed)} not run by `postflow up` with this state_dir: send "
              f"{'them' if len(missed) > 1 else 'it'} SIGHUP (compose: docker compose kill -s HUP "
              f"{' '.join(missed)})", file=sys.stderr)

    async def call(clients: Clients) -> int:
        answer = await clients.watcher.ReloadConfig(watcher_pb2.ReloadConfigRequest(), timeout=CALL_TIMEOUT_S)
        for what, names in (("added", answer.added), ("removed", answer.removed), ("changed", answer.changed)):
            print(f"pipelines {what}: {', '.join(names) or 'none'}")
        return 0

    return run_rpc(config, call)
