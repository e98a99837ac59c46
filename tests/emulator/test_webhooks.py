"""Workspace webhooks on the emulator: registration by an admin only (secret shown once, SDK
models), deliveries signed as documented over the exact raw body, 5 attempts with doubling
back-off, the answer deadline, the drop fault, and the events of uploads, versions, comments and
review status, against a loopback receiver."""

import asyncio
import dataclasses
import hashlib
import hmac
import time
from datetime import datetime

import httpx
import pytest
from frameio.comments import CreateCommentParamsData, UpdateCommentParamsData
from frameio.errors import ForbiddenError, NotFoundError, UnprocessableEntityError
from frameio.metadata import BulkUpdateMetadataParamsData, BulkUpdateMetadataParamsDataValuesItem
from frameio.types import MetadataResponse, WebhookCreateResponse, WebhookResponse, WebhooksWithIncludesResponse
from frameio.version_stacks import VersionStackCreateParamsData
from frameio.webhooks import WebhookCreateParamsData, WebhookUpdateParamsData

from postflow.emulator.deliveries import Deliveries
from postflow.emulator.faults import Faults
from postflow.emulator.options import EmulatorOptions
from postflow.emulator.store import Store
from postflow.emulator.webhooks import Webhooks
from postflow.testing.emulator import add_review_comment, emulator_file, set_faults, webhook_deliveries
from postflow.testing.frameio_sdk import NO_RETRIES, remote_upload
from postflow.testing.polling import wait_for
from postflow.testing.receivers import HttpReceiver
from tests.emulator.conftest import REVIEW
from tests.emulator.test_frameio_api import new_file

review = pytest.mark.parametrize("options", [REVIEW])


async def register(sdk, seeded: dict, url: str, events: list[str]) -> str:
    """A webhook of the seeded workspace: its secret."""
    created = await sdk.webhooks.create(seeded["account_id"], seeded["workspace_id"],
                                        data=WebhookCreateParamsData(name="PostFlow", url=url, events=events))
    return created.data.secret


async def settled(url: str, attempts: int) -> list[dict]:
    """The delivery attempts, once there are `attempts` and none is under way."""
    async def done() -> list[dict] | None:
        report = await webhook_deliveries(url)
        return report["deliveries"] if len(report["deliveries"]) >= attempts and not report["pending"] else None

    return await wait_for(done, timeout=8, message=f"{attempts} delivery attempts")


def at(stamp: str) -> float:
    return datetime.fromisoformat(stamp).timestamp()


@pytest.mark.asyncio
@review
async def test_only_an_admin_registers_and_the_secret_is_shown_once(sdk, reviewer_sdk, responses, seeded):
    account_id, workspace_id = seeded["account_id"], seeded["workspace_id"]

    def data(url: str = "https://hooks.example.com/frameio", events=("comment.created",)) -> WebhookCreateParamsData:
        return WebhookCreateParamsData(name="PostFlow", url=url, events=list(events))

    with pytest.raises(ForbiddenError):
        await reviewer_sdk.webhooks.create(account_id, workspace_id, data=data(), request_options=NO_RETRIES)
    with pytest.raises(UnprocessableEntityError) as unknown:
        await sdk.webhooks.create(account_id, workspace_id, data=data(events=("comment.created", "comment.liked")),
                                  request_options=NO_RETRIES)
    assert unknown.value.body["errors"][0]["detail"] == "unknown event(s): comment.liked"
    with pytest.raises(UnprocessableEntityError, match="https"):
        await sdk.webhooks.create(account_id, workspace_id, data=data(url="http://hooks.example.com/frameio"),
                                  request_options=NO_RETRIES)

    await sdk.webhooks.create(account_id, workspace_id, data=data())
    assert responses.last.status_code == 201
    created = responses.parse(WebhookCreateResponse).data
    assert created.secret and created.active and created.workspace_id == workspace_id
    await sdk.webhooks.create(account_id, workspace_id, data=data(url="http://127.0.0.1:9/hooks"))

    await sdk.webhooks.index(account_id, workspace_id, include="creator")
    listed = responses.parse(WebhooksWithIncludesResponse).data
    assert [(w.id, w.creator.email) for w in listed][0] == (created.id, "ann@a.test")
    assert "secret" not in responses.last.text
    await sdk.webhooks.show(account_id, created.id)
    assert responses.parse(WebhookResponse).data.id == created.id and "secret" not in responses.last.text
    with pytest.raises(ForbiddenError):
        await reviewer_sdk.webhooks.show(account_id, created.id, request_options=NO_RETRIES)

    await sdk.webhooks.update(account_id, created.id, data=WebhookUpdateParamsData(active=False, events=["file.ready"]))
    updated = responses.parse(WebhookResponse).data
    assert (updated.active, updated.events, updated.url) == (False, ["file.ready"], created.url)
    await sdk.webhooks.delete(account_id, created.id)
    assert responses.last.status_code == 204
    with pytest.raises(NotFoundError):
        await sdk.webhooks.show(account_id, created.id, request_options=NO_RETRIES)


@pytest.mark.asyncio
@review
async def test_comment_and_status_events_are_signed_over_the_raw_body(sdk, reviewer_sdk, responses, seeded):
    account_id = seeded["account_id"]
    reviewer_id = seeded["users"][1]["id"]
    file_id = await new_file(sdk, seeded, seeded["root_folder_id"], "A001.mov")
    async with HttpReceiver() as receiver:
        secret = await register(sdk, seeded, f"{receiver.url}/hooks/frameio",
                                ["comment.created", "comment.updated", "comment.completed", "comment.uncompleted",
                                 "comment.deleted", "metadata.value.updated"])
        comment = (await reviewer_sdk.comments.create(account_id, file_id,
                                                      data=CreateCommentParamsData(text="Fix"))).data
        first = (await wait_for(lambda: receiver.received, message="the first delivery"))[0]
        timestamp = first.headers["x-frameio-request-timestamp"]
        expected = hmac.new(secret.encode(), f"v0:{timestamp}:".encode() + first.body, hashlib.sha256).hexdigest()
        assert first.headers["x-frameio-signature"] == f"v0={expected}"
        assert abs(int(timestamp) - time.time()) < 5
        assert first.headers["user-agent"] == "Frame.io V4 API"
        assert first.headers["content-type"] == "application/json" and first.path == "/hooks/frameio"
        assert first.json == {"account": {"id": account_id}, "workspace": {"id": seeded["workspace_id"]},
                              "project": {"id": seeded["project_id"]}, "user": {"id": reviewer_id},
                              "resource": {"id": comment.id, "type": "comment"}, "type": "comment.created"}

        for change in (UpdateCommentParamsData(completed=True), UpdateCommentParamsData(completed=False),
                       UpdateCommentParamsData(text="Fix the flare")):
            await reviewer_sdk.comments.update(account_id, comment.id, data=change)
        await reviewer_sdk.comments.delete(account_id, comment.id)
        await sdk.metadata.show(account_id, file_id)
        status = next(f for f in responses.parse(MetadataResponse).data.metadata if f.field_definition_name == "Status")
        await reviewer_sdk.metadata.bulk_update(account_id, seeded["project_id"], data=BulkUpdateMetadataParamsData(
            file_ids=[file_id], values=[BulkUpdateMetadataParamsDataValuesItem(
                field_definition_id=status.field_definition_id, value=[status.field_options[2].id])]))
        received = await wait_for(lambda: len(receiver.received) == 6 and receiver.received,
                                  message="six deliveries")
    events = sorted((r.json["type"], r.json["resource"]["type"], r.json["resource"]["id"]) for r in received)
    assert events == sorted([("comment.created", "comment", comment.id), ("comment.completed", "comment", comment.id),
                             ("comment.uncompleted", "comment", comment.id), ("comment.updated", "comment", comment.id),
                             ("comment.deleted", "comment", comment.id), ("metadata.value.updated", "file", file_id)])


@pytest.mark.asyncio
@review
async def test_uploads_and_versions_fire_file_events(sdk, emulator, seeded, source):
    account_id, root = seeded["account_id"], seeded["root_folder_id"]
    async with HttpReceiver() as receiver:
        await register(sdk, seeded, receiver.url, ["file.upload.completed", "file.ready", "file.versioned"])
        file_id = (await remote_upload(sdk, seeded, source.url("/tiny.mp4"), "tiny.mp4")).data.id
        received = list(await wait_for(lambda: len(receiver.received) == 2 and receiver.received,
                                       message="upload completed and ready"))
        reported = await emulator_file(emulator.url, file_id)
        v1 = await new_file(sdk, seeded, root, "B001.mov")
        v2 = await new_file(sdk, seeded, root, "B001.mov")
        await sdk.version_stacks.create(account_id, root, data=VersionStackCreateParamsData(file_ids=[v1, v2]))
        versioned = (await wait_for(lambda: len(receiver.received) == 3 and receiver.received,
                                    message="file.versioned"))[2]
    completed, ready = received
    assert [(r.json["type"], r.json["resource"]) for r in received] == [
        ("file.upload.completed", {"id": file_id, "type": "file"}), ("file.ready", {"id": file_id, "type": "file"})]
    assert completed.json["user"] == {"id": seeded["user"]["id"]}, "the user whose call created the file"
    assert completed.at >= at(reported["upload_completed_at"]), "sent once the upload completed"
    assert ready.at >= at(reported["upload_completed_at"]) + REVIEW.transcode_delay_s, "sent once transcoded"
    assert (versioned.json["type"], versioned.json["resource"]["id"]) == ("file.versioned", v2)


@pytest.mark.asyncio
@review
async def test_a_failing_receiver_gets_five_attempts_with_doubling_waits(sdk, emulator, seeded):
    file_id = await new_file(sdk, seeded, seeded["root_folder_id"], "A001.mov")
    async with HttpReceiver() as receiver:
        receiver.failures, receiver.fail_with = 99, 500
        await register(sdk, seeded, receiver.url, ["comment.created"])
        await add_review_comment(emulator.url, file_id, "Too dark")
        attempts = await settled(emulator.url, 5)
    assert [(a["attempt"], a["status_code"], a["error"], a["succeeded"]) for a in attempts] == [
        (n, 500, "HTTP 500", False) for n in range(1, 6)]
    assert len({a["delivery_id"] for a in attempts}) == 1 and len(receiver.received) == 5
    for earlier, later in zip(attempts, attempts[1:], strict=False):
        wait = at(later["started_at"]) - at(earlier["ended_at"])
        base = REVIEW.webhook_backoff_s * 2 ** (earlier["attempt"] - 1)
        assert base - 0.01 <= wait <= base * 1.25 + 0.3, (earlier["attempt"], wait)


@pytest.mark.asyncio
@pytest.mark.parametrize("options", [dataclasses.replace(REVIEW, webhook_deadline_s=0.3)])
async def test_no_answer_within_the_deadline_is_a_failure(sdk, emulator, seeded):
    file_id = await new_file(sdk, seeded, seeded["root_folder_id"], "A001.mov")
    async with HttpReceiver() as receiver:
        receiver.hold = asyncio.Event()
        await register(sdk, seeded, receiver.url, ["comment.created"])
        await add_review_comment(emulator.url, file_id, "Too dark")
        attempts = await wait_for(
            lambda: _after_first(emulator.url), timeout=5, message="the first attempt to time out and a retry")
    first = attempts[0]
    assert first["error"] == "no answer within 0.3 s" and first["status_code"] is None
    assert 0.3 <= at(first["ended_at"]) - at(first["started_at"]) < 1.0


async def _after_first(url: str) -> list[dict] | None:
    attempts = (await webhook_deliveries(url))["deliveries"]
    return attempts if len(attempts) >= 2 else None


@pytest.mark.asyncio
@review
async def test_the_drop_fault_records_deliveries_it_never_sends(sdk, emulator, seeded):
    file_id = await new_file(sdk, seeded, seeded["root_folder_id"], "A001.mov")
    async with HttpReceiver() as receiver:
        await register(sdk, seeded, receiver.url, ["comment.created"])
        assert (await set_faults(emulator.url, {"webhook_drop": {"count": 1}}))["webhook_drop"] == {"count": 1}
        dropped = await add_review_comment(emulator.url, file_id, "dropped")
        await settled(emulator.url, 1)
        sent = await add_review_comment(emulator.url, file_id, "sent")
        attempts = await settled(emulator.url, 2)
        assert (await set_faults(emulator.url, {"webhook_drop": True}))["webhook_drop"] is True
        await add_review_comment(emulator.url, file_id, "dropped too")
        attempts = await settled(emulator.url, 3)
    assert [(a["resource"]["id"], a["dropped"], a["status_code"]) for a in attempts[:2]] == [
        (dropped["id"], True, None), (sent["id"], False, 200)]
    assert attempts[2]["dropped"] and "webhook_drop" in attempts[2]["error"]
    assert [r.json["resource"]["id"] for r in receiver.received] == [sent["id"]]


@pytest.mark.asyncio
async def test_only_the_latest_delivery_attempts_are_kept():
    options = EmulatorOptions()
    store, webhooks, faults = Store(options), Webhooks(), Faults()
    seeded = store.seed.describe()
    webhooks.add(seeded["account_id"], seeded["workspace_id"], seeded["user"]["id"], "PostFlow",
                 "https://hooks.example.com/frameio", ["comment.created"])
    faults.webhook_drop = True  # recorded, never sent
    async with httpx.AsyncClient() as http:
        deliveries = Deliveries(http, options, faults, store, webhooks, kept=3)
        for number in range(5):
            deliveries.emit("comment.created", seeded["project_id"], seeded["user"]["id"], f"c{number}", "comment")
        await wait_for(lambda: deliveries.pending == 0, timeout=5, message="deliveries done")
        await deliveries.aclose()
    assert [attempt.resource_id for attempt in deliveries.attempts] == ["c2", "c3", "c4"]
