"""The background thread that keeps expensive work off the application's hot path.

Callbacks only enqueue; one daemon thread applies the events in arrival order, so the
run tree needs no locks and a child's start is always seen after its parent's.

Python threads share one interpreter lock, so work done on this thread while the
application computes is paid by the application. The worker therefore runs when the
application is quiet: it waits until no event has arrived for ``quiet`` seconds (an LLM
application waiting on its model is quiet nearly all the time), and pauses again as
soon as events resume. Four things make it run at once regardless: a flush waiting on
it, an event waiting longer than ``max_delay`` (what the handler recorded reaches disk
within about a second, even under constant load: ``store.py``), a backlog of
``high_water`` events, and interpreter exit.
"""

from __future__ import annotations

import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")

# Past this backlog the worker runs even while the application is busy.
DEFAULT_HIGH_WATER = 5_000
# The queue is bounded by back-pressure, not by dropping: past this many pending events
# the producing thread waits for the worker, so a burst costs latency, never data, and
# memory stays bounded (an event holds its callback's arguments until processed).
DEFAULT_MAX_PENDING = 20_000
# No event for this long means the application is not computing right now.
DEFAULT_QUIET = 0.002
# An event waits at most this long for the application to be quiet.
MAX_DELAY = 0.5
# While working, the worker offers the GIL back this often.
YIELD_SLICE = 0.0005


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
        high_water: int = DEFAULT_HIGH_WATER,
        max_pending: int = DEFAULT_MAX_PENDING,
        quiet: float = DEFAULT_QUIET,
        tick: Callable[[], None] | None = None,
        tick_interval: float = 1.0,
        stamp: Callable[[T], float] | None = None,
        max_delay: float = MAX_DELAY,
    ) -> None:
        self._process = process
        self._on_error = on_error
        self._high_water = high_water
        self._max_pending = max_pending
        self._quiet = quiet
        self._tick = tick
        self._tick_interval = tick_interval
        # When an item was made (``time.perf_counter``), to bound how long it waits.
        self._stamp = stamp
        self._max_delay = max_delay
        self._next_tick = time.monotonic() + tick_interval
        self._queue: queue.SimpleQueue[T | _Job | _Stop] = queue.SimpleQueue()
        self._held: deque[T | _Job | _Stop] = deque()
        # Jobs (flushes, exit) waiting: while any is, the worker does not wait for quiet.
        self._urgent = 0
        self._stopping = False
        self._state_lock = threading.Lock()
        # Held while an item, job or tick runs: a fork waits for it (lifecycle.py), so the
        # child never inherits a lock the worker held inside a library (pydantic-core,
        # comet_ml, an import) that no thread of the child would ever release.
        self._busy = threading.Lock()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def submit(self, item: T) -> None:
        """Enqueue one item; cheap unless the worker has fallen far behind."""
        if self._stopping:
            self._on_error(RuntimeError("an event arrived after the handler closed"))
            return
        self._queue.put(item)
        if self._queue.qsize() > self._max_pending:
            self._wait_below(self._high_water)

    def call(self, fn: Callable[[], R], timeout: float | None = None) -> R:
        """Run ``fn`` on the worker once all earlier items are done; return or raise its result.

        Flushes run here so that the spools are only ever touched by one thread. Once the
        worker is stopping (or gone), ``fn`` runs on the calling thread instead of never.
        With ``timeout``, waiting ends then with ``TimeoutError``; ``fn`` still runs, later.
        """
        job = _Job(fn)
        if threading.current_thread() is self._thread or not self._enqueue(job):
            self._run_job(job)
        result: R = job.future.result(timeout)
        return result

    def call_soon(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` on the worker after everything queued, without waiting for it.

        Queued even from the worker itself (a handler garbage-collected while it records):
        running it there, in the middle of an event, would flush a half-applied tree.
        """
        job = _Job(fn)
        job.future.add_done_callback(self._report_failure)
        if not self._enqueue(job):
            self._run_job(job)

    def stop(self) -> None:
        """Process what is queued, then end the thread and wait for it."""
        self.stop_soon()
        self.join()

    def stop_soon(self) -> None:
        """End the thread once what is queued now is processed, without waiting."""
        with self._state_lock:
            if self._stopping:
                return
            self._stopping = True
            self._urgent += 1
            self._queue.put(_Stop())

    def _enqueue(self, job: _Job) -> bool:
        """Queue a job unless the worker is stopping; whether it was queued."""
        with self._state_lock:
            if self._stopping or not self._thread.is_alive():
                return False
            self._urgent += 1
            self._queue.put(job)
            return True

    def _report_failure(self, future: Future[Any]) -> None:
        exc = future.exception()
        if exc is not None:
            self._on_error(exc)

    def pause(self, timeout: float) -> bool:
        """Wait (``timeout`` at most) until the worker is between items, and keep it there
        until :meth:`resume`: whether it is paused. Before a fork."""
        if threading.current_thread() is self._thread:
            return False  # forking from the worker itself: it is where it is
        return self._busy.acquire(timeout=timeout)

    def resume(self) -> None:
        self._busy.release()

    def join(self, timeout: float | None = None) -> None:
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout)

    @property
    def pending(self) -> int:
        return self._queue.qsize() + len(self._held)

    def _add_urgent(self, delta: int) -> None:
        with self._state_lock:
            self._urgent += delta

    def _wait_below(self, level: int) -> None:
        while self._queue.qsize() > level and self._thread.is_alive():
            time.sleep(0.001)

    # -- the thread ---------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            self._maybe_tick()
            if not self._held:
                try:
                    self._held.append(self._queue.get(timeout=self._tick_interval))
                except queue.Empty:
                    continue
            if not self._must_work() and not self._application_quiet():
                continue
            if self._work_until_busy():
                return

    def _must_work(self) -> bool:
        return self._urgent > 0 or self.pending >= self._high_water or self._overdue()

    def _overdue(self) -> bool:
        """Whether the next item has waited longer than ``max_delay``."""
        if self._stamp is None or not self._held:
            return False
        item = self._held[0]
        if isinstance(item, _Job | _Stop):
            return True
        return time.perf_counter() - self._stamp(item) > self._max_delay

    def _application_quiet(self) -> bool:
        before = self._queue.qsize()
        time.sleep(self._quiet)
        return self._queue.qsize() == before

    def _work_until_busy(self) -> bool:
        """Process items until the queue is empty or the application is active again.

        Returns whether a stop was processed.
        """
        yield_at = time.monotonic() + YIELD_SLICE
        while True:
            if not self._held:
                try:
                    self._held.append(self._queue.get_nowait())
                except queue.Empty:
                    return False
            item = self._held.popleft()
            if isinstance(item, _Stop):
                self._after_stop()
                return True
            if isinstance(item, _Job):
                with self._busy:
                    self._run_job(item)
                self._add_urgent(-1)
                continue
            with self._busy:
                self._guard(self._process, item)
            self._maybe_tick()
            if self._urgent or time.monotonic() < yield_at:
                continue  # a flush is waiting on us, not the application
            mark = self._queue.qsize()
            # Hand the GIL back every slice: an application thread waiting for it gets it
            # now instead of after the interpreter's 5 ms switch interval.
            time.sleep(0)
            # Still behind (what waits longest must reach the disk first), or made to work.
            behind = self._stamp is not None and (
                time.perf_counter() - self._stamp(item) > self._max_delay
            )
            if self._queue.qsize() > mark and not behind and not self._must_work():
                return False
            yield_at = time.monotonic() + YIELD_SLICE

    def _after_stop(self) -> None:
        """Nothing is queued after a stop but by a race with it: run such jobs, so no caller
        waits forever, and report events that came too late to be recorded."""
        late = 0
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if isinstance(item, _Job):
                self._run_job(item)
            elif not isinstance(item, _Stop):
                late += 1
        if late:
            self._on_error(RuntimeError(f"{late} events arrived after the handler closed"))

    def _maybe_tick(self) -> None:
        if self._tick is not None and time.monotonic() >= self._next_tick:
            with self._busy:
                self._guard(self._tick)
            self._next_tick = time.monotonic() + self._tick_interval

    def _guard(self, fn: Callable[..., None], *args: Any) -> None:
        try:
            fn(*args)
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
