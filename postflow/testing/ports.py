"""Free loopback ports for servers that another process will bind."""

from __future__ import annotations

import os

from postflow.core.net import PortPool

_PORTS = PortPool(seed=os.getpid())


def free_port() -> int:
    """A loopback port for a server another process will bind; never the same one twice."""
    return _PORTS.take()
