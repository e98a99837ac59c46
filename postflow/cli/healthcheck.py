"""Container healthcheck: `python -m postflow.cli.healthcheck HOST:PORT` asks the gRPC health
service (exit 0 when SERVING); `--http URL` checks an HTTP endpoint such as /livez."""

from __future__ import annotations

import argparse
import asyncio
import sys

import httpx

from postflow.core.rpc import check_health


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m postflow.cli.healthcheck")
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("address", nargs="?", help="gRPC HOST:PORT")
    target.add_argument("--http", help="URL that must answer 200")
    args = parser.parse_args(argv)
    if args.http:
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
