"""One streamer serving the roots of several pipelines: each request names its pipeline (or
none, when there is only one), no path of one pipeline reaches a file of another, and a
config reload that removes or moves a pipeline withdraws its publications at once, while a
bad config leaves the pipelines of before in place."""

from __future__ import annotations

import json
import logging

import grpc
import httpx
import pytest
import pytest_asyncio

from postflow.emulator.options import MIB
from postflow.testing.streamer import collect, push_call, start_streamer, stop_streamer, streamer_config
from postflow.v1 import streamer_pb2

COMPLETE = streamer_pb2.TRANSFER_PHASE_COMPLETE


@pytest_asyncio.fixture
async def two(tmp_path):
    """A streamer serving the pipelines `a` and `b`, each with a file, and an HTTP client."""
    config = streamer_config(tmp_path, pipelines=("a", "b"))
    running = await start_streamer(config, config_path=tmp_path / "config.json")
    running.media("SQ01/a.mov", 1000, seed=1, pipeline="a")
    running.media("SQ01/b.mov", 2000, seed=2, pipeline="b")
    try:
        async with httpx.AsyncClient(timeout=10) as client:
            yield running, client
    finally:
        await stop_streamer(running)


async def refused(streamer, pipeline: str, path: str) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await streamer.stub.Publish(streamer_pb2.PublishRequest(pipeline=pipeline, path=path, size=1, mtime_ns=1),
                                    timeout=5)
    return caught.value


@pytest.mark.asyncio
async def test_one_streamer_serves_the_files_of_each_pipeline(two):
    streamer, client = two
    for pipeline, name in (("a", "SQ01/a.mov"), ("b", "SQ01/b.mov")):
        publication = await streamer.publish(name, pipeline=pipeline)
        assert (publication.pipeline, publication.path) == (pipeline, name)
        response = await client.get(publication.url)
        assert response.status_code == 200 and response.content == (streamer.roots[pipeline] / name).read_bytes()
        fetched = await streamer.stub.GetPublication(streamer_pb2.GetPublicationRequest(
            ticket_id=publication.ticket_id), timeout=5)
        assert fetched.pipeline == pipeline


@pytest.mark.asyncio
async def test_a_path_of_one_pipeline_cannot_reach_a_file_of_another(two):
    streamer, _ = two
    (streamer.roots["a"] / "link.mov").symlink_to(streamer.roots["b"] / "SQ01/b.mov")
    for path, said in (("../b/SQ01/b.mov", "../b/SQ01/b.mov: outside the pipeline's root"),
                       ("link.mov", "link.mov: outside the pipeline's root"),
                       (str(streamer.roots["b"] / "SQ01/b.mov"), "path: must be relative to the pipeline's root")):
        error = await refused(streamer, "a", path)
        assert (error.code(), error.details()) == (grpc.StatusCode.INVALID_ARGUMENT, said)
    error = await refused(streamer, "b", "SQ01/a.mov")
    assert error.code() == grpc.StatusCode.NOT_FOUND and "SQ01/a.mov: no such file" in error.details()


@pytest.mark.asyncio
async def test_an_unknown_pipeline_is_refused_naming_the_known_ones(two):
    streamer, _ = two
    error = await refused(streamer, "c", "SQ01/a.mov")
    assert error.code() == grpc.StatusCode.NOT_FOUND
    assert error.details() == "pipeline 'c': no such pipeline (known: a, b)"


@pytest.mark.asyncio
async def test_no_pipeline_is_refused_when_there_are_several(two):
    streamer, _ = two
    error = await refused(streamer, "", "SQ01/a.mov")
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error.details().startswith("pipeline: required") and "(known: a, b)" in error.details()


@pytest.mark.asyncio
async def test_no_pipeline_means_the_only_one(streamer):
    streamer.media("a.mov", 10)
    publication = await streamer.publish("a.mov")
    assert publication.pipeline == "default" and publication.url


@pytest.mark.asyncio
async def test_a_pipeline_removed_or_moved_stops_serving_its_publications(two, tmp_path):
    streamer, client = two
    in_a = await streamer.publish("SQ01/a.mov", pipeline="a")
    in_b = await streamer.publish("SQ01/b.mov", pipeline="b")

    streamer.service.set_roots({"a": streamer.roots["a"]})
    gone = await client.get(in_b.url)
    assert gone.status_code == 410 and gone.text.strip() == "publication withdrawn"
    assert (await client.get(in_a.url)).status_code == 200
    assert (await refused(streamer, "b", "SQ01/b.mov")).code() == grpc.StatusCode.NOT_FOUND

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    streamer.service.set_roots({"a": elsewhere, "b": streamer.roots["b"]})
    assert (await client.get(in_a.url)).status_code == 410, "a's file is not under a's root any more"
    assert (await client.get(in_b.url)).status_code == 200, "b is back with the same root"


@pytest.mark.asyncio
async def test_push_reads_from_the_root_of_the_pipeline_it_names(two, frameio):
    streamer, _ = two
    sha = streamer.media("SQ02/pushed.mov", 5 * MIB + 3, seed=7, pipeline="b")
    created = await frameio.local_upload("pushed.mov", 5 * MIB + 3)
    progress = await collect(push_call(streamer.stub, streamer.roots["b"], "SQ02/pushed.mov", created, pipeline="b"))
    assert progress[-1].phase == COMPLETE
    assert (await frameio.finished(created["id"]))["sha256"] == sha

    for pipeline, code, said in (("a", grpc.StatusCode.NOT_FOUND, "SQ02/pushed.mov: no such file"),
                                 ("c", grpc.StatusCode.NOT_FOUND, "header.pipeline 'c': no such pipeline"),
                                 ("", grpc.StatusCode.INVALID_ARGUMENT, "header.pipeline: required")):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await collect(push_call(streamer.stub, streamer.roots["b"], "SQ02/pushed.mov", created,
                                    pipeline=pipeline, timeout=10))
        assert caught.value.code() == code and said in caught.value.details(), pipeline


def rewrite(tmp_path, **changes) -> None:
    path = tmp_path / "config.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), **changes}))


@pytest.mark.asyncio
async def test_reload_takes_the_pipelines_of_the_config_file_and_keeps_the_old_on_a_bad_one(two, tmp_path, caplog):
    streamer, client = two
    in_b = await streamer.publish("SQ01/b.mov", pipeline="b")
    pipelines = json.loads((tmp_path / "config.json").read_text())["pipelines"]

    rewrite(tmp_path, pipelines=[pipelines[0], {"name": "b", "root": str(tmp_path / "missing")}])
    with caplog.at_level(logging.ERROR, logger="services.streamer.server"):
        await streamer.service.reload()
    assert "config not reloaded" in caplog.text and "pipelines[1].root:" in caplog.text
    assert (await client.get(in_b.url)).status_code == 200, "the pipelines of before stay"

    rewrite(tmp_path, pipelines=[pipelines[0]])
    await streamer.service.reload()
    assert (await client.get(in_b.url)).status_code == 410
    assert (await refused(streamer, "b", "SQ01/b.mov")).code() == grpc.StatusCode.NOT_FOUND
    st = (streamer.roots["a"] / "SQ01/a.mov").stat()
    only = await streamer.stub.Publish(streamer_pb2.PublishRequest(path="SQ01/a.mov", size=st.st_size,
                                                                   mtime_ns=st.st_mtime_ns), timeout=5)
    assert only.pipeline == "a", "no pipeline named: now the only one"
