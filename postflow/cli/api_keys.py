"""`postflow api-keys create|list|revoke`: the API keys other tools call the watcher's job API
with (admin only: the admin certificate, or a key with the admin scope)."""

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
from postflow.core.mesh.identity import Scope
from postflow.core.protos import to_seconds
from postflow.v1 import watcher_pb2


def add_commands(api_keys: argparse.ArgumentParser) -> None:
    action = actions_of(api_keys)
    sub = action("create", cmd_create, "create an API key; it is printed once, alone on the last line")
    sub.add_argument("name", help="unique: 1-64 letters, digits, '-', '_', '.'")
    sub.add_argument("--scope", action="append", required=True, metavar="SCOPE",
                     help=f"repeatable: {', '.join(Scope)}")
    action("list", cmd_list, "list the API keys (never the keys themselves)").add_argument(
        "--json", action="store_true")
    action("revoke", cmd_revoke, "revoke an API key: refused from its next call on").add_argument("name")


def cmd_create(args: argparse.Namespace) -> int:
    request = watcher_pb2.CreateApiKeyRequest(name=args.name, scopes=args.scope)

    async def call(clients: Clients) -> int:
        created = await clients.watcher.CreateApiKey(request, timeout=CALL_TIMEOUT_S)
        print(f"API key {created.api_key.name!r} ({', '.join(created.api_key.scopes)}); shown this once, "
              "send it as `authorization: Bearer <key>`:")
        print(created.key)
        return 0

    return run_rpc(load_config(args.config), call)


def cmd_list(args: argparse.Namespace) -> int:
    async def call(clients: Clients) -> int:
        keys = (await clients.watcher.ListApiKeys(watcher_pb2.ListApiKeysRequest(), timeout=CALL_TIMEOUT_S)).api_keys
        print(json.dumps([key_to_dict(key) for key in keys], indent=2)) if args.json else print_keys(keys)
        return 0

    return run_rpc(load_config(args.config), call)


def cmd_revoke(args: argparse.Namespace) -> int:
    request = watcher_pb2.RevokeApiKeyRequest(name=args.name)

    async def call(clients: Clients) -> int:
        revoked = await clients.watcher.RevokeApiKey(request, timeout=CALL_TIMEOUT_S)
        print(f"revoked {revoked.name}")
        return 0

    return run_rpc(load_config(args.config), call)


def key_to_dict(key: watcher_pb2.ApiKey) -> dict:
    return {"name": key.name, "scopes": list(key.scopes), **{
        field: getattr(key, field).ToJsonString() if key.HasField(field) else None
        for field in ("created_at", "last_used_at", "revoked_at")}}


def print_keys(keys: list[watcher_pb2.ApiKey], out: TextIO = sys.stdout) -> None:
    if not keys:
        print("no API keys", file=out)
    for key in keys:
        when = [f"created {moment(key, 'created_at')}", f"last used {moment(key, 'last_used_at') or 'never'}"]
        if key.HasField("revoked_at"):
            when.append(f"REVOKED {moment(key, 'revoked_at')}")
        print(f"{key.name:<24} {' '.join(key.scopes):<30} {', '.join(when)}", file=out)


def moment(key: watcher_pb2.ApiKey, field: str) -> str:
    return utc_minute(to_seconds(getattr(key, field))) if key.HasField(field) else ""
