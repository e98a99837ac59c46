import dataclasses

import httpx
import pytest_asyncio

from postflow.core.config import DashboardConfig
from postflow.core.oidc_config import OidcConfig
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


@pytest_asyncio.fixture
async def oidc_dashboard(fakes, tmp_path):
    """A function starting a dashboard that signs people in with `oidc` (dashboard.oidc, and the
    access token ACCESS_TOKEN for scripts); it returns the page's URL."""
    services = []

    async def start(oidc: OidcConfig) -> str:
        config = dataclasses.replace(fakes.config, state_dir=str(tmp_path),
                                     dashboard=DashboardConfig(access_token=ACCESS_TOKEN, oidc=oidc))
        services.append(build_service(Runtime(config), http_address="127.0.0.1:0", ping_s=0.5))
        await services[-1].start()
        return f"http://127.0.0.1:{services[-1].http_port}/"

    try:
        yield start
    finally:
        for service in services:
            await service.stop()
