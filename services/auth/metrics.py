"""auth's metrics, read from each connection's custody at scrape time: its state, when its
access token expires, and its re-login deadline."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from postflow.core.protos import label, to_seconds
from postflow.v1 import auth_pb2
from services.auth.connections import Connections

STATES = (auth_pb2.AUTH_STATE_DISCONNECTED, auth_pb2.AUTH_STATE_CONNECTED, auth_pb2.AUTH_STATE_RECONNECT_NEEDED)


class ConnectionMetrics(Collector):
    def __init__(self, connections: Connections) -> None:
        self.connections = connections

    def collect(self) -> Iterator[Metric]:
        state = GaugeMetricFamily("postflow_auth_state", "1 for the state each Frame.io connection is in, else 0",
                                  labels=["connection", "state"])
        expiry = GaugeMetricFamily("postflow_access_token_expiry_timestamp_seconds",
                                   "When the connection's access token expires (Unix time)", labels=["connection"])
        deadline = GaugeMetricFamily("postflow_reauth_deadline_timestamp_seconds",
                                     "When someone must sign in again, as the login ends (Unix time; none for "
                                     "server-to-server)", labels=["connection"])
        for status in self.connections.statuses():
            for value in STATES:
                state.add_metric([status.connection, label(auth_pb2.AuthState, value)], float(status.state == value))
            if status.HasField("access_expires_at"):
                expiry.add_metric([status.connection], to_seconds(status.access_expires_at))
            if status.HasField("reauth_deadline"):
                deadline.add_metric([status.connection], to_seconds(status.reauth_deadline))
        yield from (state, expiry, deadline)
