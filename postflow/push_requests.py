"""The request stream of a StreamerService.Push call: a PushHeader, then the part URLs in
PushParts batches of at most BATCH_BYTES. Frame.io hands a large file thousands of
pre-signed part URLs of up to ~1.5 KB each, far more than one gRPC message should carry."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from postflow.core.rpc import MAX_REQUEST_BYTES
from postflow.v1 import streamer_pb2

BATCH_BYTES = MAX_REQUEST_BYTES // 16  # 256 KiB: ~170 parts of 1.5 KB URLs
_FIELD_OVERHEAD = 8  # a repeated field's tag and length prefix, at most


def push_requests(header: streamer_pb2.PushHeader,
                  parts: Sequence[streamer_pb2.UploadPart]) -> Iterator[streamer_pb2.PushRequest]:
    """The messages of one Push call for `parts` (in file order), the header's part_count
    set to their number. A part larger than a batch (a URL of 256 KiB) travels alone."""
    first = streamer_pb2.PushRequest(header=header)
    first.header.part_count = len(parts)
    yield first
    batch: list[streamer_pb2.UploadPart] = []
    batch_bytes = 0
    for part in parts:
        part_bytes = part.ByteSize() + _FIELD_OVERHEAD
        if batch and batch_bytes + part_bytes > BATCH_BYTES:
            yield streamer_pb2.PushRequest(parts=streamer_pb2.PushParts(parts=batch))
            batch, batch_bytes = [], 0
        batch.append(part)
        batch_bytes += part_bytes
    if batch:
        yield streamer_pb2.PushRequest(parts=streamer_pb2.PushParts(parts=batch))
