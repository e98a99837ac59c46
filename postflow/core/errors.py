"""Domain errors, and the one place they map to gRPC status codes (both directions)."""

from __future__ import annotations

import grpc


class PostflowError(Exception):
    """Base of every error a servicer may raise; the message is shown to the caller."""

    code = grpc.StatusCode.INTERNAL


class InvalidArgument(PostflowError):
    code = grpc.StatusCode.INVALID_ARGUMENT


class NotFound(PostflowError):
    code = grpc.StatusCode.NOT_FOUND


class AlreadyExists(PostflowError):
    code = grpc.StatusCode.ALREADY_EXISTS


class FailedPrecondition(PostflowError):
    """The system is not in a state where this can happen (e.g. Frame.io not connected)."""

    code = grpc.StatusCode.FAILED_PRECONDITION


class PermissionDenied(PostflowError):
    code = grpc.StatusCode.PERMISSION_DENIED


class Unauthenticated(PostflowError):
    """No valid credentials: a missing, unknown or revoked API key or certificate."""

    code = grpc.StatusCode.UNAUTHENTICATED


class ResourceExhausted(PostflowError):
    code = grpc.StatusCode.RESOURCE_EXHAUSTED


class Unavailable(PostflowError):
    """A dependency is down for now; retrying later may succeed."""

    code = grpc.StatusCode.UNAVAILABLE


class Aborted(PostflowError):
    code = grpc.StatusCode.ABORTED


_BY_CODE = {cls.code: cls for cls in PostflowError.__subclasses__()}


def from_rpc_error(exc: grpc.RpcError) -> PostflowError:
    """The domain error a failed call to another PostFlow service stands for."""
    code = exc.code() if hasattr(exc, "code") else grpc.StatusCode.UNKNOWN
    details = exc.details() if hasattr(exc, "details") else str(exc)
    if code in (grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.CANCELLED):
        return Unavailable(details or code.name.lower())
    return _BY_CODE.get(code, PostflowError)(details or code.name.lower())
