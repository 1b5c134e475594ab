"""A WSGI service that runs a chain per request, with one handler for the whole process.

``app`` is a plain WSGI application: serve it with gunicorn, uWSGI or any WSGI server
(``gunicorn --chdir examples wsgi_service:app``). Run as a script, ``python
examples/wsgi_service.py [DIRECTORY]`` serves it on 127.0.0.1 on a free port with the
standard library's ``wsgiref``, sends itself a few requests, stops, and writes the archive
(to DIRECTORY, else ``COMET_OFFLINE_DIRECTORY``, else ``.cometml-runs``). No API key, no
network beyond this machine.

One handler serves every request: it is thread-safe and cheap on the request path (the
callbacks only enqueue). Under a real server the process usually ends without a call to
``flush_tracker``; the handler then writes the archive at exit, or on SIGTERM.
"""

from __future__ import annotations

import http.client
import json
import sys
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import parse_qs
from uuid import uuid4
from wsgiref.simple_server import WSGIRequestHandler, make_server

from langchain_core.language_models import FakeListChatModel
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate

from langchain_comet import CometCallbackHandler

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

DIRECTORY = sys.argv[1] if __name__ == "__main__" and len(sys.argv) > 1 else None

handler = CometCallbackHandler(
    project_name="langchain-comet-examples",
    name="wsgi service",
    tags=["example", "service"],
    online=False,  # always a local archive, even with a Comet API key configured
    offline_directory=DIRECTORY,
)
chain = (
    ChatPromptTemplate.from_messages([("system", "Be brief."), ("human", "{question}")])
    | FakeListChatModel(responses=["Yes.", "No.", "Maybe."])
    | StrOutputParser()
)


def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    """``GET /ask?q=...&user=...``: the chain's answer as JSON; one trace per request."""
    if environ.get("PATH_INFO") != "/ask":
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not found\n"]
    query = parse_qs(environ.get("QUERY_STRING", ""))
    question = query.get("q", [""])[0]
    request_id = environ.get("HTTP_X_REQUEST_ID") or str(uuid4())
    answer = chain.invoke(
        {"question": question},
        config={
            "callbacks": [handler],
            "run_name": "ask",
            "metadata": {"request_id": request_id, "user_id": query.get("user", [None])[0]},
        },
    )
    body = json.dumps({"answer": answer, "request_id": request_id}).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]


class QuietRequestHandler(WSGIRequestHandler):
    """No access log line per request on stderr."""

    def log_message(self, format: str, *args: object) -> None:
        pass


def ask(port: int, question: str, user: str) -> str:
    """One request to the running service (http.client: no proxy, only 127.0.0.1)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        path = f"/ask?q={question.replace(' ', '+')}&user={user}"
        connection.request("GET", path, headers={"X-Request-Id": f"req-{user}"})
        response = connection.getresponse()
        answer: str = json.loads(response.read())["answer"]
        return answer
    finally:
        connection.close()


def main() -> Path:
    with make_server("127.0.0.1", 0, app, handler_class=QuietRequestHandler) as server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            for user, question in [("ada", "Is it up?"), ("bob", "Is it down?"), ("cy", "Why?")]:
                print(f"{user}: {question} -> {ask(server.server_port, question, user)}")
        finally:
            server.shutdown()
            thread.join(timeout=10)
    handler.flush_tracker(finish=True)
    return Path(handler.experiment.offline_directory, f"{handler.experiment.id}.zip")


if __name__ == "__main__":
    print(f"archive: {main()}")
