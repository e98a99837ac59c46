"""The job API's history call: GetHistory, for analytics."""

from __future__ import annotations

from typing import TypeAlias

import grpc

from postflow.core.errors import InvalidArgument
from postflow.core.history import bucket_count, bucket_seconds
from postflow.core.protos import timestamp, to_seconds
from postflow.v1 import watcher_pb2
from services.watcher.history import Group, History, Report, Span, Tally

Context: TypeAlias = grpc.aio.ServicerContext


class HistoryCalls:
    history: History

    async def GetHistory(self, request: watcher_pb2.GetHistoryRequest,
                         context: Context) -> watcher_pb2.GetHistoryResponse:
        for name in ("start", "end"):
            if not request.HasField(name):
                raise InvalidArgument(f"{name}: required")
        bucket_s = bucket_seconds(request.bucket, "bucket")
        start, end = to_seconds(request.start), to_seconds(request.end)
        count = bucket_count(start, end, bucket_s, ("start", "end"))
        span = Span(start, end, bucket_s, count, tuple(sorted(set(request.pipelines))))
        return history_proto(span, await self.history.report(span))


def history_proto(span: Span, report: Report) -> watcher_pb2.GetHistoryResponse:
    return watcher_pb2.GetHistoryResponse(
        buckets=[watcher_pb2.HistoryBucket(start=timestamp(span.start + index * span.bucket_s),
                                           all=counts_proto("", group.all), pipelines=by_pipeline(group))
                 for index, group in enumerate(report.buckets)],
        all=counts_proto("", report.overall.all), pipelines=by_pipeline(report.overall),
        failure_causes=[watcher_pb2.FailureCause(cause=cause.cause, pipeline=cause.pipeline, count=cause.count,
                                                 example=cause.example, last_at=timestamp(cause.last_at))
                        for cause in report.causes],
        capped=report.capped)


def by_pipeline(group: Group) -> list[watcher_pb2.HistoryCounts]:
    return [counts_proto(name, group.pipelines[name]) for name in sorted(group.pipelines)]


def counts_proto(pipeline: str, tally: Tally) -> watcher_pb2.HistoryCounts:
    return watcher_pb2.HistoryCounts(pipeline=pipeline, deliveries=tally.deliveries, bytes=tally.bytes,
                                     failures=tally.failures, median_s=tally.median_s, p95_s=tally.p95_s)
