"""The dashboard's Starlette application: page, static files, SSE, REST, OAuth endpoints."""

from __future__ import annotations

from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
from opentelemetry.trace import TracerProvider
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Mount, Route

from postflow.core.clients import Clients
from postflow.core.config import Config
from services.dashboard.access import Access, Guard, session_routes
from services.dashboard.api import api_routes
from services.dashboard.audit_routes import audit_routes
from services.dashboard.delivery_routes import delivery_routes
from services.dashboard.history_routes import history_routes
from services.dashboard.http_errors import EXCEPTION_HANDLERS
from services.dashboard.hub import Hub
from services.dashboard.marker_routes import marker_routes
from services.dashboard.oauth_routes import oauth_routes
from services.dashboard.pages import STATIC_DIR, StaticAssets, analytics, index, manifest
from services.dashboard.session_admin import session_admin_routes
from services.dashboard.sse import events_route

UNTRACED = "/livez,/readyz,/static/,/events"  # probes, assets, and hours-long streams


def build_app(config: Config, clients: Clients, hub: Hub, access: Access, *,
              tracer_provider: TracerProvider | None = None, ping_s: float = 15.0,
              send_timeout_s: float = 30.0) -> Starlette:
    routes = [
        Route("/", index),
        Route("/analytics", analytics),
        Route("/manifest.webmanifest", manifest),
        events_route(hub, access, ping_s, send_timeout_s),
        *api_routes(clients, hub, config.services, access),
        *history_routes(clients, access),
        *audit_routes(config, clients, access),
        *delivery_routes(clients, access),
        *marker_routes(clients, access),
        *session_routes(access),
        *session_admin_routes(access),
        *(access.signin.routes() if access.signin is not None else []),
        *oauth_routes(clients, hub, config.auth.login_ttl_s),
        Mount("/static", app=StaticAssets(directory=STATIC_DIR), name="static"),
    ]
    middleware = [
        Middleware(OpenTelemetryMiddleware, excluded_urls=UNTRACED, tracer_provider=tracer_provider,
                   exclude_spans=["receive", "send"]),
        Middleware(Guard, access=access),
    ]
    return Starlette(routes=routes, middleware=middleware, exception_handlers=EXCEPTION_HANDLERS)
