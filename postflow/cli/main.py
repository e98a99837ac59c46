"""The `postflow` command (DESIGN §5.1). Each sub-command is a thin wrapper over a service's
gRPC API or over the supervisor, demo and emulator."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Callable
from pathlib import Path

import grpc

from postflow.core.config import (
    Config,
    ConfigError,
    load_config,
    local_url,
    require_client,
    require_watch_root,
    to_dict,
)
from postflow.core.errors import PostflowError, from_rpc_error

EXIT_CONFIG = 2


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 1
    try:
        return args.handler(args)
    except ConfigError as exc:
        print(f"postflow: config error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except PostflowError as exc:
        print(f"postflow: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="postflow", description="Media from a shared folder into Frame.io, live.")
    commands = parser.add_subparsers(metavar="COMMAND")

    def command(name: str, handler: Callable[[argparse.Namespace], int], help_text: str, config: bool = True):
        sub = commands.add_parser(name, help=help_text, description=help_text)
        if config:
            sub.add_argument("-c", "--config", help="JSON config file (default: $POSTFLOW_CONFIG)")
        sub.set_defaults(handler=handler)
        return sub

    sub = command("demo", cmd_demo, "run everything on loopback against the Frame.io emulator", config=False)
    sub.add_argument("--state-dir", type=Path, help="where the demo keeps its state and drop folder")
    sub.add_argument("--dashboard-port", type=int, default=8000, help="preferred dashboard port (0: any)")
    sub.add_argument("--emulator-port", type=int, default=8790, help="preferred emulator port (0: any)")
    command("up", cmd_up, "run the four services, supervised")
    sub = command("emulator", cmd_emulator, "run the Frame.io v4 + Adobe IMS emulator", config=False)
    sub.add_argument("rest", nargs=argparse.REMAINDER, help="--host H --port P ...")
    sub = command("login", cmd_login, "connect Frame.io (prints the URL to open)")
    sub.add_argument("--timeout", type=float, default=600, help="seconds to wait for the browser")
    command("logout", cmd_logout, "disconnect Frame.io: revoke and wipe the tokens")
    sub = command("status", cmd_status, "health of each service, tunnel, auth, job counts")
    sub.add_argument("--json", action="store_true")
    sub = command("jobs", cmd_jobs, "list jobs")
    sub.add_argument("--json", action="store_true")
    sub.add_argument("--state", action="append", default=[], help="only jobs in this state (repeatable)")
    sub.add_argument("--limit", type=int, default=50)
    sub = command("submit", cmd_submit, "queue a file inside the watch root now")
    sub.add_argument("path")
    sub.add_argument("--wait", action="store_true", help="follow the job until it is done or failed")
    sub.add_argument("--destination", default="", help="Frame.io folder path (default: mirror the watch tree)")
    for name, handler, text in (("retry", cmd_retry, "retry a failed or cancelled job"),
                                ("cancel", cmd_cancel, "cancel a job")):
        command(name, handler, text).add_argument("id")
    sub = command("publish", cmd_publish, "print a temporary URL for one file in the watch root")
    sub.add_argument("path")
    sub.add_argument("--ttl", type=int, default=3600, help="seconds the URL stays valid")
    command("check-config", cmd_check_config, "validate a config file")
    sub = command("migrate-config", cmd_migrate_config, "convert a v3 config to v4", config=False)
    sub.add_argument("rest", nargs=argparse.REMAINDER, help="OLD [-o NEW]")
    return parser


def cmd_demo(args: argparse.Namespace) -> int:
    from postflow.cli.demo import default_state_dir, run_demo

    state_dir = (args.state_dir or default_state_dir()).expanduser().resolve()
    return asyncio.run(run_demo(state_dir, args.dashboard_port, args.emulator_port))


def cmd_up(args: argparse.Namespace) -> int:
    from postflow.cli.supervisor import Supervisor

    config = load_config(args.config)
    config_path = str(Path(args.config).resolve()) if args.config else None
    return asyncio.run(Supervisor(config_path, config.state_path).run())


def cmd_emulator(args: argparse.Namespace) -> int:
    from postflow.emulator.server import main as emulator_main

    return emulator_main(args.rest)


def cmd_migrate_config(args: argparse.Namespace) -> int:
    from postflow.cli.migrate import main as migrate_main

    return migrate_main(args.rest)


def cmd_check_config(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    require_client(config)
    require_watch_root(config)
    print(json.dumps(to_dict(config), indent=2))
    print("config OK", file=sys.stderr)
    return 0


def run_rpc(args: argparse.Namespace, call) -> int:
    """Runs `call(clients)` against the services named in the config; maps gRPC errors."""
    from postflow.core.clients import Clients

    config = load_config(args.config)

    async def go() -> int:
        async with Clients(config) as clients:
            try:
                return await call(config, clients)
            except grpc.RpcError as exc:
                raise from_rpc_error(exc) from None

    return asyncio.run(go())


def cmd_status(args: argparse.Namespace) -> int:
    from postflow.core.clients import gather_status, print_status

    async def call(config: Config, clients) -> int:
        status = await gather_status(config, clients)
        print(json.dumps(status, indent=2)) if args.json else print_status(status)
        return 0 if all(s == "SERVING" for s in status["services"].values()) else 1

    return run_rpc(args, call)


def cmd_jobs(args: argparse.Namespace) -> int:
    from postflow.core.clients import list_jobs, print_jobs
    from services.dashboard.views import job_to_dict

    async def call(config: Config, clients) -> int:
        jobs = await list_jobs(clients, args.state, args.limit)
        print(json.dumps([job_to_dict(j) for j in jobs], indent=2)) if args.json else print_jobs(jobs)
        return 0

    return run_rpc(args, call)


def cmd_submit(args: argparse.Namespace) -> int:
    from postflow.core.clients import follow_job, submit

    async def call(config: Config, clients) -> int:
        job, after_seq = await submit(clients, args.path, args.destination)
        print(f"queued {job.id} {job.path}")
        return await follow_job(clients, job, after_seq) if args.wait else 0

    return run_rpc(args, call)


def cmd_retry(args: argparse.Namespace) -> int:
    return job_action(args, "RetryJob", "retrying")


def cmd_cancel(args: argparse.Namespace) -> int:
    return job_action(args, "CancelJob", "cancelled")


def job_action(args: argparse.Namespace, rpc: str, verb: str) -> int:
    from postflow.v1 import watcher_pb2

    async def call(config: Config, clients) -> int:
        request = getattr(watcher_pb2, f"{rpc}Request")(id=args.id)
        job = await getattr(clients.watcher, rpc)(request, timeout=30)
        print(f"{verb} {job.id} {job.path}")
        return 0

    return run_rpc(args, call)


def cmd_publish(args: argparse.Namespace) -> int:
    from postflow.core.clients import publish

    async def call(config: Config, clients) -> int:
        publication = await publish(config, clients, args.path, args.ttl)
        print(publication.url)
        return 0

    return run_rpc(args, call)


def cmd_login(args: argparse.Namespace) -> int:
    from postflow.core.clients import wait_connected

    async def call(config: Config, clients) -> int:
        dashboard = local_url(config.dashboard.listen, "dashboard.listen")
        print(f"Open this URL in a browser to connect Frame.io:\n  {dashboard}/auth/login", flush=True)
        status = await wait_connected(clients, args.timeout)
        print(f"connected as {status.user_name or status.user_email or 'Frame.io user'}")
        return 0

    return run_rpc(args, call)


def cmd_logout(args: argparse.Namespace) -> int:
    from postflow.v1 import auth_pb2

    async def call(config: Config, clients) -> int:
        await clients.auth.Disconnect(auth_pb2.DisconnectRequest(), timeout=30)
        print("disconnected; tokens revoked and wiped")
        return 0

    return run_rpc(args, call)
