"""Tracing set-up: spans are recorded only when something exports them, and trace ids are
made and carried either way (they are on every log line and on the dashboard)."""

from opentelemetry.sdk.trace.export import SpanExportResult

from postflow.core.telemetry import context_from, setup_tracing, shutdown_tracing, trace_id_hex
from postflow.v1 import common_pb2

PARENT = common_pb2.TraceContext(traceparent="00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")


def test_without_an_exporter_no_span_is_recorded_but_trace_ids_flow():
    provider = setup_tracing("streamer", env={})
    tracer = provider.get_tracer("test")
    try:
        child = tracer.start_span("postflow.range", context=context_from(PARENT))
        assert not child.is_recording()
        assert trace_id_hex(child) == "0af7651916cd43dd8448eb211c80319c"
        root = tracer.start_span("postflow.upload")
        assert not root.is_recording() and len(trace_id_hex(root)) == 32
    finally:
        shutdown_tracing(provider)


def test_with_an_otlp_endpoint_spans_are_recorded_and_exported(monkeypatch):
    exported = []
    monkeypatch.setattr("opentelemetry.exporter.otlp.proto.grpc.trace_exporter.OTLPSpanExporter.export",
                        lambda self, spans: exported.extend(spans) or SpanExportResult.SUCCESS)
    provider = setup_tracing("streamer", env={"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4317"})
    try:
        span = provider.get_tracer("test").start_span("postflow.range", context=context_from(PARENT))
        assert span.is_recording()
        span.end()
    finally:
        shutdown_tracing(provider)
    assert [s.name for s in exported] == ["postflow.range"]
    assert exported[0].parent.span_id == 0xB7AD6B7169203331
