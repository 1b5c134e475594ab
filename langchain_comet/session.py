"""One logging session: the worker, the run tree and the sink, and their lifecycle.

Kept apart from the handler so that the background thread and the exit hook never hold
a reference to the handler itself: a handler the application drops is finalised, and
its session still writes what it recorded.
"""

from __future__ import annotations

import atexit
import functools
import logging
import os
import signal
import threading
import time
import weakref
from collections.abc import Callable, Mapping
from types import FrameType

from langchain_comet.failures import Failures
from langchain_comet.runs import Event, RunTree, TreeSettings
from langchain_comet.serialize import JSON
from langchain_comet.session_summary import SessionSummary
from langchain_comet.sink import CometSink
from langchain_comet.worker import Worker

logger = logging.getLogger("langchain_comet")

# At exit, how long the final flush waits for other threads and a closing worker.
EXIT_JOIN_TIMEOUT = 60.0
# On SIGTERM, how long writing every session may hold up the process's end.
SIGTERM_CLOSE_TIMEOUT = 20.0


def _langchain_version() -> str:
    from langchain_core import __version__

    return str(__version__)


class Session:
    """Owns the background worker; every comet_ml call happens on it, in event order."""

    def __init__(
        self,
        sink: CometSink,
        settings: TreeSettings,
        failures: Failures,
        new_sink: Callable[[], CometSink],
    ) -> None:
        self.sink = sink
        self.failures = failures
        self.tree_settings = settings
        self.tree = RunTree(sink, settings, failures)
        self.worker: Worker[Event] = Worker(self._apply, self._worker_failed, tick=self._tick)
        self.submit = self.worker.submit  # the hot path: one call, no wrapper
        self.closed = False
        # After flush_tracker(finish=True) the experiment is over; a later event opens the
        # next one rather than being logged into an experiment that no longer records.
        self._new_sink = new_sink
        self._sink_ended = False
        self._close_lock = threading.Lock()
        _register_exit_hook(self)
        _close_on_sigterm(self)

    def _apply(self, event: Event) -> None:
        if self._sink_ended:
            if self.closed:  # closing at exit or after the handler was dropped: no new one
                raise RuntimeError("an event arrived after the handler closed")
            self._switch_sink()
            logger.warning(
                "langchain-comet: an event arrived after flush_tracker(finish=True); "
                "it and later events are logged to a new experiment (%s)",
                self.sink.experiment.id,
            )
        self.tree.apply(event)

    def _tick(self) -> None:
        if not self._sink_ended:
            self.sink.tick()

    def _switch_sink(self) -> None:
        self.sink = self._new_sink()
        self.tree.configure(self.sink, self.tree_settings)
        self.tree.summary = SessionSummary()  # a new experiment summarises its own runs
        self._sink_ended = False
        _register_exit_hook(self)  # after the new experiment's own hook, so ours runs first

    def _worker_failed(self, exc: BaseException) -> None:
        self.failures.report("recording an event", exc, background=True)

    def flush(
        self,
        *,
        model: tuple[Mapping[str, JSON], JSON, str] | None = None,
        finish: bool = False,
        reset: bool = False,
        tree_settings: TreeSettings | None = None,
        graph: tuple[JSON, str] | None = None,
    ) -> CometSink:
        """Write the session so far; end the experiment if ``finish``; start anew if ``reset``.

        Runs on the worker, after every event already queued, so nothing recorded before
        the call is missed and the spools are never read while being written.
        """
        return self.worker.call(lambda: self._flush(model, finish, reset, tree_settings, graph))

    def _flush(
        self,
        model: tuple[Mapping[str, JSON], JSON, str] | None,
        finish: bool,
        reset: bool,
        tree_settings: TreeSettings | None,
        graph: tuple[JSON, str] | None = None,
    ) -> CometSink:
        if tree_settings is not None:
            self.tree_settings = tree_settings
            self.tree.configure(self.sink, tree_settings)
        sink = self.sink
        if self._sink_ended:
            if not reset:
                if model is not None or graph is not None:
                    logger.warning(
                        "langchain-comet: flush_tracker(langchain_asset=...) after the "
                        "experiment ended (finish=True, or at exit): the asset is not logged"
                    )
                return sink
            self._switch_sink()
            return self.sink
        if finish and not reset:
            self.failures.attempt("writing unfinished runs", self._close_tree)
        self.failures.attempt("logging the session summary", self._log_summary)
        self.failures.attempt("writing the session", sink.write_session, _langchain_version())
        if model is not None:
            parameters, description, name = self._redacted(model)
            self.failures.attempt(
                "logging the LangChain asset", sink.log_model, parameters, description, name
            )
        if graph is not None:
            structure, mermaid = self._redacted_graph(graph)
            self.failures.attempt("logging the graph", sink.log_graph, structure, mermaid)
        if finish or reset:
            self.failures.attempt("ending the Comet experiment", sink.end)
            self._sink_ended = True
        if reset:
            self._switch_sink()
        return self.sink

    def _redacted(
        self, model: tuple[Mapping[str, JSON], JSON, str]
    ) -> tuple[Mapping[str, JSON], JSON, str]:
        """The asset's parameters, serialization and name, through ``redact`` if set."""
        redactor = self.tree.redactor
        if redactor is None:
            return model
        parameters, description, name = model
        redacted = redactor.json(dict(parameters))
        assert isinstance(redacted, dict)
        return redacted, redactor.json(description), redactor.text(name)

    def _redacted_graph(self, graph: tuple[JSON, str]) -> tuple[JSON, str]:
        """A graph's structure and Mermaid text, through ``redact`` if set."""
        redactor = self.tree.redactor
        if redactor is None:
            return graph
        structure, mermaid = graph
        return redactor.json(structure), redactor.text(mermaid)

    def _close_tree(self) -> None:
        self.tree.close(time.time(), time.perf_counter())

    def _log_summary(self) -> None:
        summary = self.tree.summary
        self.sink.summary(summary.metrics(), summary.step)

    def close(self) -> None:
        """Write everything and end the experiment, waiting for it: at interpreter exit.

        Never raises: it runs inside the interpreter's shutdown, where an exception would
        skip comet_ml's own hook and leave an empty archive.
        """
        try:
            if self._claim_close():
                try:
                    self.flush(finish=True)
                finally:
                    self.worker.stop()
            else:  # a close_soon may be writing now: the process must not end under it
                self.worker.join(EXIT_JOIN_TIMEOUT)
        except Exception as exc:
            self.failures.report("closing at exit", exc)

    def close_soon(self) -> None:
        """Close on the worker without waiting: the handler was dropped by the application,
        whose thread must not pay for writing the session."""
        if self._claim_close():
            self.worker.call_soon(self._close_on_worker)

    def _claim_close(self) -> bool:
        with self._close_lock:
            if self.closed:
                return False
            self.closed = True
            return True

    def _close_on_worker(self) -> None:
        try:
            self._flush(None, finish=True, reset=False, tree_settings=None)
        finally:
            self.worker.stop_soon()


def _close_at_exit(session: weakref.ref[Session]) -> None:
    alive = session()
    if alive is None or alive.closed:
        return
    # This hook runs before the interpreter joins the application's other non-daemon
    # threads; let them finish (bounded) so their last runs are in the archive.
    deadline = time.monotonic() + EXIT_JOIN_TIMEOUT
    for thread in threading.enumerate():
        if (
            thread is threading.current_thread()
            or thread.daemon
            or thread is threading.main_thread()
        ):
            continue
        thread.join(max(0.0, deadline - time.monotonic()))
    alive.close()


def _register_exit_hook(session: Session) -> None:
    """Close ``session`` at interpreter exit, before comet_ml ends its experiment.

    comet_ml ends experiments from ``threading._register_atexit``, which runs before
    ``atexit`` and in reverse order of registration; registering the same way after the
    experiment exists puts our final flush first. Only a weak reference is held, so a
    session that was already closed and dropped costs nothing.
    """
    hook = functools.partial(_close_at_exit, weakref.ref(session))
    register = getattr(threading, "_register_atexit", None)
    try:
        if register is None:
            raise RuntimeError("threading._register_atexit is not available")
        register(hook)
    except RuntimeError:  # missing, or the interpreter is already shutting down
        atexit.register(hook)


# Sessions a SIGTERM closes: weakly held, as by the exit hook.
_SESSIONS: weakref.WeakSet[Session] = weakref.WeakSet()
_SIGTERM_LOCK = threading.Lock()
_sigterm_pid: int | None = None  # the process our SIGTERM handler was installed in


def _close_on_sigterm(session: Session) -> None:
    """Close ``session`` if the process is sent SIGTERM, then end the process as SIGTERM would.

    SIGTERM (a container or service stopping) kills a process on the spot by default: no
    exit hook runs and nothing is written. So the first session created on the main
    thread (only there may Python set a signal handler) installs a handler, once per
    process, and only while SIGTERM has its default action: a handler the application or
    its server already set is left alone, since it decides when the process ends, and a
    normal exit writes everything through the exit hook. An application that installs
    its own later replaces ours; one that wants none can restore ``signal.SIG_DFL``.
    """
    global _sigterm_pid
    _SESSIONS.add(session)
    if threading.current_thread() is not threading.main_thread():
        return
    with _SIGTERM_LOCK:
        if _sigterm_pid is not None or signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
            return
        signal.signal(signal.SIGTERM, _on_sigterm)
        _sigterm_pid = os.getpid()


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    """Write and end every session, then die of the signal, as without this handler.

    The sessions are closed on a helper thread, waited for with a bound: the main thread
    was interrupted wherever it was and may hold a lock the final flush needs. A process
    forked from ours (a multiprocessing worker) writes nothing: its parent owns the data.
    """
    if os.getpid() == _sigterm_pid:
        closer = threading.Thread(target=_close_all, name="langchain-comet-sigterm", daemon=True)
        closer.start()
        closer.join(SIGTERM_CLOSE_TIMEOUT)
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


def _close_all() -> None:
    for session in list(_SESSIONS):
        session.close()
