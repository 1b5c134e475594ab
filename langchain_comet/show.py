"""``langchain-comet show``: an archive's summary in the terminal, with ``rich``.

Sections, top to bottom: the experiment, what was recorded (events and runs by type),
tokens and latency, metrics, errors, feedback, the LangGraph graph, and the run tree with
timings and errors in red, interrupts in yellow. A LangGraph run that was interrupted and
resumed is one trace: its segments in order, with the wait between them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from rich import box
from rich.columns import Columns
from rich.console import Console, Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from langchain_comet.inputs_view import detail_lines
from langchain_comet.summary import TOKEN_DETAIL_KEYS, RunNode, Summary, reported_usage, usd
from langchain_comet.trace_view import (
    feedback_names,
    feedback_text,
    interrupt_text,
    is_graph_node,
    is_hidden,
    short_id,
)

# Children listed under one run before the rest are counted ("… 120 more runs").
MAX_CHILDREN = 25
RUN_TYPE_STYLES = {
    "chain": "cyan",
    "llm": "magenta",
    "chat_model": "magenta",
    "tool": "yellow",
    "retriever": "green",
    "agent": "blue",
    "node": "bold blue",
}
STATUS_MARKS = {
    "success": ("✓ ", "green"),
    "error": ("✗ ", "red"),
    "interrupted": ("⏸ ", "yellow"),
    "incomplete": ("◌ ", "yellow"),
}


@dataclass(frozen=True, slots=True)
class TraceFilter:
    """``show --user U --session S``: the traces where some run has that user / session."""

    user: str | None = None
    session: str | None = None

    def __bool__(self) -> bool:
        return self.user is not None or self.session is not None

    def matches(self, trace: RunNode) -> bool:
        records = [node.record for _, node in trace.walk_segments()]
        return all(
            wanted is None or any(record.get(key) == wanted for record in records)
            for key, wanted in (("user_id", self.user), ("session_id", self.session))
        )

    def describe(self) -> str:
        parts = [
            f"user {self.user}" if self.user else "",
            f"session {self.session}" if self.session else "",
        ]
        return " and ".join(part for part in parts if part)


def render(
    summary: Summary,
    console: Console,
    max_traces: int | None,
    trace_filter: TraceFilter | None = None,
) -> None:
    """Print the summary; ``max_traces`` bounds the run tree (None: every trace), and
    ``trace_filter`` keeps the traces of one user and/or session in it."""
    console.print(_header(summary))
    console.print(Columns([_events(summary), _runs(summary), _usage(summary)], padding=(0, 4)))
    if summary.cost.recorded:
        console.print(_cost_by_model(summary))
    if summary.metrics:
        console.print(_metrics(summary))
    if summary.errors:
        console.print(_errors(summary))
    if summary.feedback:
        console.print(_feedback(summary))
    if summary.graph is not None:
        console.print(_graph(summary.graph[0]))
    if summary.has_run_tree:
        console.print(_run_tree(summary, max_traces, trace_filter or TraceFilter()))
    else:
        console.print(
            Panel(
                "This archive has no run tree (langchain-runs.jsonl): it was not written by "
                "langchain-comet, probably by langchain_community's CometCallbackHandler. "
                "Shown above: its action records, session table and metrics.",
                title="Run tree",
                border_style="yellow",
            )
        )


def _header(summary: Summary) -> Panel:
    archive = summary.archive
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    grid.add_row("experiment", archive.name or archive.experiment_id)
    grid.add_row("project", archive.project_name or "-")
    grid.add_row("tags", ", ".join(archive.tags) or "none")
    grid.add_row("archive", str(archive.path))
    origin = archive.others().get("Created from")
    if origin:
        grid.add_row("created from", str(origin))
    return Panel(grid, title="langchain-comet show", title_align="left", border_style="blue")


def _events(summary: Summary) -> Table:
    table = Table(title="Events", title_justify="left", box=box.SIMPLE_HEAD)
    table.add_column("callback")
    table.add_column("count", justify="right")
    for action, count in sorted(summary.action_counts.items()):
        table.add_row(action, f"{count:,}")
    return table


def _runs(summary: Summary) -> Table:
    table = Table(title="Runs", title_justify="left", box=box.SIMPLE_HEAD)
    table.add_column("kind")
    table.add_column("count", justify="right")
    if summary.has_run_tree:
        table.add_row(Text("traces", style="bold"), f"{len(summary.traces):,}")
        for run_type, count in sorted(summary.runs_by_type.items()):
            table.add_row(run_type, f"{count:,}")
        table.add_section()
    table.add_row("LLM calls", f"{summary.llm_calls:,}")
    table.add_row("generations", f"{summary.generations:,}")
    errors = len(summary.errors)
    table.add_row(Text("errors", style="bold red" if errors else ""), f"{errors:,}")
    if summary.interrupted:
        table.add_row(Text("interrupted", style="yellow"), f"{len(summary.interrupted):,}")
    return table


def _usage(summary: Summary) -> Table:
    table = Table(
        title="Tokens and latency", title_justify="left", box=box.SIMPLE_HEAD, show_header=False
    )
    table.add_column("")
    table.add_column("", justify="right")
    tokens = summary.tokens
    if summary.calls_with_usage:
        table.add_row("prompt tokens", f"{tokens['prompt_tokens']:,}")
        table.add_row("completion tokens", f"{tokens['completion_tokens']:,}")
        table.add_row(Text("total tokens", style="bold"), f"{tokens['total_tokens']:,}")
        for key in TOKEN_DETAIL_KEYS:
            if tokens[key]:
                table.add_row(f"  {key.replace('_', ' ')}", f"{tokens[key]:,}")
        table.add_row("calls reporting usage", f"{summary.calls_with_usage} of {summary.llm_calls}")
    else:
        table.add_row("tokens", "none reported")
    cost = summary.cost
    if cost.recorded:
        table.add_section()
        table.add_row(
            Text("cost", style="bold"), _usd(cost.total_usd) if cost.priced_calls else "-"
        )
        table.add_row(
            "priced calls", f"{cost.priced_calls} of {cost.priced_calls + cost.unpriced_calls}"
        )
        reasons = (
            ("no token usage", cost.unreported_calls),
            ("price unknown", cost.unpriced_calls - cost.unreported_calls),
        )
        for reason, calls in reasons:
            if calls:
                table.add_row(Text(reason, style="yellow"), _count(calls, "call"))
    table.add_section()
    for label, latency in (("LLM", summary.llm_latency), ("trace", summary.trace_latency)):
        if latency.count:
            table.add_row(f"{label} latency p50", _ms(latency.p50))
            table.add_row(f"{label} latency p95", _ms(latency.p95))
            table.add_row(f"{label} latency p99", _ms(latency.p99))
            table.add_row(f"{label} latency max", _ms(latency.max))
    return table


def _ms(value: float | None) -> str:
    if value is None:
        return "-"
    if value >= 1000:
        return f"{value / 1000:.2f} s"
    return f"{value:.1f} ms" if value >= 1 else f"{value:.2f} ms"


def _metrics(summary: Summary) -> Table:
    table = Table(title="Metrics", title_justify="left", box=box.SIMPLE_HEAD)
    table.add_column("metric")
    table.add_column("points", justify="right")
    table.add_column("last", justify="right")
    table.add_column("min", justify="right")
    table.add_column("max", justify="right")
    summarised = 0
    for family in summary.metrics:
        series = family.headline
        name = Text(series.name)
        if len(family.series) > 1:
            summarised += 1
            name.append(f" (+{len(family.series) - 1} stats)", style="dim")
        table.add_row(
            name,
            f"{len(series.points):,}",
            _number(series.last),
            _number(series.minimum),
            _number(series.maximum),
        )
    if summarised:
        table.caption = "per-generation scores: the mean shown; all statistics in the report"
    return table


def _cost_by_model(summary: Summary) -> Table:
    table = Table(title="Cost by model", title_justify="left", box=box.SIMPLE_HEAD)
    table.add_column("model")
    table.add_column("provider")
    table.add_column("calls", justify="right")
    table.add_column("prompt tokens", justify="right")
    table.add_column("completion tokens", justify="right")
    table.add_column("cost", justify="right")
    for model in summary.cost.by_model:
        cost = _usd(model.cost_usd)
        if model.cost_usd is None and model.unreported_calls == model.calls:
            cost = "no token usage"
        if model.unpriced_calls and model.cost_usd is not None:
            cost += f" (+{model.unpriced_calls} unpriced)"
        table.add_row(
            model.model,
            model.provider or "-",
            f"{model.calls:,}",
            f"{model.prompt_tokens:,}",
            f"{model.completion_tokens:,}",
            Text(cost, style="yellow" if model.cost_usd is None else ""),
        )
    return table


def _usd(value: float | None) -> str:
    """Dollars with enough digits for one call's fraction of a cent."""
    if value is None:
        return "price unknown"
    if value == 0 or value >= 1:
        return f"${value:,.2f}"
    if value < 0.000001:
        return "<$0.000001"
    return f"${value:.6f}".rstrip("0")


def _number(value: float) -> str:
    return f"{value:,.0f}" if value.is_integer() else f"{value:,.4g}"


def _errors(summary: Summary) -> Table:
    table = Table(title="Errors", title_justify="left", box=box.SIMPLE_HEAD, title_style="bold red")
    table.add_column("run")
    table.add_column("type")
    table.add_column("error", style="red")
    table.add_column("trace", style="dim")
    for run in summary.errors:
        error = run.get("error") or {}
        table.add_row(
            str(run.get("name")),
            str(run.get("run_type")),
            f"{error.get('type')}: {error.get('message')}",
            short_id(run.get("trace_id")),
        )
    return table


def _feedback(summary: Summary) -> Table:
    table = Table(title="Feedback", title_justify="left", box=box.SIMPLE_HEAD)
    table.add_column("name")
    table.add_column("count", justify="right")
    table.add_column("mean", justify="right")
    table.add_column("min", justify="right")
    table.add_column("max", justify="right")
    for one in feedback_names(summary.feedback):
        table.add_row(
            one.name,
            f"{one.count:,}",
            _number(one.mean),
            _number(one.minimum),
            _number(one.maximum),
        )
    # Feedback may name a trace of another archive (logged before a reset, or a bad id).
    here = {str(trace.record.get("trace_id")) for trace in summary.traces}
    elsewhere = sum(1 for trace_id in summary.feedback_by_trace if trace_id not in here)
    parts = []
    if len(summary.feedback_by_trace) > elsewhere:
        shown = _count(len(summary.feedback_by_trace) - elsewhere, "trace")
        parts.append(f"on {shown}; each beside its trace below")
    if elsewhere:
        parts.append(f"on {_count(elsewhere, 'trace')} not in this archive")
    table.caption = "; ".join(parts)
    return table


def _graph(structure: dict[str, Any]) -> Panel:
    """The LangGraph graph logged with the flush: its nodes, and each node's edges."""
    edges: dict[str, list[str]] = {}
    for edge in structure.get("edges") or []:
        arrow = "⇢" if edge.get("conditional") else "→"
        edges.setdefault(str(edge.get("source")), []).append(f"{arrow} {edge.get('target')}")
    lines = Text()
    for node in structure.get("nodes") or []:
        ident = str(node.get("id"))
        lines.append(ident, style="bold blue" if node.get("kind") == "node" else "dim")
        lines.append(f"  {' '.join(edges.get(ident, []))}\n")
    title = f"Graph: {structure.get('name')} ({len(structure.get('nodes') or [])} nodes)"
    return Panel(lines, title=title, title_align="left", subtitle="⇢ conditional edge")


def _count(n: int, noun: str) -> str:
    """``1 trace``, ``2 traces``, ``1,000 traces``."""
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def _run_tree(
    summary: Summary, max_traces: int | None, trace_filter: TraceFilter
) -> RenderableType:
    matching = [trace for trace in summary.traces if trace_filter.matches(trace)]
    traces = matching if max_traces is None else matching[:max_traces]
    title = f"Run tree: {_count(len(summary.traces), 'trace')}"
    if trace_filter:
        title = (
            f"Run tree: {len(matching):,} of {_count(len(summary.traces), 'trace')} "
            f"({trace_filter.describe()})"
        )
    root = Tree(Text(title, style="bold"))
    for trace in traces:
        _add_trace(root, trace, summary.feedback_by_trace.get(str(trace.record.get("trace_id"))))
    hidden = len(matching) - len(traces)
    if hidden > 0:
        more = _count(hidden, "more trace")
        root.add(Text(f"… {more} (--traces N or --all to see them)", "dim"))
    return Group(root)


def _add_trace(parent: Tree, trace: RunNode, feedback: list[dict[str, Any]] | None) -> None:
    """One trace; an interrupted-and-resumed one as its segments with the waits between."""
    if not trace.resumes:
        label = _run_label(trace.record)
        _append_trace_facts(label, trace.record, feedback)
        _add_subtree(parent, trace, label)
        return
    segments = trace.segments
    last = segments[-1].record
    header = Text()
    mark, style = STATUS_MARKS.get(str(last.get("status")), ("? ", "dim"))
    header.append(mark, style=style)
    header.append(f"trace {short_id(trace.record.get('trace_id'))}", style="bold")
    pauses = sum(1 for segment in segments if segment.record.get("status") == "interrupted")
    header.append(
        f"  {_count(len(segments), 'segment')}: {_count(pauses, 'interrupt')}, "
        f"{_count(len(trace.resumes), 'resume')}, "
        f"now {last.get('status')}",
        style="yellow" if last.get("status") == "interrupted" else "",
    )
    _append_trace_facts(header, trace.record, feedback)
    branch = parent.add(header)
    previous: RunNode | None = None
    for segment in segments:
        if previous is not None:
            branch.add(_wait_label(previous.record, segment.record))
        _add_subtree(branch, segment)
        previous = segment


def _wait_label(paused: dict[str, Any], resumed: dict[str, Any]) -> Text:
    waited = _epoch_s(resumed.get("start_time")) - _epoch_s(paused.get("end_time"))
    label = Text("⋯ ", style="yellow")
    label.append(f"waited {_ms(max(0.0, waited) * 1000)}", style="yellow")
    resume = _resume_value(resumed.get("inputs"))
    label.append(f", resumed with {resume}" if resume else ", resumed", style="dim")
    return label


def _resume_value(inputs: Any) -> str | None:
    if isinstance(inputs, dict) and "resume" in inputs:
        value = inputs["resume"]
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        return text if len(text) <= 80 else text[:79] + "…"
    return None


def _epoch_s(value: Any) -> float:
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value).timestamp()
        except ValueError:
            pass
    return 0.0


def _append_trace_facts(
    label: Text, root: dict[str, Any], feedback: list[dict[str, Any]] | None
) -> None:
    """A trace's user, session and feedback, after its first line."""
    if root.get("user_id"):
        label.append(f"  user {root['user_id']}", style="cyan")
    if root.get("session_id"):
        label.append(f"  session {root['session_id']}", style="cyan")
    for item in feedback or ():
        label.append(f"  ★ {feedback_text(item)}", style="magenta")


def _add_subtree(parent: Tree, node: RunNode, label: Text | None = None) -> None:
    branch = parent.add(label or _run_label(node.record))
    shown = [child for child in node.children if not is_hidden(child.record)]
    for child in shown[:MAX_CHILDREN]:
        _add_subtree(branch, child)
    more = len(shown) - MAX_CHILDREN
    if more > 0:
        branch.add(Text(f"… {more:,} more runs", style="dim"))
    folded = len(node.children) - len(shown)
    if folded:
        runs = "run" if folded == 1 else "runs"
        branch.add(Text(f"… {folded:,} hidden {runs} (langsmith:hidden) folded", style="dim"))


def _run_label(run: dict[str, Any]) -> Text:
    run_type = "node" if is_graph_node(run) else str(run.get("run_type"))
    status = str(run.get("status"))
    label = Text()
    mark, style = STATUS_MARKS.get(status, ("? ", "dim"))
    label.append(mark, style=style)
    label.append(str(run.get("name")), style="bold red" if status == "error" else "bold")
    label.append(f" {run_type}", style=RUN_TYPE_STYLES.get(run_type, "dim"))
    if run_type == "node" and run.get("langgraph_step") is not None:
        label.append(f" step {run['langgraph_step']}", style="blue")
    if run.get("resumed_from"):
        label.append("  resumed", style="yellow")
    latency = run.get("latency_ms")
    if isinstance(latency, int | float):
        label.append(f"  {_ms(float(latency))}", style="bright_black")
    if status == "incomplete":
        label.append("  incomplete (still open when the process ended)", style="yellow")
    model = run.get("model_name")
    if model:
        label.append(f"  {model}", style="italic")
    usage = run.get("token_usage")
    if isinstance(usage, dict) and usage.get("total_tokens") is not None:
        label.append(f"  {usage['total_tokens']} tokens", style="bright_black")
    if "cost_usd" in run:
        cost = usd(run["cost_usd"])
        text = "no token usage" if cost is None and not reported_usage(run) else _usd(cost)
        label.append(f"  {text}", style="yellow" if cost is None else "green")
    elif usd(run.get("trace_cost_usd")) is not None:
        label.append(f"  trace {_usd(usd(run['trace_cost_usd']))}", style="green")
    error = run.get("error")
    if status == "error" and isinstance(error, dict):
        label.append(f"  {error.get('type')}: {error.get('message')}", style="red")
    if status == "interrupted":
        label.append(f"  {interrupt_text(run)}", style="yellow")
    for line in detail_lines(run):  # what an LLM call saw: parameters, tools, template, media
        label.append(f"\n  {line}", style="bright_black")
    return label
