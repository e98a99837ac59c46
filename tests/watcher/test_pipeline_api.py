"""The job API's pipeline calls on a running watcher (its streamer a fake serving one root, so
nothing here is delivered): ReloadConfig adds a pipeline and refuses
an invalid config naming the key (the running pipelines stay), ListPipelines shows them, Rescan
wants a pipeline it knows, and SubmitFile takes a relative path only when there is one root."""

from __future__ import annotations

import json

import grpc
import pytest

from postflow.testing.media import write_media
from postflow.testing.polling import wait_for
from postflow.testing.watcher import environment, list_jobs, start_watcher
from postflow.v1 import watcher_pb2


async def reload(stub) -> watcher_pb2.ReloadConfigResponse:
    return await stub.ReloadConfig(watcher_pb2.ReloadConfigRequest(), timeout=10)


@pytest.mark.asyncio
async def test_reload_adds_a_pipeline_and_refuses_a_bad_config_keeping_the_running_ones(tmp_path):
    async with environment(tmp_path) as env:
        stub = await start_watcher(env)
        extra = tmp_path / "extra"
        extra.mkdir()
        pipelines = [{"name": "default", "root": str(env.root)}, {"name": "extra", "root": str(extra)}]
        env.config_path.write_text(json.dumps({**env.config, "watch": {**env.config["watch"], "root": ""},
                                               "pipelines": pipelines}))
        changes = await reload(stub)
        assert (list(changes.added), list(changes.removed), list(changes.changed)) == (["extra"], [], [])
        write_media(extra / "SQ01" / "late.mov", 2048)

        async def detected():
            return [job for job in await list_jobs(stub) if job.path == "SQ01/late.mov"] or None

        [job] = await wait_for(detected, timeout=20, message="a job in the added pipeline")
        assert (job.pipeline, job.path, job.route_rule) == ("extra", "SQ01/late.mov", "no rules: the pipeline's own")

        pipelines.append({"name": "inner", "root": str(extra / "SQ01")})
        env.config_path.write_text(json.dumps({**env.config, "watch": {**env.config["watch"], "root": ""},
                                               "pipelines": pipelines}))
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await reload(stub)
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "pipelines[2].root: " in refused.value.details() and "overlaps" in refused.value.details()
        listed = await stub.ListPipelines(watcher_pb2.ListPipelinesRequest(), timeout=10)
        assert [p.name for p in listed.pipelines] == ["default", "extra"]
        assert listed.pipelines[1].root == str(extra.resolve()) and listed.pipelines[1].root_available

        with pytest.raises(grpc.aio.AioRpcError) as unknown:
            await stub.Rescan(watcher_pb2.RescanRequest(pipeline="nope"), timeout=10)
        assert unknown.value.code() == grpc.StatusCode.NOT_FOUND
        assert "pipeline 'nope': no such pipeline (known: default, extra)" in unknown.value.details()
        write_media(env.root / "here.mov", 1024)
        with pytest.raises(grpc.aio.AioRpcError) as relative:
            await stub.SubmitFile(watcher_pb2.SubmitFileRequest(path="here.mov"), timeout=10)
        assert "is relative, but there are 2 pipelines" in relative.value.details()
        submitted = await stub.SubmitFile(watcher_pb2.SubmitFileRequest(path=str(env.root / "here.mov")), timeout=10)
        assert (submitted.pipeline, submitted.path) == ("default", "here.mov")
