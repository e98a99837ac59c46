"""Notifications through Apprise: a real SMTP server (aiosmtpd) and Apprise's JSON target on a
local receiver get the file, its Frame.io link and, for a failure, the reason and a retry link;
a burst of deliveries makes one message; an unreachable service keeps every event and gets
them once it is back; no URL ever reaches the log."""

import asyncio
import logging

import pytest

from postflow.testing.outbound import outbound_under_test
from postflow.testing.polling import wait_for
from postflow.testing.ports import free_port
from postflow.testing.receivers import HttpReceiver, SmtpSink
from services.watcher.jobs import DONE
from services.watcher.outbound.messages import LISTED

FAST = {"retry_base_s": 0.2, "retry_max_s": 0.5}


class Logged(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


@pytest.fixture
def logged():
    """Every line that reaches the root logger, as the service's log handler gets them (pytest's
    caplog also reads loggers that do not propagate, such as Apprise's)."""
    handler, root = Logged(), logging.getLogger()
    level, root.level = root.level, logging.DEBUG
    root.addHandler(handler)
    yield handler
    root.removeHandler(handler)
    root.level = level


def rule(url: str, events=("delivered", "failed"), **options) -> dict:
    return {"url": url, "events": list(events), **options}


@pytest.mark.asyncio
async def test_a_notification_reaches_a_real_smtp_server(tmp_path):
    async with SmtpSink() as smtp, outbound_under_test(
            tmp_path, {"notifications": [rule(smtp.url(), batch_window_s=0)], "outbound": FAST}) as outbound:
        job = await outbound.deliver(await outbound.queue("SQ01/SH010/SQ01_SH010_v003.mov"))
        await wait_for(lambda: smtp.messages, message="the e-mail")
        failed = await outbound.fail(await outbound.queue("SQ01/SH020/b.mov"), "the file vanished from Frame.io")
        await wait_for(lambda: len(smtp.messages) == 2, message="the second e-mail")

    delivered, failure = smtp.messages
    assert delivered["To"] == "ops@example.com" and delivered["From"].addresses[0].addr_spec == "postflow@example.com"
    assert delivered["Subject"] == "PostFlow: SQ01_SH010_v003.mov delivered"
    text = delivered.get_body(("plain",)).get_content()
    assert "SQ01/SH010/SQ01_SH010_v003.mov" in text and job.view_url in text
    assert failure["Subject"] == "PostFlow: b.mov failed"
    text = failure.get_body(("plain",)).get_content()
    assert "the file vanished from Frame.io" in text and "Retry: https://localhost:8000/?q=SQ01%2FSH020%2Fb.mov" in text
    assert failed.id  # the job the message is about


@pytest.mark.asyncio
async def test_a_notification_reaches_apprise_json_target(tmp_path):
    async with HttpReceiver() as receiver, outbound_under_test(
            tmp_path, {"notifications": [rule(receiver.apprise_url, batch_window_s=0)]}) as outbound:
        job = await outbound.deliver(await outbound.queue("SQ01/a.mov"))
        await wait_for(lambda: receiver.received, message="the message")

    (message,) = [post.json for post in receiver.received]
    assert message["type"] == "success" and message["title"] == "PostFlow: a.mov delivered"
    assert message["message"] == f"1 file delivered to Frame.io:\n• SQ01/a.mov: {job.view_url}"


@pytest.mark.asyncio
async def test_a_burst_of_50_deliveries_makes_one_message(tmp_path):
    async with HttpReceiver() as receiver, outbound_under_test(
            tmp_path, {"notifications": [rule(receiver.apprise_url, batch_window_s=3)]}) as outbound:
        queued = [await outbound.queue(f"SQ01/shot_{index:03}.mov") for index in range(50)]
        await asyncio.gather(*(outbound.deliver(job) for job in queued))
        sent = await outbound.wait_sent(50)

    (message,) = [post.json for post in receiver.received]
    assert message["title"] == "PostFlow: 50 files delivered to Frame.io"
    lines = message["message"].splitlines()
    assert lines[0] == "50 files delivered to Frame.io:" and lines[-1] == f"• … and {50 - LISTED} more"
    assert len(lines) == LISTED + 2 and "SQ01/shot_000.mov: https://next.frame.io/view/" in lines[1]
    assert len(sent) == 50 and {entry.attempts for entry in sent} == {1}


@pytest.mark.asyncio
async def test_an_unreachable_service_keeps_every_event_and_gets_them_when_back(tmp_path, logged):
    port = free_port()
    url = f"json://127.0.0.1:{port}/notify/secret-path-token-0123"
    async with outbound_under_test(
            tmp_path, {"notifications": [rule(url, batch_window_s=0)], "outbound": FAST}) as outbound:
        job = await outbound.deliver(await outbound.queue("a.mov"))
        assert job.state == DONE  # the notification never holds up the job

        async def failing():
            entries = await outbound.entries()
            return entries if entries and entries[0].attempts >= 2 else None

        (entry,) = await wait_for(failing, message="a few failed tries")
        assert entry.status == "pending" and "Connection error" in entry.last_error
        await outbound.fail(await outbound.queue("b.mov"), "Frame.io said no")
        async with HttpReceiver(port) as receiver:
            await outbound.wait_sent(2)

    assert [post.json["title"] for post in receiver.received] == ["PostFlow: 1 file failed, 1 file delivered to "
                                                                  "Frame.io"]
    assert "notifications[0] JSON" in logged.text and "secret-path-token" not in logged.text
