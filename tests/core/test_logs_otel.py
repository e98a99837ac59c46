"""One logging setup: OpenTelemetry's "Failed to detach context" when a stream's generator is
closed from another context (a client hung up) is dropped, any other detach failure stays."""

from __future__ import annotations

import contextvars
import io
import logging

import pytest
from opentelemetry import context

from postflow.core.logs import setup_logging


@pytest.fixture
def service_log():
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    out = io.StringIO()
    setup_logging("watcher", stream=out)
    yield out
    root.handlers[:] = handlers
    root.setLevel(level)


def stream():
    token = context.attach(context.set_value("call", "WatchJobs"))
    try:
        yield 1
    finally:
        context.detach(token)


def test_a_stream_closed_from_another_context_logs_nothing(service_log):
    generator = contextvars.copy_context().run(lambda: stream())
    contextvars.copy_context().run(next, generator)
    contextvars.copy_context().run(generator.close)  # GeneratorExit in a context the token is not from
    assert "Failed to detach context" not in service_log.getvalue()


def test_another_detach_failure_is_still_an_error(service_log):
    token = contextvars.copy_context().run(lambda: context.attach(context.set_value("k", 1)))
    context.detach(token)
    assert "ERROR watcher opentelemetry.context" in service_log.getvalue()
    assert "Failed to detach context" in service_log.getvalue()
