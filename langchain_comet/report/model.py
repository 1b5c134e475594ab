"""The report's data: a summary turned into the JSON document the page renders.

Runs are listed depth first, trace after trace, so a trace is one contiguous slice and a
run's subtree the rows after it with a greater depth: the page draws a waterfall of any
size by slicing, without building trees of its own.
"""

from __future__ import annotations

import base64
import json
import math
from typing import Any

from langchain_comet.serialize import truncate
from langchain_comet.summary import Latency, RunNode, Summary, usd
from langchain_comet.trace_view import distinct, feedback_names, is_graph_node, is_hidden

# Longest string kept per field; the archive keeps the full text.
DEFAULT_MAX_CHARS = 20_000
# displaCy pages are tens of kB each; past this many the report lists how many were left out.
MAX_VISUALIZATIONS = 200
# Run record fields the page shows in their own places; the rest go under "more".
RUN_FIELDS = {
    "run_id": "id",
    "parent_run_id": "parent",
    "trace_id": "trace",
    "run_type": "type",
    "name": "name",
    "status": "status",
    "start_time": "start",
    "end_time": "end",
    "latency_ms": "latency",
    "model_name": "model",
    "provider": "provider",
    "token_usage": "tokens",
    "cost_usd": "cost",
    "trace_cost_usd": "trace_cost",
    "time_to_first_token_ms": "ttft",
    "tokens_streamed": "streamed",
    "session_id": "session",
    "user_id": "user",
    "langgraph_node": "node",
    "langgraph_step": "graph_step",
    "interrupt": "interrupt",
    "resumed_from": "resumed_from",
    "inputs": "inputs",
    "outputs": "outputs",
    "error": "error",
    "tags": "tags",
    "metadata": "metadata",
    "events": "events",
    "generation_metrics": "generation_metrics",
    "step": "step",
    # What the model saw (issue #15): shown in their own sections of the run view.
    "invocation_params": "params",
    "tools": "tools",
    "tool_choice": "tool_choice",
    "prompt_template": "prompt_template",
    "cost_source": "cost_source",
}
# Images and audio from chat messages are inlined as data: URIs, the page fetching nothing:
# up to this much per item and in all; past it the message names them without a preview.
MAX_INLINE_MEDIA_BYTES = 5 * 1024 * 1024
MAX_INLINE_MEDIA_TOTAL = 25 * 1024 * 1024
# comet_ml's upload types for log_image and log_audio.
INLINE_UPLOAD_TYPES = {"visualization": "image", "audio": "audio"}


def report_data(summary: Summary, max_chars: int = DEFAULT_MAX_CHARS) -> dict[str, Any]:
    """Everything the page shows, as plain JSON values."""
    archive = summary.archive
    return {
        "experiment": {
            "name": archive.name,
            "id": archive.experiment_id,
            "project": archive.project_name,
            "tags": archive.tags,
            "archive": archive.path.name,
            "created_from": archive.others().get("Created from"),
        },
        "overview": _overview(summary),
        "runs": _runs(summary, max_chars),
        "traces": _traces(summary),
        "table": _table(summary.table, max_chars),
        "actions": None if summary.has_run_tree else _actions(summary, max_chars),
        "metrics": [
            {
                "name": family.name,
                "series": [
                    {"stat": stat, "name": one.name, "points": one.points}
                    for stat, one in family.series.items()
                ],
            }
            for family in summary.metrics
        ],
        "visualizations": _visualizations(summary),
        "media": _media(summary),
        "feedback": _feedback(summary, max_chars),
        "graph": _graph(summary, max_chars),
        "filters": {
            "users": distinct(summary.runs, "user_id"),
            "sessions": distinct(summary.runs, "session_id"),
        },
    }


def _overview(summary: Summary) -> dict[str, Any]:
    return {
        "has_run_tree": summary.has_run_tree,
        "traces": len(summary.traces),
        "runs": len(summary.runs),
        "llm_calls": summary.llm_calls,
        "calls_with_usage": summary.calls_with_usage,
        "generations": summary.generations,
        "errors": len(summary.errors),
        "interrupted": len(summary.interrupted),
        "tokens": dict(summary.tokens),
        "llm_latency": _latency(summary.llm_latency),
        "trace_latency": _latency(summary.trace_latency),
        "cost": _cost(summary),
        "action_counts": dict(sorted(summary.action_counts.items())),
        "runs_by_type": dict(sorted(summary.runs_by_type.items())),
    }


def _cost(summary: Summary) -> dict[str, Any]:
    cost = summary.cost
    return {
        "recorded": cost.recorded,
        "total": cost.total_usd if cost.priced_calls else None,
        "priced_calls": cost.priced_calls,
        "unpriced_calls": cost.unpriced_calls,
        "unreported_calls": cost.unreported_calls,
        "by_model": {
            "columns": [
                "model",
                "provider",
                "calls",
                "unpriced calls",
                "calls without token usage",
                "prompt tokens",
                "completion tokens",
                "cost (USD)",
            ],
            "rows": [
                [
                    model.model,
                    model.provider,
                    model.calls,
                    model.unpriced_calls,
                    model.unreported_calls,
                    model.prompt_tokens,
                    model.completion_tokens,
                    model.cost_usd,
                ]
                for model in cost.by_model
            ],
        },
    }


def _latency(latency: Latency) -> dict[str, Any]:
    return {
        "count": latency.count,
        "p50": latency.p50,
        "p95": latency.p95,
        "p99": latency.p99,
        "max": latency.max,
    }


def _runs(summary: Summary, max_chars: int) -> list[dict[str, Any]]:
    rows = []
    for trace in summary.traces:
        for depth, node in trace.walk_segments():
            record = node.record
            row = {short: _clip(record.get(key), max_chars) for key, short in RUN_FIELDS.items()}
            row["depth"] = depth
            row["offset"] = node.offset_ms
            row["children"] = len(node.children)
            row["is_node"] = is_graph_node(record)
            row["hidden"] = is_hidden(record)
            extra = {k: v for k, v in record.items() if k not in RUN_FIELDS}
            if extra:
                row["more"] = _clip(extra, max_chars)
            rows.append(row)
    return rows


def _traces(summary: Summary) -> list[dict[str, Any]]:
    """Each trace's slice of ``runs``, with what the trace list shows. A resumed LangGraph
    trace's slice holds its segments one after the other; ``segments`` gives each one's
    start in ``runs``."""
    traces, start = [], 0
    for root in summary.traces:
        nodes = [node for _, node in root.walk_segments()]
        tokens = sum(
            usage.get("total_tokens") or 0
            for node in nodes
            if isinstance(usage := node.record.get("token_usage"), dict)
        )
        records = [node.record for node in nodes]
        traces.append(
            {
                "start": start,
                "count": len(nodes),
                "segments": _segments(root, start),
                "errors": sum(1 for node in nodes if node.failed),
                "interrupted": sum(
                    1 for node in nodes if node.record.get("status") == "interrupted"
                ),
                "tokens": tokens,
                "cost": _trace_cost(root),
                "users": distinct(records, "user_id"),
                "sessions": distinct(records, "session_id"),
                "feedback": summary.feedback_by_trace.get(str(root.record.get("trace_id")), []),
            }
        )
        start += len(nodes)
    return traces


def _segments(root: RunNode, start: int) -> list[int]:
    starts = []
    for segment in root.segments:
        starts.append(start)
        start += sum(1 for _ in segment.walk())
    return starts


def _trace_cost(root: RunNode) -> float | None:
    costs = [usd(segment.record.get("trace_cost_usd")) for segment in root.segments]
    known = [cost for cost in costs if cost is not None]
    return sum(known) if known else None


def _feedback(summary: Summary, max_chars: int) -> dict[str, Any]:
    """Every piece of feedback as a table (its trace id links to the trace), and by name."""
    columns = ["time", "trace_id", "name", "value", "comment"]
    return {
        "table": {
            "columns": columns,
            "rows": [
                [_cell(record.get(column), max_chars) for column in columns]
                for record in summary.feedback
            ],
        },
        "names": [
            {"name": one.name, "count": one.count, "mean": one.mean}
            for one in feedback_names(summary.feedback)
        ],
    }


def _graph(summary: Summary, max_chars: int) -> dict[str, Any] | None:
    if summary.graph is None:
        return None
    structure, mermaid = summary.graph
    return {"structure": _clip(structure, max_chars), "mermaid": truncate(mermaid, max_chars)}


def _table(table: Any, max_chars: int) -> dict[str, Any]:
    columns = [str(column) for column in table.columns]
    rows = [[_cell(value, max_chars) for value in row] for row in table.itertuples(index=False)]
    return {"columns": columns, "rows": rows}


def _actions(summary: Summary, max_chars: int) -> dict[str, Any]:
    """The action records as a table, for archives without a run tree."""
    records = summary.actions
    columns: dict[str, None] = {}
    for record in records:
        columns.update(dict.fromkeys(record))
    rows = [[_cell(record.get(column), max_chars) for column in columns] for record in records]
    return {"columns": list(columns), "rows": rows}


def _cell(value: Any, max_chars: int) -> Any:
    """One table cell: a number, a string, or None for a blank (pandas reads blanks as NaN)."""
    if value is None or isinstance(value, bool | int | str):
        return truncate(value, max_chars) if isinstance(value, str) else value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if hasattr(value, "item"):  # numpy scalars
        return _cell(value.item(), max_chars)
    return truncate(json.dumps(value, default=str), max_chars)


def _clip(value: Any, max_chars: int) -> Any:
    """``value`` with every string cut to ``max_chars``."""
    if isinstance(value, str):
        return truncate(value, max_chars)
    if isinstance(value, dict):
        return {key: _clip(item, max_chars) for key, item in value.items()}
    if isinstance(value, list):
        return [_clip(item, max_chars) for item in value]
    return value


def _media(summary: Summary) -> dict[str, Any]:
    """The images and audio the run records reference, by name, as data: URIs; and
    why the others are not inlined (``skipped``)."""
    inlined: dict[str, str] = {}
    skipped: dict[str, str] = {}
    total = 0
    for upload in summary.archive.uploads():
        kind = INLINE_UPLOAD_TYPES.get(upload.upload_type)
        if kind is None or not upload.name.startswith(f"langchain-{kind}-"):
            continue
        size = len(upload.data)
        if size > MAX_INLINE_MEDIA_BYTES:
            skipped[upload.name] = f"larger than {MAX_INLINE_MEDIA_BYTES // 2**20} MiB"
            continue
        if total + size > MAX_INLINE_MEDIA_TOTAL:
            skipped[upload.name] = (
                f"the report inlines at most {MAX_INLINE_MEDIA_TOTAL // 2**20} MiB"
            )
            continue
        mime = upload.metadata.get("mime_type")
        if not isinstance(mime, str) or not mime.startswith(f"{kind}/"):
            mime = "image/png" if kind == "image" else "audio/wav"
        total += size
        inlined[upload.name] = f"data:{mime};base64,{base64.b64encode(upload.data).decode()}"
    return {"inline": inlined, "skipped": skipped}


def _visualizations(summary: Summary) -> dict[str, Any]:
    shown = summary.visualizations[:MAX_VISUALIZATIONS]
    return {
        "total": len(summary.visualizations),
        "items": [
            {
                "name": upload.name,
                "step": upload.step,
                "prompt": upload.metadata.get("prompt"),
                "html": upload.text,
            }
            for upload in shown
        ],
    }
