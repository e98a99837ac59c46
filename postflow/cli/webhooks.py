"""`postflow webhooks log|replay`: the watcher's delivery log of webhooks and notifications,
and sending one of its entries again (admin only: the admin certificate, or a key with the
admin scope)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any, TextIO

from postflow.cli.commands import CALL_TIMEOUT_S, run_rpc
from postflow.core.clients import Clients
from postflow.core.config import load_config
from postflow.core.dates import utc_minute
from postflow.core.protos import to_seconds
from postflow.v1 import watcher_pb2

MOMENTS = ("created_at", "next_attempt_at", "sent_at")


def add_commands(webhooks: argparse.ArgumentParser) -> None:
    def usage(_: argparse.Namespace) -> int:
        webhooks.print_help()
        return 1

    webhooks.set_defaults(handler=usage, hands_on=False)
    actions = webhooks.add_subparsers(metavar="ACTION")

    def action(name: str, handler: Callable[[argparse.Namespace], int], help_text: str) -> argparse.ArgumentParser:
        sub = actions.add_parser(name, help=help_text, description=help_text)
        sub.add_argument("-c", "--config", help="JSON config file (default: $POSTFLOW_CONFIG)")
        sub.set_defaults(handler=handler)
        return sub

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
            print(json.dumps([delivery_to_dict(delivery) for delivery in deliveries], indent=2))
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


def delivery_to_dict(delivery: watcher_pb2.Delivery) -> dict[str, Any]:
    return {"id": delivery.id, "kind": delivery.kind, "target": delivery.target, "event": delivery.event,
            "status": delivery.status, "idempotency_key": delivery.idempotency_key, "attempts": delivery.attempts,
            "last_error": delivery.last_error, "job_id": delivery.job_id, "path": delivery.path,
            "pipeline": delivery.pipeline,
            **{moment: getattr(delivery, moment).ToJsonString() if delivery.HasField(moment) else None
               for moment in MOMENTS}}


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
