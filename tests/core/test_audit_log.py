"""The audit log's file (postflow.core.mesh.audit): one JSON line per entry, mode 0600, written
by a thread so the event loop never waits on the disk, rotated past a size, read from the end."""

import asyncio
import json
import logging
import stat
import threading

import pytest

from postflow.core.config import Config
from postflow.core.errors import InvalidArgument
from postflow.core.logs import SecretMask
from postflow.core.mesh import audit
from postflow.core.mesh.audit import AuditEntry, AuditLog, read_entries, record_cli_action, rotated_path
from postflow.core.mesh.audit_query import parse_since
from postflow.testing.polling import wait_for


def entry(at: float, what: str = "SQ01/a.mov", **fields: str) -> AuditEntry:
    values = {"who": "dashboard", "action": "SubmitFile", "outcome": "ok", "service": "watcher",
              "peer": "127.0.0.1:5000", **fields}
    return AuditEntry(at=at, what=what, **values)


@pytest.mark.asyncio
async def test_entries_are_json_lines_in_a_private_file_read_back_newest_last(tmp_path):
    path = tmp_path / "audit" / "watcher.jsonl"
    log = AuditLog(path)
    for second in range(5):
        log.record(entry(1000.0 + second, what=f"job-{second}"))
    assert [e.what for e in await log.read()] == [f"job-{n}" for n in range(5)]
    assert [e.what for e in await log.read(limit=2)] == ["job-3", "job-4"]
    assert [e.what for e in await log.read(since=1003.0)] == ["job-3", "job-4"]
    await log.close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    lines = path.read_text().splitlines()
    assert json.loads(lines[0]) == {"at": 1000.0, "who": "dashboard", "action": "SubmitFile", "what": "job-0",
                                    "outcome": "ok", "service": "watcher", "peer": "127.0.0.1:5000"}


@pytest.mark.asyncio
async def test_close_writes_every_entry_recorded(tmp_path):
    path = tmp_path / "auth.jsonl"
    log = AuditLog(path)
    for n in range(2000):
        log.record(entry(float(n), what=str(n)))
    await log.close()
    assert [json.loads(line)["what"] for line in path.read_text().splitlines()] == [str(n) for n in range(2000)]
    log.record(entry(3000.0, what="after"))  # a closed log starts writing again
    await log.close()
    assert json.loads(path.read_text().splitlines()[-1])["what"] == "after"


@pytest.mark.asyncio
async def test_a_stuck_disk_neither_blocks_the_loop_nor_loses_entries_silently(tmp_path, monkeypatch, caplog):
    disk_free = threading.Event()
    writing = threading.Event()
    real_append = audit.append_entries

    def stuck_append(*args, **kwargs):
        writing.set()
        disk_free.wait()
        real_append(*args, **kwargs)

    monkeypatch.setattr(audit, "append_entries", stuck_append)
    path = tmp_path / "streamer.jsonl"
    log = AuditLog(path, queue_entries=3)
    log.record(entry(1.0, what="first"))
    await asyncio.to_thread(writing.wait)  # the writer holds "first" and waits for the disk
    with caplog.at_level(logging.INFO, logger=audit.__name__):
        for n in range(2, 7):  # returns at once although nothing can be written
            log.record(entry(float(n), what=f"queued-{n}"))
    dropped = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(dropped) == 2 and all("not written" in m for m in dropped)
    assert "queued-5" in dropped[0] and "queued-6" in dropped[1]  # the entry is still in the service log
    assert sum("audit: watcher SubmitFile" in r.getMessage() for r in caplog.records if r.levelno == logging.INFO) == 5
    disk_free.set()
    await log.close()
    assert [e.what for e in read_entries(path)] == ["first", "queued-2", "queued-3", "queued-4"]


@pytest.mark.asyncio
async def test_the_file_rotates_past_its_size_and_reading_spans_both(tmp_path):
    path = tmp_path / "watcher.jsonl"
    log = AuditLog(path, rotate_bytes=2000)
    for n in range(50):  # ~140 bytes a line: rotates about every 15 lines
        log.record(entry(float(n), what=f"job-{n:02}"))
        await log.read(limit=1)  # written one by one, so that each append checks the size
    await log.close()
    assert rotated_path(path).exists() and path.stat().st_size < 2000 + 200
    assert stat.S_IMODE(rotated_path(path).stat().st_mode) == 0o600
    in_the_new_file = len(path.read_text().splitlines())
    shown = [e.what for e in read_entries(path, limit=in_the_new_file + 2)]
    assert shown == [f"job-{n:02}" for n in range(48 - in_the_new_file, 50)]  # the newest, from both files
    kept = read_entries(path, limit=1000)
    assert len(kept) < 50 and kept[-1].what == "job-49"  # the oldest generation is gone


def test_reading_from_the_end_of_a_large_file_skips_a_torn_line(tmp_path, caplog):
    path = tmp_path / "watcher.jsonl"
    audit.append_entries(path, [entry(float(n), what="x" * 200 + str(n)) for n in range(20_000)])
    with path.open("a") as file:
        file.write('{"at": 20000, "who": "wat')  # a crash mid-line
    assert path.stat().st_size > 4 * 1024 * 1024
    newest = read_entries(path, limit=3)
    assert [e.at for e in newest] == [19997.0, 19998.0, 19999.0]
    assert [e.at for e in read_entries(path, since=19_990.5)] == [float(n) for n in range(19_991, 20_000)]
    assert "not an entry" in caplog.text


@pytest.mark.asyncio
async def test_no_secret_reaches_the_file_or_the_log(tmp_path, caplog):
    secrets = SecretMask()
    secrets.add("s3cr3t-client-value")
    path = tmp_path / "auth.jsonl"
    log = AuditLog(path, mask=secrets.mask)
    with caplog.at_level(logging.INFO, logger=audit.__name__):
        log.record(entry(1.0, what="callback code=abcdefgh12345678 for s3cr3t-client-value"))
    await log.close()
    for text in (path.read_text(), caplog.text):
        assert "abcdefgh12345678" not in text and "s3cr3t-client-value" not in text
        assert "***" in text


@pytest.mark.asyncio
async def test_a_cli_action_goes_into_the_local_cli_file(tmp_path, monkeypatch):
    monkeypatch.setattr(audit.getpass, "getuser", lambda: "ops")
    config = Config(state_dir=str(tmp_path))
    record_cli_action(config, "api-keys create", "render-farm")
    record_cli_action(config, "certs rotate", "watcher", "failed: no CA")
    path = tmp_path / "audit" / "cli.jsonl"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    shown = [(e.service, e.who, e.peer, e.action, e.what, e.outcome) for e in read_entries(path)]
    assert shown == [("cli", "admin", "local:ops", "api-keys create", "render-farm", "ok"),
                     ("cli", "admin", "local:ops", "certs rotate", "watcher", "failed: no CA")]


def test_since_is_a_duration_back_from_now_or_an_iso_moment():
    assert parse_since("90s", now=1000.0) == 910.0
    assert parse_since("2h", now=10_000.0) == 2800.0
    assert parse_since("1d", now=100_000.0) == 100_000.0 - 86_400
    assert parse_since("2026-12-07T05:00:00Z") == parse_since("2026-12-07T06:00:00+01:00") == 1796619600.0
    assert parse_since("2026-12-07T05:00:00") == 1796619600.0  # no offset: UTC
    with pytest.raises(InvalidArgument, match="since: .*'yesterday'"):
        parse_since("yesterday")


@pytest.mark.asyncio
async def test_a_file_that_cannot_be_written_is_reported_and_the_writer_carries_on(tmp_path, caplog):
    (tmp_path / "audit").write_text("a file where the directory should be")
    log = AuditLog(tmp_path / "audit" / "watcher.jsonl")
    with caplog.at_level(logging.INFO, logger=audit.__name__):
        log.record(entry(1.0, what="job-1"))
        await wait_for(lambda: "cannot write 1 entries" in caplog.text, message="the failed write reported")
        (tmp_path / "audit").unlink()
        log.record(entry(2.0, what="job-2"))
        assert [e.what for e in await log.read()] == ["job-2"]
    await log.close()
    assert "'job-1'" in caplog.text  # the entry is still in the service's log
