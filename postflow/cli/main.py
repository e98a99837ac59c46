"""The `postflow` command: its sub-commands and their arguments (postflow.cli.commands runs them).

`postflow emulator` and `postflow migrate-config` hand all their arguments to the emulator's
and the migration's own parsers, so that they take exactly the flags of
`python -m postflow.emulator` and of the migration, help included."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from postflow.cli import commands
from postflow.core.config import ConfigError
from postflow.core.errors import PostflowError

EXIT_CONFIG = 2
EXIT_INTERRUPTED = 130


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, handed_on = parser.parse_known_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 1
    if handed_on and not args.hands_on:
        parser.error(f"unrecognized arguments: {' '.join(handed_on)}")
    args.rest = handed_on
    try:
        return args.handler(args)
    except ConfigError as exc:
        print(f"postflow: config error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except PostflowError as exc:
        print(f"postflow: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="postflow", description="Media from a shared folder into Frame.io, live.")
    subcommands = parser.add_subparsers(metavar="COMMAND")

    def command(name: str, handler: Callable[[argparse.Namespace], int], help_text: str,
                config: bool = True) -> argparse.ArgumentParser:
        sub = subcommands.add_parser(name, help=help_text, description=help_text)
        if config:
            sub.add_argument("-c", "--config", help="JSON config file (default: $POSTFLOW_CONFIG)")
        sub.set_defaults(handler=handler, hands_on=False)
        return sub

    def handing_on(name: str, handler: Callable[[argparse.Namespace], int], help_text: str) -> None:
        """A command whose arguments (`-h` too) all go to its own parser."""
        sub = subcommands.add_parser(name, help=help_text, add_help=False)
        sub.set_defaults(handler=handler, hands_on=True)

    sub = command("demo", commands.cmd_demo, "run everything on loopback against the Frame.io emulator",
                  config=False)
    sub.add_argument("--state-dir", type=Path, help="where the demo keeps its state and drop folder")
    sub.add_argument("--dashboard-port", type=int, default=8000, help="preferred dashboard port (0: any)")
    sub.add_argument("--emulator-port", type=int, default=8790, help="preferred emulator port (0: any)")
    command("up", commands.cmd_up, "run the four services, supervised")
    handing_on("emulator", commands.cmd_emulator,
               "run the Frame.io v4 + Adobe IMS emulator ([--host H] [--port P]; -h for all flags)")
    sub = command("login", commands.cmd_login, "connect Frame.io (prints the URL to open)")
    sub.add_argument("--timeout", type=float, default=600, help="seconds to wait for the browser")
    command("logout", commands.cmd_logout, "disconnect Frame.io: revoke and wipe the tokens")
    sub = command("status", commands.cmd_status, "health of each service, tunnel, auth, job counts")
    sub.add_argument("--json", action="store_true")
    sub = command("jobs", commands.cmd_jobs, "list jobs")
    sub.add_argument("--json", action="store_true")
    sub.add_argument("--state", action="append", default=[], help="only jobs in this state (repeatable)")
    sub.add_argument("--limit", type=int, default=50)
    sub = command("submit", commands.cmd_submit, "queue a file inside the watch root now")
    sub.add_argument("path")
    sub.add_argument("--wait", action="store_true", help="follow the job until it is done or failed")
    sub.add_argument("--destination", default="", help="Frame.io folder path (default: mirror the watch tree)")
    command("retry", commands.cmd_retry, "retry a failed or cancelled job").add_argument("id")
    command("cancel", commands.cmd_cancel, "cancel a job").add_argument("id")
    sub = command("publish", commands.cmd_publish, "print a temporary URL for one file in the watch root")
    sub.add_argument("path")
    sub.add_argument("--ttl", type=int, default=3600, help="seconds the URL stays valid")
    command("check-config", commands.cmd_check_config, "validate a config file")
    handing_on("migrate-config", commands.cmd_migrate_config, "convert a v3 config to v4 (OLD [-o NEW])")
    return parser
