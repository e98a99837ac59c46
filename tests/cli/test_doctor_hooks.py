"""`postflow doctor` asks the watcher for a dry run of `postflow webhooks setup`: a kept webhook
passes, a missing or outdated one is a warning saying to set them up, and the watcher's refusal
is a warning naming it (polling works without webhooks): never a failure, never a change."""

from __future__ import annotations

import dataclasses
import io

import pytest

from postflow.cli.doctor.hooks import check_frameio_hooks
from postflow.cli.doctor.report import Report
from postflow.core.errors import FailedPrecondition, InvalidArgument, PermissionDenied, PostflowError
from postflow.core.review_config import ReviewConfig
from postflow.testing.fakes import FakeServices, FakeWatcher
from postflow.v1 import watcher_pb2

POLLING = "comments and approvals come back by polling only, every 120 s"


def registration(workspace: str, outcome: str) -> watcher_pb2.FrameioWebhookRegistration:
    return watcher_pb2.FrameioWebhookRegistration(
        connection="default", account_id="acc-1", workspace_id=f"ws-{workspace}", workspace_name=workspace,
        url=f"https://media.example.com/hooks/frameio/{workspace}", events=["comment.created"], outcome=outcome)


async def doctor_lines(watcher: FakeWatcher) -> tuple[list[str], Report]:
    out = io.StringIO()
    report = Report(out)
    async with FakeServices(watcher=watcher).serving("watcher") as services:
        config = dataclasses.replace(services.config, review=ReviewConfig(poll_interval_s=120))
        await check_frameio_hooks(config, report)
    return out.getvalue().splitlines(), report


@pytest.mark.asyncio
async def test_each_workspace_gets_a_line_kept_passes_and_missing_or_outdated_says_to_set_them_up():
    watcher = FakeWatcher()
    watcher.registrations = [registration("Main", "kept"), registration("Promos", "registered"),
                             registration("Archive", "updated")]
    lines, report = await doctor_lines(watcher)
    assert lines == [
        "✓ Frame.io hooks  Frame.io webhook of workspace 'Main' → https://media.example.com/hooks/frameio/Main",
        f"! Frame.io hooks  no Frame.io webhook in workspace 'Promos': {POLLING} → `postflow webhooks setup`",
        "! Frame.io hooks  the Frame.io webhook of workspace 'Archive' no longer posts to "
        "https://media.example.com/hooks/frameio/Archive (its URL or events changed): "
        f"{POLLING} → `postflow webhooks setup`"]
    assert report.passed
    assert watcher.setup_requests == [watcher_pb2.SetupFrameioWebhooksRequest(dry_run=True)]  # only looked


class RefusingWatcher(FakeWatcher):
    def __init__(self, error: PostflowError) -> None:
        super().__init__()
        self.error = error

    async def SetupFrameioWebhooks(self, request, context):
        self.setup_requests.append(request)
        raise self.error


@pytest.mark.asyncio
@pytest.mark.parametrize("error", [
    FailedPrecondition("connection 'default', project 'Dailies': not connected"),
    PermissionDenied("connection 'default': only an account admin can register webhooks"),
    InvalidArgument("public_url: the streamer has no public URL"),
])
async def test_the_watcher_refusing_is_a_warning_naming_the_error(error):
    watcher = RefusingWatcher(error)
    lines, report = await doctor_lines(watcher)
    assert lines == [f"! Frame.io hooks  the watcher could not say ({type(error).__name__}: {error}); webhooks are "
                     f"optional: {POLLING}"]
    assert report.passed
    assert [request.dry_run for request in watcher.setup_requests] == [True]


@pytest.mark.asyncio
async def test_no_workspace_to_watch_is_a_warning():
    lines, report = await doctor_lines(FakeWatcher())
    assert lines == ["! Frame.io hooks  no workspace to register a webhook in (no pipeline names its project "
                     f"outright): {POLLING}"]
    assert report.passed
