"""The streamer's metrics, read at scrape time: whether the tunnel is up, how often it was
restarted, and the bytes the Range server sent."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from postflow.v1 import streamer_pb2
from services.streamer.progress import PullProgress
from services.streamer.tunnel import TunnelManager


class StreamerMetrics(Collector):
    def __init__(self, tunnel: TunnelManager, progress: PullProgress) -> None:
        self.tunnel = tunnel
        self.progress = progress

    def collect(self) -> Iterator[Metric]:
        status = self.tunnel.status
        yield GaugeMetricFamily("postflow_tunnel_up", "1 while the public route to the Range server (tunnel) is up",
                                value=float(status.state == streamer_pb2.TUNNEL_STATE_UP))
        yield CounterMetricFamily("postflow_tunnel_restarts", "Times the tunnel process was restarted",
                                  value=status.restarts)
        yield CounterMetricFamily("postflow_served_bytes", "Body bytes the Range server sent to pullers "
                                  "(Frame.io), a range sent twice counted twice", value=self.progress.bytes_served)
