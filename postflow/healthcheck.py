"""Container healthcheck: `python -m postflow.healthcheck HOST:PORT` asks the gRPC health
service (exit 0 when SERVING); `--dashboard [-c FILE]` asks the dashboard's /livez where the
config says it listens, over https when it serves TLS; `--http URL` checks any HTTP endpoint."""

from __future__ import annotations

import argparse
import asyncio
import sys

import httpx

from postflow.core.config import ConfigError, load_config
from postflow.core.rpc import check_health


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m postflow.healthcheck")
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("address", nargs="?", help="gRPC HOST:PORT")
    target.add_argument("--dashboard", action="store_true", help="the dashboard's /livez (from the config)")
    target.add_argument("--http", help="URL that must answer 200")
    parser.add_argument("-c", "--config", help="with --dashboard: JSON config file (default: $POSTFLOW_CONFIG)")
    args = parser.parse_args(argv)
    if args.dashboard:
        from postflow.cli.commands import dashboard_health

        try:
            status = asyncio.run(dashboard_health(load_config(args.config)))
        except ConfigError as exc:
            status = f"config error: {exc}"
        ok = status == "SERVING"
    elif args.http:
        try:
            ok = httpx.get(args.http, timeout=3).status_code == 200
        except httpx.HTTPError:
            ok = False
        status = "OK" if ok else "FAILING"
    else:
        status = asyncio.run(check_health(args.address, timeout=3))
        ok = status == "SERVING"
    print(status)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
