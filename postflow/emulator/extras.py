"""The emulator's own endpoints under `/_emulator` (not Frame.io): what was seeded (`state`: every
user, account, workspace, project and client), every file (with its account and project) and how its
bytes arrived, every token issued, fault injection, and the count of Frame.io
calls by route (`/_emulator/calls`, for "calls per file" in benchmarks). The ID-token key
rotation (`/_emulator/ims/keys/rotate`) lives with the keys, in oidc.py."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from postflow.emulator.resources import iso
from postflow.emulator.store import File, Store, VersionStack

if TYPE_CHECKING:
    from postflow.emulator.app import EmulatorState


def file_report(store: Store, file: File, at: float | None = None) -> dict:
    """What the emulator knows of `file`, its completion as of `at` (default: now)."""
    upload = file.upload
    stack = store.assets.get(file.parent_id or "")
    if upload.pull is not None:
        received = upload.pull.bytes
    else:
        received = sum(part.size for part in upload.parts if part.state == "stored")
    return {
        "id": file.id, "name": file.name, "account_id": store.account_of(file), "project_id": file.project_id,
        "folder_path": store.folder_path(file), "parent_id": file.parent_id,
        "version_stack_id": stack.id if isinstance(stack, VersionStack) else None,
        "size": file.file_size, "media_type": file.media_type,
        "status": file.status(store.options.transcode_delay_s), "method": upload.method,
        "bytes_received": received, "sha256": upload.sha256,
        "upload_complete": upload.complete(at), "upload_failed": upload.failed_at is not None,
        "failure_reason": upload.failure_reason, "created_at": iso(file.created_at),
        "last_byte_at": iso(upload.last_byte_at) if upload.last_byte_at is not None else None,
        "upload_completed_at": iso(upload.completed_at) if upload.completed_at is not None else None,
        "pull": upload.pull.describe() if upload.pull is not None else None,
        "parts": {"count": len(upload.parts), "stored": sum(p.state == "stored" for p in upload.parts)}
        if upload.parts else None,
    }


async def state(request: Request) -> Response:
    return JSONResponse(request.app.state.emulator.seeded())


async def files(request: Request) -> Response:
    """Every file, and every file deleted since the last reset (as it was when deleted)."""
    store = request.app.state.emulator.store
    deleted = [{**file_report(store, file, when), "folder_path": folder, "deleted_at": iso(when)}
               for file, folder, when in store.deleted]
    return JSONResponse({"files": [file_report(store, file) for file in sorted(store.files(), key=lambda f: f.seq)],
                         "deleted": deleted})


async def tokens(request: Request) -> Response:
    return JSONResponse({"tokens": request.app.state.emulator.tokens.describe()})


async def faults(request: Request) -> Response:
    emulator: EmulatorState = request.app.state.emulator
    if request.method == "DELETE":
        emulator.faults.clear()
    elif request.method == "POST":
        try:
            spec = json.loads(await request.body())
            if not isinstance(spec, dict):
                raise ValueError("the body must be a JSON object of faults")
            emulator.faults.apply(spec)
        except ValueError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        if spec.get("expire_access_tokens"):
            emulator.tokens.expire_access_tokens()
    return JSONResponse(emulator.faults.describe())


async def calls(request: Request) -> Response:
    """Frame.io calls so far by "METHOD /route template", and their total; DELETE starts again."""
    counted = request.app.state.emulator.calls
    if request.method == "DELETE":
        counted.clear()
    return JSONResponse({"total": sum(counted.values()), "calls": dict(sorted(counted.items()))})


async def reset(request: Request) -> Response:
    await request.app.state.emulator.reset()
    return JSONResponse(request.app.state.emulator.seeded())


def extra_routes() -> list[Route]:
    return [
        Route("/_emulator/state", state, methods=["GET"]),
        Route("/_emulator/files", files, methods=["GET"]),
        Route("/_emulator/tokens", tokens, methods=["GET"]),
        Route("/_emulator/faults", faults, methods=["GET", "POST", "DELETE"]),
        Route("/_emulator/calls", calls, methods=["GET", "DELETE"]),
        Route("/_emulator/reset", reset, methods=["POST"]),
    ]
