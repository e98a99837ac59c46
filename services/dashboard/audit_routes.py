"""`GET /api/audit?since=…&limit=…`: the merged audit log (every service's and the CLI's),
for admins only."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from postflow.core.clients import Clients
from postflow.core.config import Config
from postflow.core.errors import InvalidArgument, PermissionDenied
from postflow.core.mesh.audit_query import entry_view, merged_audit, parse_since
from services.dashboard.access import Access

AUDIT_TIMEOUT_S = 5.0


def parse_limit(value: str | None) -> int:
    if value is None:
        return 0
    if not value.isdigit():
        raise InvalidArgument(f"limit: expected a whole number, got {value!r}")
    return int(value)


def audit_routes(config: Config, clients: Clients, access: Access) -> list[Route]:
    async def audit(request: Request) -> Response:
        if not access.is_admin(request):
            raise PermissionDenied("the audit log is for admins only")
        params = request.query_params
        since = parse_since(params["since"]) if params.get("since") else None
        merged = await merged_audit(config, clients.audit, since, parse_limit(params.get("limit")), AUDIT_TIMEOUT_S)
        return JSONResponse({"entries": [entry_view(entry) for entry in merged.entries],
                             "unavailable": merged.unavailable})

    return [Route("/api/audit", audit)]
