"""The doctor's look at Frame.io's webhooks for the review loop: the watcher's dry run of
`postflow webhooks setup`, a line per workspace. Webhooks are optional (polling brings comments
and approvals back without them), so nothing here fails: what is missing is a `!`."""

from __future__ import annotations

import grpc

from postflow.cli.doctor.report import Report
from postflow.cli.webhooks import SETUP_TIMEOUT_S
from postflow.core.clients import Clients
from postflow.core.config import Config, ConfigError
from postflow.core.errors import from_rpc_error
from postflow.v1 import watcher_pb2

CHECK = "Frame.io hooks"
SETUP_FIX = "`postflow webhooks setup`"


async def check_frameio_hooks(config: Config, report: Report) -> None:
    """What `postflow webhooks setup --dry-run` would do, as ✓ (kept) and ! (would register or update)."""
    polling = f"comments and approvals come back by polling only, every {config.review.poll_interval_s:g} s"
    try:
        async with Clients(config) as admin:  # the setup is admin only, its dry run too
            planned = await admin.watcher.SetupFrameioWebhooks(
                watcher_pb2.SetupFrameioWebhooksRequest(dry_run=True), timeout=SETUP_TIMEOUT_S)
    except (grpc.RpcError, ConfigError) as exc:
        error = from_rpc_error(exc) if isinstance(exc, grpc.RpcError) else exc
        report.warn(CHECK, f"the watcher could not say ({type(error).__name__}: {error}); webhooks are optional: "
                           f"{polling}")
        return
    if not planned.registrations:
        report.warn(CHECK, f"no workspace to register a webhook in (no pipeline names its project outright): "
                           f"{polling}")
    for registration in planned.registrations:
        workspace = f"workspace {registration.workspace_name!r}"
        if registration.outcome == "kept":
            report.ok(CHECK, f"Frame.io webhook of {workspace} → {registration.url}")
        elif registration.outcome == "would update":
            report.warn(CHECK, f"the Frame.io webhook of {workspace} no longer posts to {registration.url} (its "
                               f"URL or events changed): {polling}", SETUP_FIX)
        else:
            report.warn(CHECK, f"no Frame.io webhook in {workspace}: {polling}", SETUP_FIX)
