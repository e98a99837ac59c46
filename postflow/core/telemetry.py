"""Tracing, set up in one function from the standard OTEL_* variables, plus helpers that
carry a trace context through places no RPC carries it (jobs, tickets)."""

from __future__ import annotations

import os

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.propagators.textmap import default_getter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from postflow.v1 import common_pb2

_PROPAGATOR = TraceContextTextMapPropagator()


def setup_tracing(service: str, env=None) -> TracerProvider:
    """A tracer provider for this process; exports by OTLP when OTEL_EXPORTER_OTLP_*ENDPOINT
    is set. Without an exporter no span is recorded (nothing would read it, and a span costs
    the Range server a fifth of its per-request CPU), but trace ids are still made, carried
    and logged. Also installed as the global provider."""
    env = os.environ if env is None else env
    resource = Resource.create({"service.name": env.get("OTEL_SERVICE_NAME", f"postflow-{service}")})
    exporter_kind = env.get("OTEL_TRACES_EXPORTER", "otlp")
    has_endpoint = env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    if not (exporter_kind == "otlp" and has_endpoint):
        provider = TracerProvider(resource=resource, sampler=ALWAYS_OFF)
    else:
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        provider = TracerProvider(resource=resource)
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    return provider


def shutdown_tracing(provider: TracerProvider | None) -> None:
    if provider is not None:
        provider.force_flush(5_000)
        provider.shutdown()


def current_trace_context() -> common_pb2.TraceContext:
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier)
    return common_pb2.TraceContext(traceparent=carrier.get("traceparent", ""), tracestate=carrier.get("tracestate", ""))


def context_from(trace_context: common_pb2.TraceContext | None) -> otel_context.Context:
    """An OTel context whose parent is the given span (empty context when none)."""
    if trace_context is None or not trace_context.traceparent:
        return otel_context.Context()
    carrier = {"traceparent": trace_context.traceparent}
    if trace_context.tracestate:
        carrier["tracestate"] = trace_context.tracestate
    return _PROPAGATOR.extract(carrier, getter=default_getter)


def trace_id_hex(span: trace.Span | None = None) -> str:
    ctx = (span or trace.get_current_span()).get_span_context()
    return format(ctx.trace_id, "032x") if ctx.is_valid else ""
