"""`postflow markers JOB|PATH --format F [-o OUT]` as a real process against a fake watcher
answering GetReview: by job id, by a path under a root, by a file on this machine; written to
stdout or to a file; the watcher's NOT_FOUND shown as it is."""

from __future__ import annotations

from pathlib import Path

import pytest

from postflow.core.config import write_config
from postflow.markers.timing import MediaTiming
from postflow.testing.fakes import FakeServices
from postflow.testing.processes import run_postflow
from postflow.v1 import watcher_pb2
from tests.markers.reviews import REVIEWS, SAMPLES


async def postflow(config: Path, *args: str) -> tuple[int, str, str]:
    return await run_postflow("markers", *args, "-c", str(config))


def write_fake_config(fakes: FakeServices, tmp_path: Path, root: Path) -> Path:
    path = tmp_path / "config.json"
    write_config({"services": {"watcher": fakes.address("watcher")}, "mesh": {"mtls": False},
                  "state_dir": str(tmp_path / "state"), "watch": {"root": str(root)}}, path)
    return path


@pytest.mark.asyncio
async def test_markers_by_job_id_path_and_local_file(tmp_path: Path) -> None:
    root = tmp_path / "media"
    (root / "day1").mkdir(parents=True)
    (root / "day1" / "A001_C003.mov").write_bytes(b"media")
    async with FakeServices().serving("watcher") as fakes:
        fakes.watcher.reviews.append(REVIEWS["23976"])
        config = write_fake_config(fakes, tmp_path, root)

        code, out, err = await postflow(config, "0123456789abcdef", "--format", "edl")
        assert (code, out) == (0, (SAMPLES / "23976.edl").read_text()), err
        assert fakes.watcher.review_requests[-1] == watcher_pb2.GetReviewRequest(job_id="0123456789abcdef")

        code, _, err = await postflow(config, "day1/A001_C003.mov", "--format", "fcpxml", "-o", str(tmp_path))
        assert code == 0, err
        assert (tmp_path / "A001_C003.comments.fcpxml").read_text() == (SAMPLES / "23976.fcpxml").read_text()
        assert f"3 comments of day1/A001_C003.mov written to {tmp_path / 'A001_C003.comments.fcpxml'}" in err
        assert fakes.watcher.review_requests[-1] == watcher_pb2.GetReviewRequest(path="day1/A001_C003.mov")

        out_file = tmp_path / "notes.csv"
        code, _, err = await postflow(config, str(root / "day1" / "A001_C003.mov"), "--format", "csv",
                                      "-o", str(out_file), "--refresh")
        assert code == 0 and out_file.read_text() == (SAMPLES / "23976.csv").read_text(), err
        assert fakes.watcher.review_requests[-1] == watcher_pb2.GetReviewRequest(
            path="day1/A001_C003.mov", pipeline="default", refresh=True)


@pytest.mark.asyncio
async def test_unknown_job_or_path_and_unknown_timing(tmp_path: Path) -> None:
    async with FakeServices().serving("watcher") as fakes:
        untimed = watcher_pb2.Review()
        untimed.CopyFrom(REVIEWS["25"])
        untimed.ClearField("timing")
        fakes.watcher.reviews.append(untimed)
        config = write_fake_config(fakes, tmp_path, tmp_path)

        code, out, err = await postflow(config, "fedcba9876543210", "--format", "xmeml")
        assert (code, out, err.strip()) == (1, "", "postflow: no job fedcba9876543210")
        code, out, err = await postflow(config, "B002_C010.mxf", "--format", "edl", "--pipeline", "other")
        assert (code, out, err.strip()) == (1, "", "postflow: no delivered file B002_C010.mxf in pipeline other")
        code, out, err = await postflow(config, "B002_C010.mxf", "--format", "aaf")
        assert code == 2 and "invalid choice: 'aaf'" in err

        code, out, err = await postflow(config, "B002_C010.mxf", "--format", "csv")
        assert code == 0 and out.splitlines()[1].startswith("00:00:00:00,0,0,Dana Ruiz,")
        assert MediaTiming.from_proto(untimed.timing).source == "default"
        assert "neither ffprobe nor Frame.io told the frame rate and start timecode of B002_C010.mxf: " \
               "25 fps from 00:00:00:00 assumed" in err


@pytest.mark.asyncio
async def test_an_output_that_cannot_be_written_is_named(tmp_path: Path) -> None:
    async with FakeServices().serving("watcher") as fakes:
        fakes.watcher.reviews.append(REVIEWS["25"])
        config = write_fake_config(fakes, tmp_path, tmp_path)
        missing = tmp_path / "no such folder" / "notes.edl"
        code, out, err = await postflow(config, "0123456789abcdef", "--format", "edl", "-o", str(missing))
        assert (code, out) == (1, "") and "Traceback" not in err, err
        assert err.strip() == f"postflow: cannot write {missing}: No such file or directory"
