"""Shared by the emulator's tests: raw-response recording for strict model checks,
fault injection and waiting for an upload to finish."""

from __future__ import annotations

import httpx
from frameio import AsyncFrameio
from frameio.files import FileCreateRemoteUploadParamsData

from postflow.testing.polling import wait_for

NO_RETRIES = {"max_retries": 0}
USER_SCOPE = "openid email profile offline_access additional_info.roles"


class Responses:
    """The raw responses an httpx client received, newest last."""

    def __init__(self) -> None:
        self.all: list[httpx.Response] = []

    async def __call__(self, response: httpx.Response) -> None:
        await response.aread()
        self.all.append(response)

    @property
    def last(self) -> httpx.Response:
        return self.all[-1]

    def parse(self, model):
        """The last body validated strictly (pydantic) against an SDK response model."""
        return model.model_validate(self.last.json())


async def emulator_file(http: httpx.AsyncClient, emulator, file_id: str) -> dict:
    files = (await http.get(f"{emulator.url}/_emulator/files")).json()["files"]
    return next(f for f in files if f["id"] == file_id)


async def finished(http: httpx.AsyncClient, emulator, file_id: str, timeout: float = 15) -> dict:
    async def done() -> dict | None:
        file = await emulator_file(http, emulator, file_id)
        return file if file["upload_complete"] or file["upload_failed"] else None

    return await wait_for(done, timeout=timeout, interval=0.02, message=f"upload of {file_id} to finish")


async def remote_upload(sdk: AsyncFrameio, seeded: dict, url: str, name: str = "clip.mov",
                        folder_id: str | None = None):
    return await sdk.files.create_remote_upload(seeded["account_id"], folder_id or seeded["root_folder_id"],
                                                data=FileCreateRemoteUploadParamsData(name=name, source_url=url),
                                                request_options=NO_RETRIES)


async def set_faults(http: httpx.AsyncClient, emulator, spec: dict) -> None:
    (await http.post(f"{emulator.url}/_emulator/faults", json=spec)).raise_for_status()
