"""What an offline archive says, computed once for ``show`` and ``report``.

Both views read the same numbers from here, so the terminal and the HTML report never
disagree. Archives written by langchain_community's handler have no run tree; for those
the summary falls back to what they do hold (action records, the session table, metrics).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from langchain_comet.archive import Archive, ArchiveError, Upload
from langchain_comet.metrics import percentile
from langchain_comet.runs import LLM_RUN_TYPES
from langchain_comet.session_summary import TOKEN_KEYS
from langchain_comet.trace_view import feedback_by_trace

TOKEN_DETAIL_KEYS = ("cache_read", "cache_creation", "reasoning")
# comet_ml logs these on its own; they say nothing about the application.
SYSTEM_METRIC_PREFIXES = ("sys.", "system.")
SYSTEM_METRICS = frozenset({"process duration"})
# The statistics summarising a per-generation metric at each LLM end (pandas' describe()).
STATISTICS = ("mean", "50%", "min", "max", "25%", "75%", "std", "count")


@dataclass(frozen=True, slots=True)
class Latency:
    """Percentiles of one kind of latency, in milliseconds."""

    count: int
    p50: float | None
    p95: float | None
    p99: float | None
    max: float | None

    @classmethod
    def of(cls, values: Sequence[float]) -> Latency:
        if not values:
            return cls(0, None, None, None, None)
        ordered = sorted(values)
        return cls(
            count=len(ordered),
            p50=percentile(ordered, 50),
            p95=percentile(ordered, 95),
            p99=percentile(ordered, 99),
            max=ordered[-1],
        )


@dataclass(frozen=True, slots=True)
class MetricSeries:
    """One metric's points as logged, in step order."""

    name: str
    points: list[tuple[int | None, float]]

    @property
    def last(self) -> float:
        return self.points[-1][1]

    @property
    def minimum(self) -> float:
        return min(value for _, value in self.points)

    @property
    def maximum(self) -> float:
        return max(value for _, value in self.points)


@dataclass(frozen=True, slots=True)
class MetricFamily:
    """A metric as people read it: one series, or the eight ``<name>_<stat>`` summaries
    logged per LLM call for a readability or custom metric."""

    name: str
    series: dict[str, MetricSeries]  # by statistic; "" for a plain metric

    @property
    def headline(self) -> MetricSeries:
        """The series shown first: the plain one, else the mean."""
        return self.series.get("") or self.series.get("mean") or next(iter(self.series.values()))


@dataclass(slots=True)
class ModelCost:
    """What the LLM calls to one model cost: ``cost_usd`` is None when no call was priced."""

    model: str
    provider: str | None
    calls: int = 0
    unpriced_calls: int = 0
    # Of those, the calls that reported no token usage.
    unreported_calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float | None = None


@dataclass(frozen=True, slots=True)
class Cost:
    """The session's cost, from the run records' ``cost_usd`` (issue #8).

    ``recorded`` is False for archives written before prices existed (or by the community
    handler): their cost is not known at all, which is different from "price unknown".
    """

    recorded: bool
    total_usd: float
    priced_calls: int
    unpriced_calls: int
    by_model: list[ModelCost]
    # Of the unpriced calls, those that reported no token usage: no price could help them.
    unreported_calls: int = 0


@dataclass(slots=True)
class RunNode:
    """One run record with its children, ordered by start time."""

    record: dict[str, Any]
    children: list[RunNode] = field(default_factory=list)
    # Start in ms after its trace's root started: where its bar begins in a waterfall.
    offset_ms: float = 0.0
    # On a trace's first root: the roots of the LangGraph runs that resumed it, in order.
    resumes: list[RunNode] = field(default_factory=list)

    @property
    def run_id(self) -> str:
        return str(self.record.get("run_id"))

    @property
    def failed(self) -> bool:
        return self.record.get("status") == "error"

    @property
    def segments(self) -> list[RunNode]:
        """The trace's roots: this one, then each resume (interrupt, wait, resume...)."""
        return [self, *self.resumes]

    def walk_segments(self) -> Iterable[tuple[int, RunNode]]:
        """Every node of every segment of the trace, depth first, segment after segment."""
        for segment in self.segments:
            yield from segment.walk()

    def walk(self) -> Iterable[tuple[int, RunNode]]:
        """Every node of this subtree, depth first, with its depth."""
        stack: list[tuple[int, RunNode]] = [(0, self)]
        while stack:
            depth, node = stack.pop()
            yield depth, node
            stack.extend((depth + 1, child) for child in reversed(node.children))


@dataclass(frozen=True, slots=True)
class Summary:
    """Everything ``show`` and ``report`` display about one archive."""

    archive: Archive
    runs: list[dict[str, Any]]
    traces: list[RunNode]
    actions: list[dict[str, Any]]
    action_counts: Counter[str]
    runs_by_type: Counter[str]
    errors: list[dict[str, Any]]
    llm_calls: int
    calls_with_usage: int
    tokens: Counter[str]
    llm_latency: Latency
    trace_latency: Latency
    cost: Cost
    metrics: list[MetricFamily]
    table: Any  # the session table, a pandas DataFrame
    visualizations: list[Upload]
    interrupted: list[dict[str, Any]] = field(default_factory=list)
    # log_feedback records, all of them and by trace id.
    feedback: list[dict[str, Any]] = field(default_factory=list)
    feedback_by_trace: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    # The LangGraph graph logged with flush_tracker: (nodes and edges, Mermaid text).
    graph: tuple[dict[str, Any], str] | None = None

    @property
    def has_run_tree(self) -> bool:
        return bool(self.runs)

    @property
    def generations(self) -> int:
        return len(self.table)


def summarize(archive: Archive) -> Summary:
    """Read everything once; an archive whose contents do not have comet_ml's shapes is an
    ArchiveError saying so, never a traceback."""
    try:
        return _summarize(archive)
    except (ValueError, KeyError, TypeError, AttributeError, IndexError) as exc:
        detail = " ".join(f"{type(exc).__name__}: {exc}".split())[:200]
        raise ArchiveError(f"{archive.path}: corrupt records in the archive ({detail})") from exc


def _summarize(archive: Archive) -> Summary:
    runs = archive.runs()
    actions = archive.action_records()
    table = archive.session_table()
    llm_runs = [run for run in runs if run.get("run_type") in LLM_RUN_TYPES]
    traces = build_traces(runs)
    feedback = archive.feedback()
    return Summary(
        archive=archive,
        runs=runs,
        traces=traces,
        actions=actions,
        action_counts=Counter(str(record.get("action")) for record in actions),
        runs_by_type=Counter(str(run.get("run_type")) for run in runs),
        errors=[run for run in runs if run.get("status") == "error"],
        llm_calls=len(llm_runs) if runs else len(table),
        calls_with_usage=sum(1 for run in llm_runs if isinstance(run.get("token_usage"), dict)),
        tokens=_token_totals(llm_runs),
        llm_latency=Latency.of(_numbers(run.get("latency_ms") for run in llm_runs)),
        trace_latency=Latency.of(
            _numbers(root.record.get("latency_ms") for node in traces for root in node.segments)
        ),
        cost=_cost(llm_runs),
        metrics=_metric_families(_metric_series(archive)),
        table=table,
        visualizations=[u for u in archive.uploads() if u.name.startswith("langchain-viz-")],
        interrupted=[run for run in runs if run.get("status") == "interrupted"],
        feedback=feedback,
        feedback_by_trace=feedback_by_trace(feedback),
        graph=archive.graph(),
    )


def build_traces(runs: Sequence[dict[str, Any]]) -> list[RunNode]:
    """The run records as trees, roots in start order.

    A run whose parent is not in the archive (its parent never ended, or ended in another
    archive) is shown as a root rather than dropped. The root of a resumed LangGraph run
    (``resumed_from``) joins the trace it continues as one of its ``resumes``.
    """
    nodes = {str(run.get("run_id")): RunNode(run) for run in runs}
    roots: list[RunNode] = []
    for node in nodes.values():
        parent = nodes.get(str(node.record.get("parent_run_id")))
        if parent is None or parent is node:
            roots.append(node)
        else:
            parent.children.append(node)
    starts = {run_id: _epoch_ms(node.record.get("start_time")) for run_id, node in nodes.items()}
    for node in nodes.values():
        node.children.sort(key=lambda child: starts[child.run_id])
    roots.sort(key=lambda root: starts[root.run_id])
    for root in roots:
        origin = starts[root.run_id]
        for _, node in root.walk():
            node.offset_ms = max(0.0, starts[node.run_id] - origin)
    return _stitch(roots)


def _stitch(roots: list[RunNode]) -> list[RunNode]:
    """Each resumed root after the first root of its trace, in start order."""
    first: dict[str, RunNode] = {}
    stitched: list[RunNode] = []
    for root in roots:
        trace_id = str(root.record.get("trace_id"))
        if root.record.get("resumed_from") and trace_id in first:
            first[trace_id].resumes.append(root)
            continue
        first.setdefault(trace_id, root)
        stitched.append(root)
    return stitched


def _epoch_ms(value: Any) -> float:
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value).timestamp() * 1000
        except ValueError:
            pass
    return 0.0


def _numbers(values: Iterable[Any]) -> list[float]:
    return [
        float(value)
        for value in values
        if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    ]


def usd(value: Any) -> float | None:
    """A recorded cost, or None when the run's price is unknown (or not recorded)."""
    numbers = _numbers([value])
    return numbers[0] if numbers else None


def _cost(llm_runs: Sequence[dict[str, Any]]) -> Cost:
    by_model: dict[tuple[str, str | None], ModelCost] = {}
    total, priced, unpriced, unreported = 0.0, 0, 0, 0
    for run in llm_runs:
        if "cost_usd" not in run:
            continue
        model = str(run.get("model_name") or "unknown model")
        provider = run.get("provider")
        entry = by_model.setdefault((model, provider), ModelCost(model, provider))
        entry.calls += 1
        usage = run.get("token_usage")
        if isinstance(usage, dict):
            entry.prompt_tokens += int(usd(usage.get("prompt_tokens")) or 0)
            entry.completion_tokens += int(usd(usage.get("completion_tokens")) or 0)
        cost = usd(run.get("cost_usd"))
        if cost is None:
            unreported_here = not reported_usage(run)
            unpriced += 1
            unreported += unreported_here
            entry.unpriced_calls += 1
            entry.unreported_calls += unreported_here
        else:
            priced += 1
            total += cost
            entry.cost_usd = (entry.cost_usd or 0.0) + cost
    return Cost(
        recorded=bool(by_model),
        total_usd=total,
        priced_calls=priced,
        unpriced_calls=unpriced,
        by_model=sorted(by_model.values(), key=lambda m: (-(m.cost_usd or 0.0), m.model)),
        unreported_calls=unreported,
    )


def reported_usage(run: Mapping[str, Any]) -> bool:
    """Whether an LLM run reported token usage (without it, no price gives a cost)."""
    usage = run.get("token_usage")
    return isinstance(usage, dict) and usd(usage.get("total_tokens")) is not None


def _token_totals(llm_runs: Iterable[dict[str, Any]]) -> Counter[str]:
    totals: Counter[str] = Counter()
    for run in llm_runs:
        usage = run.get("token_usage")
        if isinstance(usage, dict):
            for key in (*TOKEN_KEYS, *TOKEN_DETAIL_KEYS):
                value = usage.get(key)
                if isinstance(value, int) and not isinstance(value, bool):
                    totals[key] += value
    return totals


def _metric_series(archive: Archive) -> list[MetricSeries]:
    points: dict[str, list[tuple[int | None, float]]] = {}
    for metric in archive.metrics():
        name = metric.name
        if name in SYSTEM_METRICS or name.startswith(SYSTEM_METRIC_PREFIXES):
            continue
        try:
            value = float(metric.value)
        except (TypeError, ValueError):
            continue
        if math.isfinite(value):
            points.setdefault(name, []).append((metric.step, value))
    return [
        MetricSeries(name, sorted(series, key=lambda point: point[0] or 0))
        for name, series in sorted(points.items())
    ]


def _metric_families(series: list[MetricSeries]) -> list[MetricFamily]:
    """Plain metrics first (latency, tokens, cost), then the summarised ones by name."""
    groups: dict[str, dict[str, MetricSeries]] = {}
    for one in series:
        base, _, stat = one.name.rpartition("_")
        # session_* metrics are single numbers of their own (session_feedback_<name>_mean
        # and _count), not the statistics of a per-generation score.
        if base and stat in STATISTICS and not one.name.startswith("session_"):
            groups.setdefault(base, {})[stat] = one
    plain = [MetricFamily(one.name, {"": one}) for one in series]
    summarised = []
    for base, by_stat in groups.items():
        if len(by_stat) < 2:  # a lone "_max" is just a metric named so
            continue
        summarised.append(
            MetricFamily(base, {stat: by_stat[stat] for stat in STATISTICS if stat in by_stat})
        )
        names = {one.name for one in by_stat.values()}
        plain = [family for family in plain if family.name not in names]
    return plain + sorted(summarised, key=lambda family: family.name)
