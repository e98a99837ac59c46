"""The ledger's history (services/watcher/history.py) and GetHistory: deliveries and bytes per
bucket and pipeline within the range only, the median and p95 time to Frame.io, failures by
cause, the pipeline filter, the cap on rows read, a ledger from before `delivered_at`, and
requests refused naming the field."""

from __future__ import annotations

import sqlite3

import pytest

from postflow.core.errors import InvalidArgument
from postflow.core.protos import timestamp, to_seconds
from postflow.testing.watcher import make_job
from postflow.v1 import watcher_pb2
from services.watcher import jobs
from services.watcher.history import History, Span, failure_cause, percentile
from services.watcher.history_rpcs import HistoryCalls
from services.watcher.jobs import DONE, FAILED, QUEUED, Job, new_job_id
from services.watcher.ledger import Ledger
from services.watcher.scanner import FileStat
from services.watcher.schema import JobQuery

T0 = 1_767_225_600.0  # 2026-01-01 00:00 UTC
HOUR = 3600
HOURS = watcher_pb2.HISTORY_BUCKET_SIZE_HOUR


def a_job(pipeline: str, state: int, size: int = 100, **fields) -> Job:
    job = make_job(FileStat(f"{pipeline}/{new_job_id()}.mov", size, 1, 1))
    return job.replace(pipeline=pipeline, state=state, **fields)


def delivered(pipeline: str, at: float, size: int = 100, took_s: float = 10.0) -> Job:
    return a_job(pipeline, DONE, size, created_at=at - took_s, updated_at=at, delivered_at=at)


def failed(pipeline: str, at: float, error: str) -> Job:
    return a_job(pipeline, FAILED, error=error, created_at=at - 60, updated_at=at)


async def seed(ledger: Ledger, *rows: Job) -> None:
    created, _ = await ledger.register(list(rows), "seeded")
    assert len(created) == len(rows)


def span(hours: int, pipelines: tuple[str, ...] = ()) -> Span:
    return Span(T0, T0 + hours * HOUR, HOUR, hours, pipelines)


def counts(tally) -> tuple[int, int, int]:
    return tally.deliveries, tally.bytes, tally.failures


@pytest.mark.asyncio
async def test_deliveries_and_bytes_per_hour_and_pipeline_within_the_range_only(ledger):
    await seed(ledger,
               delivered("shows", T0 + 60, size=1000), delivered("shows", T0 + 120, size=2000),
               delivered("ads", T0 + 1800, size=500), delivered("ads", T0 + 2 * HOUR + 5, size=70),
               delivered("shows", T0 - 1, size=9), delivered("shows", T0 + 3 * HOUR, size=9),  # before, at the end
               a_job("shows", QUEUED, created_at=T0 + 10, updated_at=T0 + 10))  # not delivered
    # One delivered through the real transitions, at a moment the attempt names.
    [job], _ = await ledger.register([a_job("ads", QUEUED, size=30, created_at=T0 + 3000)], "detected")
    for step in (jobs.start_attempt, lambda j: jobs.upload_started(j, "F"), jobs.all_bytes_sent,
                 lambda j: jobs.deliver(j, "https://view", "", 0, "none", T0 + 3100)):
        job = await ledger.update(job.id, job.epoch, step(job))

    report = await History(ledger).report(span(3))
    assert [counts(group.all) for group in report.buckets] == [(4, 3530, 0), (0, 0, 0), (1, 70, 0)]
    first = report.buckets[0].pipelines
    assert {name: counts(tally) for name, tally in first.items()} == {"shows": (2, 3000, 0), "ads": (2, 530, 0)}
    assert report.buckets[1].pipelines == {}
    assert counts(report.overall.all) == (5, 3600, 0)
    assert {name: counts(t) for name, t in report.overall.pipelines.items()} == {"shows": (2, 3000, 0),
                                                                                 "ads": (3, 600, 0)}
    assert report.overall.pipelines["ads"].latencies_s == [10.0, 10.0, 100.0], "stable to DONE, per job"
    assert not report.capped


@pytest.mark.asyncio
async def test_median_and_p95_of_the_time_from_stable_to_frameio(ledger):
    await seed(ledger, *(delivered("shows", T0 + 100 + n, took_s=n) for n in range(1, 21)),
               delivered("ads", T0 + HOUR + 10, took_s=300))
    report = await History(ledger).report(span(2))
    shows = report.buckets[0].all
    assert (shows.median_s, shows.p95_s) == (10.5, pytest.approx(19.05))
    assert (report.buckets[1].all.median_s, report.buckets[1].all.p95_s) == (300.0, 300.0)
    assert report.overall.pipelines["ads"].median_s == 300.0
    assert report.overall.all.median_s == 11.0, "21 deliveries: the 11th fastest"
    assert (report.buckets[0].pipelines["shows"].median_s, report.buckets[0].pipelines.get("ads")) == (10.5, None)


def test_percentiles_interpolate_between_ranks():
    assert percentile([], 0.5) == 0.0
    assert percentile([4.0], 0.95) == 4.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 0.5) == 2.5
    assert percentile([0.0, 10.0], 0.95) == 9.5


@pytest.mark.parametrize(("error", "cause"), [
    ("Frame.io holds 5 bytes, expected 10 (gave up after 3 attempts)", "Frame.io holds N bytes, expected N"),
    ("no progress for 60s (gave up after 5 attempts)", "no progress for N"),
    ("streamer: UNAVAILABLE: connection refused; last error: 127.0.0.1:50053", "streamer: UNAVAILABLE: connection "
                                                                                "refused"),
    ("Frame.io could not read the published URL (HTTP 403 from https://x/t/abc1)", "Frame.io could not read the "
                                                                                   "published URL"),
    ("pipelines[0].rules[1].project: 'Show A' names 2 projects", "pipelines[N].rules[N].project: … names N projects"),
    ("cannot read the file: Permission denied", "cannot read the file: Permission denied"),
    ("", "unknown"),
    ("x" * 200, "x" * 79 + "…"),
])
def test_a_failure_cause_is_the_error_without_its_details(error, cause):
    assert failure_cause(error) == cause


@pytest.mark.asyncio
async def test_failures_grouped_by_cause_and_pipeline_most_frequent_first(ledger):
    await seed(ledger,
               failed("shows", T0 + 10, "no progress for 60s (gave up after 3 attempts)"),
               failed("shows", T0 + 20, "no progress for 90s (gave up after 3 attempts)"),
               failed("shows", T0 + HOUR + 30, "no progress for 120s (gave up after 3 attempts)"),
               failed("ads", T0 + 40, "no progress for 60s (gave up after 3 attempts)"),
               failed("shows", T0 + 50, "cannot read the file: Permission denied"),
               failed("shows", T0 - 5, "cannot read the file: Permission denied"),  # before the range
               a_job("shows", QUEUED, error="an old failure, retried", created_at=T0, updated_at=T0 + 60))
    report = await History(ledger).report(span(2))
    causes = [(c.pipeline, c.cause, c.count) for c in report.causes]
    assert causes == [("shows", "no progress for N", 3), ("shows", "cannot read the file: Permission denied", 1),
                      ("ads", "no progress for N", 1)], "as often: the newest first"
    newest = report.causes[0]
    assert (newest.example, newest.last_at) == ("no progress for 120s (gave up after 3 attempts)", T0 + HOUR + 30)
    assert [group.all.failures for group in report.buckets] == [4, 1]
    assert {name: t.failures for name, t in report.overall.pipelines.items()} == {"shows": 4, "ads": 1}
    assert counts(report.overall.all) == (0, 0, 5)


@pytest.mark.asyncio
async def test_the_pipeline_filter_leaves_the_others_out(ledger):
    await seed(ledger, delivered("shows", T0 + 10, size=7), delivered("ads", T0 + 20, size=5),
               delivered("promos", T0 + 30, size=3), failed("ads", T0 + 40, "refused"),
               failed("shows", T0 + 50, "refused"))
    report = await History(ledger).report(span(1, ("ads", "promos")))
    assert counts(report.overall.all) == (2, 8, 1)
    assert set(report.overall.pipelines) == {"ads", "promos"}
    assert [(c.pipeline, c.cause) for c in report.causes] == [("ads", "refused")]


@pytest.mark.asyncio
async def test_at_most_max_rows_are_read_the_newest_and_the_answer_says_so(ledger):
    await seed(ledger, *(delivered("shows", T0 + n * 60, size=n) for n in range(1, 6)))
    report = await History(ledger, max_rows=3).report(span(1))
    assert report.capped and counts(report.overall.all) == (3, 3 + 4 + 5, 0)
    assert not (await History(ledger, max_rows=5).report(span(1))).capped


@pytest.mark.asyncio
async def test_a_ledger_from_before_delivered_at_gets_the_column_and_its_deliveries(tmp_path):
    path = tmp_path / "ledger.sqlite"
    ledger = Ledger(path)
    await ledger.open()
    await seed(ledger, delivered("shows", T0 + 100, size=40), a_job("shows", QUEUED, created_at=T0, updated_at=T0))
    await ledger.close()
    db = sqlite3.connect(path)  # as the ledger was before the column
    db.executescript("DROP INDEX jobs_by_delivery; ALTER TABLE jobs DROP COLUMN delivered_at;")
    db.close()

    ledger = Ledger(path)
    await ledger.open()
    try:
        page = await ledger.page(JobQuery(), 10, "")
        assert sorted(job.delivered_at for job in page.jobs) == [0.0, T0 + 100], "done jobs: their last update"
        report = await History(ledger).report(span(1))
        assert counts(report.overall.all) == (1, 40, 0)
    finally:
        await ledger.close()


class Calls(HistoryCalls):
    def __init__(self, ledger: Ledger) -> None:
        self.history = History(ledger)


def request(start: float | None = T0, end: float | None = T0 + 3 * HOUR, bucket: int = HOURS,
            pipelines: tuple[str, ...] = ()) -> watcher_pb2.GetHistoryRequest:
    return watcher_pb2.GetHistoryRequest(start=None if start is None else timestamp(start),
                                         end=None if end is None else timestamp(end), bucket=bucket,
                                         pipelines=pipelines)


@pytest.mark.asyncio
async def test_get_history_answers_every_bucket_and_refuses_a_bad_request_naming_the_field(ledger):
    await seed(ledger, delivered("shows", T0 + HOUR + 1, size=10, took_s=4), failed("ads", T0 + 5, "refused"))
    answer = await Calls(ledger).GetHistory(request(end=T0 + 2.5 * HOUR), None)
    assert [to_seconds(bucket.start) for bucket in answer.buckets] == [T0, T0 + HOUR, T0 + 2 * HOUR]
    assert [bucket.all.deliveries for bucket in answer.buckets] == [0, 1, 0]
    assert [(p.pipeline, p.deliveries, p.bytes, p.median_s) for p in answer.buckets[1].pipelines] == [
        ("shows", 1, 10, 4.0)]
    assert [(p.pipeline, p.deliveries, p.failures) for p in answer.pipelines] == [("ads", 0, 1), ("shows", 1, 0)]
    assert (answer.all.deliveries, answer.all.failures, answer.all.p95_s) == (1, 1, 4.0)
    assert [(c.cause, c.pipeline, c.count, to_seconds(c.last_at)) for c in answer.failure_causes] == [
        ("refused", "ads", 1, T0 + 5)]
    days = await Calls(ledger).GetHistory(request(bucket=watcher_pb2.HISTORY_BUCKET_SIZE_DAY), None)
    assert len(days.buckets) == 1 and days.buckets[0].all.deliveries == 1

    for bad, message in [(request(start=None), "start: required"), (request(end=None), "end: required"),
                         (request(bucket=0), "bucket: expected hour or day"),
                         (request(end=T0), "end: must be after start"),
                         (request(end=T0 + 1001 * HOUR), "end: at most 1000 buckets of 3600s after start")]:
        with pytest.raises(InvalidArgument, match=message):
            await Calls(ledger).GetHistory(bad, None)
