"""The watch root on a FUSE mount (postflow.devtools.slowfs) that fails, is unmounted or hangs:
Stats says "unavailable" with the reason, no job changes, GetStats keeps answering fast; when
it comes back scanning resumes and nothing is delivered twice."""

import asyncio
import contextlib
import io
import time
from pathlib import Path

import pytest

from postflow.cli import output
from postflow.cli.commands import gather_status
from postflow.core.clients import Clients
from postflow.core.config import build_config
from postflow.devtools.slowfs import Mount, mounted
from postflow.testing.media import write_media
from postflow.testing.mesh import MESH_OFF
from postflow.testing.polling import wait_for
from postflow.testing.ports import free_port
from postflow.testing.watcher import InProcess, WatcherEnvironment, environment, list_jobs, start_watcher, wait_jobs
from postflow.v1 import common_pb2, watcher_pb2
from services.watcher.scanner import PathFilter, Scanner

FILES = 3


async def mount(env: WatcherEnvironment, backing: Path, stack: contextlib.ExitStack) -> Mount:
    """`backing` mounted (slowfs) at the watch root until `stack` closes; mounting blocks, so
    it runs off the loop the watcher is serving on."""
    return await asyncio.to_thread(stack.enter_context, mounted(backing, env.root, cache_timeout_s=0))


async def stats(stub) -> watcher_pb2.Stats:
    return await stub.GetStats(watcher_pb2.GetStatsRequest(), timeout=10)


async def wait_unavailable(stub, reason: str) -> watcher_pb2.Stats:
    async def check():
        current = await stats(stub)
        return current if not current.watch_root_available and reason in current.watch_root_problem else None

    return await wait_for(check, timeout=20, message=f"watch root unavailable: {reason}")


async def wait_scans(stub, count: int) -> None:
    """Until `count` more scan passes have ended."""
    seen: list[int] = []

    async def check():
        at = (await stats(stub)).last_scan_at.ToNanoseconds()
        if not seen or seen[-1] != at:
            seen.append(at)
        return len(seen) > count

    await wait_for(check, timeout=20, interval=0.02, message=f"{count} scan passes")


async def postflow_status(env: WatcherEnvironment) -> dict:
    """What `postflow status --json` prints, from the watcher under test."""
    (watcher,) = env.watchers
    assert isinstance(watcher, InProcess)
    config = build_config({"services": {"watcher": f"127.0.0.1:{watcher.service.grpc_port}",
                                        "auth": f"127.0.0.1:{free_port()}", "streamer": f"127.0.0.1:{free_port()}"},
                           "dashboard": {"listen": f"127.0.0.1:{free_port()}"}, "mesh": MESH_OFF})
    async with Clients(config) as clients:
        return await gather_status(config, clients)


def printed(status: dict) -> list[str]:
    out = io.StringIO()
    output.print_status(status, out)
    return out.getvalue().splitlines()


async def job_states(stub) -> dict[str, int]:
    return {job.path: job.state for job in await list_jobs(stub)}


async def delivered_once(env: WatcherEnvironment, expected: dict[str, str]) -> None:
    files = await env.files()
    assert sorted((f"{f['folder_path']}/{f['name']}".lstrip("/"), f["sha256"]) for f in files) == sorted(
        expected.items())


@pytest.mark.asyncio
async def test_a_failed_then_unmounted_root_is_reported_and_nothing_changes_or_ships_twice(tmp_path):
    backing = tmp_path / "backing"
    backing.mkdir()
    async with environment(tmp_path) as env:
        with contextlib.ExitStack() as first:
            slowfs = await mount(env, backing, first)
            stub = await start_watcher(env)
            expected = {f"SQ01/f{i}.mov": write_media(backing / f"SQ01/f{i}.mov", 200_000 + i, seed=i)
                        for i in range(FILES)}
            await wait_jobs(stub, FILES)
            assert (await stats(stub)).watch_root_available
            done = await job_states(stub)

            slowfs.process.kill()  # the daemon dies: the mount answers ENOTCONN
            await asyncio.to_thread(slowfs.process.wait)
            await wait_unavailable(stub, "Transport endpoint is not connected")
            await wait_scans(stub, 3)
            assert await job_states(stub) == done
            await asyncio.to_thread(first.close)  # detached: an empty mount point is left

        current = await wait_unavailable(stub, "empty mount point")
        assert current.files_seen == FILES
        status = await postflow_status(env)
        assert status["watch_root"] == {"path": str(env.root), "available": False,
                                        "problem": current.watch_root_problem}
        assert f"watch root {env.root} UNAVAILABLE: {current.watch_root_problem}" in printed(status)
        await wait_scans(stub, 3)
        assert await job_states(stub) == done

        with contextlib.ExitStack() as second:
            await mount(env, backing, second)
            await wait_for(lambda: _available(stub), timeout=20, message="watch root available again")
            expected["SQ01/after.mov"] = write_media(backing / "SQ01/after.mov", 300_000, seed=9)
            await wait_jobs(stub, FILES + 1)
            await wait_scans(stub, 3)
            assert await job_states(stub) == {**done, "SQ01/after.mov": common_pb2.JOB_STATE_DONE}
            await delivered_once(env, expected)


@pytest.mark.asyncio
async def test_a_hung_root_is_reported_while_the_watcher_keeps_answering(tmp_path):
    backing = tmp_path / "backing"
    backing.mkdir()
    async with environment(tmp_path, watch={"unresponsive_after_s": 1.0}) as env:
        with contextlib.ExitStack() as stack:
            slowfs = await mount(env, backing, stack)
            stub = await start_watcher(env)
            expected = {"a.mov": write_media(backing / "a.mov", 100_000)}
            await wait_jobs(stub, 1)
            done = await job_states(stub)

            slowfs.set_latency(meta_ms=600_000)  # every listing now waits ten minutes
            slowest = 0.0

            async def hung():
                nonlocal slowest
                started = time.monotonic()
                current = await stats(stub)
                slowest = max(slowest, time.monotonic() - started)
                return not current.watch_root_available and current.watch_root_problem.startswith("not answering")

            await wait_for(hung, timeout=20, message="watch root reported not answering")
            assert slowest < 0.5, slowest
            assert await job_states(stub) == done

            slowfs.process.kill()  # ends the requests it holds: the hung pass returns
            await asyncio.to_thread(slowfs.process.wait)
            await wait_unavailable(stub, "Transport endpoint is not connected")
        with contextlib.ExitStack() as stack:
            await mount(env, backing, stack)
            await wait_for(lambda: _available(stub), timeout=20, message="watch root available again")
            await wait_scans(stub, 3)
            assert await job_states(stub) == done
            await delivered_once(env, expected)


async def _available(stub) -> bool:
    return (await stats(stub)).watch_root_available


def test_a_pass_over_an_empty_mount_point_reports_no_file_removed(tmp_path):
    backing, root = tmp_path / "backing", tmp_path / "watch"
    names = {"a.mov", "SQ01/b.mov"}
    for name in names:
        write_media(backing / name, 1000)
    with mounted(backing, root, cache_timeout_s=0):
        scanner = Scanner(root, PathFilter(["*"], []))
        assert scanner.scan() == [] and scanner.problem == ""
        assert scanner.file_count == len(names)
    assert root.is_dir() and not any(root.iterdir())
    assert scanner.scan() == []
    assert "empty mount point" in scanner.problem
    assert {file.path for reldir, state in scanner.dirs.items() for file in state.files(reldir)} == names


@pytest.mark.asyncio
async def test_a_job_due_while_the_root_is_unmounted_waits_for_it_and_ships_once(tmp_path):
    backing = tmp_path / "backing"
    backing.mkdir()
    async with environment(tmp_path, watch={"max_attempts": 100}) as env:
        with contextlib.ExitStack() as first:
            await mount(env, backing, first)
            stub = await start_watcher(env)
            await env.faults(server_error={"status": 503, "path": "*/files/remote_upload", "nth": 1,
                                           "count": 1_000_000})
            expected = {"a.mov": write_media(backing / "a.mov", 100_000)}
            await wait_for(lambda: _backing_off(stub), timeout=20, message="the job backing off")
        await wait_unavailable(stub, "empty mount point")
        await env.clear_faults()
        (job,) = await list_jobs(stub)
        await wait_for(lambda: time.time() > job.next_attempt_at.ToNanoseconds() / 1e9, timeout=10,
                       message="the job due")
        await wait_scans(stub, 5)
        (still,) = await list_jobs(stub)
        assert still.state == common_pb2.JOB_STATE_WAITING and still.attempts == job.attempts

        with contextlib.ExitStack() as second:
            await mount(env, backing, second)
            await wait_jobs(stub, 1)
            await delivered_once(env, expected)


async def _backing_off(stub) -> bool:
    jobs = await list_jobs(stub)
    return bool(jobs) and jobs[0].state == common_pb2.JOB_STATE_WAITING and jobs[0].attempts >= 1
