"""LangGraph's control flow told apart from errors, and the store that stitches resumes.

LangGraph pauses and hands off by raising: ``interrupt()`` raises ``GraphInterrupt``, a
``Command(graph=Command.PARENT)`` raises ``ParentCommand``, and both derive from
``GraphBubbleUp``. LangChain reports them through ``on_*_error`` like any exception, but
they are how a human-in-the-loop or multi-agent graph works, not failures: a run they end
is ``interrupted``, never an error.

LangGraph is never imported here: its types are recognised by class and module name, so
the package works, and costs nothing, without it.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from langchain_comet.serialize import JSON, to_json, truncate

# The resume store's bounds: threads waiting for a resume, and how long one may wait.
# A human approval can take a weekend; a service with more threads paused at once than
# this forgets the oldest (its resume then starts a new trace, nothing else is lost).
RESUME_MAX_ENTRIES = 10_000
RESUME_MAX_AGE_S = 7 * 24 * 3600.0

_BUBBLE_UP = "GraphBubbleUp"
_INTERRUPT = "GraphInterrupt"
_PARENT_COMMAND = "ParentCommand"
# Exception classes already classified; bounded so that classes made on the fly cannot grow it.
_KNOWN_MAX = 1_000
_known: dict[type[BaseException], bool] = {}


def _langgraph_names(cls: type) -> set[str]:
    """The names of LangGraph's own classes among ``cls`` and its bases."""
    return {
        base.__name__ for base in cls.__mro__ if base.__module__.split(".", 1)[0] == "langgraph"
    }


def is_control_flow(error: BaseException) -> bool:
    """Whether ``error`` is LangGraph control flow (a ``GraphBubbleUp``), not a failure.

    Called on the application's thread for every error callback: one dict look-up once
    the exception's class has been seen.
    """
    cls = type(error)
    known = _known.get(cls)
    if known is None:
        known = _BUBBLE_UP in _langgraph_names(cls)
        if len(_known) < _KNOWN_MAX:
            _known[cls] = known
    return known


def is_resume(value: Any) -> bool:
    """Whether a root run's input is LangGraph's ``Command(resume=...)``."""
    cls = type(value)
    return (
        cls.__name__ == "Command"
        and cls.__module__.split(".", 1)[0] == "langgraph"
        and getattr(value, "resume", None) is not None
    )


def describe(error: BaseException, max_chars: int | None) -> dict[str, JSON]:
    """The run record's ``interrupt``: what paused or redirected the graph, as JSON.

    ``kind`` is ``interrupt`` (``interrupt()``: ``values`` and their ``ids``), ``handoff``
    (``Command(graph=Command.PARENT)``: ``goto``, ``update``, ``graph``) or
    ``control_flow`` (any other ``GraphBubbleUp``: its ``message``).
    """
    cls = type(error)
    names = _langgraph_names(cls)
    info: dict[str, JSON] = {"kind": "control_flow", "type": f"{cls.__module__}.{cls.__qualname__}"}
    payload = error.args[0] if error.args else None
    if _INTERRUPT in names:
        interrupts = payload if isinstance(payload, Sequence) else ()
        info["kind"] = "interrupt"
        info["values"] = [to_json(getattr(i, "value", i), max_chars) for i in interrupts]
        info["ids"] = [to_json(getattr(i, "id", None), max_chars) for i in interrupts]
    elif _PARENT_COMMAND in names and payload is not None:
        info["kind"] = "handoff"
        for field in ("goto", "update", "graph", "resume"):
            value = getattr(payload, field, None)
            if value is not None and value != ():
                info[field] = to_json(value, max_chars)
    else:
        try:
            info["message"] = truncate(str(error), max_chars)
        except Exception as exc:  # a hostile __str__ must not cost the record
            info["message"] = f"<unprintable {cls.__qualname__}: {type(exc).__name__}>"
    return info


def merge(infos: Sequence[dict[str, JSON]]) -> dict[str, JSON]:
    """One ``interrupt`` for a run whose descendants paused (parallel nodes may, together)."""
    if len(infos) == 1:
        return infos[0]
    values: list[JSON] = []
    ids: list[JSON] = []
    for info in infos:
        for value, ident in zip(_list(info.get("values")), _list(info.get("ids")), strict=False):
            if ident is None or ident not in ids:
                values.append(value)
                ids.append(ident)
    return {**infos[0], "values": values, "ids": ids}


def _list(value: JSON) -> list[JSON]:
    return value if isinstance(value, list) else []


@dataclass(slots=True)
class _Waiting:
    trace_id: UUID
    since: float


class ResumeStore:
    """Which trace each LangGraph thread last ran, so that a resume continues it.

    A root run that names a ``thread_id`` is registered when it starts, on the
    application's thread (so ``last_trace_id`` is right at once); a
    ``Command(resume=...)`` on that thread takes the trace it finds there. When a root
    ends, the worker keeps the entry only if the run was interrupted: the store holds the
    threads waiting for a resume (and the roots still running), bounded in number
    (``max_entries``, oldest forgotten first) and in age (``max_age_s`` since the pause).
    Thread-safe.
    """

    def __init__(
        self,
        max_entries: int = RESUME_MAX_ENTRIES,
        max_age_s: float = RESUME_MAX_AGE_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_entries = max_entries
        self.max_age_s = max_age_s
        self._clock = clock
        self._entries: OrderedDict[str, _Waiting] = OrderedDict()
        self._lock = threading.Lock()

    def begin(self, thread: str, run_id: UUID, resume: bool) -> tuple[UUID, UUID | None]:
        """A root run on ``thread`` starts: the trace it belongs to and the one it resumes."""
        with self._lock:
            now = self._clock()
            self._expire(now)
            waiting = self._entries.pop(thread, None) if resume else None
            trace_id = waiting.trace_id if waiting is not None else run_id
            self._entries[thread] = _Waiting(trace_id, now)
            self._entries.move_to_end(thread)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
        return trace_id, waiting.trace_id if waiting is not None else None

    def settle(self, thread: str, trace_id: UUID, interrupted: bool) -> None:
        """The root of ``trace_id`` ended: keep it for a resume only if it was interrupted."""
        with self._lock:
            entry = self._entries.get(thread)
            if entry is None or entry.trace_id != trace_id:
                return  # a later run on the thread replaced it, or it was forgotten
            if interrupted:
                entry.since = self._clock()  # the wait for a human starts now
                self._entries.move_to_end(thread)
            else:
                del self._entries[thread]

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def _expire(self, now: float) -> None:
        while self._entries:
            oldest = next(iter(self._entries.values()))
            if now - oldest.since <= self.max_age_s:
                return
            self._entries.popitem(last=False)


def thread_key(metadata: Any) -> str | None:
    """The LangGraph thread a root run belongs to (``thread_id`` in its metadata)."""
    if not isinstance(metadata, dict):
        return None
    thread = metadata.get("thread_id")
    if thread is None or thread == "":
        return None
    return thread if isinstance(thread, str) else str(thread)
