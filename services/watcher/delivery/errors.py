"""How an attempt ends early, and what a failed streamer call means for the job."""

from __future__ import annotations

import grpc

from postflow.core.errors import FailedPrecondition, InvalidArgument, NotFound, PermissionDenied, from_rpc_error


class RetryLater(Exception):
    """This attempt failed for a reason that may pass (counts as an attempt)."""


class JobFailed(Exception):
    """Trying again cannot help; the message says why."""


class FileChangedOnDisk(Exception):
    """The file on disk is not the content this job was created for."""


class Superseded(Exception):
    """The job moved on (cancelled, retried, restarted) while this attempt ran."""


class Reissue(Exception):
    """Start the transfer again in a fresh Frame.io file without spending an attempt: the
    tunnel changed (new URL, or died) under a pull in flight, or a push's part URLs expired.
    The message says which."""

    def __init__(self, why: str = "the tunnel changed under the pull") -> None:
        super().__init__(why)


def streamer_error(exc: grpc.RpcError, what: str) -> Exception:
    """What a failed streamer call means for the job."""
    error = from_rpc_error(exc)
    if isinstance(error, FailedPrecondition):
        return FileChangedOnDisk(f"{what}: {error}")
    if isinstance(error, NotFound) and "no such pipeline" in str(error):
        return RetryLater(f"{what}: streamer: {error} (not reloaded yet?)")  # a pipeline added by a reload
    if isinstance(error, (NotFound, InvalidArgument, PermissionDenied)):
        return JobFailed(f"{what}: {error}")
    return RetryLater(f"{what}: streamer: {error}")
