"""One logging session: the worker, the run tree and the sink, and their lifecycle.

Kept apart from the handler so that the background thread and the exit hook never hold
a reference to the handler itself: a handler the application drops is finalised, and
its session still writes what it recorded.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import shlex
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from langchain_comet import lifecycle
from langchain_comet.experiment import ExperimentHandle, ExperimentSettings, start_experiment
from langchain_comet.failures import Failures
from langchain_comet.runs import Event, RunTree, TreeSettings
from langchain_comet.serialize import JSON
from langchain_comet.session_summary import SessionSummary
from langchain_comet.sink import CometSink, open_store
from langchain_comet.store import orphaned_sessions
from langchain_comet.worker import Worker

logger = logging.getLogger("langchain_comet")

# How long the final flush at exit may take by default (``exit_timeout``); what it did not
# write by then stays on disk for ``langchain-comet recover``.
DEFAULT_EXIT_TIMEOUT = 30.0
# Worker ticks: over-budget items and records waiting in memory go out this often.
TICK_INTERVAL = 0.25

MakeSink = Callable[[ExperimentSettings], CometSink]

# Objects a forked child inherited from its parent and must never finalise: dropping them
# could flush a copied buffer into the parent's files.
_INHERITED: list[Any] = []


def _langchain_version() -> str:
    from langchain_core import __version__

    return str(__version__)


def _event_time(event: Event) -> float:
    return event.perf


class Session:
    """Owns the background worker; every comet_ml call happens on it, in event order."""

    def __init__(
        self,
        sink: CometSink,
        settings: TreeSettings,
        failures: Failures,
        *,
        experiment_settings: ExperimentSettings,
        make_sink: MakeSink,
        exit_timeout: float | None = DEFAULT_EXIT_TIMEOUT,
    ) -> None:
        self.sink = sink
        self.failures = failures
        self.tree_settings = settings
        self.settings = experiment_settings
        self.exit_timeout = exit_timeout
        self.pid = os.getpid()
        self.tree = RunTree(sink, settings, failures)
        self.tree.before_user_code = sink.sync_now
        self.closed = False
        # After flush_tracker(finish=True) the experiment is over; a later event opens the
        # next one rather than being logged into an experiment that no longer records.
        self._make_sink = make_sink
        self._sink_ended = False
        # In a forked child, until it records something: the sink is its parent's.
        self._inherited = False
        # Set once the final flush is done (or given up on).
        self._finished = threading.Event()
        self.worker: Worker[Event] = self._new_worker()
        self.submit: Callable[[Event], None] = self.worker.submit  # the hot path: one call
        lifecycle.register(self, exit_timeout)

    def _new_worker(self) -> Worker[Event]:
        return Worker(
            self._apply,
            self._worker_failed,
            tick=self._tick,
            tick_interval=TICK_INTERVAL,
            stamp=_event_time,
        )

    def _apply(self, event: Event) -> None:
        if self._sink_ended:
            if self._finished.is_set():  # after the final flush: no new experiment
                raise RuntimeError("an event arrived after the handler closed")
            inherited = self._inherited
            self._switch_sink()
            if not inherited:
                experiment = self.sink.handle.experiment  # None while it is being created
                logger.warning(
                    "langchain-comet: an event arrived after flush_tracker(finish=True); "
                    "it and later events are logged to a new experiment (%s)",
                    getattr(experiment, "id", None) or "being created online",
                )
        self.tree.apply(event)

    def _tick(self) -> None:
        if not self._sink_ended:
            self.tree.drain_visualizations(due_only=True)
            self.sink.tick()

    def _switch_sink(self) -> None:
        self.sink = self._make_sink(self.settings)
        self.tree.configure(self.sink, self.tree_settings)
        self.tree.before_user_code = self.sink.sync_now
        self.tree.summary = SessionSummary()  # a new experiment summarises its own runs
        self._sink_ended = False
        self._inherited = False
        # After the new experiment's own exit hook, so ours runs first.
        lifecycle.register_exit_hook(self, self.exit_timeout)

    def _worker_failed(self, exc: BaseException) -> None:
        self.failures.report("recording an event", exc, background=True)

    @property
    def experiment(self) -> Any:
        """The comet_ml experiment records go to now."""
        return self.sink.experiment

    # -- in the recorder process (recorder_main.py): its one thread does the worker's work

    def apply_here(self, event: Event) -> None:
        """Record ``event`` on the calling thread; a failure is reported, never raised."""
        try:
            self._apply(event)
        except Exception as exc:
            self._worker_failed(exc)

    def tick_here(self) -> None:
        """The worker's tick, on the calling thread."""
        try:
            self._tick()
        except Exception as exc:
            self._worker_failed(exc)

    def flush_here(
        self,
        *,
        model: tuple[Mapping[str, JSON], JSON, str] | None = None,
        finish: bool = False,
        reset: bool = False,
        tree_settings: TreeSettings | None = None,
        graph: tuple[JSON, str] | None = None,
        settings: ExperimentSettings | None = None,
    ) -> None:
        """:meth:`flush` on the calling thread; ``settings``: the next experiment's."""
        if settings is not None:
            self.settings = settings
        self._flush(model, finish, reset, tree_settings, graph)

    def close_here(self) -> None:
        """:meth:`close` on the calling thread, without a bound: the recorder's end."""
        self.closed = True
        self._final_flush()
        self.worker.stop_soon()

    # -- flush --------------------------------------------------------------------------

    def flush(
        self,
        *,
        model: tuple[Mapping[str, JSON], JSON, str] | None = None,
        finish: bool = False,
        reset: bool = False,
        tree_settings: TreeSettings | None = None,
        graph: tuple[JSON, str] | None = None,
        timeout: float | None = None,
    ) -> None:
        """Write the session so far; end the experiment if ``finish``; start anew if ``reset``.

        Runs on the worker, after every event already queued, so nothing recorded before
        the call is missed and the spools are never read while being written. With
        ``timeout``, returns by then at the latest; the flush carries on in the background.
        """
        try:
            self.worker.call(
                lambda: self._flush(model, finish, reset, tree_settings, graph), timeout
            )
        except TimeoutError:
            self._still_pending("flush_tracker", timeout)

    def _still_pending(self, what: str, timeout: float | None) -> None:
        folder = self.sink.store.path
        logger.warning(
            "langchain-comet: %s returned after %ss before the flush was done: %d events and "
            "the flush are still being written in the background. Meanwhile every record "
            "is on disk in %s; if the process ends first, write the archive with: "
            "langchain-comet recover %s",
            what,
            timeout,
            self.worker.pending,
            folder,
            self.sink.store.manifest.archive_directory,
        )

    def _flush(
        self,
        model: tuple[Mapping[str, JSON], JSON, str] | None,
        finish: bool,
        reset: bool,
        tree_settings: TreeSettings | None,
        graph: tuple[JSON, str] | None = None,
    ) -> None:
        if tree_settings is not None:
            self.tree_settings = tree_settings
            self.tree.configure(self.sink, tree_settings)
        if self._sink_ended:
            if not reset:
                if (model is not None or graph is not None) and not self._inherited:
                    logger.warning(
                        "langchain-comet: flush_tracker(langchain_asset=...) after the "
                        "experiment ended (finish=True, or at exit): the asset is not logged"
                    )
                return
            self._switch_sink()
            return
        sink = self.sink
        self.failures.attempt("visualizations", self.tree.drain_visualizations)
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

    # -- the end ------------------------------------------------------------------------

    def close(self, timeout: float | None = None) -> None:
        """Write everything and end the experiment, waiting for it: at interpreter exit.

        Waits ``timeout`` (else ``exit_timeout``) at most: what is not written by then
        stays on disk for ``langchain-comet recover``, and one WARNING says so. Never
        raises: it runs inside the interpreter's shutdown, where an exception would skip
        comet_ml's own hook and leave an empty archive.
        """
        bound = _smaller(timeout, self.exit_timeout)
        try:
            # No lock and no claim: a SIGTERM may interrupt a close anywhere (even before
            # its flush is queued) and close again from its own thread. Each close queues
            # the final flush, which runs once; the others find it done.
            self.closed = True
            if self._finished.is_set():
                return
            try:
                self.worker.call(self._final_flush, bound)
            except TimeoutError:
                self._still_pending("the final flush at exit", bound)
                return
            self.worker.stop()
        except Exception as exc:
            self.failures.report("closing at exit", exc)

    def _final_flush(self) -> None:
        """Write everything and end the experiment, once however often it is asked."""
        if self._finished.is_set():
            return
        try:
            self._flush(None, finish=True, reset=False, tree_settings=None)
        finally:
            self._finished.set()

    def close_soon(self) -> None:
        """Close on the worker without waiting: the handler was dropped by the application,
        whose thread must not pay for writing the session."""
        if not self.closed:
            self.closed = True
            self.worker.call_soon(self._close_on_worker)

    def _close_on_worker(self) -> None:
        try:
            self._final_flush()
        finally:
            self.worker.stop_soon()

    # -- fork ---------------------------------------------------------------------------

    def after_fork_in_child(self) -> None:
        """In a forked child: let go of the parent's experiment, files and worker.

        The child keeps the parent's copies untouched (and referenced, so nothing of
        them is ever finalised here) and starts with no experiment: the first event it
        records creates one of its own, named after the parent's and pointing at it.
        """
        _INHERITED.append((self.sink, self.worker, self.tree))
        parent_id = self.sink.store.manifest.experiment_id
        parent_pid = self.pid
        self.sink.store.forget_after_fork()
        self.pid = os.getpid()
        self._finished = threading.Event()
        self.failures.after_fork_in_child()
        self.settings = child_settings(self.settings, parent_id, parent_pid, self.pid)
        self.tree = RunTree(self.sink, self.tree_settings, self.failures)
        self._sink_ended = True
        self._inherited = True
        self.worker = self._new_worker()
        self.submit = self.worker.submit


def new_sink(
    failures: Failures, settings: ExperimentSettings, handle: ExperimentHandle | None = None
) -> CometSink:
    """A new experiment as ``settings`` say (created online on the connect thread), with
    its session folder."""
    if handle is None:
        handle = start_experiment(settings, failures)
    return CometSink(handle, failures, open_store(handle, settings, failures))


def warn_of_orphans(sink: CometSink) -> None:
    """One WARNING if sessions of dead processes wait in this directory to be recovered."""
    directory = sink.store.manifest.archive_directory
    try:
        orphans = orphaned_sessions(Path(directory))
    except OSError:
        return
    if orphans:
        logger.warning(
            "langchain-comet: %d session(s) of processes that ended without writing their "
            "archive (killed, or out of disk space) are in %s; write their archives with: "
            "langchain-comet recover %s",
            len(orphans),
            orphans[0].parent,
            shlex.quote(directory),
        )


def _smaller(a: float | None, b: float | None) -> float | None:
    if a is None:
        return b
    if b is None:
        return a
    return min(a, b)


def child_settings(
    settings: ExperimentSettings, parent_id: str | None, parent_pid: int, pid: int
) -> ExperimentSettings:
    """A forked child's experiment: the parent's settings, named after it and the child's
    process, and pointing at the parent's experiment, so one service's experiments are
    found together."""
    others = dict(settings.others)
    others["langchain_comet_parent_experiment"] = parent_id or "unknown"
    others["langchain_comet_parent_pid"] = str(parent_pid)
    others["langchain_comet_pid"] = str(pid)
    base = settings.name or settings.project_name or "langchain"
    return dataclasses.replace(settings, name=f"{base} (pid {pid})", others=others, forked=True)
