"""The small REST API (`/api/status`, `/api/jobs…`, `/api/pipelines`, `/api/unrouted`) and the
probes (`/livez`, `/readyz`). Lists are pages the watcher cuts (`page_size`, `page_token`); a
parameter a list does not know, or one it cannot use, is a 400 naming it."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from postflow.core.clients import Clients
from postflow.core.config import ServicesConfig
from postflow.core.errors import InvalidArgument
from postflow.core.pipelines import NAME_PATTERN
from postflow.core.rpc import check_health
from postflow.v1 import common_pb2, watcher_pb2
from services.dashboard.access import Access
from services.dashboard.hub import Hub
from services.dashboard.scope import check, within
from services.dashboard.views import job_to_dict, pipeline_view, unrouted_view

MAX_PAGE_SIZE = 500
MAX_SEARCH = 200  # characters of `q`
JOBS_PARAMETERS = ("state", "pipeline", "q", "path_prefix", "page_size", "page_token")
UNROUTED_PARAMETERS = ("pipeline", "page_size", "page_token")
# A person is waiting: give a down service a few seconds to come back, then answer 503.
# (Failing fast would also fail while the channel is still in reconnect backoff just after
# the service came back.)
INTERACTIVE_TIMEOUT_S = 5.0
READY_TIMEOUT_S = 2.0


def parse_states(values: list[str]) -> list[str]:
    """`["done,failed"]` → `["JOB_STATE_DONE", "JOB_STATE_FAILED"]` (names a request accepts)."""
    states = [f"JOB_STATE_{name.strip().upper()}" for value in values for name in value.split(",") if name.strip()]
    if not set(states) <= set(common_pb2.JobState.keys()):
        raise InvalidArgument(f"state: expected job states such as queued, uploading, done, failed; got {values}")
    return states


def parse_pipelines(values: list[str]) -> list[str]:
    """`["a,b", "c"]` → `["a", "b", "c"]`, each a pipeline name."""
    names = [name.strip() for value in values for name in value.split(",") if name.strip()]
    for name in names:
        if not NAME_PATTERN.match(name):
            raise InvalidArgument(f"pipeline: {name!r} is not a pipeline name (letters, digits, '_', '.', '-', "
                                  "at most 64)")
    return names


def parse_search(value: str) -> str:
    if len(value) > MAX_SEARCH:
        raise InvalidArgument(f"q: at most {MAX_SEARCH} characters, got {len(value)}")
    return value.strip()


def known_parameters(params: QueryParams, known: tuple[str, ...]) -> QueryParams:
    """`params`, once each of them is one of `known` and none but `state` and `pipeline` is repeated."""
    for name in params:
        if name not in known:
            raise InvalidArgument(f"{name}: not a parameter of this list (it takes {', '.join(known) or 'none'})")
        if name not in ("state", "pipeline") and len(params.getlist(name)) > 1:
            raise InvalidArgument(f"{name}: given {len(params.getlist(name))} times, expected once")
    return params


def parse_page_size(value: str | None) -> int:
    if value is None:
        return 0
    if not value.isdigit() or not 1 <= int(value) <= MAX_PAGE_SIZE:
        raise InvalidArgument(f"page_size: expected a whole number from 1 to {MAX_PAGE_SIZE}, got {value!r}")
    return int(value)


def job_call(method, request_type, access: Access, watcher) -> Callable[[Request], Awaitable[Response]]:
    """A handler calling one of the watcher's by-id job methods for the person signed in, and
    answering the job; a person limited to some pipelines is refused a job of another (looked up first)."""

    async def handler(request: Request) -> Response:
        job_id = request.path_params["job_id"]
        allowed = access.pipelines(request)
        if allowed is not None:
            found = await watcher.GetJob(watcher_pb2.GetJobRequest(id=job_id), timeout=INTERACTIVE_TIMEOUT_S)
            check(found.pipeline, allowed)
        job = await method(request_type(id=job_id), timeout=INTERACTIVE_TIMEOUT_S,
                           metadata=access.actor_metadata(request))
        return JSONResponse(job_to_dict(job))

    return handler


def api_routes(clients: Clients, hub: Hub, services: ServicesConfig, access: Access) -> list[Route]:
    watcher = clients.watcher

    async def status(request: Request) -> Response:
        return JSONResponse(hub.status())

    async def list_jobs(request: Request) -> Response:
        params = known_parameters(request.query_params, JOBS_PARAMETERS)
        response = await watcher.ListJobs(watcher_pb2.ListJobsRequest(
            states=parse_states(params.getlist("state")),
            pipelines=within(parse_pipelines(params.getlist("pipeline")), access.pipelines(request)),
            search=parse_search(params.get("q", "")), path_prefix=params.get("path_prefix", ""),
            page_size=parse_page_size(params.get("page_size")), page_token=params.get("page_token", ""),
        ), timeout=INTERACTIVE_TIMEOUT_S)
        return JSONResponse({"jobs": [job_to_dict(job) for job in response.jobs],
                             "next_page_token": response.next_page_token, "total": response.total})

    async def list_pipelines(request: Request) -> Response:
        known_parameters(request.query_params, ())
        response = await watcher.ListPipelines(watcher_pb2.ListPipelinesRequest(), timeout=INTERACTIVE_TIMEOUT_S)
        allowed = access.pipelines(request)
        return JSONResponse({"pipelines": [pipeline_view(status) for status in response.pipelines
                                           if allowed is None or status.name in allowed]})

    async def list_unrouted(request: Request) -> Response:
        params = known_parameters(request.query_params, UNROUTED_PARAMETERS)
        pipelines = within(parse_pipelines(params.getlist("pipeline")), access.pipelines(request))
        response = await watcher.ListUnrouted(watcher_pb2.ListUnroutedRequest(
            pipelines=pipelines, page_size=parse_page_size(params.get("page_size")),
            page_token=params.get("page_token", ""),
        ), timeout=INTERACTIVE_TIMEOUT_S)
        return JSONResponse({"files": [unrouted_view(file) for file in response.files],
                             "next_page_token": response.next_page_token, "total": response.total})

    async def livez(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        names = ("auth", "watcher", "streamer")
        health = await asyncio.gather(*(check_health(getattr(services, n), READY_TIMEOUT_S) for n in names))
        checks = dict(zip(names, health, strict=True))
        ready = all(value == "SERVING" for value in checks.values())
        return JSONResponse({"ready": ready, "services": checks}, status_code=200 if ready else 503)

    return [
        Route("/api/status", status),
        Route("/api/jobs", list_jobs),
        Route("/api/pipelines", list_pipelines),
        Route("/api/unrouted", list_unrouted),
        Route("/api/jobs/{job_id}", job_call(watcher.GetJob, watcher_pb2.GetJobRequest, access, watcher)),
        Route("/api/jobs/{job_id}/retry", job_call(watcher.RetryJob, watcher_pb2.RetryJobRequest, access, watcher),
              methods=["POST"]),
        Route("/api/jobs/{job_id}/cancel", job_call(watcher.CancelJob, watcher_pb2.CancelJobRequest, access, watcher),
              methods=["POST"]),
        Route("/livez", livez),
        Route("/readyz", readyz),
    ]
