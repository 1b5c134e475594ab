"""``sample_rate``: the share of traces recorded, decided once per trace at its root.

A trace is always whole or absent: the decision is taken when a root run starts, and every
run below a dropped run is dropped with it. Only the ids of dropped runs still open are
held, each released when its run ends. A LangGraph resume is part of the trace it resumes,
so it follows that trace's decision: the ids of dropped traces that may be resumed are
kept, as many as the resume store keeps (control_flow.py).
"""

from __future__ import annotations

import random
from collections import OrderedDict
from collections.abc import Callable
from uuid import UUID

from langchain_comet.attributes import TraceStart
from langchain_comet.control_flow import RESUME_MAX_ENTRIES

_STARTS = frozenset(
    {"on_llm_start", "on_chat_model_start", "on_chain_start", "on_tool_start", "on_retriever_start"}
)
_ENDS = frozenset(
    {
        "on_llm_end",
        "on_llm_error",
        "on_chain_end",
        "on_chain_error",
        "on_tool_end",
        "on_tool_error",
        "on_retriever_end",
        "on_retriever_error",
    }
)


class TraceSampler:
    """Keeps a ``rate`` share of traces. Not thread-safe: the handler calls it under its lock."""

    def __init__(self, rate: float, draw: Callable[[], float] = random.random) -> None:
        self.rate = rate
        self._draw = draw
        self._dropped: set[UUID] = set()
        # Dropped traces a LangGraph resume may continue (their root named a thread).
        self._dropped_traces: OrderedDict[UUID, None] = OrderedDict()

    def keep(
        self,
        action: str,
        run_id: UUID | None,
        parent_run_id: UUID | None,
        trace: TraceStart | None = None,
    ) -> bool:
        """Whether this event belongs to a recorded trace (``trace``: a root's start)."""
        if run_id is None:
            return True
        if action in _STARTS:
            drop = self._decide(trace) if parent_run_id is None else parent_run_id in self._dropped
            if drop:
                self._dropped.add(run_id)
            return not drop
        if run_id not in self._dropped:
            return True
        if action in _ENDS:
            self._dropped.discard(run_id)
        return False

    def _decide(self, trace: TraceStart | None) -> bool:
        """Whether to drop a new trace; a resume's is the decision taken for its trace."""
        if trace is not None and trace.resumed_from is not None:
            return trace.resumed_from in self._dropped_traces
        drop = self._draw() >= self.rate
        if drop and trace is not None and trace.thread is not None:
            self._dropped_traces[trace.trace_id] = None
            if len(self._dropped_traces) > RESUME_MAX_ENTRIES:
                self._dropped_traces.popitem(last=False)
        return drop

    @property
    def open_dropped_runs(self) -> int:
        return len(self._dropped)
