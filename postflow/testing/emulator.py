"""The Frame.io emulator seen from a test or a benchmark: started as a process, a token for its
development client, and its test-only API (`/_emulator/…`): the files it holds and those it
deleted, the faults it injects, the tokens its IMS issued, the state it was seeded with, and a
reviewer's side of the review loop (comments, review status, media timing, webhook deliveries)."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import httpx

from postflow.emulator.options import DEV_CLIENT_ID, DEV_CLIENT_SECRET
from postflow.testing.polling import wait_for

TIMEOUT_S = 10
S2S_SCOPE = "openid AdobeID frame.s2s.all"


TEST_ARGS = ("--allow-http-loopback-redirect",)  # the test stacks log in through http://127.0.0.1


async def start_emulator(port: int, env: dict[str, str], log_path: Path, *args: str) -> asyncio.subprocess.Process:
    """`python -m postflow.emulator` on 127.0.0.1:`port` (loopback http redirects allowed), its
    output appended to `log_path`."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with await asyncio.to_thread(open, log_path, "ab") as log_file:
        return await asyncio.create_subprocess_exec(
            sys.executable, "-m", "postflow.emulator", "--host", "127.0.0.1", "--port", str(port), *TEST_ARGS, *args,
            env=env, stdin=asyncio.subprocess.DEVNULL, stdout=log_file, stderr=asyncio.subprocess.STDOUT,
        )


async def client_credentials_token(url: str, scope: str = S2S_SCOPE, client_id: str = DEV_CLIENT_ID,
                                   client_secret: str = DEV_CLIENT_SECRET) -> str:
    """An access token from the emulator at `url` (client_credentials) for a client, by default its
    development client; it acts as that client's technical user."""
    response = await _call(url, "POST", "/ims/token/v3", data={
        "grant_type": "client_credentials", "client_id": client_id, "client_secret": client_secret,
        "scope": scope})
    return str(response.json()["access_token"])


async def emulator_report(url: str) -> dict:
    """The emulator's files ("files") and those deleted from it ("deleted")."""
    return (await _call(url, "GET", "/_emulator/files")).json()


async def emulator_file(url: str, file_id: str) -> dict:
    return next(f for f in (await emulator_report(url))["files"] if f["id"] == file_id)


async def upload_finished(url: str, file_id: str, timeout: float = 15) -> dict:
    """Waits until the upload of `file_id` completed or failed; returns the emulator's file."""
    async def ended() -> dict | None:
        file = await emulator_file(url, file_id)
        return file if file["upload_complete"] or file["upload_failed"] else None

    return await wait_for(ended, timeout=timeout, interval=0.02, message=f"upload of {file_id} to finish")


async def set_faults(url: str, spec: dict[str, Any]) -> dict:
    """Adds the faults in `spec`; returns the faults now in force."""
    return (await _call(url, "POST", "/_emulator/faults", json=spec)).json()


async def clear_faults(url: str) -> None:
    await _call(url, "DELETE", "/_emulator/faults")


async def seeded_state(url: str) -> dict:
    """The ids the emulator was seeded with (account, workspace, project, root folder, user)."""
    return (await _call(url, "GET", "/_emulator/state")).json()


async def issued_tokens(url: str) -> list[dict]:
    """Every token the emulator's IMS issued, with its kind, grant type and state."""
    return (await _call(url, "GET", "/_emulator/tokens")).json()["tokens"]


async def revoke_at_ims(url: str, token: str) -> None:
    """Revokes `token` as a web app does: HTTP Basic client authentication, the token in the body."""
    await _call(url, "POST", "/ims/revoke", data={"token": token}, auth=(DEV_CLIENT_ID, DEV_CLIENT_SECRET))


async def frameio_calls(url: str, reset: bool = False) -> dict:
    """The Frame.io calls the emulator answered: {"total": n, "calls": {"METHOD /template": n}};
    `reset` starts the count again (returning the count before)."""
    counted = (await _call(url, "GET", "/_emulator/calls")).json()
    if reset:
        await _call(url, "DELETE", "/_emulator/calls")
    return counted


async def add_review_comment(url: str, file_id: str, text: str, *, timestamp: int | None = None,
                             duration: int | None = None, name: str = "Reviewer",
                             email: str = "reviewer@emulator.invalid") -> dict:
    """A comment on `file_id` by a reviewer (no token needed), as a Comment with its owner."""
    body = {"text": text, "timestamp": timestamp, "duration": duration, "name": name, "email": email}
    return (await _call(url, "POST", f"/_emulator/files/{file_id}/comments", json=body)).json()["data"]


async def complete_review_comment(url: str, comment_id: str, completed: bool = True) -> dict:
    return (await _call(url, "POST", f"/_emulator/comments/{comment_id}/complete",
                        json={"completed": completed})).json()["data"]


async def set_review_status(url: str, file_id: str, status: str | None) -> dict:
    """Sets the file's review status ("Approved", …; None clears it); returns its metadata."""
    answer = await _call(url, "PUT", f"/_emulator/files/{file_id}/review_status", json={"status": status})
    return answer.json()["data"]


async def set_media_timing(url: str, file_id: str, frame_rate: float | None = None,
                           start_timecode: str | None = None, duration_s: float | None = None) -> dict:
    body = {"frame_rate": frame_rate, "start_timecode": start_timecode, "duration_s": duration_s}
    return (await _call(url, "PUT", f"/_emulator/files/{file_id}/media_timing", json=body)).json()["data"]


async def webhook_deliveries(url: str) -> dict:
    """{"deliveries": every webhook delivery attempt, "pending": how many are still under way}."""
    return (await _call(url, "GET", "/_emulator/webhooks/deliveries")).json()


async def _call(url: str, method: str, path: str, **request: Any) -> httpx.Response:
    async with httpx.AsyncClient(timeout=TIMEOUT_S) as client:
        response = await client.request(method, f"{url}{path}", **request)
    response.raise_for_status()
    return response


class FrameioFiles:
    """Just enough of Frame.io, over raw httpx: create a local upload, read what arrived."""

    def __init__(self, url: str, client: httpx.AsyncClient) -> None:
        self.url = url
        self.client = client

    async def connect(self) -> None:
        self.seed = await seeded_state(self.url)
        self.client.headers["Authorization"] = f"Bearer {await client_credentials_token(self.url)}"

    async def local_upload(self, name: str, size: int) -> dict:
        account, folder = self.seed["account_id"], self.seed["root_folder_id"]
        response = await self.client.post(f"{self.url}/v4/accounts/{account}/folders/{folder}/files/local_upload",
                                          json={"data": {"name": name, "file_size": size}})
        assert response.status_code == 201, response.text
        return response.json()["data"]

    async def report(self, file_id: str) -> dict:
        return await emulator_file(self.url, file_id)

    async def finished(self, file_id: str) -> dict:
        """The report once the upload completed or failed (after the processing delay)."""
        return await upload_finished(self.url, file_id)

    async def fault(self, spec: dict) -> None:
        await set_faults(self.url, spec)


class StaticTokens:
    """A FrameioClient's token source that always gives the same access token."""

    def __init__(self, token: str) -> None:
        self.token = token

    async def access_token(self, *, force_refresh: bool = False, rejected_token: str = "") -> str:
        return self.token
