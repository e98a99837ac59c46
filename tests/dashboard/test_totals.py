"""The totals never disagree with the rows: N jobs move from queued to done, and after every
single job event the totals count exactly the rows, in the REST API, on the SSE stream and
on the page (Chromium)."""


import pytest

from postflow.testing.dashboard import JOB_TOTALS, MB, READ_PAGE, chromium_page, count, on_page, row, shown
from postflow.testing.polling import wait_for
from postflow.testing.sse_client import following
from postflow.v1 import common_pb2

JOBS = 4
PROGRESS = "progress"  # a PROGRESS event half-way through the upload: no state changes
STEPS = [common_pb2.JOB_STATE_PREPARING, common_pb2.JOB_STATE_UPLOADING, PROGRESS, common_pb2.JOB_STATE_VERIFYING,
         common_pb2.JOB_STATE_DONE]


def schedule() -> list[tuple[int, common_pb2.JobState | str]]:
    """Job i runs one step behind job i-1, so several states are on screen at once."""
    return [(index, STEPS[wave - index]) for wave in range(len(STEPS) + JOBS - 1) for index in range(JOBS)
            if 0 <= wave - index < len(STEPS)]


def advance(fakes, job_id: str, step: common_pb2.JobState | str) -> None:
    if step == PROGRESS:
        fakes.watcher.progress(job_id, fakes.watcher.jobs[job_id].size // 2, connections=2)
    elif step == common_pb2.JOB_STATE_DONE:
        fakes.watcher.finish(job_id)
    else:
        fakes.watcher.update(job_id, state=step)





@pytest.mark.asyncio
async def test_totals_equal_the_rows_after_every_event_in_the_api_and_on_the_page(fakes, dashboard, http):
    sizes: dict[str, int] = {}

    async def check(page, job_id: str, state: str, bytes_done: int | None = None) -> None:
        await page.wait_for_selector(row(job_id, state))
        if bytes_done is not None:
            await wait_for(lambda: page.evaluate(f"document.querySelector('{row(job_id)} progress').value === 0.5"),
                           message="progress shown")
        seen = await page.evaluate(READ_PAGE)  # rows and totals read at one instant
        rows = [{"state": r["state"], "size": sizes[r["id"]]} for r in seen["rows"]]
        assert on_page(seen) == shown(count(rows)), seen

        status = (await http.get("/api/status")).json()
        listed = (await http.get("/api/jobs", params={"page_size": 500})).json()["jobs"]
        assert {key: status["totals"][key] for key in JOB_TOTALS} == count(listed) == count(rows)

    async with chromium_page(f"http://127.0.0.1:{dashboard.http_port}/") as page:
        await page.wait_for_selector("#connection[data-state=live]")
        jobs = []
        for index in range(JOBS):
            job = fakes.watcher.add_job(f"SQ01/SH{index:03d}/shot.mov", size=(index + 1) * MB)
            sizes[job.id] = job.size
            jobs.append(job)
            await check(page, job.id, "queued")
        for index, step in schedule():
            job_id = jobs[index].id
            advance(fakes, job_id, step)
            if step == PROGRESS:
                await check(page, job_id, "uploading", bytes_done=sizes[job_id] // 2)
            else:
                await check(page, job_id, common_pb2.JobState.Name(step).removeprefix("JOB_STATE_").lower())
        assert (await page.evaluate(READ_PAGE))["jobs"] == f"{JOBS} done"
        assert page.console_errors == []


@pytest.mark.asyncio
async def test_every_job_event_on_the_stream_comes_after_the_totals_that_count_it(fakes, dashboard, http):
    async with following(http) as view:
        await wait_for(lambda: view.of_type("snapshot"), message="snapshot")
        jobs = [fakes.watcher.add_job(f"burst/{index}.mov", size=(index + 1) * MB) for index in range(JOBS)]
        for index, step in schedule():  # as fast as the watcher can send them
            advance(fakes, jobs[index].id, step)
        await wait_for(lambda: all(view.jobs.get(job.id, {}).get("state") == "done" for job in jobs),
                       message="every job done on the stream")

    rows: dict[str, dict] = {}
    totals: dict = {}
    checked = 0
    for event in view.events:
        if event.type == "snapshot":
            rows = {job["id"]: job for job in event.data["jobs"]}
            totals = event.data["totals"]
        elif event.type == "totals":
            totals = event.data
        elif event.type == "job":
            rows[event.data["id"]] = event.data
            assert {key: totals[key] for key in JOB_TOTALS} == count(list(rows.values())), event
            checked += 1
    assert checked >= JOBS * len(STEPS), "every state change was checked"
