"""A real OTLP/HTTP trace receiver on a free loopback port, decoding with opentelemetry-proto."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.requests.append((self.path, self.headers["Content-Type"], body))  # type: ignore[attr-defined]
        reply = ExportTraceServiceResponse().SerializeToString()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, *args: Any) -> None:
        pass


class OtlpReceiver:
    def __init__(self, server: ThreadingHTTPServer) -> None:
        self._server = server

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def requests(self) -> list[tuple[str, str, bytes]]:
        return self._server.requests  # type: ignore[attr-defined]

    def spans(self) -> list[tuple[dict[str, str], Any]]:
        """(resource attributes, span) for every span received so far."""
        out = []
        for path, content_type, body in list(self.requests):
            assert path == "/v1/traces" and content_type == "application/x-protobuf"
            request = ExportTraceServiceRequest()
            request.ParseFromString(body)
            for resource_spans in request.resource_spans:
                resource = {
                    kv.key: kv.value.string_value for kv in resource_spans.resource.attributes
                }
                for scope in resource_spans.scope_spans:
                    out.extend((resource, span) for span in scope.spans)
        return out


@contextmanager
def otlp_receiver() -> Iterator[OtlpReceiver]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.requests = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield OtlpReceiver(server)
    finally:
        server.shutdown()
        server.server_close()


def attributes(span: Any) -> dict[str, Any]:
    out = {}
    for kv in span.attributes:
        value = kv.value
        out[kv.key] = getattr(value, value.WhichOneof("value"))
    return out
