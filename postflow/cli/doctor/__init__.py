"""`postflow doctor [-c FILE] [--live]`: proves a deployment, one line per check (✓ passed,
! passed with a warning, ✗ failed with what to do, - not run). Exit 0 when every check
passed, 1 otherwise. The checks are in `checks`, the `--live` round trip in `live`."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import TextIO

import grpc
import httpx

from postflow.cli.doctor.checks import Checks, check_config
from postflow.cli.doctor.live import FOLDER_NAME, RoundTrip
from postflow.cli.doctor.report import Report
from postflow.core.clients import Clients
from postflow.core.config import Config
from postflow.core.errors import from_rpc_error
from postflow.core.pipelines import require_roots
from postflow.frameio import AuthTokens, FrameioClient
from services.watcher.routing import Router

FRAMEIO_RETRIES = 1  # after a 5xx: the doctor reports trouble rather than waiting it out


def cmd_doctor(args: argparse.Namespace) -> int:
    try:
        return asyncio.run(diagnose(args.config, args.live))
    except grpc.RpcError as exc:  # a service that went away between its health check and a call
        raise from_rpc_error(exc) from None


async def diagnose(config_path: str | None, live: bool, out: TextIO = sys.stdout) -> int:
    report = Report(out)
    config = check_config(config_path, report)
    if config is None:
        report.skip("the rest", "every other check needs the config")
    else:
        await run_checks(config, live, report)
    report.heading("all checks passed" if report.passed else
                   f"{report.failures} check{'s' if report.failures != 1 else ''} failed")
    return 0 if report.passed else 1


async def run_checks(config: Config, live: bool, report: Report) -> None:
    # As the watcher: the doctor does what the watcher does (a Frame.io token, publishing, pushing),
    # and only the watcher is given the token.
    async with Clients(config, identity="watcher") as clients, \
            httpx.AsyncClient(timeout=config.frameio.request_timeout_s) as http:
        frameio = FrameioClient(config.frameio, AuthTokens(clients.auth), http, max_retries=FRAMEIO_RETRIES)
        project = await Checks(config, clients, http, frameio, report).run()
        if not live:
            return
        report.heading(f"live round trip in {FOLDER_NAME}:")
        if project is None or not report.passed:
            report.skip("round trip", "fix what failed above first")
        else:
            require_roots(config)
            pipeline = next(iter(Router(config).pipelines.values()))  # the first: it has the default connection
            await RoundTrip(pipeline, clients.streamer, http, frameio, project, report).run()
