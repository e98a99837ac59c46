"""`GET /api/jobs/{id}/markers?format=…`: a job's review comments as a marker file to download
(NAME.comments.<ext>), from the watcher's GetReview; and the Markers menu on a delivered row."""

from pathlib import Path

import pytest

from postflow.testing.dashboard import chromium_page, row
from postflow.v1 import watcher_pb2
from tests.markers.reviews import REVIEWS, SAMPLES

FILES = {"edl": ("23976.edl", "text/plain; charset=utf-8", "A001_C003.comments.edl"),
         "fcpxml": ("23976.fcpxml", "application/xml", "A001_C003.comments.fcpxml"),
         "xmeml": ("23976.xml", "application/xml", "A001_C003.comments.xml"),
         "csv": ("23976.csv", "text/csv; charset=utf-8", "A001_C003.comments.csv")}


@pytest.mark.asyncio
async def test_each_format_downloads_as_an_attachment(fakes, http):
    review = REVIEWS["23976"]
    fakes.watcher.reviews.append(review)
    for fmt, (sample, media_type, name) in FILES.items():
        response = await http.get(f"/api/jobs/{review.job.id}/markers", params={"format": fmt})
        assert response.status_code == 200, response.text
        assert response.text == (SAMPLES / sample).read_text()
        assert response.headers["content-type"] == media_type
        assert response.headers["content-disposition"] == f"attachment; filename=\"{name}\"; filename*=UTF-8''{name}"
    assert fakes.watcher.review_requests[-1].job_id == review.job.id


@pytest.mark.asyncio
async def test_bad_format_and_unknown_job_are_named(fakes, http):
    fakes.watcher.reviews.append(REVIEWS["25"])
    job_id = REVIEWS["25"].job.id
    for params in ({}, {"format": "aaf"}):
        response = await http.get(f"/api/jobs/{job_id}/markers", params=params)
        assert response.status_code == 400 and response.json()["error"].startswith("format: expected one of edl,")
    extra = await http.get(f"/api/jobs/{job_id}/markers", params={"format": "edl", "fps": "25"})
    assert extra.status_code == 400 and extra.json()["error"].startswith("fps: not a parameter")
    missing = await http.get("/api/jobs/ffffffffffffffff/markers", params={"format": "edl"})
    assert missing.status_code == 404 and missing.json() == {"error": "no job ffffffffffffffff"}


@pytest.mark.asyncio
async def test_a_delivered_row_offers_the_markers_menu(fakes, dashboard):
    job = fakes.watcher.add_job("day1/A001_C003.mov")
    review = watcher_pb2.Review()
    review.CopyFrom(REVIEWS["23976"])
    review.job.CopyFrom(job)
    fakes.watcher.reviews.append(review)
    async with chromium_page(f"http://127.0.0.1:{dashboard.http_port}/") as page:
        await page.wait_for_selector(row(job.id, "queued"))
        assert await page.is_hidden(f"{row(job.id)} .markers")
        fakes.watcher.finish(job.id)
        await page.wait_for_selector(f"{row(job.id, 'done')} .markers summary")
        await page.click(f"{row(job.id)} .markers summary")
        labels = await page.eval_on_selector_all(f"{row(job.id)} .markers a", "links => links.map(a => a.textContent)")
        assert labels == ["EDL (Resolve)", "FCPXML (Final Cut Pro, Resolve)", "XML (Premiere Pro)", "CSV"]
        async with page.expect_download() as started:
            await page.click(f"{row(job.id)} .markers a[data-format=edl]")
        download = await started.value
        assert download.suggested_filename == "A001_C003.comments.edl"
        assert Path(await download.path()).read_text() == (SAMPLES / "23976.edl").read_text()
        assert page.dialogs == [] and page.console_errors == []
