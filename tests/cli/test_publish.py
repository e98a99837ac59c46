"""`postflow publish PATH` finds the pipeline whose root holds PATH and has the streamer
publish the file there; a path under no pipeline's root is refused before any call."""

from __future__ import annotations

import argparse
import asyncio

import httpx
import pytest

from postflow.cli.commands import cmd_publish
from postflow.core.errors import InvalidArgument
from postflow.testing.streamer import start_streamer, stop_streamer, streamer_config


@pytest.mark.asyncio
async def test_publish_sends_the_pipeline_and_the_path_under_its_root(tmp_path, capsys):
    streamer = await start_streamer(streamer_config(tmp_path, pipelines=("a", "b")))
    try:
        streamer.media("SQ01/same.mov", 300, seed=1, pipeline="a")
        streamer.media("SQ01/same.mov", 500, seed=2, pipeline="b")
        address = f"127.0.0.1:{streamer.service.grpc_port}"
        streamer_config(tmp_path, pipelines=("a", "b"), services={"streamer": address})  # the file the CLI reads
        args = argparse.Namespace(config=str(tmp_path / "config.json"), path=str(tmp_path / "b/SQ01/same.mov"), ttl=60)
        assert await asyncio.to_thread(cmd_publish, args) == 0
        url = capsys.readouterr().out.strip()
        async with httpx.AsyncClient(timeout=10) as client:
            response = await client.get(url)
        assert response.status_code == 200 and response.content == (tmp_path / "b/SQ01/same.mov").read_bytes()

        outside = argparse.Namespace(config=args.config, path=str(tmp_path / "config.json"), ttl=60)
        with pytest.raises(InvalidArgument, match=r"config.json: under no pipeline's root \(roots: a \("):
            await asyncio.to_thread(cmd_publish, outside)
    finally:
        await stop_streamer(streamer)
