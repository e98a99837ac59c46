"""`postflow webhooks log|replay`: the watcher's delivery log of webhooks and notifications,
and sending one of its entries again; `postflow webhooks setup`: registering Frame.io's
webhooks, with an admin's consent (all admin only: the admin certificate, or a key with the
admin scope)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Iterable
from typing import TextIO

from postflow.cli.actions import actions_of
from postflow.cli.commands import CALL_TIMEOUT_S, run_rpc
from postflow.core.clients import Clients
from postflow.core.config import load_config
from postflow.core.dates import utc_minute
from postflow.core.errors import FailedPrecondition
from postflow.core.protos import to_seconds
from postflow.v1 import watcher_pb2
from services.dashboard.views import delivery_view

SETUP_TIMEOUT_S = 120.0  # a workspace per project, each a few Frame.io calls at 10 per minute


def add_commands(webhooks: argparse.ArgumentParser) -> None:
    action = actions_of(webhooks)
    sub = action("log", cmd_log, "the delivery log of webhooks and notifications, newest first")
    sub.add_argument("--json", action="store_true", help="a JSON list")
    sub.add_argument("--limit", type=int, default=50, help="at most this many entries (up to 500)")
    action("replay", cmd_replay, "send a logged delivery again now (the same body and Idempotency-Key)").add_argument(
        "id", type=int, help="the entry's number, from `postflow webhooks log`")
    setup = action("setup", cmd_setup, "register PostFlow's webhook in each Frame.io workspace the pipelines "
                   "deliver into (needs an account admin's login; asks before changing anything)")
    setup.add_argument("--connection", default="", help="only this connection's pipelines (default: all)")
    setup.add_argument("--public-url", default="",
                       help="the base URL Frame.io reaches the streamer at (default: the tunnel's)")
    setup.add_argument("--dry-run", action="store_true", help="say what would be registered, change nothing")
    setup.add_argument("--yes", action="store_true", help="do not ask (for scripts)")


def cmd_log(args: argparse.Namespace) -> int:
    async def call(clients: Clients) -> int:
        answer = await clients.watcher.ListDeliveries(watcher_pb2.ListDeliveriesRequest(limit=args.limit),
                                                      timeout=CALL_TIMEOUT_S)
        deliveries = list(answer.deliveries)
        if args.json:
            print(json.dumps([delivery_view(delivery) for delivery in deliveries], indent=2))
        else:
            print_deliveries(deliveries)
        return 0

    return run_rpc(load_config(args.config), call)


def cmd_replay(args: argparse.Namespace) -> int:
    async def call(clients: Clients) -> int:
        delivery = await clients.watcher.ReplayDelivery(watcher_pb2.ReplayDeliveryRequest(id=args.id),
                                                        timeout=CALL_TIMEOUT_S)
        print(f"delivery {delivery.id} ({delivery.event} to {delivery.target}) queued again, "
              f"Idempotency-Key {delivery.idempotency_key}")
        return 0

    return run_rpc(load_config(args.config), call)


def cmd_setup(args: argparse.Namespace) -> int:
    """A dry run first, shown; then, with the admin's consent, the real thing."""
    async def call(clients: Clients) -> int:
        def request(dry_run: bool) -> watcher_pb2.SetupFrameioWebhooksRequest:
            return watcher_pb2.SetupFrameioWebhooksRequest(connection=args.connection, public_url=args.public_url,
                                                           dry_run=dry_run)

        planned = await clients.watcher.SetupFrameioWebhooks(request(True), timeout=SETUP_TIMEOUT_S)
        print_registrations(planned.registrations)
        if args.dry_run or all(r.outcome == "kept" for r in planned.registrations):
            return 0
        print("Frame.io shows each new webhook's secret once; PostFlow keeps it (in its state directory, 0600) to "
              "check every delivery's signature.")
        if not args.yes:
            if not sys.stdin.isatty():
                raise FailedPrecondition("not a terminal, so nobody can consent: add --yes to register these "
                                         "webhooks (or --dry-run to only look)")
            if (await asyncio.to_thread(input, "Register these webhooks? [y/N] ")).strip().lower() not in ("y", "yes"):
                print("nothing registered")
                return 1
        done = await clients.watcher.SetupFrameioWebhooks(request(False), timeout=SETUP_TIMEOUT_S)
        print_registrations(done.registrations)
        return 0

    return run_rpc(load_config(args.config), call)


def print_registrations(registrations: Iterable[watcher_pb2.FrameioWebhookRegistration],
                        out: TextIO = sys.stdout) -> None:
    for registration in registrations:
        print(f"{registration.outcome:<15} workspace {registration.workspace_name!r} (connection "
              f"{registration.connection}): {registration.url}", file=out)
        print(f"{'':<15} events {', '.join(registration.events)}", file=out)


def print_deliveries(deliveries: list[watcher_pb2.Delivery], out: TextIO = sys.stdout) -> None:
    if not deliveries:
        print("no deliveries yet", file=out)
    for delivery in deliveries:
        when = utc_minute(to_seconds(delivery.created_at))
        what = delivery.path or "-"
        status = delivery.status
        if delivery.status == "pending" and delivery.attempts:
            status = f"retrying ({delivery.attempts} tries: {delivery.last_error})"
        elif delivery.status == "rejected":
            status = f"rejected: {delivery.last_error}"
        print(f"{delivery.id:>6} {when}  {delivery.event:<16} {delivery.target:<32} {what}  {status}", file=out)
