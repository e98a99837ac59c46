"""One upload, one trace. The four services run as real processes exporting OTLP
to a collector inside this test; one trace id must hold spans from watcher, auth and
streamer, including the puller's range requests, with the edges the README's architecture section draws."""

from collections import defaultdict

import grpc
import pytest
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

from postflow.testing.media import write_media
from postflow.testing.polling import wait_for
from postflow.testing.ports import free_port
from postflow.testing.stack import running_stack

pytestmark = pytest.mark.slow
SERVER, CLIENT = 2, 3  # opentelemetry.proto.trace.v1.Span.SpanKind


class Collector(trace_service_pb2_grpc.TraceServiceServicer):
    def __init__(self) -> None:
        self.spans: list[dict] = []

    async def Export(self, request, context):
        for resource_spans in request.resource_spans:
            attrs = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
            for scope in resource_spans.scope_spans:
                for span in scope.spans:
                    self.spans.append({
                        "service": attrs.get("service.name", ""), "name": span.name, "kind": span.kind,
                        "trace_id": span.trace_id.hex(), "span_id": span.span_id.hex(),
                        "parent": span.parent_span_id.hex(),
                        "attributes": {a.key: a.value for a in span.attributes},
                    })
        return trace_service_pb2.ExportTraceServiceResponse()


async def completed(stack) -> list[dict]:
    return [f for f in await stack.emulator_files() if f.get("upload_complete")]


@pytest.mark.asyncio
async def test_one_trace_per_upload_across_services(tmp_path):
    collector = Collector()
    server = grpc.aio.server()
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(collector, server)
    port = free_port()
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{port}", "OTEL_EXPORTER_OTLP_INSECURE": "true",
           "OTEL_BSP_SCHEDULE_DELAY": "200"}
    try:
        async with running_stack(tmp_path, env=env) as stack:
            write_media(stack.watch_root / "SQ01" / "shot.mov", 24 * 1024 * 1024, seed=4)

            def upload_trace():
                roots = [s for s in collector.spans if s["name"] == "postflow.upload"]
                if not roots:
                    return None
                trace_id = roots[0]["trace_id"]
                spans = [s for s in collector.spans if s["trace_id"] == trace_id]
                services = {s["service"] for s in spans}
                pulls = [s for s in spans if s["service"] == "postflow-streamer" and s["kind"] == SERVER
                         and "postflow.ticket_id" in s["attributes"]]
                return (trace_id, spans) if {"postflow-watcher", "postflow-auth", "postflow-streamer"} <= services \
                    and pulls else None

            trace_id, _ = await wait_for(upload_trace, timeout=120, interval=0.5, message="upload trace")
            files = await wait_for(lambda: completed(stack), timeout=60, message="upload complete")
            assert [f["name"] for f in files] == ["shot.mov"]

            def whole_trace():
                """Spans export when they end: wait until every parent of the trace has arrived,
                and the publication's revocation (the job's last call to the streamer)."""
                spans = [s for s in collector.spans if s["trace_id"] == trace_id]
                ids = {s["span_id"] for s in spans}
                revoked = any(s["kind"] == SERVER and s["name"].endswith("StreamerService/Revoke") for s in spans)
                return spans if revoked and all(s["parent"] in ids for s in spans if s["parent"]) else None

            spans = await wait_for(whole_trace, timeout=30, interval=0.3, message="every span of the trace")
    finally:
        await server.stop(0)

    by_id = {s["span_id"]: s for s in spans}
    children = defaultdict(list)
    for span in spans:
        children[span["parent"]].append(span)

    def parent_of(span):
        return by_id.get(span["parent"])

    (root,) = [s for s in spans if s["name"] == "postflow.upload"]
    assert root["service"] == "postflow-watcher" and root["parent"] == ""
    # Every parent is in the trace (whole_trace), and only the root has none: every span,
    # Frame.io's httpx calls included, descends from the upload.
    assert [s for s in spans if not s["parent"]] == [root]
    job_id = root["attributes"]["postflow.job_id"].string_value
    assert job_id

    def rpc_edge(method: str, server_service: str) -> None:
        served = [s for s in spans if s["kind"] == SERVER and s["name"].endswith(method)]
        assert served, f"no server span for {method}"
        for span in served:
            assert span["service"] == server_service
            caller = parent_of(span)
            assert caller and caller["service"] == "postflow-watcher" and caller["kind"] == CLIENT, method

    rpc_edge("AuthService/GetAccessToken", "postflow-auth")
    rpc_edge("StreamerService/Publish", "postflow-streamer")
    rpc_edge("StreamerService/Revoke", "postflow-streamer")
    frameio_calls = [s for s in spans if s["service"] == "postflow-watcher" and s["kind"] == CLIENT
                     and any("remote_upload" in str(v) for v in s["attributes"].values())]
    assert frameio_calls, "the remote_upload call is an httpx span in the trace"
    pulls = [s for s in spans if s["service"] == "postflow-streamer" and s["kind"] == SERVER
             and "postflow.ticket_id" in s["attributes"]]
    for pull in pulls:
        # The puller sends no trace headers: the publication's stored context joins it here.
        assert parent_of(pull) is not None and parent_of(pull)["service"] == "postflow-watcher"
    assert not [s for s in collector.spans if "grpc.health" in s["name"]], "health checks make no spans"
    assert len(pulls) < 200, "one span per request, none per chunk"
