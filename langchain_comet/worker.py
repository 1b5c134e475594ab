"""The background thread that keeps expensive work off the application's hot path.

Callbacks only enqueue; one daemon thread applies the events in arrival order, so the
run tree needs no locks and a child's start is always seen after its parent's.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")

# The queue is bounded by back-pressure, not by dropping: past this many pending events
# the producing thread waits for the worker, so a burst costs latency, never data.
DEFAULT_MAX_PENDING = 50_000


class _Job:
    """A function to run on the worker after everything queued before it."""

    __slots__ = ("fn", "future")

    def __init__(self, fn: Callable[[], Any]) -> None:
        self.fn = fn
        self.future: Future[Any] = Future()


class _Stop:
    __slots__ = ()


class Worker(Generic[T]):
    """Applies ``process`` to submitted items on one daemon thread, in order."""

    def __init__(
        self,
        process: Callable[[T], None],
        on_error: Callable[[BaseException], None],
        *,
        name: str = "langchain-comet",
        max_pending: int = DEFAULT_MAX_PENDING,
    ) -> None:
        self._process = process
        self._on_error = on_error
        self._max_pending = max_pending
        self._queue: queue.SimpleQueue[T | _Job | _Stop] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def submit(self, item: T) -> None:
        """Enqueue one item; cheap unless the worker has fallen far behind."""
        self._queue.put(item)
        if self._queue.qsize() > self._max_pending:
            self._wait_below(self._max_pending // 2)

    def call(self, fn: Callable[[], R], timeout: float | None = None) -> R:
        """Run ``fn`` on the worker once all earlier items are done; return or raise its result.

        Flushes run here so that the spools are only ever touched by one thread.
        """
        job = _Job(fn)
        self._queue.put(job)
        if not self._thread.is_alive():  # stopped: run it here rather than never
            self._run_job(job)
        result: R = job.future.result(timeout)
        return result

    def drain(self, timeout: float | None = None) -> None:
        """Wait until every item submitted so far has been processed."""
        self.call(lambda: None, timeout)

    def stop(self, timeout: float | None = None) -> None:
        """Process what is queued, then end the thread."""
        if self._thread.is_alive():
            self._queue.put(_Stop())
            self._thread.join(timeout)

    @property
    def pending(self) -> int:
        return self._queue.qsize()

    def _wait_below(self, level: int) -> None:
        while self._queue.qsize() > level and self._thread.is_alive():
            time.sleep(0.001)

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if isinstance(item, _Job):
                self._run_job(item)
                continue
            if isinstance(item, _Stop):
                return
            try:
                self._process(item)
            except BaseException as exc:  # the thread must survive anything a record does
                self._on_error(exc)

    @staticmethod
    def _run_job(job: _Job) -> None:
        if job.future.done():
            return
        try:
            job.future.set_result(job.fn())
        except BaseException as exc:
            job.future.set_exception(exc)
