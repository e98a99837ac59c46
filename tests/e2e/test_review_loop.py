"""The review loop end to end, with the real processes and the emulator: `postflow webhooks
setup` registers PostFlow's Frame.io webhook; a reviewer's comment (made with the reviewer's own
token on Frame.io's comments endpoint) on a delivered file reaches a notification and
PostFlow's own webhook, by way of Frame.io's signed webhook into the streamer (the sweep runs
hourly and had not yet run: only the webhook could have brought it); with Frame.io's deliveries
dropped and the watcher restarted, its sweep (the polling) recovers the next comment; the
comments export as FCPXML placed on the right frames, and as an EDL beside the source that is
never uploaded; a new version carries the unresolved comment forward once, also after a
restart; an approval copies the master into APPROVED/ once, verified by checksum."""

from __future__ import annotations

import hashlib
import json
import time
import xml.etree.ElementTree as ET
from fractions import Fraction

import httpx
import pytest

from postflow.testing.emulator import (
    client_credentials_token,
    complete_review_comment,
    set_media_timing,
    set_review_status,
    webhook_deliveries,
)
from postflow.testing.media import write_media
from postflow.testing.polling import wait_for
from postflow.testing.receivers import HttpReceiver
from postflow.testing.stack import Stack, running_stack, service_logs
from services.watcher.review.reviews import IDLE_S

pytestmark = pytest.mark.slow

REVIEWER = ("reviewer-app", "reviewer-app-secret")
SEED = {
    "users": [{"name": "PostFlow Demo", "email": "demo@postflow.invalid"},
              {"name": "Rey Reviewer", "email": "rey@postflow.invalid"}],
    "accounts": [{"name": "Studio", "members": ["demo@postflow.invalid", "rey@postflow.invalid"],
                  "workspaces": [{"name": "PostFlow", "projects": [{"name": "PostFlow Deliveries"}]}]}],
    "clients": [{"client_id": REVIEWER[0], "client_secret": REVIEWER[1], "technical_user": "rey@postflow.invalid"}],
}
REVIEW_EVENTS = ["comment_created", "comment_completed", "approved"]


async def emulator_file(stack: Stack, name: str, *, complete: bool, not_id: str = "") -> dict:
    async def found() -> dict | None:
        return next((f for f in await stack.emulator_files() if f["name"] == name and f["id"] != not_id
                     and (f["upload_complete"] or not complete)), None)
    return await wait_for(found, timeout=60, message=f"{name} on the emulator")


def events_of(receiver: HttpReceiver, kind: str) -> list[dict]:
    """PostFlow's webhook events of `kind` (its notifications go to /notify)."""
    return [post.json for post in receiver.answered() if post.path == "/out" and post.json["type"] == kind]


def notified(receiver: HttpReceiver, text: str) -> bool:
    return any(text in post.json.get("message", "") for post in receiver.answered() if post.path == "/notify")


@pytest.mark.asyncio
async def test_comments_and_approval_come_back_to_people_editing_apps_and_the_filespace(tmp_path):
    seed = tmp_path / "seed.json"
    seed.write_text(json.dumps(SEED))
    async with HttpReceiver() as receiver:
        overrides = {
            "review": {"poll_interval_s": 3600.0, "carry_comments": True, "markers": ["edl"],
                       "on_approved": {"notify": True, "copy_to": "APPROVED"}},
            "notifications": [{"url": receiver.apprise_url, "events": REVIEW_EVENTS, "batch_window_s": 0}],
            "webhooks": [{"url": f"{receiver.url}/out", "secret": "outbound-secret-0123456789",
                          "events": REVIEW_EVENTS}],
            "outbound": {"retry_base_s": 0.2, "retry_max_s": 1.0},
        }
        emulator_args = ("--no-rate-limits", "--seed", str(seed), "--webhook-backoff", "0.2")
        # The watcher starts after this; its sweep, finding nothing followed then, waits IDLE_S before its first
        # sync of any file: a comment told before then was told because of Frame.io's webhook.
        before_start = time.monotonic()
        async with running_stack(tmp_path, overrides, emulator_args=emulator_args) as stack:
            public = f"http://{stack.config['streamer']['listen']}"
            code, out, err = await stack.cli("webhooks", "setup", "--public-url", public, "--yes")
            assert code == 0 and "registered" in out and "'PostFlow'" in out, (out, err)  # the workspace, by name

            first = write_media(stack.watch_root / "SQ01" / "shot.mov", 40_000, seed=1)
            incoming = await emulator_file(stack, "shot.mov", complete=False)
            await set_media_timing(stack.emulator_url, incoming["id"], frame_rate=25, start_timecode="10:00:00:00",
                                   duration_s=120)
            v1 = await emulator_file(stack, "shot.mov", complete=True)
            assert v1["sha256"] == first
            token = await client_credentials_token(stack.emulator_url, client_id=REVIEWER[0],
                                                   client_secret=REVIEWER[1])
            comments = f"{stack.emulator_url}/v4/accounts/{v1['account_id']}/files/{v1['id']}/comments"
            async with httpx.AsyncClient(timeout=10, headers={"Authorization": f"Bearer {token}"}) as reviewer:
                made = await reviewer.post(comments, json={"data": {"text": "Boom in frame", "timestamp": 50,
                                                                    "duration": 25}})
                assert made.status_code == 201, made.text
                boom = made.json()["data"]["id"]

                created = await wait_for(lambda: events_of(receiver, "comment_created"), timeout=30,
                                         message="comment_created on PostFlow's webhook")
                assert time.monotonic() - before_start < IDLE_S, "too slow to tell the webhook from the sweep"
                detail = created[0]["detail"]
                assert (detail["author"], detail["text"], detail["timecode"]) == (
                    "Rey Reviewer", "Boom in frame", "10:00:02:00")
                assert created[0]["job"]["path"] == "SQ01/shot.mov" and detail["version"] in (0, 1)
                await wait_for(lambda: notified(receiver, "Boom in frame"), timeout=30, message="the notification")
                hooked = [d for d in (await webhook_deliveries(stack.emulator_url))["deliveries"]
                          if d["event"] == "comment.created"]
                assert any(d["status_code"] == 200 for d in hooked), hooked  # Frame.io's webhook reached the streamer

                await stack.fault({"webhook_drop": True})  # Frame.io's deliveries lost: polling must find the next
                made = await reviewer.post(comments, json={"data": {"text": "Grade the sky", "timestamp": 1500}})
                assert made.status_code == 201, made.text
                sky = made.json()["data"]["id"]
                old_pid = stack.pid("watcher")
                assert old_pid is not None
                await stack.kill("watcher")  # its sweep at start syncs the followed file at once
                await stack.wait_restarted("watcher", old_pid)
                await wait_for(lambda: len(events_of(receiver, "comment_created")) == 2, timeout=30,
                               message="the comment no webhook announced, found by polling")
                assert all(d["dropped"] for d in (await webhook_deliveries(stack.emulator_url))["deliveries"]
                           if d["event"] == "comment.created" and d["resource"]["id"] == sky)
                await stack.fault({"webhook_drop": None})

                await complete_review_comment(stack.emulator_url, boom)
                done = await wait_for(lambda: events_of(receiver, "comment_completed"), timeout=30,
                                      message="comment_completed")
                assert done[0]["detail"]["text"] == "Boom in frame"

                code, out, err = await stack.cli("markers", "SQ01/shot.mov", "--format", "fcpxml")
                assert code == 0, err
                markers = ET.fromstring(out.encode()).findall(".//marker")
                starts = sorted(Fraction(m.get("start", "").removesuffix("s")) for m in markers)
                start_tc = 10 * 3600 * 25
                assert starts == [Fraction(start_tc + 50, 25), Fraction(start_tc + 1500, 25)]
                edl = stack.watch_root / "SQ01" / "shot.comments.edl"
                await wait_for(lambda: edl.exists() and "Grade the sky" in edl.read_text(), timeout=30,
                               message="the EDL beside the source")
                assert "10:00:02:00" in edl.read_text()

                second = write_media(stack.watch_root / "SQ01" / "shot.mov", 41_000, seed=2)
                v2 = await emulator_file(stack, "shot.mov", complete=True, not_id=v1["id"])
                assert v2["sha256"] == second
                head = f"{stack.emulator_url}/v4/accounts/{v2['account_id']}/files/{v2['id']}/comments"

                async def carried() -> list[dict]:
                    listed = (await reviewer.get(head)).json()["data"]
                    return listed if listed else []

                on_head = await wait_for(carried, timeout=30, message="the open comment carried to the new version")
                assert len(on_head) == 1 and "Grade the sky" in on_head[0]["text"] and on_head[0]["timestamp"] == 1500

                old_pid = stack.pid("watcher")
                assert old_pid is not None
                await stack.kill("watcher")
                await stack.wait_restarted("watcher", old_pid)
                await stack.wait_healthy()
                await set_review_status(stack.emulator_url, v2["id"], "Approved")
                copy = stack.watch_root / "APPROVED" / "SQ01" / "shot.mov"
                await wait_for(copy.exists, timeout=30, message="the approved master copied")
                approved = await wait_for(lambda: events_of(receiver, "approved"), timeout=30, message="approved")
                assert approved[0]["job"]["path"] == "SQ01/shot.mov"
                assert len((await reviewer.get(head)).json()["data"]) == 1  # carried once, restart or not

            assert hashlib.sha256(copy.read_bytes()).hexdigest() == second
            await set_review_status(stack.emulator_url, v2["id"], "Approved")  # told again: nothing more
            code, out, err = await stack.cli("markers", "SQ01/shot.mov", "--format", "csv", "--refresh")
            assert code == 0, err
            assert sorted(p.name for p in copy.parent.iterdir()) == ["shot.mov"]
            names = [f["name"] for f in await stack.emulator_files()]
            assert sorted(names) == ["shot.mov", "shot.mov"], names  # neither the EDL nor the copy uploaded
            assert len(events_of(receiver, "comment_created")) == 2  # the carried comment is PostFlow's own
            assert len(events_of(receiver, "approved")) == 1
            assert "holds no file PostFlow follows" not in service_logs(stack)["watcher"]  # each webhook was ours
