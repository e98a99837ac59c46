"""The `postflow` command: its sub-commands and their arguments; the commands that run things
locally (demo, up, emulator, the config tools) are here, those that talk to the running
services in postflow.cli.commands.

`postflow emulator` and `postflow migrate-config` hand all their arguments to the emulator's
and the migration's own parsers, so that they take exactly the flags of
`python -m postflow.emulator` and of the migration, help included."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable
from pathlib import Path

from postflow.cli import commands
from postflow.cli.api_keys import add_commands as add_api_key_commands
from postflow.cli.markers import add_arguments as add_markers_arguments
from postflow.cli.webhooks import add_commands as add_webhook_commands
from postflow.core.config import ConfigError, load_config
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

    sub = command("demo", cmd_demo, "run everything on loopback against the Frame.io emulator",
                  config=False)
    sub.add_argument("--state-dir", type=Path, help="where the demo keeps its state and drop folder")
    sub.add_argument("--dashboard-port", type=int, default=8000, help="preferred dashboard port (0: any)")
    sub.add_argument("--emulator-port", type=int, default=8790, help="preferred emulator port (0: any)")
    command("up", cmd_up, "run the four services, supervised")
    handing_on("emulator", cmd_emulator,
               "run the Frame.io v4 + Adobe IMS emulator ([--host H] [--port P]; -h for all flags)")
    sub = command("login", cmd_login, "connect Frame.io (prints the URL to open)")
    sub.add_argument("--headless", action="store_true",
                     help="for a browser that cannot reach the dashboard: print Adobe's login URL, then read "
                          "the address the browser ended on from stdin")
    sub.add_argument("--timeout", type=float, default=600, help="seconds to wait for the browser (or the paste)")
    add_connection_argument(sub)
    add_connection_argument(command("logout", commands.cmd_logout, "disconnect Frame.io: revoke and wipe the tokens"))
    sub = command("status", commands.cmd_status, "health of each service, tunnel, each Frame.io connection, job counts")
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
    sub = command("publish", commands.cmd_publish, "print a temporary URL for one file in a pipeline's root")
    sub.add_argument("path")
    sub.add_argument("--ttl", type=int, default=3600, help="seconds the URL stays valid")
    sub = command("audit", commands.cmd_audit, "who did what: every service's audit log and the CLI's, newest last")
    sub.add_argument("--since", help="only entries since a duration ago (30m, 2h, 7d) or an ISO 8601 time")
    sub.add_argument("--limit", type=int, default=100, help="at most this many entries, the newest (up to 1000)")
    sub.add_argument("--json", action="store_true", help="one JSON object a line")
    sub = command("doctor", cmd_doctor, "check the deployment end to end: config, IMS, Frame.io, login, "
                                        "services, public URL")
    sub.add_argument("--live", action="store_true",
                     help="also upload two 1 MiB test files into a postflow-doctor folder, stack and delete them")
    api_keys = subcommands.add_parser("api-keys", help="create, list or revoke the API keys of the job API",
                                      description="API keys for other tools calling the watcher's job API")
    add_api_key_commands(api_keys)
    webhooks = subcommands.add_parser(
        "webhooks", help="the delivery log of webhooks and notifications; replay; Frame.io's webhooks setup",
        description="The watcher's delivery log of webhooks and notifications; registering Frame.io's webhooks")
    add_webhook_commands(webhooks)
    command("check-config", cmd_check_config, "validate a config file")
    sub = command("route", cmd_route, "where a file would go (a dry run): pipeline, connection, project, folder, "
                                      "name, transfer mode and the rule that decided")
    sub.add_argument("path", help="the file's path (absolute, or relative to the working directory)")
    sub.add_argument("--json", action="store_true")
    sub = command("pipelines", cmd_pipelines, "the pipelines as running: root, connection, project, job counts, "
                                              "unrouted files")
    sub.add_argument("--json", action="store_true")
    sub = command("rescan", cmd_rescan, "scan a pipeline's root afresh now")
    sub.add_argument("--pipeline", required=True, help="the pipeline's name")
    sub.add_argument("--upload-existing", action="store_true",
                     help="also queue the files recorded as present at its first start (on_start \"new-only\")")
    add_markers_arguments(command("markers", cmd_markers, "a delivered file's review comments as markers for an "
                                                          "editing application (EDL, FCPXML, xmeml, CSV)"))
    command("reload", cmd_reload, "apply the config file's pipelines and connections without a restart "
                                  "(a bad config changes nothing)")
    add_certs_commands(command("certs", cmd_certs, "the mesh's CA and certificates (mesh.certs_dir)", config=False))
    handing_on("migrate-config", cmd_migrate_config, "convert a v3 config to v4 (OLD [-o NEW])")
    return parser


def add_connection_argument(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("--connection", metavar="NAME", default="",
                     help="one of the config's Frame.io connections (`connections`); default: the default one")


def add_certs_commands(certs: argparse.ArgumentParser) -> None:
    actions = certs.add_subparsers(metavar="ACTION", dest="action", required=True)
    helps = {"create": "create the CA and every missing certificate and key (mode 0600)",
             "show": "each certificate's expiry, fingerprint and issuer; exit 1 if one is expired or missing",
             "rotate": "re-issue certificates (default: all) under the same CA, or under a new one with --ca"}
    for name, help_text in helps.items():
        sub = actions.add_parser(name, help=help_text, description=help_text)
        sub.add_argument("-c", "--config", help="JSON config file (default: $POSTFLOW_CONFIG)")
        if name == "show":
            sub.add_argument("--json", action="store_true")
        if name == "rotate":
            sub.add_argument("identities", nargs="*", metavar="IDENTITY", help="auth, watcher, streamer, dashboard "
                                                                               "or admin (default: all)")
            sub.add_argument("--ca", action="store_true", help="a new CA, and every certificate re-issued under it")


# -- the commands that run things locally, login and the config check ---------------------------

def cmd_demo(args: argparse.Namespace) -> int:
    from postflow.cli.demo import default_state_dir, run_demo

    state_dir = (args.state_dir or default_state_dir()).expanduser().resolve()
    return asyncio.run(run_demo(state_dir, args.dashboard_port, args.emulator_port))


def cmd_up(args: argparse.Namespace) -> int:
    from postflow.cli.certs import ensure_mesh_certs
    from postflow.cli.supervisor import Supervisor, metrics_addresses

    config = load_config(args.config)
    config_path = str(Path(args.config).resolve()) if args.config else None
    created = ensure_mesh_certs(config)
    if created:
        print(f"postflow up: created mesh certificates in {config.certs_path}: {', '.join(created)}", file=sys.stderr)
    return asyncio.run(Supervisor(config_path, config.state_path, metrics=metrics_addresses(config)).run())


def cmd_doctor(args: argparse.Namespace) -> int:
    from postflow.cli.doctor import cmd_doctor as doctor

    return doctor(args)


def cmd_emulator(args: argparse.Namespace) -> int:
    from postflow.emulator.server import main as emulator_main

    return emulator_main(args.rest)


def cmd_migrate_config(args: argparse.Namespace) -> int:
    from postflow.cli.migrate import main as migrate_main

    return migrate_main(args.rest)


def cmd_login(args: argparse.Namespace) -> int:
    from postflow.cli.login import cmd_login as login

    return login(args)


def cmd_certs(args: argparse.Namespace) -> int:
    from postflow.cli.certs import cmd_certs as certs

    return certs(args)


def cmd_route(args: argparse.Namespace) -> int:
    from postflow.cli.pipelines import cmd_route as route

    return route(args)


def cmd_pipelines(args: argparse.Namespace) -> int:
    from postflow.cli.pipelines import cmd_pipelines as pipelines

    return pipelines(args)


def cmd_rescan(args: argparse.Namespace) -> int:
    from postflow.cli.pipelines import cmd_rescan as rescan

    return rescan(args)


def cmd_reload(args: argparse.Namespace) -> int:
    from postflow.cli.pipelines import cmd_reload as reload

    return reload(args)


def cmd_markers(args: argparse.Namespace) -> int:
    from postflow.cli.markers import cmd_markers as markers

    return markers(args)


def cmd_check_config(args: argparse.Namespace) -> int:
    from postflow.cli.config_check import cmd_check_config as check_config

    return check_config(args)
