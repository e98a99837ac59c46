import dataclasses

import httpx
import pytest_asyncio

from postflow.core.config import DashboardConfig
from postflow.core.service import Runtime
from postflow.testing.dashboard import ACCESS_TOKEN
from postflow.testing.fakes import FakeServices
from services.dashboard.server import build_service


@pytest_asyncio.fixture
async def fakes():
    async with FakeServices().serving() as services:
        yield services


@pytest_asyncio.fixture
async def dashboard(fakes):
    service = build_service(Runtime(fakes.config), http_address="127.0.0.1:0", ping_s=0.5)
    await service.start()
    fakes.auth.redirect_uri = f"http://127.0.0.1:{service.http_port}/auth/callback"
    try:
        yield service
    finally:
        await service.stop()


@pytest_asyncio.fixture
async def http(dashboard):
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{dashboard.http_port}", timeout=10) as client:
        await client.get("/")  # the page sets the CSRF cookie, as a browser would get it
        yield client



@pytest_asyncio.fixture
async def protected(fakes):
    """A client of a dashboard that wants the access token (ACCESS_TOKEN), with the CSRF cookie."""
    config = dataclasses.replace(fakes.config, dashboard=DashboardConfig(access_token=ACCESS_TOKEN))
    service = build_service(Runtime(config), http_address="127.0.0.1:0")
    await service.start()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{service.http_port}", timeout=10) as client:
            await client.get("/")
            yield client
    finally:
        await service.stop()
