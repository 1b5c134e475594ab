"""DistinctCount: exact, then a HyperLogLog estimate in bounded memory."""

from __future__ import annotations

from langchain_comet.distinct import EXACT_DISTINCT, DistinctCount


def test_exact_while_small() -> None:
    count = DistinctCount()
    for i in range(1000):
        count.add(f"user-{i % 300}")
    assert len(count) == 300


def test_an_estimate_within_two_percent_past_the_exact_bound() -> None:
    count = DistinctCount()
    total = EXACT_DISTINCT * 3
    for i in range(total):
        count.add(f"session-{i}")
        count.add(f"session-{i // 2}")  # repeats change nothing
    assert abs(len(count) - total) / total < 0.02
