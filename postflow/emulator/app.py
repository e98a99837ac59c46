"""The emulator as one Starlette app: Adobe IMS under `/ims` (its OpenID Connect discovery also
at `/.well-known`), Frame.io v4 under `/v4` (comments, metadata and webhooks included, with the
webhook deliveries as tasks of the app), the
S3-like part endpoint under `/_s3`, and the emulator's own `/_emulator` endpoints. All state
lives in one `EmulatorState` (at `app.state.emulator`), none in modules."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import httpx
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response

from postflow.emulator.comments import Comments, comment_routes
from postflow.emulator.deliveries import Deliveries
from postflow.emulator.extras import extra_routes
from postflow.emulator.faults import FaultMiddleware, Faults
from postflow.emulator.frameio_api import frameio_routes
from postflow.emulator.ims import ims_routes
from postflow.emulator.oidc import SigningKeys, oidc_routes
from postflow.emulator.options import EmulatorOptions
from postflow.emulator.puller import Puller
from postflow.emulator.ratelimit import EmulatedRateLimits
from postflow.emulator.responses import error_for_path
from postflow.emulator.review_extras import review_extra_routes
from postflow.emulator.review_status import FileMetadata, metadata_routes
from postflow.emulator.s3 import PartUploads
from postflow.emulator.store import Store
from postflow.emulator.tokens import TokenRegistry
from postflow.emulator.webhooks import Webhooks, webhook_routes


@dataclass
class EmulatorState:
    options: EmulatorOptions
    store: Store
    tokens: TokenRegistry
    faults: Faults
    rate_limits: EmulatedRateLimits
    puller: Puller
    parts: PartUploads
    webhooks: Webhooks
    deliveries: Deliveries
    comments: Comments = field(default_factory=Comments)
    metadata: FileMetadata = field(default_factory=FileMetadata)
    signing_keys: SigningKeys = field(default_factory=SigningKeys)  # the ID tokens' (oidc.py)
    calls: Counter[str] = field(default_factory=Counter)  # Frame.io calls by "METHOD /route template"

    @property
    def rate_limits_enabled(self) -> bool:
        return self.options.rate_limits if self.faults.rate_limits is None else self.faults.rate_limits

    def seeded(self) -> dict:
        """The ids a one-account client needs (the first account, workspace, project, its root
        folder, the first user, the default client id), then every user, account (members,
        workspaces, projects, including those created since) and client (directory.describe)."""
        return {**self.store.seed.describe(), "client_id": self.options.client_id,
                **self.store.directory.describe()}

    async def reset(self) -> None:
        """Forgets files, folders, created projects, comments, statuses, media timings, webhooks
        and their deliveries, tokens, faults, rate-limit and call counts; the seeded ids stay."""
        await self.puller.aclose()
        await self.deliveries.clear()
        self.store.clear()
        self.comments.clear()
        self.metadata.clear()
        self.webhooks.clear()
        self.tokens.clear()
        self.faults.clear()
        self.rate_limits.clear()
        self.calls.clear()


def puller_client(options: EmulatorOptions) -> httpx.AsyncClient:
    return httpx.AsyncClient(timeout=httpx.Timeout(options.pull_timeout_s, connect=10.0), follow_redirects=True,
                             trust_env=False, limits=httpx.Limits(max_connections=None, max_keepalive_connections=32))


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return error_for_path(request.url.path, exc.status_code, exc.detail)


def build_app(options: EmulatorOptions | None = None, http: httpx.AsyncClient | None = None) -> Starlette:
    """The emulator app. `http` is the puller's client; without one the app makes its own and
    closes it at shutdown. Pulls and webhook deliveries still running at shutdown are cancelled."""
    options = options or EmulatorOptions()
    pull_http = http or puller_client(options)
    webhook_http = httpx.AsyncClient(trust_env=False, follow_redirects=False)
    store = Store(options)
    faults = Faults()
    webhooks = Webhooks()
    deliveries = Deliveries(webhook_http, options, faults, store, webhooks)
    store.events = deliveries
    state = EmulatorState(options, store, TokenRegistry(), faults, EmulatedRateLimits(),
                          Puller(pull_http, options, faults, store), PartUploads(options, store, faults),
                          webhooks, deliveries)

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await state.puller.aclose()
            await deliveries.aclose()
            await webhook_http.aclose()
            if http is None:
                await pull_http.aclose()

    routes = [*ims_routes(), *oidc_routes(), *frameio_routes(), *comment_routes(), *metadata_routes(),
              *webhook_routes(), *state.parts.routes(), *extra_routes(), *review_extra_routes()]
    app = Starlette(routes=routes,
                    middleware=[Middleware(FaultMiddleware, faults=faults)],
                    exception_handlers={HTTPException: http_error}, lifespan=lifespan)
    app.state.emulator = state
    return app
