"""A local HTTP sink on 127.0.0.1 that stands in for the peers' servers.

It accepts anything, answers what each SDK needs to carry on, and counts what arrived,
so the benchmark can check that no peer dropped a trace:

- Langfuse (v3+) exports OpenTelemetry spans as OTLP/HTTP protobuf to
  ``/api/public/otel/v1/traces``; it needs a 2xx answer. Traces = distinct trace ids of
  root spans (no parent span id).
- Opik posts JSON (gzip by default) to its REST batch endpoints
  (``/v1/private/traces/batch``, ``/v1/private/spans/batch``) and patches traces and
  spans by id; it needs a 2xx answer, and ``/is-alive/ver`` answers a version.
  Traces = distinct trace ids created through the traces endpoints.

Bodies are kept raw and decoded only when counted, so the sink costs the measured
process as little as possible (it runs in the orchestrating process, not the measured one).
"""

from __future__ import annotations

import gzip
import json
import threading
import zlib
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

OTLP_TRACES = "/api/public/otel/v1/traces"
OPIK_TRACES = "/v1/private/traces"
OPIK_VERSION = "2.0.0"
CONTROL = "/_bench/"  # the bench's own questions: counts and reset


class _Store:
    """What arrived: request counts per method and path shape, and, when ``record`` is on,
    the bodies of the traced paths (kept raw, decoded when counted)."""

    def __init__(self, record: bool = False) -> None:
        self.record = record
        self.lock = threading.Lock()
        self.requests: Counter[str] = Counter()
        self.bytes = 0
        self.otlp: list[bytes] = []
        self.opik: list[bytes] = []

    def take(self, method: str, path: str, body: bytes, encoding: str) -> None:
        with self.lock:
            self.requests[f"{method} {_shape(path)}"] += 1
            self.bytes += len(body)
            if not self.record:
                return
            if path.endswith(OTLP_TRACES):
                self.otlp.append(_decompress(body, encoding))
            elif OPIK_TRACES in path and method == "POST":
                self.opik.append(_decompress(body, encoding))


def _shape(path: str) -> str:
    """The path with ids replaced, so request counts group by endpoint."""
    parts = path.split("?")[0].split("/")
    return "/".join("{id}" if len(part) >= 32 and "-" in part else part for part in parts)


def _decompress(body: bytes, encoding: str) -> bytes:
    if encoding == "gzip":
        return gzip.decompress(body)
    if encoding == "deflate":
        return zlib.decompress(body)
    return body


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: the SDKs reuse their connections
    server: _Server

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        encoding = (self.headers.get("Content-Encoding") or "").lower()
        if self.path.startswith(CONTROL):
            status, kind, payload = self.server.control(self.path)
        else:
            self.server.store.take(self.command, self.path, body, encoding)
            status, kind, payload = _reply(self.command, self.path)
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if payload:
            self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _answer

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: one line per request would cost more than the request."""


def _reply(method: str, path: str) -> tuple[int, str, bytes]:
    if path.endswith(OTLP_TRACES):
        return 200, "application/x-protobuf", b""  # an empty ExportTraceServiceResponse
    if "is-alive/ver" in path:
        return 200, "application/json", json.dumps({"version": OPIK_VERSION}).encode()
    if method in ("POST", "PATCH", "PUT", "DELETE"):
        return 204, "application/json", b""
    return 200, "application/json", b"{}"


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    store: _Store

    def control(self, path: str) -> tuple[int, str, bytes]:
        """``/_bench/counts``: what arrived since the last ``/_bench/reset[?record=1]``
        (traces are counted only when that reset asked to record bodies)."""
        if path.startswith(CONTROL + "reset"):
            self.store = _Store(record="record=1" in path)
            return 200, "application/json", b"{}"
        store = self.store
        with store.lock:
            otlp, opik = list(store.otlp), list(store.opik)
            counts = {"requests": dict(store.requests), "bytes": store.bytes}
        counts["langfuse_traces"] = len(otlp_root_trace_ids(otlp)) if otlp else 0
        counts["opik_traces"] = len(opik_trace_ids(opik))
        return 200, "application/json", json.dumps(counts).encode()


class LocalSink:
    """The sink's server on 127.0.0.1 (a free port), its counts, and its lifetime."""

    def __init__(self) -> None:
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.store = _Store()
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="bench-sink", daemon=True
        )
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)


def opik_trace_ids(bodies: list[bytes]) -> set[str]:
    """Ids of the traces created in Opik's JSON trace batches (or single creates)."""
    ids: set[str] = set()
    for body in bodies:
        payload = json.loads(body)
        items = payload.get("traces", [payload]) if isinstance(payload, dict) else []
        ids.update(str(item["id"]) for item in items if isinstance(item, dict) and "id" in item)
    return ids


def otlp_root_trace_ids(bodies: list[bytes]) -> set[bytes]:
    """Trace ids of spans without a parent in OTLP ``ExportTraceServiceRequest`` bodies."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )

    ids: set[bytes] = set()
    for body in bodies:
        request = ExportTraceServiceRequest()
        request.ParseFromString(body)
        for resource in request.resource_spans:
            for scope in resource.scope_spans:
                ids.update(span.trace_id for span in scope.spans if not span.parent_span_id)
    return ids


@contextmanager
def running_sink() -> Iterator[LocalSink]:
    sink = LocalSink()
    try:
        yield sink
    finally:
        sink.close()
