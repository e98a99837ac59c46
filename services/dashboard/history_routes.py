"""`GET /api/history?from=&to=&bucket=&pipeline=`: the watcher's history of a range, for the
analytics page. `from` and `to` are ISO 8601 moments (UTC when they name no offset; default:
the 24 hours up to now), `bucket` is `hour` (default) or `day`, counted from `from`; `pipeline`
repeated or comma-separated (default: all). A parameter it cannot use is a 400 naming it."""

from __future__ import annotations

import time

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from postflow.core.clients import Clients
from postflow.core.dates import iso_seconds
from postflow.core.errors import InvalidArgument
from postflow.core.history import BUCKET_NAMES, BUCKET_S, bucket_count
from postflow.core.protos import timestamp
from postflow.v1 import watcher_pb2
from services.dashboard.access import Access
from services.dashboard.api import INTERACTIVE_TIMEOUT_S, known_parameters, parse_pipelines
from services.dashboard.scope import within
from services.dashboard.views import history_view

HISTORY_PARAMETERS = ("from", "to", "bucket", "pipeline")
DEFAULT_RANGE_S = 24 * 3600


def parse_moment(value: str, name: str) -> float:
    moment = iso_seconds(value)
    if moment is None:
        raise InvalidArgument(f"{name}: expected an ISO 8601 time such as 2026-01-31T18:00:00Z, got {value!r}")
    return moment


def parse_bucket(value: str) -> watcher_pb2.HistoryBucketSize:
    bucket = BUCKET_NAMES.get(value.strip().lower())
    if bucket is None:
        raise InvalidArgument(f"bucket: expected hour or day, got {value!r}")
    return bucket


def history_routes(clients: Clients, access: Access) -> list[Route]:
    async def history(request: Request) -> Response:
        params = known_parameters(request.query_params, HISTORY_PARAMETERS)
        end = parse_moment(params["to"], "to") if "to" in params else time.time()
        start = parse_moment(params["from"], "from") if "from" in params else end - DEFAULT_RANGE_S
        bucket = parse_bucket(params.get("bucket", "hour"))
        bucket_count(start, end, BUCKET_S[bucket], ("from", "to"))
        response = await clients.watcher.GetHistory(watcher_pb2.GetHistoryRequest(
            start=timestamp(start), end=timestamp(end), bucket=bucket,
            pipelines=within(parse_pipelines(params.getlist("pipeline")), access.pipelines(request)),
        ), timeout=INTERACTIVE_TIMEOUT_S)
        return JSONResponse(history_view(response, start, end, BUCKET_S[bucket]))

    return [Route("/api/history", history)]
