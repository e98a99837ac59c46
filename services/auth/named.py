"""How one connection names itself in messages and log lines: the default connection as it
did before there were several ("Frame.io", `postflow login`), any other by its name."""

from __future__ import annotations

import logging
from collections.abc import MutableMapping
from typing import Any

from postflow.core.pipelines import DEFAULT


def frameio_name(connection: str) -> str:
    return "Frame.io" if connection == DEFAULT else f"Frame.io connection {connection!r}"


def login_command(connection: str) -> str:
    return "`postflow login`" if connection == DEFAULT else f"`postflow login --connection {connection}`"


class ConnectionLog(logging.LoggerAdapter):
    """A logger whose lines start with `[name]`, except the default connection's."""

    def __init__(self, logger: logging.Logger, connection: str) -> None:
        super().__init__(logger, {"connection": connection})
        self._prefix = "" if connection == DEFAULT else f"[{connection}] "

    def process(self, msg: Any, kwargs: MutableMapping[str, Any]) -> tuple[Any, MutableMapping[str, Any]]:
        return f"{self._prefix}{msg}", kwargs
