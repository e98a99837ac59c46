"""The events of no job: a Frame.io connection needing a reconnect (once per episode, also
across a restart), a re-login deadline near (once per deadline), the tunnel down for a while
(once per outage) and the daily digest (per pipeline, only a rule's pipelines in its message)."""

import json
import time
from datetime import date

import pytest

from postflow.core.protos import timestamp
from postflow.testing.outbound import outbound_under_test
from postflow.testing.polling import wait_for
from postflow.testing.receivers import HttpReceiver
from postflow.v1 import auth_pb2, streamer_pb2
from services.watcher import jobs
from services.watcher.outbound.alerts import DIGEST_MARK, digest_moment
from services.watcher.outbound.events import iso_time
from services.watcher.outbound.messages import compose

SECRET = "whsec-for-tests-0123456789"


def hook(receiver: HttpReceiver, events: list[str]) -> dict:
    return {"url": f"{receiver.url}/hook", "secret": SECRET, "events": events}


def auth(state: int, connection: str = "studio", **fields) -> auth_pb2.AuthStatus:
    return auth_pb2.AuthStatus(state=state, connection=connection, **fields)


PIPELINES = [{"name": "showa", "root": "/srv/a", "connection": "studio"}, {"name": "showb", "root": "/srv/b"}]
CONNECTIONS = {"studio": {"client_id": "c", "client_secret": "s"}}


@pytest.mark.asyncio
async def test_a_reconnect_is_told_once_per_episode_even_across_a_restart(tmp_path):
    needed, connected = auth_pb2.AUTH_STATE_RECONNECT_NEEDED, auth_pb2.AUTH_STATE_CONNECTED
    async with HttpReceiver() as receiver:
        settings = {"webhooks": [hook(receiver, ["reconnect_needed"])], "pipelines": PIPELINES,
                    "connections": CONNECTIONS}
        async with outbound_under_test(tmp_path, settings) as outbound:
            for status in (auth(connected), auth(needed, message="IMS refused the refresh token"), auth(needed),
                           auth(connected), auth(needed), auth(needed, connection="default")):
                await outbound.alerts.connection_changed(status)
            await outbound.wait_sent(3)
        async with outbound_under_test(tmp_path, settings) as outbound:
            await outbound.alerts.connection_changed(auth(needed))  # as auth's stream says again after a restart
            assert len(await outbound.entries()) == 3

    first, second, default = [post.json for post in receiver.received]
    assert first["type"] == "reconnect_needed" and first["job"] is None
    assert first["detail"] == {"connection": "studio", "message": "IMS refused the refresh token",
                               "reconnect_url": "https://localhost:8000/auth/login?connection=studio"}
    assert second["detail"]["connection"] == "studio" and default["detail"]["connection"] == "default"
    assert default["detail"]["reconnect_url"] == "https://localhost:8000/auth/login"


@pytest.mark.asyncio
async def test_a_relogin_deadline_is_told_once_and_only_to_rules_of_its_pipelines(tmp_path):
    deadline = time.time() + 86400
    async with HttpReceiver() as receiver:
        settings = {"webhooks": [hook(receiver, ["relogin_soon"]) | {"pipelines": ["showa"]},
                                 hook(receiver, ["relogin_soon"]) | {"pipelines": ["showb"]}],
                    "pipelines": PIPELINES, "connections": CONNECTIONS}
        async with outbound_under_test(tmp_path, settings) as outbound:
            soon = auth(auth_pb2.AUTH_STATE_CONNECTED, reauth_deadline=timestamp(deadline), reauth_soon=True)
            for status in (auth(auth_pb2.AUTH_STATE_CONNECTED, reauth_deadline=timestamp(deadline)), soon, soon):
                await outbound.alerts.connection_changed(status)
            (entry,) = await outbound.wait_sent(1)

    assert entry.label == "webhooks[0] 127.0.0.1"  # showa's connection is studio; showb's is default
    (post,) = receiver.received
    assert post.json["type"] == "relogin_soon" and post.json["detail"]["deadline"] == iso_time(deadline)
    assert "login of connection studio ends on" in compose([post.json]).body


@pytest.mark.asyncio
async def test_the_tunnel_down_for_a_while_is_told_once_per_outage(tmp_path):
    def down(since: float, message: str = "") -> streamer_pb2.TunnelStatus:
        return streamer_pb2.TunnelStatus(state=streamer_pb2.TUNNEL_STATE_DOWN, message=message,
                                         since=timestamp(since))

    up = streamer_pb2.TunnelStatus(state=streamer_pb2.TUNNEL_STATE_UP)
    async with HttpReceiver() as receiver, outbound_under_test(
            tmp_path, {"webhooks": [hook(receiver, ["tunnel_down"])],
                       "outbound": {"tunnel_down_after_s": 0.3}}) as outbound:
        alerts = outbound.alerts
        alerts.tunnel_status(up)
        first = time.time()
        alerts.tunnel_status(down(first, "cloudflared exited (1)"))
        alerts.tunnel_status(streamer_pb2.TunnelStatus(state=streamer_pb2.TUNNEL_STATE_STARTING))  # the same outage
        await outbound.wait_sent(1)
        for status in (up, down(first + 1), up):  # back before the threshold: not told
            alerts.tunnel_status(status)
        last = time.time()
        alerts.tunnel_status(down(last))
        await outbound.wait_sent(2)

    told = [post.json for post in receiver.received]
    assert [post.key.split("-")[2] for post in receiver.received] == [str(round(at * 1000)) for at in (first, last)]
    assert told[0]["type"] == "tunnel_down" and told[0]["detail"]["message"] == "cloudflared exited (1)"
    assert receiver.received[0].at - first >= 0.3 and told[0]["detail"]["down_for_s"] >= 0
    assert "The tunnel has been down for 0 min" in compose([told[0]]).body


@pytest.mark.asyncio
async def test_the_digest_counts_each_pipeline_and_a_rule_lists_its_own(tmp_path):
    async with HttpReceiver() as receiver, outbound_under_test(
            tmp_path, {"webhooks": [hook(receiver, ["digest"])], "pipelines": PIPELINES,
                       "connections": CONNECTIONS}) as outbound:
        assert await wait_for(lambda: outbound.outbox.mark(DIGEST_MARK), message="the first start's mark")
        await outbound.deliver(await outbound.queue("a.mov", "showa"))
        await outbound.deliver(await outbound.queue("b.mov", "showa"))
        await outbound.fail(await outbound.queue("c.mov", "showb"), "no")
        await outbound.alerts.send_digest(time.time() + 1, "2026-12-07")
        await outbound.alerts.send_digest(time.time() + 2, "2026-12-07")  # the same day again: nothing new
        (entry,) = await outbound.wait_sent(1)
        assert await outbound.outbox.mark(DIGEST_MARK) == "2026-12-07"

    digest = json.loads(entry.body)
    assert digest["type"] == "digest" and digest["detail"]["pipelines"] == {
        "showa": {"delivered": 2, "bytes": 2000, "failed": 0, "failed_paths": []},
        "showb": {"delivered": 0, "bytes": 0, "failed": 1, "failed_paths": ["c.mov"]}}
    body = compose([digest], pipelines={"showb"}).body
    assert "• showb: 0 delivered (0 B), 1 failed (c.mov)" in body and "showa" not in body


def test_the_digest_moment_is_local_time():
    moment = digest_moment(date(2026, 12, 7), "09:30")
    assert (moment.hour, moment.minute, moment.day) == (9, 30, 7) and moment.tzinfo is not None


@pytest.mark.asyncio
async def test_the_digest_counts_a_delivery_on_its_day_not_on_the_day_its_after_delivery_action_ran(tmp_path):
    async with HttpReceiver() as receiver, outbound_under_test(
            tmp_path, {"webhooks": [hook(receiver, ["digest"])], "pipelines": PIPELINES,
                       "connections": CONNECTIONS}) as outbound:
        assert await wait_for(lambda: outbound.outbox.mark(DIGEST_MARK), message="the first start's mark")
        job = await outbound.queue("yesterday.mov", "showa")
        two_days_ago = time.time() - 2 * 86400
        for step in (jobs.start_attempt, lambda j: jobs.upload_started(j, "F"), jobs.all_bytes_sent,
                     lambda j: jobs.deliver(j, "https://next.frame.io/view/x", "", 0, "sidecar", two_days_ago)):
            updated = await outbound.ledger.update(job.id, job.epoch, step(job))
            assert updated is not None
            job = updated
        await outbound.ledger.change(job.id, lambda j: jobs.after_delivery_ran(j, "after delivery: wrote it"))
        await outbound.deliver(await outbound.queue("today.mov", "showa"))
        await outbound.alerts.send_digest(time.time() + 1, "2026-12-08")
        (entry,) = await outbound.wait_sent(1)
    assert json.loads(entry.body)["detail"]["pipelines"]["showa"]["delivered"] == 1
