"""Logging, configured once per process: one line per record, trace and job ids on every
line of a job, secrets masked before anything is written."""

from __future__ import annotations

import contextvars
import logging
import re
import sys

from postflow.core.telemetry import trace_id_hex

job_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("postflow_job_id", default="")

_TOKEN_PATTERNS = re.compile(
    r"(?i)(bearer\s+|(?:access_token|refresh_token|client_secret|id_token|code|token)[\"']?\s*[=:]\s*[\"']?)"
    r"([A-Za-z0-9._~+/=-]{8,})"
)


class SecretMask:
    """Known secret values (client secret, issued tokens) to mask in every log line."""

    def __init__(self, limit: int = 64) -> None:
        self._values: list[str] = []
        self._limit = limit

    def add(self, value: str | None) -> None:
        if value and len(value) >= 6 and value not in self._values:
            self._values.append(value)
            del self._values[: -self._limit]

    def mask(self, text: str) -> str:
        for value in self._values:
            if value in text:
                text = text.replace(value, "***")
        return _TOKEN_PATTERNS.sub(lambda m: m.group(1) + "***", text)


class ContextFilter(logging.Filter):
    """Adds `trace_id`, `job_id` and `service` to records and masks secrets in the message."""

    def __init__(self, service: str, secrets: SecretMask) -> None:
        super().__init__()
        self.service = service
        self.secrets = secrets

    def filter(self, record: logging.LogRecord) -> bool:
        record.trace_id = trace_id_hex() or "-"
        record.job_id = job_id_var.get() or "-"
        record.service = self.service
        message = record.getMessage()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        record.msg, record.args = self.secrets.mask(message), None
        if record.exc_text:
            record.exc_text = self.secrets.mask(record.exc_text)
        return True


class StreamClosedElsewhere(logging.Filter):
    """Drops OpenTelemetry's "Failed to detach context" when a streaming call's generator was
    closed from another task (GeneratorExit: a client hung up mid-stream). The span ends anyway;
    the ERROR and its traceback are noise (opentelemetry-python-contrib issue 2357)."""

    def filter(self, record: logging.LogRecord) -> bool:
        closed = record.exc_info is not None and isinstance(record.exc_info[1], ValueError) \
            and isinstance(record.exc_info[1].__context__, GeneratorExit)
        return not (record.getMessage() == "Failed to detach context" and closed)


FORMAT = "%(asctime)s %(levelname)s %(service)s %(name)s trace=%(trace_id)s job=%(job_id)s %(message)s"


def setup_logging(service: str, level: str = "INFO", stream=None) -> SecretMask:
    """Configures the root logger; returns the mask so callers can register secrets."""
    secrets = SecretMask()
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.addFilter(ContextFilter(service, secrets))
    handler.setFormatter(logging.Formatter(FORMAT, datefmt="%Y-%m-%dT%H:%M:%S"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("httpx", "httpcore", "uvicorn.access", "uvicorn.error", "sse_starlette"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    otel_context = logging.getLogger("opentelemetry.context")
    if not any(isinstance(existing, StreamClosedElsewhere) for existing in otel_context.filters):
        otel_context.addFilter(StreamClosedElsewhere())
    return secrets
