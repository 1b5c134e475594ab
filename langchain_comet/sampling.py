"""``sample_rate``: the share of traces recorded, decided once per trace at its root.

A trace is always whole or absent: the decision is taken when a root run starts, and every
run below a dropped run is dropped with it. Only the ids of dropped runs still open are
held, each released when its run ends.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from uuid import UUID

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

    def keep(self, action: str, run_id: UUID | None, parent_run_id: UUID | None) -> bool:
        """Whether this event belongs to a recorded trace."""
        if run_id is None:
            return True
        if action in _STARTS:
            if parent_run_id is None:
                drop = self._draw() >= self.rate
            else:
                drop = parent_run_id in self._dropped
            if drop:
                self._dropped.add(run_id)
            return not drop
        if run_id not in self._dropped:
            return True
        if action in _ENDS:
            self._dropped.discard(run_id)
        return False

    @property
    def open_dropped_runs(self) -> int:
        return len(self._dropped)
