"""`postflow doctor --live`: a real round trip on the connected account, in a folder
`postflow-doctor` under the project's root folder. A generated 1 MiB file goes by remote
upload (published by the streamer as the watcher publishes a pull, so Frame.io fetches it
through the public URL), a second one by local upload (its parts PUT from here), the two
become a version stack, then everything made is deleted, the generated file on disk too.
Each step prints a ✓/✗ line with its time; after a failure the later steps are skipped and
the clean-up runs anyway.

The generated file lives in `.postflow-doctor/` under the watch root: the streamer serves
only files under the watch root, and the watcher's default `watch.exclude` (`.*`) hides a
dot-directory, so the file never becomes a job."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import grpc
import httpx

from postflow.cli.doctor.checks import RETRY_FIX, explain
from postflow.cli.doctor.report import Report
from postflow.core.backoff import Backoff
from postflow.core.errors import NotFound, from_rpc_error
from postflow.frameio import FrameioClient, FrameioError, ProjectRef, RequestFailed
from postflow.v1 import streamer_pb2, streamer_pb2_grpc
from services.watcher.delivery.pull import revoke
from services.watcher.routing import PipelineRoutes

FOLDER_NAME = "postflow-doctor"
LOCAL_DIR = ".postflow-doctor"
SIZE = 1024 * 1024
OCTET_STREAM = "application/octet-stream"
COMPLETE_TIMEOUT_S = 600.0  # Frame.io processes a file after its last byte; no time is documented
PUBLISH_TTL_S = int(COMPLETE_TIMEOUT_S) + 60
TUNNEL_FIX = "Frame.io must reach the public URL from the internet: check streamer.tunnel and `postflow status`"


class StepFailed(Exception):
    def __init__(self, detail: str, fix: str) -> None:
        super().__init__(detail)
        self.detail = detail
        self.fix = fix


class StepWarning(StepFailed):
    """The step did its work, with something the user should know (`fix` is advice)."""


def write_random(path: Path, size: int) -> os.stat_result:
    """Writes `size` random bytes to `path` (blocking: call it on a thread)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(os.urandom(size))
    return path.stat()


def remove_local(path: Path) -> None:
    """Removes the generated file, and its directory once empty (blocking)."""
    path.unlink(missing_ok=True)
    with contextlib.suppress(OSError):  # not empty (another run's file) or gone already
        path.parent.rmdir()


class RoundTrip:
    def __init__(self, pipeline: PipelineRoutes, streamer: streamer_pb2_grpc.StreamerServiceStub,
                 http: httpx.AsyncClient, frameio: FrameioClient, project: ProjectRef, report: Report) -> None:
        self.root = pipeline.root
        self.pipeline = pipeline.config.name
        self.hidden = not pipeline.path_filter.accepts(f"{LOCAL_DIR}/file.bin")
        self.streamer = streamer
        self.http = http
        self.frameio = frameio
        self.account_id = project.account_id
        self.root_folder_id = project.root_folder_id
        self.report = report
        self.stem = f"doctor-{datetime.now(UTC):%Y%m%d-%H%M%S}"
        # What this run made, for the clean-up:
        self.folder_id = ""
        self.file_ids: list[str] = []
        self.stack_id = ""
        self.ticket_id = ""
        self.local_file: Path | None = None

    async def run(self) -> None:
        steps: list[tuple[str, Callable[[], Awaitable[str]]]] = [
            ("folder", self.folder), ("remote upload", self.remote_upload),
            ("local upload", self.local_upload), ("version stack", self.version_stack)]
        try:
            for index, (name, action) in enumerate(steps):
                if not await self.step(name, action):
                    for later, _ in steps[index + 1:]:
                        self.report.skip(later, f"the {name} step failed")
                    break
        finally:
            await self.step("clean-up", self.clean_up)

    async def step(self, name: str, action: Callable[[], Awaitable[str]]) -> bool:
        """Runs one step and prints its line with the time it took; whether it succeeded."""
        started = time.monotonic()
        try:
            detail = await action()
        except StepWarning as exc:
            self.report.warn(name, f"{exc.detail} ({time.monotonic() - started:.1f} s)", exc.fix)
            return True
        except StepFailed as exc:
            detail, fix = exc.detail, exc.fix
        except (FrameioError, grpc.RpcError, httpx.HTTPError) as exc:
            detail, fix = explain(exc)
        except OSError as exc:
            detail, fix = str(exc), f"the doctor writes its test file into {self.root / LOCAL_DIR}: run it as a " \
                                    "user who may"
        else:
            self.report.ok(name, f"{detail} ({time.monotonic() - started:.1f} s)")
            return True
        self.report.fail(name, f"{detail} ({time.monotonic() - started:.1f} s)", fix)
        return False

    async def folder(self) -> str:
        children = await self.frameio.list_children(self.account_id, self.root_folder_id)
        found = next((c for c in children if c.type == "folder" and c.name == FOLDER_NAME), None)
        if found is not None:
            self.folder_id = found.id
            return f"{FOLDER_NAME} in the project's root folder"
        self.folder_id = (await self.frameio.create_folder(self.account_id, self.root_folder_id, FOLDER_NAME)).id
        return f"{FOLDER_NAME} created in the project's root folder"

    async def remote_upload(self) -> str:
        if not self.hidden:
            raise StepFailed(f"watch.exclude does not hide {LOCAL_DIR}/, so the watcher would deliver the test "
                             "file as a job", 'add ".*" to watch.exclude')
        name = f"{self.stem}-pulled.bin"
        relative = f"{LOCAL_DIR}/{name}"
        self.local_file = self.root / relative
        stat = await asyncio.to_thread(write_random, self.local_file, SIZE)
        try:
            publication = await self.streamer.Publish(streamer_pb2.PublishRequest(
                pipeline=self.pipeline, path=relative, size=stat.st_size, mtime_ns=stat.st_mtime_ns,
                ttl_s=PUBLISH_TTL_S), timeout=30)
        except grpc.RpcError as exc:
            error = from_rpc_error(exc)
            if isinstance(error, NotFound):
                raise StepFailed(f"the streamer cannot find {relative} ({error})",
                                 "run the doctor with the config the services use (the same watch.root)") from None
            raise
        self.ticket_id = publication.ticket_id
        try:
            file = await self.frameio.create_remote_upload(self.account_id, self.folder_id, name, publication.url)
        except RequestFailed as exc:
            raise StepFailed(f"Frame.io did not take {publication.url.split('/t/')[0]}: {exc}", TUNNEL_FIX) from None
        self.file_ids.append(file.id)
        await self.until_complete(file.id, TUNNEL_FIX)
        await revoke(self.streamer, self.ticket_id)
        self.ticket_id = ""
        return "1 MiB fetched by Frame.io from the public URL; upload complete"

    async def local_upload(self) -> str:
        name = f"{self.stem}-pushed.bin"
        content = os.urandom(SIZE)
        file = await self.frameio.create_local_upload(self.account_id, self.folder_id, name, SIZE)
        self.file_ids.append(file.id)
        parts = file.upload_urls or []
        headers = {"x-amz-acl": "private", "Content-Type": file.media_type or OCTET_STREAM}
        offset = 0
        for number, part in enumerate(parts, 1):
            response = await self.http.put(part.url, content=content[offset:offset + part.size], headers=headers)
            if not response.is_success:
                raise StepFailed(f"part {number} of {len(parts)}: HTTP {response.status_code} "
                                 f"{response.text[:200]}".rstrip(), "Frame.io's storage refused a part: " + RETRY_FIX)
            offset += part.size
        await self.until_complete(file.id, RETRY_FIX)
        return f"1 MiB PUT in {len(parts)} part{'s' if len(parts) != 1 else ''}; upload complete"

    async def until_complete(self, file_id: str, fix: str) -> None:
        """Polls the upload's status until Frame.io says upload_complete (StepFailed on
        upload_failed, or when it takes longer than COMPLETE_TIMEOUT_S)."""
        deadline = time.monotonic() + COMPLETE_TIMEOUT_S
        polls = Backoff(0.5, 5.0, jitter=0, factor=1.5)
        while True:
            status = await self.frameio.upload_status(self.account_id, file_id)
            if status.upload_complete:
                return
            if status.upload_failed:
                raise StepFailed("Frame.io reports upload_failed", fix)
            if time.monotonic() > deadline:
                raise StepFailed(f"Frame.io has not completed the upload after {COMPLETE_TIMEOUT_S:.0f} s", RETRY_FIX)
            await asyncio.sleep(polls.failed())

    async def version_stack(self) -> str:
        self.stack_id = await self.frameio.create_version_stack(self.account_id, self.folder_id, self.file_ids)
        versions = {v.id for v in await self.frameio.list_version_stack(self.account_id, self.stack_id)}
        if versions != set(self.file_ids):
            raise StepFailed(f"the new stack holds {len(versions)} files, not the {len(self.file_ids)} stacked",
                             "Frame.io's version stacks do not behave as PostFlow expects: report it")
        return f"the two files stacked as {len(versions)} versions"

    async def clean_up(self) -> str:
        """Deletes the files this run made in Frame.io (a stack vanishes with its last file),
        ends the publication, removes the generated file; checks nothing made is left."""
        if self.ticket_id:
            await revoke(self.streamer, self.ticket_id)
        problems = []
        for file_id in self.file_ids:
            try:
                await self.frameio.delete_file(self.account_id, file_id)
            except FrameioError as exc:
                if getattr(exc, "status", None) != 404:
                    problems.append(str(exc))
        if self.local_file is not None:
            await asyncio.to_thread(remove_local, self.local_file)
        left = []
        if self.file_ids and not problems:
            made = {*self.file_ids, self.stack_id}
            left = [c for c in await self.frameio.list_children(self.account_id, self.folder_id) if c.id in made]
            problems += [f"file {c.name} ({c.id}) is still there" for c in left if c.type == "file"]
        if problems:
            raise StepFailed("; ".join(problems), f"delete what is left in {FOLDER_NAME} in Frame.io by hand")
        count = len(self.file_ids)
        done = (f"{count} Frame.io file{'s' if count != 1 else ''} deleted" if count else "nothing was made in "
                "Frame.io") + ("; test file removed" if self.local_file else "")
        if left:  # Frame.io's stable API has no call that deletes a version stack
            raise StepWarning(f"{done}; Frame.io kept the emptied version stack {self.stack_id}",
                              f"delete it from {FOLDER_NAME} in Frame.io if it bothers you")
        return done
