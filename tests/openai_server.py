"""A tiny, dependency-free OpenAI-compatible chat completions server for tests.

Stdlib only. It runs in-process on ``127.0.0.1`` on a free port and answers
``POST /v1/chat/completions`` (streaming and non-streaming) and ``GET /v1/models``
with scripted replies, so the real ``langchain_openai.ChatOpenAI`` / ``openai``
clients can be exercised end to end without the network::

    with OpenAIServer([ScriptedReply("Hello there", prompt_tokens=3)]) as server:
        llm = ChatOpenAI(base_url=server.base_url, api_key="test", model="gpt-4o-mini")
        assert llm.invoke("hi").content == "Hello there"
        assert server.requests[0]["model"] == "gpt-4o-mini"
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import re
import socket
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

__all__ = ["DEFAULT_REPLY_CONTENT", "OpenAIServer", "ScriptedReply", "split_words"]

DEFAULT_REPLY_CONTENT = "ok"

_ERROR_TYPES: dict[int, tuple[str, str]] = {
    400: ("invalid_request_error", "bad_request"),
    401: ("authentication_error", "invalid_api_key"),
    403: ("permission_error", "forbidden"),
    404: ("invalid_request_error", "not_found"),
    409: ("invalid_request_error", "conflict"),
    422: ("invalid_request_error", "unprocessable_entity"),
    429: ("rate_limit_error", "rate_limit_exceeded"),
}

# Split *after* a run of whitespace, right before the next word: every piece keeps its
# trailing whitespace, so "".join(pieces) == text exactly.
_WORD_BOUNDARY = re.compile(r"(?<=\s)(?=\S)")


def split_words(text: str) -> list[str]:
    """Split ``text`` into word pieces that keep their whitespace (join == text)."""
    return [piece for piece in _WORD_BOUNDARY.split(text) if piece]


@dataclass
class ScriptedReply:
    """One scripted answer of the fake server.

    ``tool_calls`` entries look like ``{"name": "get_weather", "arguments": {"city": "Paris"}}``
    (``arguments`` may also be a JSON string; an optional ``"id"`` overrides the generated
    ``call_...`` id). Token counts of 0 are computed: ``prompt_tokens`` as the word count of
    all request messages' text, ``completion_tokens`` as the number of content word pieces
    (== streamed content chunks) plus one per tool call. For ``status != 200``, ``content``
    (if set) becomes the error message.

    Gateways: ``cost`` (USD) is answered as ``usage.cost``, the way OpenRouter and
    LiteLLM report what a call cost; ``headers`` are added to the HTTP response (e.g.
    LiteLLM's ``x-litellm-response-cost``).
    """

    content: str = ""
    tool_calls: list[dict[str, Any]] | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    reasoning_tokens: int = 0
    model: str | None = None
    status: int = 200
    delay_s: float = 0.0
    chunk_delay_s: float = 0.0
    cost: float | None = None
    headers: dict[str, str] | None = None


ReplySource = Iterable[ScriptedReply] | Callable[[dict[str, Any]], ScriptedReply] | None


def _message_text(content: Any) -> str:
    """Text of a message ``content``: a string or a list of content parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts: list[str] = []
        for part in content:
            if isinstance(part, str):
                texts.append(part)
            elif isinstance(part, dict) and isinstance(part.get("text"), str):
                texts.append(part["text"])
        return " ".join(texts)
    return ""


_IMAGE_URL_PREFIXES = ("data:image/", "http://", "https://")
_AUDIO_FORMATS = ("wav", "mp3")


def _invalid_content(request: dict[str, Any]) -> str | None:
    """Why a message's content parts would be refused by OpenAI's API, or None.

    Images (``image_url``: a ``data:image/...;base64`` URL or an http(s) URL), audio
    (``input_audio``: base64 ``data`` and a ``format``) and files (``file``: ``file_data``
    or ``file_id``) are accepted next to text, as OpenAI accepts them.
    """
    for index, message in enumerate(request.get("messages") or []):
        content = message.get("content") if isinstance(message, dict) else None
        if not isinstance(content, list):
            continue
        for part in content:
            problem = _invalid_part(part)
            if problem is not None:
                return f"messages[{index}]: {problem}"
    return None


def _invalid_part(part: Any) -> str | None:
    kind = part.get("type") if isinstance(part, dict) else None
    if kind == "text":
        return None if isinstance(part.get("text"), str) else "text part without text"
    if kind == "image_url":
        image = part.get("image_url")
        url = image.get("url") if isinstance(image, dict) else None
        if not isinstance(url, str) or not url.startswith(_IMAGE_URL_PREFIXES):
            return f"invalid image_url: {str(url)[:40]!r}"
        if url.startswith("data:") and not _is_base64(url.partition(",")[2]):
            return "image data URL is not base64"
        return None
    if kind == "input_audio":
        audio = part.get("input_audio")
        if not isinstance(audio, dict) or audio.get("format") not in _AUDIO_FORMATS:
            return "input_audio needs a format (wav or mp3)"
        return None if _is_base64(audio.get("data")) else "input_audio data is not base64"
    if kind == "file":
        file = part.get("file")
        if isinstance(file, dict) and (file.get("file_data") or file.get("file_id")):
            return None
        return "file part needs file_data or file_id"
    return f"unsupported content part type {kind!r}"


def _is_base64(data: Any) -> bool:
    if not isinstance(data, str) or not data:
        return False
    try:
        base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        return False
    return True


def _count_prompt_words(request: dict[str, Any]) -> int:
    messages = request.get("messages") or []
    return sum(
        len(_message_text(m.get("content")).split()) for m in messages if isinstance(m, dict)
    )


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, owner: OpenAIServer) -> None:
        self.owner = owner
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Never print tracebacks to stderr; keep them for inspection instead.
        exc = sys.exc_info()[1]
        if exc is not None and not isinstance(exc, ConnectionError):
            self.owner.errors.append(exc)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "openai-test-server/1.0"
    server: _Server

    # -- plumbing -------------------------------------------------------------------

    def setup(self) -> None:
        super().setup()
        with self.server.connections_lock:
            self.server.connections.add(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            with self.server.connections_lock:
                self.server.connections.discard(self.connection)

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _path(self) -> str:
        return self.path.split("?", 1)[0].rstrip("/")

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            data = bytearray()
            while True:
                size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return bytes(data)
                data += self.rfile.read(size)
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send_json(
        self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None
    ) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("x-request-id", f"req_{uuid.uuid4().hex}")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _send_error_json(self, status: int, message: str) -> None:
        err_type, code = _ERROR_TYPES.get(status, ("server_error", "server_error"))
        if status < 500 and status not in _ERROR_TYPES:
            err_type, code = "invalid_request_error", "error"
        self._send_json(
            status, {"error": {"message": message, "type": err_type, "param": None, "code": code}}
        )

    # -- endpoints ------------------------------------------------------------------

    def do_GET(self) -> None:
        path = self._path()
        if path in ("/v1/models", "/models"):
            self._send_json(
                200,
                {"object": "list", "data": [_model_card(m) for m in self.server.owner.model_ids]},
            )
        elif path.startswith(("/v1/models/", "/models/")):
            self._send_json(200, _model_card(path.rsplit("/", 1)[1]))
        else:
            self._send_error_json(404, f"Unknown path: GET {self.path}")

    def do_POST(self) -> None:
        body = self._read_body()
        if self._path() not in ("/v1/chat/completions", "/chat/completions"):
            self._send_error_json(404, f"Unknown path: POST {self.path}")
            return
        try:
            request = json.loads(body or b"{}")
        except json.JSONDecodeError as exc:
            self._send_error_json(400, f"Invalid JSON body: {exc}")
            return
        if not isinstance(request, dict):
            self._send_error_json(400, "Request body must be a JSON object")
            return

        owner = self.server.owner
        owner._record(request)
        problem = _invalid_content(request)
        if problem is not None:
            self._send_error_json(400, problem)
            return
        try:
            reply = owner._next_reply(request)
        except Exception as exc:  # a broken reply callable -> visible 500, not a hung client
            owner.errors.append(exc)
            self._send_error_json(500, f"Reply callable failed: {exc!r}")
            return

        if reply.delay_s > 0:
            time.sleep(reply.delay_s)
        if reply.status != 200:
            self._send_error_json(
                reply.status, reply.content or f"Scripted error (HTTP {reply.status})"
            )
            return
        if request.get("stream"):
            self._stream(request, reply)
        else:
            self._send_json(200, _completion(request, reply), reply.headers)

    def _stream(self, request: dict[str, Any], reply: ScriptedReply) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("x-request-id", f"req_{uuid.uuid4().hex}")
        for name, value in (reply.headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        try:
            for index, event in enumerate(_stream_events(request, reply)):
                if index and reply.chunk_delay_s > 0:
                    time.sleep(reply.chunk_delay_s)
                data = f"data: {event}\n\n".encode()
                self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True


def _model_card(model_id: str) -> dict[str, Any]:
    return {"id": model_id, "object": "model", "created": 0, "owned_by": "openai-test-server"}


def _tool_call_payloads(reply: ScriptedReply) -> list[dict[str, Any]]:
    payloads: list[dict[str, Any]] = []
    for call in reply.tool_calls or []:
        arguments = call.get("arguments", {})
        payloads.append(
            {
                "id": call.get("id") or f"call_{uuid.uuid4().hex[:24]}",
                "type": "function",
                "function": {
                    "name": call["name"],
                    "arguments": arguments if isinstance(arguments, str) else json.dumps(arguments),
                },
            }
        )
    return payloads


def _usage(request: dict[str, Any], reply: ScriptedReply) -> dict[str, Any]:
    prompt = reply.prompt_tokens or _count_prompt_words(request)
    completion = reply.completion_tokens or (
        len(split_words(reply.content)) + len(reply.tool_calls or [])
    )
    usage: dict[str, Any] = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        # Only these two details (no audio/prediction counts), so ChatOpenAI's usage_metadata
        # details are exactly {"cache_read": n} and {"reasoning": n}.
        "prompt_tokens_details": {"cached_tokens": reply.cached_tokens},
        "completion_tokens_details": {"reasoning_tokens": reply.reasoning_tokens},
    }
    if reply.cost is not None:  # what a gateway (OpenRouter, LiteLLM) says the call cost
        usage["cost"] = reply.cost
    return usage


def _model_name(request: dict[str, Any], reply: ScriptedReply) -> str:
    return reply.model or str(request.get("model") or "gpt-4o-mini")


def _completion(request: dict[str, Any], reply: ScriptedReply) -> dict[str, Any]:
    tool_calls = _tool_call_payloads(reply)
    message: dict[str, Any] = {
        "role": "assistant",
        "content": reply.content if (reply.content or not tool_calls) else None,
        "refusal": None,
    }
    if tool_calls:
        message["tool_calls"] = tool_calls
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": _model_name(request, reply),
        "system_fingerprint": None,
        "choices": [
            {
                "index": 0,
                "message": message,
                "logprobs": None,
                "finish_reason": "tool_calls" if tool_calls else "stop",
            }
        ],
        "usage": _usage(request, reply),
    }


def _stream_events(request: dict[str, Any], reply: ScriptedReply) -> Iterator[str]:
    """The ``data:`` payloads of one streamed completion, ending with ``[DONE]``."""
    include_usage = bool((request.get("stream_options") or {}).get("include_usage"))
    completion_id = f"chatcmpl-{uuid.uuid4().hex}"
    created = int(time.time())
    model = _model_name(request, reply)

    def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> str:
        payload: dict[str, Any] = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "system_fingerprint": None,
            "choices": [
                {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
            ],
        }
        if include_usage:
            payload["usage"] = None
        return json.dumps(payload)

    yield chunk({"role": "assistant", "content": "", "refusal": None})
    for piece in split_words(reply.content):
        yield chunk({"content": piece})
    tool_calls = _tool_call_payloads(reply)
    for index, call in enumerate(tool_calls):
        # Like OpenAI: id + name first (empty arguments), then the argument text.
        yield chunk(
            {
                "tool_calls": [
                    {
                        "index": index,
                        "id": call["id"],
                        "type": "function",
                        "function": {"name": call["function"]["name"], "arguments": ""},
                    }
                ]
            }
        )
        yield chunk(
            {
                "tool_calls": [
                    {"index": index, "function": {"arguments": call["function"]["arguments"]}}
                ]
            }
        )
    yield chunk({}, "tool_calls" if tool_calls else "stop")
    if include_usage:
        yield json.dumps(
            {
                "id": completion_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "system_fingerprint": None,
                "choices": [],
                "usage": _usage(request, reply),
            }
        )
    yield "[DONE]"


class OpenAIServer:
    """In-process OpenAI-compatible chat completions server bound to 127.0.0.1:<free port>.

    ``replies`` is consumed in order, one per chat request; once exhausted (or if ``None``)
    every request gets ``ScriptedReply("ok")``. A callable instead receives each parsed
    request body and returns the reply (it may be called from several threads at once).
    """

    def __init__(self, replies: ReplySource = None, *, model_ids: Iterable[str] = ()) -> None:
        self._factory: Callable[[dict[str, Any]], ScriptedReply] | None = None
        self._replies: Iterator[ScriptedReply] | None = None
        if callable(replies):
            self._factory = replies
        elif replies is not None:
            self._replies = iter(replies)
        self.model_ids: list[str] = list(model_ids) or ["gpt-4o-mini"]
        self.requests: list[dict[str, Any]] = []
        self.errors: list[BaseException] = []
        self._lock = threading.Lock()
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------------

    def start(self) -> OpenAIServer:
        if self._httpd is not None:
            return self
        self._httpd = _Server(self)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"openai-test-server:{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        httpd, thread = self._httpd, self._thread
        if httpd is None:
            return
        self._httpd = self._thread = None
        httpd.shutdown()
        httpd.server_close()
        with httpd.connections_lock:
            connections = list(httpd.connections)
        for conn in connections:  # wake keep-alive handler threads blocked on reads
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        if thread is not None:
            thread.join(timeout=5)

    def __enter__(self) -> OpenAIServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- addresses ------------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("OpenAIServer is not running; call start() first")
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        """E.g. ``http://127.0.0.1:54321/v1`` (what ``ChatOpenAI(base_url=...)`` wants)."""
        return f"http://127.0.0.1:{self.port}/v1"

    # -- used by the handler threads ------------------------------------------------

    def _record(self, request: dict[str, Any]) -> None:
        with self._lock:
            self.requests.append(request)

    def _next_reply(self, request: dict[str, Any]) -> ScriptedReply:
        if self._factory is not None:
            return self._factory(request)
        with self._lock:
            reply = next(self._replies, None) if self._replies is not None else None
        return reply if reply is not None else ScriptedReply(DEFAULT_REPLY_CONTENT)
