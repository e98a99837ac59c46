"""`postflow route PATH`: where a file would go and why, from the config alone (a dry run)."""

from __future__ import annotations

import argparse
import json
import sys

from postflow.core.config import load_config
from services.watcher.routing import NotRouted, Router

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
