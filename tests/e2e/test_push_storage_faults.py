"""Push mode through the real processes against the strict emulator's S3: a part answered
400 RequestTimeout is retried and the file delivered once; part URLs that expired start a
fresh upload (Frame.io cannot renew them) that is delivered without failing the job or
spending an attempt."""

import pytest

from postflow.testing.media import write_media
from postflow.testing.stack import running_stack
from postflow.testing.watcher import wait_jobs
from postflow.v1 import watcher_pb2_grpc

pytestmark = pytest.mark.slow


@pytest.mark.asyncio
async def test_request_timeouts_are_retried_and_expired_urls_start_a_fresh_upload(tmp_path):
    async with running_stack(tmp_path, overrides={"transfer": {"mode": "push"}}) as stack, \
            await stack.channel("watcher") as channel:
        watcher = watcher_pb2_grpc.WatcherServiceStub(channel)
        await stack.fault({"part_request_timeout": {"count": 2}})
        timed_out = write_media(stack.watch_root / "timed_out.mov", 3_000_000, seed=1)
        await wait_jobs(watcher, 1, timeout=60)
        await stack.fault({"part_url_expired": {"count": 1}})
        expired = write_media(stack.watch_root / "expired.mov", 3_000_000, seed=2)
        jobs = await wait_jobs(watcher, 2, timeout=60)
        report = await stack.emulator_report()
    assert sorted((j.path, j.attempts, j.error) for j in jobs) == [("expired.mov", 1, ""), ("timed_out.mov", 1, "")]
    delivered = sorted((f["name"], f["sha256"]) for f in report["files"] if f["upload_complete"])
    assert delivered == [("expired.mov", expired), ("timed_out.mov", timed_out)]
    assert len(report["files"]) == 2
    assert [f["name"] for f in report["deleted"]] == ["expired.mov"]  # the file whose part URLs expired
