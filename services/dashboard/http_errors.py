"""The one table from PostFlow errors (gRPC status codes) to HTTP, and JSON error bodies."""

from __future__ import annotations

import grpc
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse

from postflow.core.errors import (
    Aborted,
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    PostflowError,
    ResourceExhausted,
    Unavailable,
    from_rpc_error,
)

HTTP_STATUS: dict[type[PostflowError], int] = {
    InvalidArgument: 400,
    PermissionDenied: 403,
    NotFound: 404,
    AlreadyExists: 409,
    FailedPrecondition: 409,
    Aborted: 409,
    ResourceExhausted: 429,
    Unavailable: 503,
}
UPSTREAM_FAILED = 502  # any other error from a service


def http_status(error: PostflowError) -> int:
    return HTTP_STATUS.get(type(error), UPSTREAM_FAILED)


def json_error(message: str, status_code: int) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status_code)


async def on_rpc_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, grpc.RpcError)
    return await on_postflow_error(request, from_rpc_error(exc))


async def on_postflow_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, PostflowError)
    return json_error(str(exc), http_status(exc))


async def on_http_exception(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    return json_error(exc.detail, exc.status_code)


EXCEPTION_HANDLERS = {grpc.RpcError: on_rpc_error, PostflowError: on_postflow_error, HTTPException: on_http_exception}
