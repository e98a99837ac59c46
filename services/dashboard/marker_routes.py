"""`GET /api/jobs/{id}/markers?format=edl|fcpxml|xmeml|csv`: a delivered file's review comments
as markers for an editing application (postflow.markers), downloaded as NAME.comments.<ext>.
Seeing is enough (viewers may); a person limited to some pipelines gets only theirs."""

from __future__ import annotations

import posixpath

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from postflow.core.clients import Clients
from postflow.core.errors import InvalidArgument
from postflow.core.http import content_disposition
from postflow.core.review_config import MARKER_FORMATS
from postflow.markers.files import marker_name, render_review
from postflow.v1 import watcher_pb2
from services.dashboard.access import Access
from services.dashboard.api import INTERACTIVE_TIMEOUT_S, known_parameters
from services.dashboard.scope import check

MEDIA_TYPES = {"edl": "text/plain", "fcpxml": "application/xml", "xmeml": "application/xml", "csv": "text/csv"}


def parse_format(value: str | None) -> str:
    if value not in MARKER_FORMATS:
        raise InvalidArgument(f"format: expected one of {', '.join(MARKER_FORMATS)}, got {value!r}")
    return value


def marker_routes(clients: Clients, access: Access) -> list[Route]:
    async def markers(request: Request) -> Response:
        fmt = parse_format(known_parameters(request.query_params, ("format",)).get("format"))
        review = await clients.watcher.GetReview(watcher_pb2.GetReviewRequest(job_id=request.path_params["job_id"]),
                                                 timeout=INTERACTIVE_TIMEOUT_S)
        check(review.job.pipeline, access.pipelines(request))
        name = marker_name(posixpath.basename(review.job.path), fmt)
        return Response(render_review(review, fmt), media_type=MEDIA_TYPES[fmt],
                        headers={"content-disposition": content_disposition(name), "cache-control": "no-store"})

    return [Route("/api/jobs/{job_id}/markers", markers)]
