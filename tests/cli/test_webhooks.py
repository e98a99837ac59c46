"""`postflow webhooks log [--json] [--limit N]` and `postflow webhooks replay ID` against a real
watcher: the delivery log shows a refused webhook, and replaying it sends the same event under
the same idempotency key."""

import json

import pytest

from postflow.core.config import write_config
from postflow.testing.media import write_media
from postflow.testing.polling import wait_for
from postflow.testing.processes import run_postflow
from postflow.testing.receivers import HttpReceiver
from postflow.testing.watcher import InProcess, environment, start_watcher, wait_jobs

SECRET = "whsec-for-tests-0123456789"


async def postflow(config_path, *args: str) -> tuple[int, str, str]:
    return await run_postflow("webhooks", *args, "-c", str(config_path))


@pytest.mark.asyncio
async def test_the_log_shows_a_refused_webhook_and_replay_sends_it_again(tmp_path):
    async with HttpReceiver() as receiver:
        receiver.failures, receiver.fail_with = 1, 410
        settings = {"webhooks": [{"url": f"{receiver.url}/hook", "secret": SECRET, "events": ["delivered"]}]}
        async with environment(tmp_path, extra=settings) as env:
            stub = await start_watcher(env)
            watcher = env.watchers[-1]
            assert isinstance(watcher, InProcess)
            # The config names the watcher where it listens (it bound a free port), for the CLI to find it.
            env.config["services"]["watcher"] = f"127.0.0.1:{watcher.service.grpc_port}"
            write_config(env.config, env.config_path)
            write_media(env.root / "SQ01/a.mov", 200_000, seed=1)
            (job,) = await wait_jobs(stub, 1, timeout=20)
            await wait_for(lambda: receiver.received, message="the refused POST")

            async def logged() -> list[dict]:
                code, out, err = await postflow(env.config_path, "log", "--json", "--limit", "10")
                assert code == 0, err
                entries = json.loads(out)
                return entries if entries and entries[0]["status"] == "rejected" else []

            (entry,) = await wait_for(logged, timeout=15, message="the rejected entry")
            assert entry["event"] == "delivered" and entry["job_id"] == job.id and entry["path"] == "SQ01/a.mov"
            assert entry["target"] == "webhooks[0] 127.0.0.1" and entry["attempts"] == 1
            assert "HTTP 410" in entry["last_error"] and entry["sent_at"] is None and entry["created_at"]
            code, out, _ = await postflow(env.config_path, "log")
            assert code == 0 and out.startswith(f"{entry['id']:>6} ") and "rejected: HTTP 410" in out
            assert receiver.url not in out and SECRET not in out

            code, out, err = await postflow(env.config_path, "replay", str(entry["id"]))
            assert code == 0, err
            assert out.strip() == (f"delivery {entry['id']} (delivered to webhooks[0] 127.0.0.1) queued again, "
                                   f"Idempotency-Key {entry['idempotency_key']}")
            await wait_for(lambda: len(receiver.answered()) == 2, message="the replayed POST")
            code, out, err = await postflow(env.config_path, "replay", "999")
            assert code == 1 and "no delivery 999" in err

    refused, replayed = receiver.received
    assert refused.answered == 410 and replayed.answered == 200
    assert replayed.key == refused.key == entry["idempotency_key"] and replayed.body == refused.body
