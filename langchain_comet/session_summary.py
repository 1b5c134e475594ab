"""Session summary metrics: one number each for the experiment so far.

Logged at every flush, cumulative since the experiment started, so the last value in
Comet is the experiment's summary and the project table can sort and compare
experiments by it. Folded from the run records as they are written, on the worker.

Percentiles are those of numpy's and pandas' default (linear interpolation between the
two nearest ranks, as ``describe()`` reports them); sorting a million latencies at a flush
takes about 0.2 s, on the worker. They need every latency: one float
(8 bytes) per LLM call and per trace is kept until the experiment ends, 16 MB per
million calls, in a compact array rather than Python objects.
"""

from __future__ import annotations

from array import array
from collections.abc import Mapping

from langchain_comet.metrics import percentile
from langchain_comet.serialize import JSON

TOKEN_KEYS = ("prompt_tokens", "completion_tokens", "total_tokens")
PERCENTILES = (50, 95)


class SessionSummary:
    """Counts, token and cost totals and latencies of every run record of one experiment."""

    def __init__(self) -> None:
        self.step = 0
        self.traces = 0
        self.llm_calls = 0
        self.errors = 0
        self.tokens = dict.fromkeys(TOKEN_KEYS, 0)
        self.cost_usd = 0.0
        self.priced_llm_calls = 0
        self.llm_latency_ms = array("d")
        self.trace_latency_ms = array("d")

    def add(self, record: Mapping[str, JSON], *, llm: bool) -> None:
        """Count one run record (``llm``: an LLM or chat model run)."""
        step = record.get("step")
        if isinstance(step, int) and step > self.step:
            self.step = step
        if record.get("status") == "error":
            self.errors += 1
        latency = record.get("latency_ms")
        latency_ms = float(latency) if isinstance(latency, int | float) else None
        if record.get("parent_run_id") is None:
            self.traces += 1
            if latency_ms is not None:
                self.trace_latency_ms.append(latency_ms)
        if not llm:
            return
        self.llm_calls += 1
        if latency_ms is not None:
            self.llm_latency_ms.append(latency_ms)
        usage = record.get("token_usage")
        if isinstance(usage, dict):
            for key in TOKEN_KEYS:
                value = usage.get(key)
                if isinstance(value, int):
                    self.tokens[key] += value
        cost = record.get("cost_usd")
        if isinstance(cost, float):
            self.cost_usd += cost
            self.priced_llm_calls += 1

    def metrics(self) -> dict[str, float]:
        """The ``session_*`` metrics. ``session_cost_usd`` sums the priced calls and is
        absent until one is priced; a percentile is absent until there is a latency."""
        values: dict[str, float] = {
            "session_traces": self.traces,
            "session_llm_calls": self.llm_calls,
            "session_errors": self.errors,
            **{f"session_{key}": total for key, total in self.tokens.items()},
            "session_unpriced_llm_calls": self.llm_calls - self.priced_llm_calls,
        }
        if self.priced_llm_calls:
            values["session_cost_usd"] = self.cost_usd
        for name, latencies in (
            ("session_llm_latency_ms", self.llm_latency_ms),
            ("session_trace_latency_ms", self.trace_latency_ms),
        ):
            if latencies:
                ordered = sorted(latencies)
                for q in PERCENTILES:
                    values[f"{name}_p{q}"] = percentile(ordered, q)
        return values
