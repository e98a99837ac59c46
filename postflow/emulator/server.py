"""Running the emulator: `running_emulator()` in-process (tests of other components),
`serve()` until SIGINT/SIGTERM, and `main()` behind `postflow emulator` and
`python -m postflow.emulator`."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import uvicorn

from postflow.core.asgi import AppServer
from postflow.core.logs import setup_logging
from postflow.core.net import CannotListen, http_url, listen
from postflow.emulator.app import EmulatorState, build_app
from postflow.emulator.options import REFUSAL_STATUSES, STACK_PLACEMENTS, EmulatorOptions
from postflow.emulator.seed import DEFAULT_SEED, load_seed

DEFAULT_HOST, DEFAULT_PORT = "127.0.0.1", 8790
GRACEFUL_SHUTDOWN_S = 5


@dataclass(frozen=True)
class EmulatorHandle:
    url: str  # e.g. "http://127.0.0.1:43123": the Frame.io API base and the IMS base alike
    port: int
    state: EmulatorState
    server_task: asyncio.Task  # done once the server has stopped


@contextlib.asynccontextmanager
async def running_emulator(options: EmulatorOptions | None = None, host: str = DEFAULT_HOST,
                           port: int = 0) -> AsyncIterator[EmulatorHandle]:
    """Runs an emulator in this event loop until the block exits; port 0 picks a free port."""
    with listen(host, port) as sock:
        app = build_app(options)
        config = uvicorn.Config(app, log_level="warning", lifespan="on", access_log=False,
                                timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S)
        async with AppServer(config, sock, "the emulator") as server:
            yield EmulatorHandle(http_url(host, server.port), server.port, app.state.emulator, server.task)


async def serve(host: str, port: int, options: EmulatorOptions | None = None,
                ready: Callable[[EmulatorHandle], None] | None = None) -> None:
    """Runs the emulator until SIGINT or SIGTERM; `ready(handle)` is called once it listens."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        async with running_emulator(options, host, port) as handle:
            if ready is not None:
                ready(handle)
            stopping = asyncio.create_task(stop.wait())
            await asyncio.wait({stopping, handle.server_task}, return_when=asyncio.FIRST_COMPLETED)
            stopping.cancel()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


def print_banner(handle: EmulatorHandle) -> None:
    seeded = handle.state.seeded()
    print(f"Frame.io v4 + Adobe IMS emulator at {handle.url}\n"
          f"  OAuth client_id: {seeded['client_id']}\n"
          f"  account_id:      {seeded['account_id']}\n"
          f"  workspace_id:    {seeded['workspace_id']}\n"
          f"  project_id:      {seeded['project_id']}\n"
          f"  root_folder_id:  {seeded['root_folder_id']}", flush=True)
    if handle.state.options.seed != DEFAULT_SEED:
        projects = sum(len(w["projects"]) for a in seeded["accounts"] for w in a["workspaces"])
        print(f"  seeded:          {len(seeded['users'])} users, {len(seeded['accounts'])} accounts, {projects} "
              f"projects, {len(seeded['clients'])} clients (every id: GET /_emulator/state)", flush=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    defaults = EmulatorOptions()
    parser = argparse.ArgumentParser(prog="postflow emulator", description="Frame.io v4 + Adobe IMS emulator")
    parser.add_argument("--host", default=DEFAULT_HOST, help=f"address to listen on (default {DEFAULT_HOST})")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT}; 0: any)")
    parser.add_argument("--access-token-ttl", type=int, metavar="S", default=defaults.access_token_ttl_s,
                        help="access token lifetime in seconds (default %(default)s)")
    parser.add_argument("--refresh-token-ttl", type=int, metavar="S", default=defaults.refresh_token_ttl_s,
                        help="refresh token lifetime in seconds, counted from the login (default %(default)s)")
    parser.add_argument("--allow-http-loopback-redirect", action="store_true",
                        help="accept http redirect URIs on loopback hosts (demo and tests; IMS takes https only)")
    parser.add_argument("--no-rate-limits", action="store_true", help="do not enforce Frame.io's rate limits")
    parser.add_argument("--processing-delay", type=float, metavar="S", default=defaults.processing_delay_s,
                        help="seconds from an upload's last byte to upload_complete (default %(default)s)")
    parser.add_argument("--remote-upload-refusal", type=int, choices=REFUSAL_STATUSES,
                        default=defaults.remote_upload_refusal,
                        help="status for an unreadable or oversize remote-upload source (default %(default)s)")
    parser.add_argument("--upload-part-size", type=int, metavar="BYTES", default=defaults.upload_part_size,
                        help="local-upload part size (default %(default)s)")
    parser.add_argument("--upload-max-parts", type=int, metavar="N", default=defaults.upload_max_parts,
                        help="most part URLs per file; beyond, parts grow (default %(default)s)")
    parser.add_argument("--upload-url-ttl", type=int, metavar="S", default=defaults.upload_url_ttl_s,
                        help="part URL lifetime in seconds (default %(default)s)")
    parser.add_argument("--version-stack-placement", choices=STACK_PLACEMENTS,
                        default=defaults.version_stack_placement,
                        help="where a file moved into a version stack lands (default %(default)s)")
    parser.add_argument("--webhook-backoff", type=float, metavar="S", default=defaults.webhook_backoff_s,
                        help="first wait before a webhook delivery is retried; doubles (default %(default)s)")
    parser.add_argument("--webhook-deadline", type=float, metavar="S", default=defaults.webhook_deadline_s,
                        help="a webhook delivery not answered within it has failed (default %(default)s)")
    parser.add_argument("--seed", type=Path, metavar="FILE",
                        help="JSON file of users, accounts, workspaces, projects and OAuth clients to start with "
                             "(shape: postflow/emulator/seed.py; default: one of each)")
    return parser.parse_args(argv)


def options_from(args: argparse.Namespace) -> EmulatorOptions:
    """The options the command line asks for (ValueError naming the flag if one is out of range,
    or the seed file's key if it is invalid). Reads the seed file: call it before the event loop."""
    for flag, value, minimum in (("--access-token-ttl", args.access_token_ttl, 1),
                                 ("--refresh-token-ttl", args.refresh_token_ttl, 1),
                                 ("--processing-delay", args.processing_delay, 0),
                                 ("--upload-part-size", args.upload_part_size, 1),
                                 ("--upload-max-parts", args.upload_max_parts, 1),
                                 ("--upload-url-ttl", args.upload_url_ttl, 1),
                                 ("--webhook-backoff", args.webhook_backoff, 0.001),
                                 ("--webhook-deadline", args.webhook_deadline, 0.001)):
        if value < minimum:
            raise ValueError(f"{flag} must be at least {minimum}")
    try:
        seed = DEFAULT_SEED if args.seed is None else load_seed(args.seed)
    except ValueError as exc:
        raise ValueError(f"--seed {exc}") from None
    return EmulatorOptions(seed=seed, access_token_ttl_s=args.access_token_ttl,
                           refresh_token_ttl_s=args.refresh_token_ttl,
                           allow_http_loopback_redirect=args.allow_http_loopback_redirect,
                           rate_limits=not args.no_rate_limits, processing_delay_s=args.processing_delay,
                           remote_upload_refusal=args.remote_upload_refusal, upload_part_size=args.upload_part_size,
                           upload_max_parts=args.upload_max_parts, upload_url_ttl_s=args.upload_url_ttl,
                           version_stack_placement=args.version_stack_placement,
                           webhook_backoff_s=args.webhook_backoff, webhook_deadline_s=args.webhook_deadline)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        options = options_from(args)
    except ValueError as exc:
        print(f"postflow emulator: {exc}", file=sys.stderr)
        return 2
    mask = setup_logging("emulator")
    for secret in (options.client_secret, *(client.client_secret for client in options.seed.clients)):
        mask.add(secret)
    try:
        asyncio.run(serve(args.host, args.port, options, ready=print_banner))
    except CannotListen as exc:
        print(f"postflow emulator: {exc}", file=sys.stderr)
        return 3  # as a service that cannot listen (postflow.core.service)
    except OSError as exc:
        print(f"postflow emulator: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    return 0
