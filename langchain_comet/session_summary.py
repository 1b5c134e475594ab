"""Session summary metrics: one number each for the experiment so far.

Logged at every flush, cumulative since the experiment started, so the last value in
Comet is the experiment's summary and the project table can sort and compare
experiments by it. Folded from the run records as they are written, on the worker.

Percentiles are those of numpy's and pandas' default (linear interpolation between the
two nearest ranks, as ``describe()`` reports them), exact for the first
``EXACT_LATENCIES`` values of an experiment and within 1% after that (see
:class:`Latencies`), so a service that never resets its experiment keeps flat memory.
"""

from __future__ import annotations

import math
from array import array
from collections import Counter
from collections.abc import Mapping

from langchain_comet.distinct import DistinctCount
from langchain_comet.feedback import FeedbackStats
from langchain_comet.metrics import percentile
from langchain_comet.serialize import JSON

TOKEN_KEYS = ("prompt_tokens", "completion_tokens", "total_tokens")
PERCENTILES = (50, 95)
# Kept one by one (8 bytes each, 0.8 MB) before switching to buckets.
EXACT_LATENCIES = 100_000
# Bucket i holds (GAMMA**(i-1), GAMMA**i]; its middle is within 1% of any value in it.
GAMMA = 1.02
ZERO_BUCKET = -(10**9)  # latencies of 0 (or less): a clock that did not move


class Latencies:
    """One kind of latency over an experiment, for its percentiles, in bounded memory.

    Every value is kept until there are ``EXACT_LATENCIES`` of them; then they are counted
    in logarithmic buckets 2% wide (as DDSketch does) and a percentile is the middle of the
    bucket holding its rank: within 1% of the exact value, with at most ~1,200 buckets
    between a microsecond and a day.
    """

    def __init__(self) -> None:
        self.count = 0
        self._exact: array[float] | None = array("d")
        self._buckets: Counter[int] = Counter()

    def add(self, value: float) -> None:
        self.count += 1
        if self._exact is None:
            self._buckets[_bucket(value)] += 1
            return
        self._exact.append(value)
        if len(self._exact) > EXACT_LATENCIES:
            self._buckets.update(map(_bucket, self._exact))
            self._exact = None

    def percentile(self, q: float) -> float:
        if self._exact is not None:
            return percentile(sorted(self._exact), q)
        position = (self.count - 1) * q / 100
        low = math.floor(position)
        below, above = self._at_rank(low), self._at_rank(min(low + 1, self.count - 1))
        return below + (above - below) * (position - low)

    def _at_rank(self, rank: int) -> float:
        seen = 0
        for index in sorted(self._buckets):
            seen += self._buckets[index]
            if seen > rank:
                return _middle(index)
        raise ValueError(f"rank {rank} of {self.count} values")

    @property
    def buckets(self) -> int:
        return len(self._buckets)


def _bucket(value: float) -> int:
    return math.ceil(math.log(value, GAMMA)) if value > 0 else ZERO_BUCKET


def _middle(index: int) -> float:
    if index == ZERO_BUCKET:
        return 0.0
    return 2 * GAMMA**index / (GAMMA + 1)


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
        self.llm_latency_ms = Latencies()
        self.trace_latency_ms = Latencies()
        self.users = DistinctCount()
        self.sessions = DistinctCount()
        self.feedback = FeedbackStats()

    def add(self, record: Mapping[str, JSON], *, llm: bool) -> None:
        """Count one run record (``llm``: an LLM or chat model run)."""
        step = record.get("step")
        if isinstance(step, int) and step > self.step:
            self.step = step
        if record.get("status") == "error":
            self.errors += 1
        self._add_people(record)
        latency = record.get("latency_ms")
        latency_ms = float(latency) if isinstance(latency, int | float) else None
        if record.get("parent_run_id") is None:
            if record.get("resumed_from") is None:  # a resume continues its trace
                self.traces += 1
            if latency_ms is not None:
                self.trace_latency_ms.add(latency_ms)
        if not llm:
            return
        self.llm_calls += 1
        if latency_ms is not None:
            self.llm_latency_ms.add(latency_ms)
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

    def _add_people(self, record: Mapping[str, JSON]) -> None:
        user, session = record.get("user_id"), record.get("session_id")
        if isinstance(user, str):
            self.users.add(user)
        if isinstance(session, str):
            self.sessions.add(session)

    def add_feedback(self, name: str, value: float) -> None:
        """Count one piece of feedback (``log_feedback``) towards its name's mean."""
        self.feedback.add(name, value)

    def metrics(self) -> dict[str, float]:
        """The ``session_*`` metrics. ``session_cost_usd`` sums the priced calls and is
        absent until one is priced; a percentile is absent until there is a latency."""
        values: dict[str, float] = {
            "session_traces": self.traces,
            "session_llm_calls": self.llm_calls,
            "session_errors": self.errors,
            **{f"session_{key}": total for key, total in self.tokens.items()},
            "session_unpriced_llm_calls": self.llm_calls - self.priced_llm_calls,
            "session_users": len(self.users),
            "session_sessions": len(self.sessions),
            **self.feedback.metrics(),
        }
        if self.priced_llm_calls:
            values["session_cost_usd"] = self.cost_usd
        for name, latencies in (
            ("session_llm_latency_ms", self.llm_latency_ms),
            ("session_trace_latency_ms", self.trace_latency_ms),
        ):
            if latencies.count:
                for q in PERCENTILES:
                    values[f"{name}_p{q}"] = latencies.percentile(q)
        return values
