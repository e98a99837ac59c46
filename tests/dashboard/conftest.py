import httpx
import pytest_asyncio

from postflow.core.service import Runtime
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

