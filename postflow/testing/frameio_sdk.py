"""The official Frame.io SDK against the emulator: raw responses recorded for strict checks
against the SDK's models, calls without retries, and a remote upload."""

from __future__ import annotations

from typing import Any, TypeVar

import httpx
from frameio import AsyncFrameio
from frameio.core.request_options import RequestOptions
from frameio.files import FileCreateRemoteUploadParamsData
from pydantic import BaseModel

NO_RETRIES: RequestOptions = {"max_retries": 0}
USER_SCOPE = "openid email profile offline_access additional_info.roles"

Model = TypeVar("Model", bound=BaseModel)


class Responses:
    """The raw responses an httpx client received, newest last (an httpx response hook)."""

    def __init__(self) -> None:
        self.all: list[httpx.Response] = []

    async def __call__(self, response: httpx.Response) -> None:
        await response.aread()
        self.all.append(response)

    @property
    def last(self) -> httpx.Response:
        return self.all[-1]

    def parse(self, model: type[Model]) -> Model:
        """The last body validated strictly (pydantic) against an SDK response model."""
        return model.model_validate(self.last.json())


async def remote_upload(sdk: AsyncFrameio, seeded: dict, url: str, name: str = "clip.mov",
                        folder_id: str | None = None) -> Any:
    return await sdk.files.create_remote_upload(seeded["account_id"], folder_id or seeded["root_folder_id"],
                                                data=FileCreateRemoteUploadParamsData(name=name, source_url=url),
                                                request_options=NO_RETRIES)
