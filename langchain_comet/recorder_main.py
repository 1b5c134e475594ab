"""The recorder process's program (``python -m langchain_comet.recorder_main``).

Reads frames from its input (``recorder_wire.py``): first where the application's
modules are, then, for each of its handlers, the session's settings, batches of events
and jobs (flushes, the end, calls on the experiment), in the order the application made
them. One thread does everything: applies the events, ticks, flushes. Answers (a job
done, a log record, a LangGraph thread to keep for a resume) go back on its own pipe;
its standard output is its standard error, so nothing printed can garble them. At the
end of its input (the application closed it, or died) it writes the archive of what
it received and ends.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import pickle
import select
import signal
import sys
import threading
import time
from typing import Any, BinaryIO
from uuid import UUID

from langchain_comet import metrics
from langchain_comet.control_flow import ResumeStore
from langchain_comet.failures import Failures
from langchain_comet.recorder_wire import (
    EVENTS,
    JOB,
    OPEN,
    ProcessConfig,
    SessionConfig,
    asked,
    read_frame,
    untagged,
    write_frame,
)
from langchain_comet.runs import Event
from langchain_comet.session import TICK_INTERVAL, Session, new_sink, warn_of_orphans

logger = logging.getLogger("langchain_comet")


class _Answers:
    """The pipe back to the application, written from any thread."""

    def __init__(self, out: BinaryIO) -> None:
        self._out = out
        self._lock = threading.Lock()

    def send(self, *message: Any) -> None:
        payload = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
        # The application may be gone: what is left is written all the same.
        with self._lock, contextlib.suppress(OSError, ValueError):
            write_frame(self._out, payload)


class _Forward(logging.Handler):
    """The handler's log records, logged again in the application (its logging set-up)."""

    def __init__(self, answers: _Answers) -> None:
        super().__init__()
        self._answers = answers

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self._answers.send("log", record.levelno, record.getMessage())
        except Exception:
            self.handleError(record)


class _RemoteResumes(ResumeStore):
    """A root that ended tells the application's resume store (control_flow.py)."""

    def __init__(self, session: int, answers: _Answers) -> None:
        super().__init__()
        self._session = session
        self._answers = answers

    def settle(self, thread: str, trace_id: UUID, interrupted: bool) -> None:
        self._answers.send("settle", self._session, thread, trace_id, interrupted)


class _Input:
    """Frames from the application, waiting at most until the next tick for one."""

    def __init__(self, source: BinaryIO) -> None:
        self._source = source
        self._fd = source.fileno()

    def ready(self, timeout: float) -> bool:
        readable, _, _ = select.select([self._fd], [], [], max(0.0, timeout))
        return bool(readable)

    def frame(self) -> bytes | None:
        return read_frame(self._source)


def main() -> int:
    # It ends when its input closes: the application's end, however it ends. A SIGTERM
    # sent to every process of a service (systemd, a container's runtime) must not cut
    # the final flushes the application is waiting for; lifecycle.py installs no handler
    # of its own over an ignored signal.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    answers = _Answers(os.fdopen(os.dup(1), "wb", buffering=0))
    os.dup2(2, 1)  # whatever prints goes to standard error, never into the answers
    source = _Input(os.fdopen(0, "rb", buffering=0))
    first = source.frame()
    if first is None:
        return 0
    config = pickle.loads(first)
    assert isinstance(config, ProcessConfig)
    sys.path[:] = config.sys_path + [p for p in sys.path if p not in config.sys_path]
    logger.addHandler(_Forward(answers))
    logger.setLevel(config.log_level)
    logger.propagate = False
    sessions: dict[int, Session] = {}
    try:
        _loop(sessions, source, answers)
    finally:
        for session in sessions.values():  # the application closed its end, or died
            session.close_here()
    return 0


def _open(ident: int, config: SessionConfig, answers: _Answers) -> Session:
    failures = Failures(False)
    tree = config.tree
    tree.resumes = _RemoteResumes(ident, answers)
    sink = new_sink(failures, config.experiment)
    warn_of_orphans(sink)
    session = Session(
        sink,
        tree,
        failures,
        experiment_settings=config.experiment,
        make_sink=functools.partial(new_sink, failures),
        exit_timeout=config.exit_timeout,
    )
    if tree.complexity_metrics:
        # textstat loads its dictionaries at its first text: before the first event.
        failures.attempt("complexity_metrics", metrics.complexity_metrics, "Warming up.")
    answers.send("ready", ident, _info(session))
    return session


def _info(session: Session) -> dict[str, Any]:
    """Where the session's records are, and its experiment if it exists already (an
    online one may still be being created: the application asks later)."""
    manifest = session.sink.store.manifest
    info: dict[str, Any] = {
        "folder": str(session.sink.store.path),
        "archive_directory": manifest.archive_directory,
        "pid": os.getpid(),
        "id": None,
    }
    if manifest.experiment_id is not None:
        info.update(_described(session))
    return info


def _described(session: Session) -> dict[str, Any]:
    """The experiment's id and offline directory (waiting for an online one, bounded)."""
    experiment = session.experiment
    directory = getattr(experiment, "offline_directory", None)
    return {
        "id": getattr(experiment, "id", None),
        "offline_directory": directory if isinstance(directory, str) else None,
    }


def _loop(sessions: dict[int, Session], source: _Input, answers: _Answers) -> None:
    next_tick = time.monotonic() + TICK_INTERVAL
    while True:
        now = time.monotonic()
        if now >= next_tick:
            for session in sessions.values():
                session.tick_here()
            next_tick = time.monotonic() + TICK_INTERVAL
        if not source.ready(next_tick - now):
            continue
        frame = source.frame()
        if frame is None:
            return
        tag, ident, payload = untagged(frame)
        try:
            _frame(sessions, tag, ident, payload, answers)
        except Exception as exc:  # one frame it could not read: the others still count
            logger.warning("langchain-comet: the recorder process could not use a message: %r", exc)
            if tag == JOB:
                answers.send("done", ident)


def _frame(
    sessions: dict[int, Session], tag: bytes, ident: int, payload: bytes, answers: _Answers
) -> None:
    if tag == OPEN:
        sessions[ident] = _open(ident, pickle.loads(payload), answers)
    elif tag == EVENTS:
        _apply(sessions[ident], payload)
    elif tag == JOB:
        kind, args = pickle.loads(payload)
        result = _job(sessions[ident], kind, args)
        if kind == "close":
            del sessions[ident]
        answers.send("done", ident, result)


def _apply(session: Session, payload: bytes) -> None:
    try:
        events: list[Event] = pickle.loads(payload)
    except Exception as exc:
        session.failures.report("reading a batch of events (it is lost)", exc, background=True)
        return
    for event in events:
        session.apply_here(event)


def _job(session: Session, kind: str, args: dict[str, Any]) -> Any:
    try:
        if kind == "describe":
            return _described(session)
        if kind == "flush":
            session.flush_here(**args)
            if args.get("reset"):  # a new experiment: what handler.experiment now is
                return _info(session)
        elif kind == "close":
            session.close_here()
        elif kind == "call":
            getattr(session.experiment, args["method"])(*args["args"], **args["kwargs"])
        elif kind == "ask":
            value = asked(session.experiment, **args)
            pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)  # it can go back, or None
            return value
    except Exception as exc:
        session.failures.report(f"{kind} in the recorder process", exc, background=True)
    return None


if __name__ == "__main__":
    sys.exit(main())
