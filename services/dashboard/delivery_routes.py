"""`GET /api/deliveries?limit=…` (the watcher's delivery log of webhooks and notifications,
newest first) and `POST /api/deliveries/{id}/replay` (send one again), for admins only."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from postflow.core.clients import Clients
from postflow.core.errors import PermissionDenied
from postflow.v1 import watcher_pb2
from services.dashboard.access import Access
from services.dashboard.api import INTERACTIVE_TIMEOUT_S, known_parameters
from services.dashboard.audit_routes import parse_limit
from services.dashboard.views import delivery_view


def delivery_routes(clients: Clients, access: Access) -> list[Route]:
    def require_admin(request: Request) -> None:
        if not access.is_admin(request):
            raise PermissionDenied("the delivery log is for admins only")

    async def deliveries(request: Request) -> Response:
        require_admin(request)
        params = known_parameters(request.query_params, ("limit",))
        answer = await clients.watcher.ListDeliveries(
            watcher_pb2.ListDeliveriesRequest(limit=parse_limit(params.get("limit"))), timeout=INTERACTIVE_TIMEOUT_S)
        return JSONResponse({"deliveries": [delivery_view(delivery) for delivery in answer.deliveries]})

    async def replay(request: Request) -> Response:
        require_admin(request)
        delivery = await clients.watcher.ReplayDelivery(
            watcher_pb2.ReplayDeliveryRequest(id=request.path_params["delivery_id"]), timeout=INTERACTIVE_TIMEOUT_S)
        return JSONResponse(delivery_view(delivery))

    return [Route("/api/deliveries", deliveries),
            Route("/api/deliveries/{delivery_id:int}/replay", replay, methods=["POST"])]
