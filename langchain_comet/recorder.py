"""The recorder process: the handlers' deferred work on another core (opt-in).

In the application's process the worker thread applies every event while holding the
interpreter lock, so a service that is busy all the time pays for it (issue #16). With
``LANGCHAIN_COMET_RECORDER=process`` the events go instead, pickled in batches, to a
child process (``recorder_main.py``) that runs the sessions there: run tree, session
folder and comet_ml experiment. The application then pays its callbacks and the
pickling (a few tens of microseconds a call), and the rest runs on another core. One
process serves every handler of the application's process: a handler made per request
costs an experiment, not an interpreter.

Nothing of the guarantees goes with it:

- **Order and flushes**: one pipe carries events and flushes in the order they were
  made; ``flush_tracker()`` returns once the process has written everything before it.
- **The application dies** (kill -9, OOM): the process reads the end of its input and
  writes the archives of everything it received; what it had not received is lost as
  with the worker thread (it waited in memory).
- **The process dies**: one WARNING, and recording goes on in the application's
  process: what was not sent yet is recorded there; what it had received is in its
  session folders, for ``langchain-comet recover``.
- **Fork**: a forked child lets go of its parent's process (it never writes to it) and
  starts one of its own at its first event, for experiments of its own.
- **Classes the process could not import** (the application's ``__main__``, its own
  modules): such values are made JSON here before they are sent (``recorder_wire.py``),
  so the process never imports the application's code.

It is used only where nothing needs the application's process: not with a given
``experiment=`` (the object is the application's), ``raise_error=True`` (failures are
raised there), ``redact`` or ``custom_metrics`` (the application's code), or a loaded
spaCy pipeline; then the handler records in-process and says why, once, at INFO.
``handler.experiment`` is a stand-in whose method calls are made on the real
experiment in the process, in order with the events (their results are not returned).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import inspect
import itertools
import logging
import os
import pickle
import queue
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from langchain_comet import lifecycle
from langchain_comet.control_flow import ResumeStore
from langchain_comet.experiment import ExperimentSettings
from langchain_comet.failures import Failures
from langchain_comet.recorder_wire import (
    EVENTS,
    JOB,
    OPEN,
    ProcessConfig,
    SessionConfig,
    asked,
    pickle_events,
    prepare,
    read_frame,
    tagged,
    write_frame,
)
from langchain_comet.runs import Event, TreeSettings
from langchain_comet.serialize import JSON
from langchain_comet.session import Session, child_settings

logger = logging.getLogger("langchain_comet")

ENV = "LANGCHAIN_COMET_RECORDER"
MODULE = "langchain_comet.recorder_main"
# Events pickled together, at most; fewer when fewer are waiting.
BATCH = 256
# Past this many events waiting to be sent, the producing thread waits (back-pressure,
# as the worker's): a burst costs latency, never data, and memory stays bounded.
MAX_PENDING = 20_000
# How long handler.experiment.id waits for the process to say what its experiment is.
READY_TIMEOUT = 60.0

# Objects a forked child inherited and must never finalise (its parent's pipes).
_INHERITED: list[Any] = []


def requested() -> bool:
    """Whether ``LANGCHAIN_COMET_RECORDER=process`` asks for the recorder process."""
    return os.environ.get(ENV, "").strip().lower() == "process" and bool(sys.executable)


def unavailable(
    tree: TreeSettings, *, experiment: Any, raise_error: bool, custom_metrics: Any
) -> str | None:
    """Why this handler must record in the application's process, or ``None``."""
    if experiment is not None:
        return "a given experiment= belongs to the application's process"
    if raise_error:
        return "raise_error=True raises the handler's failures in the application's process"
    if tree.redact is not None or custom_metrics is not None:
        return "redact and custom_metrics run the application's own code"
    try:
        pickle.dumps(_sendable(tree))
    except Exception as exc:  # a loaded spaCy pipeline
        return f"its settings cannot be sent to another process ({exc})"
    return None


def _sendable(tree: TreeSettings) -> TreeSettings:
    return dataclasses.replace(tree, resumes=None)


@dataclass(slots=True)
class _Job:
    """A flush, the end, or a call on the experiment: done in order with the events."""

    kind: str
    args: dict[str, Any]
    future: Future[Any] = field(default_factory=Future)


class _Open:
    """Open the session in the process (its experiment is made there)."""

    __slots__ = ()


_OPEN = _Open()


class RemoteExperiment:
    """``handler.experiment`` with the recorder process: its method calls are made on
    the process's experiment in order with the events (their results are not returned);
    ``id`` waits for the process to say it."""

    def __init__(self, session: RecorderSession) -> None:
        self._session = session

    @property
    def id(self) -> str | None:
        found = self._session.experiment_info().get("id")
        return found if isinstance(found, str) else None

    @property
    def offline_directory(self) -> str | None:
        """Where an offline experiment's archive is written (None online)."""
        found = self._session.experiment_info().get("offline_directory")
        return found if isinstance(found, str) else None

    def get_key(self) -> str | None:
        return self.id

    def __getattr__(self, name: str) -> Any:
        """A method of comet_ml's experiment: called there, in order with the events; its
        result waited for only if it is a getter (``get_name()``, ``get_parameter(...)``).
        Anything else (``url``, ``project_name``): its value, read there."""
        if name.startswith("_"):
            raise AttributeError(name)
        if not _is_method(name):
            return self._session.ask_experiment(name, None)
        if name.startswith("get_"):

            def get(*args: Any, **kwargs: Any) -> Any:
                return self._session.ask_experiment(name, (args, kwargs))

            return get

        def call(*args: Any, **kwargs: Any) -> None:
            self._session.call_experiment(name, args, kwargs)

        return call


@functools.cache
def _is_method(name: str) -> bool:
    """Whether comet_ml's experiments have a method of this name (else it is a property or
    an attribute of the instance)."""
    from comet_ml.experiment import CometExperiment

    return inspect.isfunction(getattr(CometExperiment, name, None))


class RecorderSession:
    """A session whose work is done in the recorder process: what the handler and
    ``lifecycle`` ask of a :class:`~langchain_comet.session.Session`."""

    def __init__(
        self,
        tree: TreeSettings,
        failures: Failures,
        *,
        experiment_settings: ExperimentSettings,
        exit_timeout: float | None,
        resumes: ResumeStore,
        in_process: Callable[[ExperimentSettings, TreeSettings], Session],
    ) -> None:
        self.failures = failures
        self.settings = experiment_settings
        self.tree_settings = tree
        self.exit_timeout = exit_timeout
        self.pid = os.getpid()
        self.closed = False
        self.resumes = resumes
        self._in_process = in_process
        self.fallback: Session | None = None
        self._remote = RemoteExperiment(self)
        self._new_state()
        self._link = _link()
        self._link.add(self)
        self._put(_OPEN)
        self.worker = self._link.pause
        lifecycle.register(self, exit_timeout)

    def _new_state(self) -> None:
        self.id = next(_IDS)
        self.opened = False  # its OPEN frame is sent
        self.waiting: list[_Job] = []  # sent, not answered yet
        self.info: dict[str, Any] = {}
        self.finished = False  # an experiment was finished: its successor's id is asked for
        self.ready = threading.Event()
        # Held while the in-process session is made: what goes to it waits for it.
        self.failing = threading.Lock()
        self.failed: str | None = None
        self._made_here = False  # the in-process session was made (or its making failed)

    # -- what the handler asks ----------------------------------------------------------

    def submit(self, event: Event) -> None:
        """The hot path: one put (and, far behind, a wait)."""
        self._link.put((self, event))

    def _put(self, item: Event | _Job | _Open) -> None:
        self._link.put((self, item))

    @property
    def experiment(self) -> Any:
        if self.failed is None:
            return self._remote
        fallback = self._here()
        return self._remote if fallback is None else fallback.experiment

    def experiment_info(self) -> dict[str, Any]:
        """The experiment's id and offline directory, once the process has made it (an
        online one may still be being created when the session opens: then asked for)."""
        self.ready.wait(READY_TIMEOUT)
        fallback = None if self.failed is None else self._here()
        if fallback is not None:
            experiment = fallback.experiment
            return {
                "id": getattr(experiment, "id", None),
                "offline_directory": getattr(experiment, "offline_directory", None),
            }
        if (self.info.get("id") is None or self.finished) and self.failed is None:
            job = _Job("describe", {})
            self._put(job)
            with contextlib.suppress(TimeoutError):
                described = job.future.result(READY_TIMEOUT)
                if isinstance(described, dict):
                    self.info = {**self.info, **described}
        return self.info

    def call_experiment(self, method: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        self._put(_Job("call", {"method": method, "args": args, "kwargs": kwargs}))

    def ask_experiment(self, name: str, call: tuple[tuple[Any, ...], dict[str, Any]] | None) -> Any:
        """An attribute of the experiment, or a getter's result, from wherever it is (after
        the events recorded before it); ``None`` if it cannot come back in time."""
        job = _Job("ask", {"name": name, "call": call})
        self._put(job)
        try:
            return job.future.result(READY_TIMEOUT)
        except TimeoutError:
            return None

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
        """As :meth:`Session.flush`, done in the process."""
        if tree_settings is not None:
            self.tree_settings = tree_settings
        # After it, the next event opens a new experiment in the process: asked from now on.
        self.finished = self.finished or finish
        args = {
            "model": model,
            "finish": finish,
            "reset": reset,
            "tree_settings": None if tree_settings is None else _sendable(tree_settings),
            "graph": graph,
            "settings": self.settings if reset else None,
        }
        job = _Job("flush", args)
        self._put(job)
        try:
            described = job.future.result(timeout)
            if isinstance(described, dict):  # reset: the new experiment
                self.info = described
        except TimeoutError:
            logger.warning(
                "langchain-comet: flush_tracker returned after %ss before the recorder "
                "process was done: it goes on writing in the background",
                timeout,
            )

    def close(self, timeout: float | None = None) -> None:
        """Write everything and end the experiment, waiting ``timeout`` (else
        ``exit_timeout``) at most; never raises (it runs at interpreter exit)."""
        bound = self.exit_timeout if timeout is None else timeout
        if timeout is not None and self.exit_timeout is not None:
            bound = min(timeout, self.exit_timeout)
        try:
            if not self.closed:
                self.closed = True
                self._put(_Job("close", {}))
            done = self._link.closed_future(self)
            try:
                done.result(bound)
            except TimeoutError:
                logger.warning(
                    "langchain-comet: the recorder process did not finish writing in %ss; "
                    "it goes on after this process ends (its session folder keeps every "
                    "record it received, for langchain-comet recover)",
                    bound,
                )
        except Exception as exc:
            self.failures.report("closing at exit", exc)

    def close_soon(self) -> None:
        if not self.closed:
            self.closed = True
            self._put(_Job("close", {}))

    def after_fork_in_child(self) -> None:
        """In a forked child: a new session in the child's own process, opened at its
        first event, for an experiment of its own named after the parent's."""
        parent_pid, self.pid = self.pid, os.getpid()
        self.failures.after_fork_in_child()
        if self.fallback is not None:
            return  # the in-process session looks after itself (lifecycle)
        self.settings = child_settings(self.settings, self.info.get("id"), parent_pid, self.pid)
        if self.failed is not None:
            self.failing = threading.Lock()  # the parent's threads may have held it
            return  # the in-process session, when it is made, is the child's own
        parent = self.info
        self._new_state()
        # Until it records (and opens an experiment of its own), its experiment is the
        # parent's, as with a session in the application's process.
        self.info = parent
        self.ready.set()
        self.closed = False
        self._link = _link()  # lifecycle's fork hook has let go of the parent's
        self._link.add(self)
        self.worker = self._link.pause

    # -- on the link's threads ----------------------------------------------------------

    def config(self) -> SessionConfig:
        return SessionConfig(self.settings, _sendable(self.tree_settings), self.exit_timeout)

    def answered(self, message: tuple[Any, ...]) -> None:
        kind = message[0]
        if kind == "done":
            job = self.waiting.pop(0) if self.waiting else None
            if job is not None:
                job.future.set_result(message[1] if len(message) > 1 else None)
        elif kind == "settle":
            self.resumes.settle(message[1], message[2], message[3])
        elif kind == "ready":
            self.info = message[1]
            self.ready.set()

    def fail(self, why: str) -> None:
        """From now on this session records in the application's process; the jobs the
        process did not finish are done here."""
        with self.failing:
            if self.failed is not None:
                return
            self.failed = why
            waiting, self.waiting = self.waiting, []
            folder = self.info.get("folder")
            logger.warning(
                "langchain-comet: %s; recording goes on in this process.%s",
                why,
                f" What it had received is in {folder}: langchain-comet recover "
                f"{self.info.get('archive_directory')}"
                if folder
                else "",
            )
            self.ready.set()
        for job in waiting:
            self.run_here(job)

    def _here(self, *, make: bool = True) -> Session | None:
        """The in-process session, failing over first if the link's failure has not
        reached this session yet (the answers' thread may still be failing others over,
        or the session's own OPEN frame found the process gone). Made at its first use:
        a handler that was done when the process died costs no new experiment."""
        if self.failed is None:
            self.fail(self._link.failed or "the recorder process stopped taking events")
        with self.failing:
            if self.fallback is None and make and not self._made_here:
                self._made_here = True
                try:
                    self.fallback = self._in_process(self.settings, self.tree_settings)
                except Exception as exc:
                    self.failures.report("recording in this process", exc)
            return self.fallback

    def record_here(self, event: Event) -> None:
        fallback = self._here()
        if fallback is not None:
            fallback.submit(event)

    def run_here(self, job: _Job) -> None:
        fallback = self._here(make=job.kind != "close")
        try:
            if fallback is None:
                return
            if job.kind == "flush":
                fallback.flush(**{k: v for k, v in job.args.items() if k != "settings"})
            elif job.kind == "close":
                fallback.close(self.exit_timeout)
            elif job.kind == "call":
                a = job.args
                getattr(fallback.experiment, a["method"])(*a["args"], **a["kwargs"])
            elif job.kind == "ask":
                job.future.set_result(asked(fallback.experiment, **job.args))
        except Exception as exc:
            self.failures.report(f"{job.kind} in this process", exc)
        finally:
            if not job.future.done():
                job.future.set_result(None)


_IDS = itertools.count(1)


class _Pause:
    """What ``lifecycle`` holds around a fork: the sender between two frames."""

    def __init__(self) -> None:
        # Reentrant: a fork pauses it once for each session of the process.
        self.busy = threading.RLock()

    def pause(self, timeout: float) -> bool:
        return self.busy.acquire(timeout=timeout)

    def resume(self) -> None:
        self.busy.release()


class _Link:
    """The application's end of its recorder process: one queue, a thread that pickles
    and sends, a thread that reads the answers. Started at the first item."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.pause = _Pause()
        self._queue: queue.SimpleQueue[tuple[RecorderSession, Event | _Job | _Open]] = (
            queue.SimpleQueue()
        )
        self._sessions: dict[int, RecorderSession] = {}
        self._closed: dict[int, Future[None]] = {}
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None
        self.failed: str | None = None
        self._thread = threading.Thread(target=self._send, name="langchain-comet-recorder")
        self._thread.daemon = True
        self._thread.start()

    def add(self, session: RecorderSession) -> None:
        with self._lock:
            self._sessions[session.id] = session
            self._closed[session.id] = Future()

    def closed_future(self, session: RecorderSession) -> Future[None]:
        with self._lock:
            found = self._closed.get(session.id)
        if found is None:
            found = Future()
            found.set_result(None)
        return found

    def put(self, item: tuple[RecorderSession, Event | _Job | _Open]) -> None:
        self._queue.put(item)
        if self._queue.qsize() > MAX_PENDING:
            while self._queue.qsize() > MAX_PENDING // 4 and self._thread.is_alive():
                threading.Event().wait(0.001)

    def forget(self) -> None:
        """In a forked child: let go of the parent's process without writing to it."""
        process, self._process = self._process, None
        _INHERITED.append((process, self._queue))
        self.failed = "forked"
        if process is not None:
            for pipe in (process.stdin, process.stdout):
                if pipe is not None:
                    with contextlib.suppress(OSError):
                        pipe.close()  # unbuffered: nothing of the parent's is written

    # -- sending ------------------------------------------------------------------------

    def _send(self) -> None:
        while True:
            items = [self._queue.get()]
            while True:
                try:
                    items.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            try:
                self._send_all(items)
            except Exception as exc:  # a bug here must not leave events waiting forever
                self._fail(f"the recorder process's sender failed: {exc!r}")
                # To the application's process now: nothing lost (what the process had
                # taken of these may be recorded twice).
                try:
                    self._send_all(items)
                except Exception as again:
                    logger.warning("langchain-comet: recording failed: %r", again)

    def _send_all(self, items: list[tuple[RecorderSession, Event | _Job | _Open]]) -> None:
        """Events in batches per session, jobs in their place between them."""
        batch: list[Event] = []
        owner: RecorderSession | None = None
        for session, what in items:
            if isinstance(what, Event):
                if session is not owner or len(batch) >= BATCH:
                    self._events(owner, batch)
                    batch, owner = [], session
                batch.append(prepare(what))
            else:
                self._events(owner, batch)
                batch, owner = [], None
                if not (isinstance(what, _Job) and what.future.done()):
                    self._control(session, what)
        self._events(owner, batch)

    def _events(self, session: RecorderSession | None, batch: list[Event]) -> None:
        if session is None or not batch:
            return
        if not self._opened(session):
            for event in batch:
                session.record_here(event)
            return
        tree = session.tree_settings
        payload = pickle_events(batch, tree.max_chars, tree.max_items)
        if not self._write(tagged(EVENTS, session.id, payload)):
            for event in batch:
                session.record_here(event)

    def _control(self, session: RecorderSession, what: _Job | _Open) -> None:
        if isinstance(what, _Open):
            self._opened(session)
            return
        if not session.opened and session.failed is None:
            # Nothing recorded yet (a forked child that never logged): nothing to do.
            what.future.set_result(None)
            if what.kind == "close":
                self._ended(session)
            return
        if not self._opened(session):
            session.run_here(what)
            if what.kind == "close":
                self._ended(session)
            return
        try:
            payload = pickle.dumps((what.kind, what.args), protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc:
            what.future.set_result(None)
            session.failures.report(f"sending {what.kind} to the recorder process", exc)
            return
        with self._lock:
            session.waiting.append(what)
        if what.kind == "close":
            what.future.add_done_callback(lambda _: self._ended(session))
        if not self._write(tagged(JOB, session.id, payload)):
            with self._lock:
                if what in session.waiting:
                    session.waiting.remove(what)
            session.run_here(what)

    def _opened(self, session: RecorderSession) -> bool:
        """Whether ``session`` is open in the process (opened now if it was not)."""
        if session.failed is not None:
            return False
        if session.opened:
            return True
        if self._process is None and self.failed is None:
            self._start()
        if self.failed is not None:
            session.fail(self.failed)
            return False
        payload = pickle.dumps(session.config(), protocol=pickle.HIGHEST_PROTOCOL)
        session.opened = self._write(tagged(OPEN, session.id, payload))
        return session.opened

    def _ended(self, session: RecorderSession) -> None:
        with self._lock:
            self._sessions.pop(session.id, None)
            done = self._closed.pop(session.id, None)
        if done is not None and not done.done():
            done.set_result(None)

    def _start(self) -> None:
        env = {k: v for k, v in os.environ.items() if k != ENV}  # no recorder of its own
        try:
            process = subprocess.Popen(
                [sys.executable, "-m", MODULE],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                bufsize=0,  # no buffer that a fork could copy and write twice
                start_new_session=True,  # a Ctrl-C at the terminal is not its to take
                env=env,
            )
            assert process.stdin is not None
            config = ProcessConfig(list(sys.path), logger.getEffectiveLevel())
            write_frame(process.stdin, pickle.dumps(config, protocol=pickle.HIGHEST_PROTOCOL))
        except Exception as exc:
            self._fail(f"the recorder process could not start: {exc!r}")
            return
        self._process = process
        thread = threading.Thread(
            target=self._receive, args=(process,), name="langchain-comet-recorder-answers"
        )
        thread.daemon = True
        thread.start()

    def _write(self, payload: bytes) -> bool:
        process = self._process
        if self.failed is not None or process is None or process.stdin is None:
            return False
        try:
            with self.pause.busy:
                write_frame(process.stdin, payload)
        except (OSError, ValueError) as exc:
            self._fail(f"the recorder process stopped taking events: {exc!r}")
            return False
        return True

    # -- answers ------------------------------------------------------------------------

    def _receive(self, process: subprocess.Popen[bytes]) -> None:
        stdout: Any = process.stdout
        try:
            while (frame := read_frame(stdout)) is not None:
                message = pickle.loads(frame)
                try:
                    self._answer(message)
                except Exception as exc:  # one answer: the others still count
                    logger.warning(
                        "langchain-comet: an answer of the recorder process failed: %r", exc
                    )
        except Exception as exc:
            self._fail(f"reading the recorder process's answers: {exc!r}")
        code = process.wait()
        if process is self._process:  # not a parent's process, let go of after a fork
            self._fail(f"the recorder process ended (exit code {code})")

    def _answer(self, message: tuple[Any, ...]) -> None:
        if message[0] == "log":
            logger.log(message[1], "%s", message[2])
            return
        with self._lock:
            session = self._sessions.get(message[1])
        if session is not None:
            session.answered((message[0], *message[2:]))

    def _fail(self, why: str) -> None:
        """The process is gone: every open session records in this process from now on."""
        with self._lock:
            if self.failed is not None:
                return
            self.failed = why
            sessions = list(self._sessions.values())
        for session in sessions:
            if session.opened:
                session.fail(why)


# The application's link to its recorder process; a forked child makes its own.
_LINK: _Link | None = None
_LINK_LOCK = threading.Lock()
# After its recorder process failed, handlers made later start a new one, this many times
# in a process at most (one that cannot start would otherwise be tried, and warned of, by
# every handler made per request).
MAX_RESTARTS = 3
_restarts = 0


def _link() -> _Link:
    """The link new handlers use: the process's, or a new one if it failed (bounded)."""
    global _LINK, _restarts
    with _LINK_LOCK:
        if _LINK is not None and _LINK.pid != os.getpid():
            _LINK.forget()  # a forked child's, if the fork hook has not run yet
            _LINK = None
            _restarts = 0
        if _LINK is not None and _LINK.failed is not None and _restarts < MAX_RESTARTS:
            _restarts += 1
            _LINK = None
        if _LINK is None:
            _LINK = _Link()
        return _LINK


def _after_fork_in_child() -> None:
    global _LINK, _LINK_LOCK, _restarts
    _LINK_LOCK = threading.Lock()  # a thread of the parent may have held it
    if _LINK is not None and _LINK.pid != os.getpid():
        _LINK.forget()
        _LINK = None
    _restarts = 0


os.register_at_fork(after_in_child=_after_fork_in_child)
