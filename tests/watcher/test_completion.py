"""Completion and the attempt around it: success only on upload_complete (or status uploaded /
transcoded); a stall only while bytes are due; a file Frame.io has every byte of is never
deleted while it processes, even past `processing_timeout_s`; a refused remote upload (400)
is blamed on the source; pull over 50 GB is pushed; Frame.io's webhook nudging the file ends
the wait between polls at once."""

import asyncio
import os
import time
from types import SimpleNamespace

import pytest

from postflow.core.config import REMOTE_UPLOAD_MAX_BYTES
from postflow.core.pubsub import Overflow, Subscription
from postflow.frameio import RequestFailed
from postflow.testing.frameio_fake import ACCOUNT, ROOT, FakeConnections, FakeFrameio, job_in_flight
from postflow.testing.polling import wait_for
from postflow.testing.watcher import make_job
from postflow.v1 import streamer_pb2
from services.watcher import jobs
from services.watcher.delivery import Delivery, DeliverySettings, completion
from services.watcher.delivery.attempt import Attempt
from services.watcher.delivery.completion import Completion
from services.watcher.delivery.errors import RetryLater
from services.watcher.delivery.frameio_file import FrameioFile
from services.watcher.delivery.nudges import FileNudges
from services.watcher.delivery.pull import Pull
from services.watcher.delivery.record import JobRecord
from services.watcher.delivery.transfer import Transfer
from services.watcher.followers import StreamerWatch
from services.watcher.ledger import Ledger
from services.watcher.scanner import FileStat


class Waiting:
    """A Completion on a fake Frame.io file, recording what it discards."""

    def __init__(self, fake: FakeFrameio, record: JobRecord, processing_timeout_s: float, poll_s: float = 0.01) -> None:
        self.fake = fake
        self.record = record
        self.discarded: list[str] = []
        self.nudges = FileNudges()
        self.completion = Completion(record, None, self.file, self.discard, poll_s, processing_timeout_s, self.nudges)

    def file(self, file_id: str) -> FrameioFile:
        return FrameioFile(self.fake, ACCOUNT, file_id)

    async def discard(self, file: FrameioFile | None) -> None:
        if file is not None:
            await file.delete()
            self.discarded.append(file.id)

    async def wait(self, events: Subscription | None = None):
        return await self.completion.wait(Transfer(self.record), events)


async def waiting(ledger, fake, status: str, *, every_byte_sent: bool = True, timeout_s: float = 60.0):
    file_id = fake.add("file", "a.mov", size=10, status=status)
    job = await job_in_flight(ledger, "a.mov", ROOT, file_id, every_byte_sent=every_byte_sent)
    return Waiting(fake, JobRecord(ledger, job), timeout_s), file_id


def finish_after(fake: FakeFrameio, file_id: str, status_calls: int, status: str = "uploaded") -> asyncio.Task:
    """Frame.io finishes the file once it was asked for its status `status_calls` times."""
    async def finish():
        await wait_for(lambda: fake.calls["upload_status"] >= status_calls, timeout=10, interval=0.005)
        fake.status_of[file_id] = status
        fake.upload_of[file_id] = (True, False)
    return asyncio.create_task(finish())


@pytest.mark.asyncio
@pytest.mark.parametrize("status", ["uploaded", "transcoded"])
async def test_show_file_status_uploaded_or_transcoded_is_complete(ledger, status):
    fake = FakeFrameio()
    waits, file_id = await waiting(ledger, fake, status)
    assert (await waits.wait()).id == file_id
    assert fake.calls["upload_status"] == 0


@pytest.mark.asyncio
async def test_an_unknown_status_is_not_success_but_upload_complete_is(ledger):
    fake = FakeFrameio()
    waits, file_id = await waiting(ledger, fake, "processing")
    fake.upload_of[file_id] = (False, False)
    with pytest.raises(RetryLater, match="not finished processing"):
        await Waiting(fake, waits.record, 0.1).wait()
    fake.upload_of[file_id] = (True, False)
    assert await waits.wait() is None  # complete by the status call; finish() shows the file again


@pytest.mark.asyncio
async def test_processing_longer_than_the_stall_timeout_never_deletes(ledger, monkeypatch):
    monkeypatch.setattr(completion, "STALL_S", 0.02)
    fake = FakeFrameio()
    waits, file_id = await waiting(ledger, fake, "created")
    started = time.monotonic()
    finishing = finish_after(fake, file_id, 8)
    assert (await waits.wait()).status == "uploaded"
    await finishing
    assert time.monotonic() - started > 0.02 * 5  # it did outlast the stall timeout
    assert fake.deleted == [] and waits.discarded == []


@pytest.mark.asyncio
async def test_past_the_processing_timeout_the_attempt_ends_keeping_the_file(ledger, monkeypatch):
    monkeypatch.setattr(completion, "STALL_S", 0.01)
    fake = FakeFrameio()
    waits, file_id = await waiting(ledger, fake, "created", timeout_s=0.2)
    with pytest.raises(RetryLater, match="the file is kept on Frame.io"):
        await waits.wait()
    assert fake.deleted == [] and file_id in fake.nodes


@pytest.mark.asyncio
async def test_upload_failed_discards_the_file_and_retries(ledger):
    fake = FakeFrameio()
    waits, file_id = await waiting(ledger, fake, "created")
    fake.upload_of[file_id] = (False, True)
    with pytest.raises(RetryLater, match="upload failed"):
        await waits.wait()
    assert fake.deleted == [file_id]


@pytest.mark.asyncio
async def test_a_stall_while_bytes_are_due_discards_the_incomplete_file(ledger, monkeypatch):
    monkeypatch.setattr(completion, "STALL_S", 0.05)
    fake = FakeFrameio()
    waits, file_id = await waiting(ledger, fake, "created", every_byte_sent=False)
    with pytest.raises(RetryLater, match="no progress"):
        await waits.wait()
    assert fake.deleted == [file_id]


@pytest.mark.asyncio
@pytest.mark.parametrize("pulled", [False, True])
async def test_a_nudge_makes_the_wait_poll_at_once(ledger, pulled):
    fake = FakeFrameio()
    file_id = fake.add("file", "a.mov", size=10, status="created")
    job = await job_in_flight(ledger, "a.mov", ROOT, file_id, every_byte_sent=True)
    waits = Waiting(fake, JobRecord(ledger, job), 3600.0, poll_s=600.0)
    events = Subscription(16, Overflow.DROP_OLDEST) if pulled else None
    waiting_task = asyncio.create_task(waits.wait(events))
    await wait_for(lambda: len(waits.nudges) == 1, message="the wait watching its file")
    assert not waits.nudges.poke("another-file")
    fake.status_of[file_id] = "uploaded"  # Frame.io has it, and its webhook says so
    assert waits.nudges.poke(file_id)
    shown = await asyncio.wait_for(waiting_task, 5)
    assert shown.id == file_id and shown.status == "uploaded"
    assert len(waits.nudges) == 0  # nothing kept for a file nobody waits on


def test_nudges_keep_nothing_for_files_nobody_waits_on():
    nudges = FileNudges()
    assert not nudges.poke("f1") and len(nudges) == 0
    with nudges.watch("f1") as first, nudges.watch("f1") as second:
        assert nudges.poke("f1") and first.is_set() and second.is_set()
    assert len(nudges) == 0


# -- the attempt around it ---------------------------------------------------------------------


def delivery_on(fake: FakeFrameio, ledger: Ledger, root, streamer=None, tunnel=None) -> Delivery:
    settings = DeliverySettings("auto", REMOTE_UPLOAD_MAX_BYTES, 0.01, 60.0, False)
    pipeline = SimpleNamespace(root=root, config=SimpleNamespace(create_projects=False, after_delivery="none"))
    return Delivery(routes_of=lambda name: pipeline, ledger=ledger, connections=FakeConnections(fake, ledger),
                    streamer=streamer, streamer_events=tunnel or StreamerWatch(None), settings=settings,
                    nudges=FileNudges())


@pytest.mark.asyncio
async def test_the_next_attempt_waits_again_for_a_file_still_processing(tmp_path, ledger):
    root = tmp_path / "watch"
    root.mkdir()
    (root / "a.mov").write_bytes(os.urandom(10))
    st = (root / "a.mov").stat()
    fake = FakeFrameio()
    file_id = fake.add("file", "a.mov", size=10, status="created")
    (job,), _ = await ledger.register([make_job(FileStat("a.mov", 10, st.st_mtime_ns, st.st_ino))], "detected")
    for step in (jobs.start_attempt, lambda j: jobs.folder_ready(j, ROOT), lambda j: jobs.upload_started(j, file_id),
                 jobs.all_bytes_sent,
                 lambda j: jobs.retry_later(j, "Frame.io has had every byte for 21600s", 0, time.time())):
        job = await ledger.update(job.id, job.epoch, step(job))
    assert job.state == jobs.WAITING
    finishing = finish_after(fake, file_id, 3)
    outcome = await delivery_on(fake, ledger, root).run(job)
    await finishing
    assert outcome.error is None and outcome.job.state == jobs.DONE
    assert outcome.job.file_id == file_id and fake.deleted == []


@pytest.mark.asyncio
async def test_an_explicit_pull_over_50_gb_is_pushed(ledger, tmp_path, caplog):
    fake = FakeFrameio()
    for size, mode in ((REMOTE_UPLOAD_MAX_BYTES, jobs.PULL), (REMOTE_UPLOAD_MAX_BYTES + 1, jobs.PUSH)):
        job = (await job_in_flight(ledger, "big.mov", ROOT, size=size)).replace(requested_mode=jobs.PULL)
        tunnel = SimpleNamespace(tunnel_status=lambda fresh=False: asyncio.sleep(0, UP_TUNNEL))
        delivery = delivery_on(fake, ledger, tmp_path, tunnel=tunnel)
        attempt = Attempt(delivery, JobRecord(ledger, job), await delivery.destination(job))
        assert await attempt.choose_mode() == mode
    assert "over Frame.io's remote upload limit of 50 GB" in caplog.text


UP_TUNNEL = streamer_pb2.TunnelStatus(state=streamer_pb2.TUNNEL_STATE_UP, public_url="https://t.example")


class PublishingStreamer:
    """The streamer's Publish and Revoke, as Pull.start calls them."""

    def __init__(self) -> None:
        self.revoked: list[str] = []

    async def Publish(self, request, timeout=None):  # noqa: N802 - the gRPC method's name
        return SimpleNamespace(ticket_id="t1", url=f"{UP_TUNNEL.public_url}/p/t1")

    async def Revoke(self, request, timeout=None):  # noqa: N802
        self.revoked.append(request.ticket_id)


@pytest.mark.asyncio
@pytest.mark.parametrize("status", [400, 422])
async def test_a_refused_remote_upload_is_retried_as_an_unreachable_source(ledger, status):
    fake = FakeFrameio()
    fake.fail_next["create_remote_upload"] = [RequestFailed(f"remote upload: HTTP {status} unreadable", status)]
    job = await job_in_flight(ledger, "a.mov", ROOT)
    streamer = PublishingStreamer()
    tunnel = SimpleNamespace(tunnel_status=lambda fresh=False: asyncio.sleep(0, UP_TUNNEL))
    pull = Pull(JobRecord(ledger, job), streamer, tunnel, fake, ACCOUNT)
    with pytest.raises(RetryLater, match="could not read the published URL"):
        await pull.start()
    assert streamer.revoked == ["t1"] and pull.record.job.ticket_id == ""
