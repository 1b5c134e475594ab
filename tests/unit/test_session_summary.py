"""SessionSummary: counts and totals of run records, percentiles as pandas computes them."""

from __future__ import annotations

import pandas as pd
import pytest

from langchain_comet.session_summary import SessionSummary


def llm_record(latency_ms, cost=None, *, parent="root", status="success", step=1, usage=None):
    return {
        "run_type": "chat_model",
        "parent_run_id": parent,
        "status": status,
        "latency_ms": latency_ms,
        "token_usage": usage,
        "cost_usd": cost,
        "step": step,
    }


@pytest.mark.parametrize(
    "latencies",
    [[5.0], [1.0, 2.0], [3, 1, 4, 1, 5, 9, 2, 6], [0.1 * i for i in range(101)], [7.5] * 4],
)
def test_percentiles_interpolate_linearly_like_pandas(latencies):
    summary = SessionSummary()
    for latency in latencies:
        summary.add(llm_record(latency), llm=True)
    metrics = summary.metrics()
    series = pd.Series(latencies, dtype="float64")
    assert metrics["session_llm_latency_ms_p50"] == pytest.approx(series.quantile(0.5))
    assert metrics["session_llm_latency_ms_p95"] == pytest.approx(series.quantile(0.95))


def test_an_empty_session_counts_zero_and_has_no_cost_or_percentiles():
    assert SessionSummary().metrics() == {
        "session_traces": 0,
        "session_llm_calls": 0,
        "session_errors": 0,
        "session_prompt_tokens": 0,
        "session_completion_tokens": 0,
        "session_total_tokens": 0,
        "session_unpriced_llm_calls": 0,
        "session_users": 0,
        "session_sessions": 0,
    }


def test_counts_totals_and_the_last_step():
    summary = SessionSummary()
    usage = {"prompt_tokens": 10, "completion_tokens": 2, "total_tokens": 12, "cache_read": 4}
    summary.add(llm_record(1.0, 0.25, usage=usage, step=3), llm=True)
    summary.add(llm_record(2.0, None, usage=usage, step=5), llm=True)
    summary.add(llm_record(None, None, status="error", step=4), llm=True)
    root = {"parent_run_id": None, "status": "incomplete", "latency_ms": None, "step": None}
    summary.add(root, llm=False)
    summary.add({"parent_run_id": None, "status": "error", "latency_ms": 8.0, "step": 6}, llm=False)

    metrics = summary.metrics()
    assert summary.step == 6
    assert metrics["session_traces"] == 2
    assert metrics["session_llm_calls"] == 3
    assert metrics["session_errors"] == 2
    assert metrics["session_prompt_tokens"] == 20
    assert metrics["session_total_tokens"] == 24
    assert metrics["session_cost_usd"] == 0.25
    assert metrics["session_unpriced_llm_calls"] == 2
    assert metrics["session_llm_latency_ms_p50"] == 1.5
    assert metrics["session_trace_latency_ms_p95"] == 8.0


def test_past_the_exact_limit_percentiles_stay_within_one_percent_in_bounded_memory():
    import random

    from langchain_comet.session_summary import EXACT_LATENCIES, Latencies

    rng = random.Random(7)
    values = [rng.lognormvariate(3, 1.5) for _ in range(EXACT_LATENCIES + 50_000)]
    values += [0.0] * 10  # a clock that did not move
    latencies = Latencies()
    for value in values:
        latencies.add(value)
    series = pd.Series(values, dtype="float64")
    for q in (1, 50, 95, 99):
        assert latencies.percentile(q) == pytest.approx(series.quantile(q / 100), rel=0.01)
    assert latencies.percentile(0) == 0.0
    # Memory no longer grows with the count: a few hundred buckets for this spread.
    buckets = latencies.buckets
    for value in values[:20_000]:
        latencies.add(value)
    assert latencies.buckets == buckets < 1_500
