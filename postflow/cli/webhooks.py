"""`postflow webhooks log|replay`: the watcher's delivery log of webhooks and notifications,
and sending one of its entries again (admin only: the admin certificate, or a key with the
admin scope)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TextIO

from postflow.cli.actions import actions_of
from postflow.cli.commands import CALL_TIMEOUT_S, run_rpc
from postflow.core.clients import Clients
from postflow.core.config import load_config
from postflow.core.dates import utc_minute
from postflow.core.protos import to_seconds
from postflow.v1 import watcher_pb2
from services.dashboard.views import delivery_view


def add_commands(webhooks: argparse.ArgumentParser) -> None:
    action = actions_of(webhooks)
    sub = action("log", cmd_log, "the delivery log of webhooks and notifications, newest first")
    sub.add_argument("--json", action="store_true", help="a JSON list")
    sub.add_argument("--limit", type=int, default=50, help="at most this many entries (up to 500)")
    action("replay", cmd_replay, "send a logged delivery again now (the same body and Idempotency-Key)").add_argument(
        "id", type=int, help="the entry's number, from `postflow webhooks log`")


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
