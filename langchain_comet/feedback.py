"""Feedback on traces: ``handler.log_feedback(trace_id, name, value, comment=...)``.

Validated on the caller's thread, so a bad call fails at once with what is expected;
recorded on the worker like every other event, so it can be called from any thread,
before or after the trace ended, before or after a flush. Each piece of feedback is one
line of ``langchain-feedback.jsonl``, one point of the metric ``feedback_<name>``, and
counts towards ``session_feedback_<name>_mean`` / ``_count`` at each flush.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from langchain_comet.serialize import JSON, truncate

# Becomes part of metric names (feedback_<name>), so kept to what every tool accepts.
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}")
METRIC_PREFIX = "feedback_"
# Distinct feedback names summarised per experiment; past this, names are only recorded.
MAX_NAMES = 1_000


@dataclass(frozen=True, slots=True)
class Feedback:
    """One validated piece of feedback, captured with the time it was given."""

    trace_id: str
    name: str
    value: bool | int | float
    comment: str | None
    wall: float

    def record(self, max_chars: int | None) -> dict[str, JSON]:
        """The line of ``langchain-feedback.jsonl``."""
        return {
            "trace_id": self.trace_id,
            "name": self.name,
            "value": self.value,
            "comment": None if self.comment is None else truncate(self.comment, max_chars),
            "time": datetime.fromtimestamp(self.wall, UTC).isoformat(),
        }

    @property
    def metric(self) -> str:
        return METRIC_PREFIX + self.name


def validate(trace_id: Any, name: Any, value: Any, comment: Any, wall: float) -> Feedback:
    """A :class:`Feedback`, or ``TypeError``/``ValueError`` saying what is expected."""
    if isinstance(trace_id, UUID):
        trace_id = str(trace_id)
    if not isinstance(trace_id, str):
        raise TypeError(
            "log_feedback: trace_id must be a str (handler.last_trace_id, or the run_id "
            f"passed in config) or a UUID, got {type(trace_id).__name__}"
        )
    if not trace_id.strip():
        raise ValueError("log_feedback: trace_id must not be empty")
    if not isinstance(name, str):
        raise TypeError(f"log_feedback: name must be a str, got {type(name).__name__}")
    if not NAME_PATTERN.fullmatch(name):
        raise ValueError(
            f"log_feedback: name must be 1 to 64 letters, digits, '_', '.' or '-', starting "
            f"with a letter or digit (it becomes the metric feedback_<name>), got {name!r}"
        )
    if not isinstance(value, bool | int | float):
        raise TypeError(
            f"log_feedback: value must be a number or a bool, got {type(value).__name__}"
        )
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"log_feedback: value must be a finite number, got {value!r}")
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 2**53:
        raise ValueError(f"log_feedback: value must be below 2**53 in size, got {value!r}")
    if comment is not None and not isinstance(comment, str):
        raise TypeError(
            f"log_feedback: comment must be a str or None, got {type(comment).__name__}"
        )
    return Feedback(trace_id, name, value, comment, wall)


class FeedbackStats:
    """Count and mean of each feedback name over an experiment, for the session summary."""

    def __init__(self) -> None:
        self._totals: dict[str, tuple[int, float]] = {}

    def add(self, name: str, value: float) -> None:
        if name not in self._totals and len(self._totals) >= MAX_NAMES:
            return
        count, total = self._totals.get(name, (0, 0.0))
        self._totals[name] = (count + 1, total + value)

    def metrics(self) -> dict[str, float]:
        values: dict[str, float] = {}
        for name, (count, total) in sorted(self._totals.items()):
            values[f"session_feedback_{name}_mean"] = total / count
            values[f"session_feedback_{name}_count"] = count
        return values
