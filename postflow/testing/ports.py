"""Free loopback ports for servers that another process will bind.

Under pytest-xdist each worker picks from a slice of its own (`worker_spans`), so two workers
never pick the same port: the first half of the slice for `free_port`, the second half for the
processes the worker starts (`child_env` hands it to them as $POSTFLOW_PORT_RANGE), so that
`postflow up` or `postflow demo` picking their own ports never picks one a test picked."""

from __future__ import annotations

import os
from collections.abc import Mapping

from postflow.core.net import PortPool, port_range


def worker_spans(env: Mapping[str, str] = os.environ) -> tuple[tuple[int, int], tuple[int, int]]:
    """This xdist worker's (`PYTEST_XDIST_WORKER`) ports: those for `free_port`, those for its children."""
    low, high = port_range({})
    worker = env.get("PYTEST_XDIST_WORKER", "gw0")
    index, count = int(worker.removeprefix("gw")), int(env.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    size = (high - low + 1) // count
    start = low + index * size
    middle = start + size // 2
    return (start, middle - 1), (middle, start + size - 1)


_OURS, CHILDREN_SPAN = worker_spans()
_PORTS = PortPool(_OURS, seed=os.getpid())


def free_port() -> int:
    """A loopback port for a server another process will bind; never the same one twice."""
    return _PORTS.take()
