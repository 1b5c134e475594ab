"""How ``show`` and the report read agents' records: graph nodes, hidden runs, control
flow, users and sessions, feedback. Record-level helpers shared by both views, so the
terminal and the page agree (the trees themselves are built in ``summary.py``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

# LangChain's tag for runs tracers should fold away (LangGraph puts it on internal steps).
HIDDEN_TAG = "langsmith:hidden"


def short_id(value: Any) -> str:
    """A run or trace id short enough to print, and different for each trace.

    LangChain 1.x makes run ids with ``uuid7``, whose leading digits are a millisecond
    clock: the first eight are the same for every trace of a minute. The last eight are
    random in ``uuid7`` and ``uuid4`` ids alike, and still a substring of the full id.
    """
    text = str(value)
    return "…" + text[-8:] if len(text) > 8 else text


def is_hidden(record: Mapping[str, Any]) -> bool:
    tags = record.get("tags")
    return isinstance(tags, list) and HIDDEN_TAG in tags


def is_graph_node(record: Mapping[str, Any]) -> bool:
    """Whether the run is a LangGraph node itself, not a run inside one.

    Every run inside a node carries the node's ``langgraph_node``; the node's own run is
    the one named after it and tagged with its step (``graph:step:N``).
    """
    node = record.get("langgraph_node")
    if node is None or record.get("name") != node:
        return False
    tags = record.get("tags")
    step = record.get("langgraph_step")
    return isinstance(tags, list) and f"graph:step:{step}" in tags


def is_interrupted(record: Mapping[str, Any]) -> bool:
    return record.get("status") == "interrupted"


def interrupt_text(record: Mapping[str, Any], limit: int = 120) -> str:
    """What paused or redirected a run, in one line: the interrupt's values, or a handoff."""
    info = record.get("interrupt")
    if not isinstance(info, dict):
        return "interrupted"
    kind = info.get("kind")
    if kind == "interrupt":
        values = info.get("values")
        shown = values[0] if isinstance(values, list) and len(values) == 1 else values
        text = f"interrupt: {_compact(shown)}"
    elif kind == "handoff":
        text = f"handoff → {_compact(info.get('goto'))}"
    else:
        text = f"{info.get('type')}: {info.get('message')}"
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _compact(value: Any) -> str:
    import json

    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))
    except (TypeError, ValueError):
        return str(value)


@dataclass(frozen=True, slots=True)
class FeedbackName:
    """Every piece of feedback of one name: how many, their mean, min and max."""

    name: str
    count: int
    mean: float
    minimum: float
    maximum: float


def feedback_names(records: Iterable[Mapping[str, Any]]) -> list[FeedbackName]:
    values: dict[str, list[float]] = {}
    for record in records:
        value = record.get("value")
        if isinstance(value, bool | int | float) and math.isfinite(float(value)):
            values.setdefault(str(record.get("name")), []).append(float(value))
    return [
        FeedbackName(name, len(got), sum(got) / len(got), min(got), max(got))
        for name, got in sorted(values.items())
    ]


def feedback_by_trace(records: Iterable[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    grouped: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        grouped.setdefault(str(record.get("trace_id")), []).append(record)
    for items in grouped.values():
        items.sort(key=lambda item: str(item.get("time") or ""))
    return grouped


def feedback_text(record: Mapping[str, Any]) -> str:
    """``helpful=1`` or ``helpful=true "comment"``, as both views print it."""
    value = record.get("value")
    shown = str(value).lower() if isinstance(value, bool) else _number(value)
    comment = record.get("comment")
    text = f"{record.get('name')}={shown}"
    return f'{text} "{comment}"' if comment else text


def _number(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def distinct(records: Iterable[Mapping[str, Any]], key: str) -> list[str]:
    """The distinct values of ``key`` (``user_id``, ``session_id``), sorted."""
    return sorted({str(record[key]) for record in records if record.get(key)})
