"""Local HTTP servers on 127.0.0.1 that stand in for a Comet server misbehaving one way each.

comet_ml reads its server address from ``COMET_URL_OVERRIDE`` (``<root>/clientlib/``);
during ``Experiment()`` it asks the health check ``clientlib/isAlive/ver`` (our probe does
too), then ``clientlib/logger/add/run`` and ``clientlib/asset/3d-limits``. Each server
here answers all of them the same sick way. A server is a context manager: started on
entry, stopped on exit, and every connection it holds is released then, so a test never
leaves a thread or a socket behind.
"""

from __future__ import annotations

import contextlib
import json
import socket
import socketserver
import threading
import time
from http.server import BaseHTTPRequestHandler
from types import TracebackType
from typing import Any

HEALTH_PATH = "/clientlib/isAlive/ver"
# The longest any connection is held, whatever happens to the test.
HOLD_BOUND = 300.0

BEHAVIOURS = ("refuses", "never-answers", "http-500", "health-then-hangs", "slow", "works")
ADD_RUN_PATH = "/clientlib/logger/add/run"


class SickServer:
    """One misbehaviour, ``behaviour`` among ``BEHAVIOURS``:

    - ``refuses``: nothing listens at the address (connections are refused);
    - ``never-answers``: accepts every connection, never reads or answers;
    - ``http-500``: answers HTTP 500 to everything at once;
    - ``health-then-hangs``: answers the health check (200, a version), then holds every
      other request without answering;
    - ``slow``: answers every request after ``delay`` seconds: the health check with
      200, everything else with HTTP 503.

    And one that is not sick: ``works`` answers like a Comet server, enough for
    comet_ml to create a live experiment and send it everything (each request body is
    kept in ``bodies``); it creates the experiment after ``delay`` seconds.
    """

    def __init__(self, behaviour: str, *, delay: float = 2.0) -> None:
        if behaviour not in BEHAVIOURS:
            raise ValueError(f"unknown behaviour {behaviour!r}; choose from {BEHAVIOURS}")
        self.behaviour = behaviour
        self.delay = delay
        self.requests: list[tuple[float, str, str]] = []  # (time, method, path)
        self.bodies: list[tuple[str, bytes]] = []  # (path with query, body), ``works`` only
        self._stop = threading.Event()
        self._server: socketserver.ThreadingTCPServer | None = None
        self._thread: threading.Thread | None = None
        self._connections: list[socket.socket] = []
        self._lock = threading.Lock()
        self.port = 0

    @property
    def url(self) -> str:
        """The value for ``COMET_URL_OVERRIDE``."""
        return f"http://127.0.0.1:{self.port}/clientlib/"

    def __enter__(self) -> SickServer:
        if self.behaviour == "refuses":
            with socket.socket() as probe:  # a port that was free a moment ago
                probe.bind(("127.0.0.1", 0))
                self.port = probe.getsockname()[1]
            return self
        server = _Server(("127.0.0.1", 0), _handler_for(self))
        self._server = server
        self.port = server.server_address[1]
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop serving and release every connection still held."""
        self._stop.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        with self._lock:
            connections, self._connections = self._connections, []
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
            connection.close()
        if self._thread is not None:
            self._thread.join(10)

    # -- used by the request handler ------------------------------------------------------

    def _hold(self, seconds: float = HOLD_BOUND) -> None:
        """Wait without answering, until the server stops (or ``seconds`` pass)."""
        self._stop.wait(seconds)

    def _track(self, connection: socket.socket) -> None:
        with self._lock:
            self._connections.append(connection)

    def _keep(self, path: str, body: bytes) -> None:
        with self._lock:
            self.bodies.append((path, body))

    def _record(self, method: str, path: str) -> None:
        with self._lock:
            self.requests.append((time.monotonic(), method, path))


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True


def _handler_for(sick: SickServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self) -> None:
            super().setup()
            sick._track(self.connection)

        def handle(self) -> None:
            if sick.behaviour == "never-answers":
                sick._hold()
                return
            with contextlib.suppress(OSError):  # the client gave up, or the server stopped
                super().handle()

        def do_GET(self) -> None:
            self._answer()

        def do_POST(self) -> None:
            self._answer()

        def do_PUT(self) -> None:
            self._answer()

        def _answer(self) -> None:
            path = self.path.split("?", 1)[0]
            sick._record(self.command, path)
            body = self._body()
            healthy = path == HEALTH_PATH
            if sick.behaviour == "http-500":
                self._send(500, {"msg": "internal error"})
            elif sick.behaviour == "health-then-hangs":
                if healthy:
                    self._send(200, {"version": "3.58.0"})
                else:
                    sick._hold()
                    self.close_connection = True
            elif sick.behaviour == "slow":
                sick._hold(sick.delay)
                if healthy:
                    self._send(200, {"version": "3.58.0"})
                else:
                    self._send(503, {"msg": "overloaded"})
            elif sick.behaviour == "works":
                sick._keep(self.path, body)
                if healthy:
                    self._send(200, {"version": "3.58.0"})
                elif path == ADD_RUN_PATH:
                    sick._hold(sick.delay)
                    self._send(200, {"runId": "run-1", "project_id": "project-1"})
                else:
                    self._send(200, {})

        def _body(self) -> bytes:
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                return self.rfile.read(length)
            if self.headers.get("Transfer-Encoding", "").lower() != "chunked":
                return b""
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                chunk = self.rfile.read(size + 2)[:size]
                if size == 0:
                    return b"".join(chunks)
                chunks.append(chunk)

        def _send(self, status: int, body: Any) -> None:
            if sick._stop.is_set():
                return
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            return  # quiet: the requests are recorded instead

    return Handler
