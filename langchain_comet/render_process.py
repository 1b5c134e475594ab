"""The renderer process: spaCy's parsing beside the application, off its interpreter lock.

Parsing a generation takes the small English pipeline ~3.5 ms of CPU; on the worker
thread those are 3.5 ms in which the application's own threads cannot run Python
(issue #16). A child process (``spacy_pages.py`` run by its path, one per pipeline and
styles, shared by every handler of the process) parses on another core instead: the
worker sends it batches of texts and writes the pages it sends back.

It is only a place to compute, and nothing is lost with it. A batch it does not render
(it could not start or load the pipeline, died, or failed on that batch) is rendered in
the application's process instead, and the failure reported once; after the process
failed, every later batch is rendered there too. A forked child of the application
starts a renderer of its own and never writes to its parent's. The renderer ends when
its input closes: at :meth:`RenderProcess.close`, or when the application's process
ends, however it ends (kill -9 included: the kernel closes the pipe).

``LANGCHAIN_COMET_RENDER_PROCESS=0`` keeps the rendering in the application's process.
"""

from __future__ import annotations

import contextlib
import os
import queue
import subprocess
import sys
import threading
from collections.abc import Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from langchain_comet.spacy_pages import read_frame, write_frame

ENV = "LANGCHAIN_COMET_RENDER_PROCESS"
PROGRAM = Path(__file__).with_name("spacy_pages.py")
# How long close() waits for the renderer to end before killing it.
CLOSE_TIMEOUT = 5.0

Pages = list[dict[str, str]]


class RendererFailed(RuntimeError):
    """The renderer process did not render a batch (the message says why)."""


def enabled() -> bool:
    """Whether pipelines given by name are run in a renderer process."""
    setting = os.environ.get(ENV, "1").strip().lower()
    return setting not in {"0", "false", "no", "off"} and bool(sys.executable)


class RenderProcess:
    """One renderer process for one pipeline and set of styles, started at first use."""

    def __init__(self, pipeline: str, styles: Sequence[str]) -> None:
        self.pipeline = pipeline
        self.styles = list(styles)
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None
        self._outbox: queue.SimpleQueue[tuple[int, list[str]] | None] = queue.SimpleQueue()
        self._waiting: dict[int, Future[Pages]] = {}
        self._last_batch = 0
        self.failure: RendererFailed | None = None

    @property
    def pid(self) -> int | None:
        """The renderer's process id, once started."""
        return None if self._process is None else self._process.pid

    def submit(self, texts: list[str]) -> Future[Pages]:
        """The pages of ``texts``, when the renderer has made them."""
        future: Future[Pages] = Future()
        with self._lock:
            if self.failure is None and self._process is None:
                self._start()
            if self.failure is not None:
                future.set_exception(self.failure)
                return future
            self._last_batch += 1
            self._waiting[self._last_batch] = future
            self._outbox.put((self._last_batch, texts))
        return future

    def close(self, timeout: float = CLOSE_TIMEOUT) -> None:
        """End the renderer: its input closes, and it is killed if it has not ended in
        ``timeout`` seconds. Batches not rendered yet fail (their callers render them)."""
        with self._lock:
            process, self._process = self._process, None
            if self.failure is None:
                self.failure = RendererFailed("the renderer process was closed")
        self._outbox.put(None)
        if process is not None and _ended(process, timeout) is None:
            process.kill()
            process.wait()
        self._fail(self.failure)

    def forget(self) -> None:
        """In a forked child: let go of the parent's renderer without touching it (its
        pipes are closed here, so only the parent keeps it alive)."""
        process, self._process = self._process, None
        if process is not None:
            for pipe in (process.stdin, process.stdout):
                if pipe is not None:
                    with contextlib.suppress(OSError):
                        pipe.close()  # unbuffered: nothing of the parent's is written

    # -- the process and its two threads ------------------------------------------------

    def _start(self) -> None:
        try:
            process = subprocess.Popen(
                [sys.executable, str(PROGRAM), self.pipeline, *self.styles],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                bufsize=0,  # no buffer that a fork could copy and write twice
                # Its own session: a Ctrl-C at the application's terminal is not its to
                # take; it ends when its input closes.
                start_new_session=True,
            )
        except (OSError, ValueError) as exc:
            self.failure = RendererFailed(f"the renderer process could not start: {exc!r}")
            return
        self._process = process
        for target, role in ((self._send, "send"), (self._receive, "receive")):
            thread = threading.Thread(
                target=target, args=(process,), name=f"langchain-comet-render-{role}", daemon=True
            )
            thread.start()

    def _send(self, process: subprocess.Popen[bytes]) -> None:
        stdin: Any = process.stdin
        while (item := self._outbox.get()) is not None:
            try:
                write_frame(stdin, list(item))
            except (OSError, ValueError) as exc:  # most often: it ended (a broken pipe)
                why = _ended(process) or f"the renderer process stopped taking texts: {exc!r}"
                self._fail(RendererFailed(why))
                break
        with contextlib.suppress(OSError):
            stdin.close()

    def _receive(self, process: subprocess.Popen[bytes]) -> None:
        why: str | None = None
        try:
            while (answer := read_frame(process.stdout)) is not None:  # type: ignore[arg-type]
                batch, ok, value = answer
                if batch == 0:  # it could not load the pipeline
                    why = str(value)
                    break
                with self._lock:
                    future = self._waiting.pop(batch, None)
                if future is None:
                    continue
                if ok:
                    future.set_result(value)
                else:
                    future.set_exception(RendererFailed(f"the renderer process failed: {value}"))
        except (OSError, ValueError) as exc:
            why = f"reading its answers: {exc!r}"
        ended = _ended(process, CLOSE_TIMEOUT)
        if ended is None:  # it answers garbage, or closed its output: it has to go
            process.kill()
            ended = _ended(process, CLOSE_TIMEOUT)
        self._fail(RendererFailed(why or ended or "the renderer process stopped answering"))

    def _fail(self, failure: RendererFailed) -> None:
        """From now on nothing goes to the renderer; what waits for it fails."""
        with self._lock:
            if self.failure is None:
                self.failure = failure
            waiting, self._waiting = self._waiting, {}
        self._outbox.put(None)
        for future in waiting.values():
            future.set_exception(self.failure)


def _ended(process: subprocess.Popen[bytes], wait: float = 1.0) -> str | None:
    """How the renderer ended, once it has (within ``wait`` seconds); else ``None``."""
    try:
        code = process.wait(wait)
    except subprocess.TimeoutExpired:
        return None
    return f"the renderer process ended (exit code {code})"


# One renderer per pipeline and styles, shared by the process's handlers.
_RENDERERS: dict[tuple[str, tuple[str, ...]], RenderProcess] = {}
_RENDERERS_LOCK = threading.Lock()


def renderer(pipeline: str, styles: Sequence[str]) -> RenderProcess:
    """The renderer of ``pipeline`` in ``styles`` for this process."""
    key = (pipeline, tuple(styles))
    with _RENDERERS_LOCK:
        found = _RENDERERS.get(key)
        if found is None:
            found = _RENDERERS[key] = RenderProcess(pipeline, styles)
        return found


def close_all() -> None:
    """End every renderer of this process (a new one starts at the next use)."""
    with _RENDERERS_LOCK:
        renderers = list(_RENDERERS.values())
        _RENDERERS.clear()
    for found in renderers:
        found.close()


def _after_fork_in_child() -> None:
    global _RENDERERS_LOCK
    _RENDERERS_LOCK = threading.Lock()  # a thread of the parent may have held it
    for found in _RENDERERS.values():
        found.forget()
    _RENDERERS.clear()


os.register_at_fork(after_in_child=_after_fork_in_child)
