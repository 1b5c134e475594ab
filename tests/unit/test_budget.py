"""The Comet budget: items one by one while it lasts, grouped past it, nothing dropped."""

from __future__ import annotations

from langchain_comet.budget import AggregatedPoints, GroupedTexts, TokenBucket


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_bucket_allows_its_burst_then_its_rate():
    clock = Clock()
    bucket = TokenBucket(rate=10, burst=3, clock=clock)
    assert [bucket.take() for _ in range(4)] == [True, True, True, False]
    clock.now = 0.1  # one token back
    assert bucket.take() is True
    assert bucket.take() is False
    clock.now = 100.0  # never more than the burst
    assert sum(bucket.take() for _ in range(10)) == 3


def test_a_bucket_charges_several_tokens_at_once():
    bucket = TokenBucket(rate=1, burst=5, clock=Clock())
    assert bucket.take(5) is True
    assert bucket.take(1) is False


def test_grouped_texts_keep_every_text_with_its_metadata_in_order():
    grouped = GroupedTexts()
    grouped.add("first prompt", {"action": "on_llm_start", "run_id": "r1"}, 3)
    grouped.add("first answer", {"action": "on_llm_end", "run_id": "r1"}, 4)
    text, metadata, step = grouped.render()

    assert text == (
        "[step 3] on_llm_start run r1\nfirst prompt\n\n[step 4] on_llm_end run r1\nfirst answer"
    )
    assert step == 4
    assert metadata["action"] == "grouped"
    assert metadata["texts"] == 2
    assert (metadata["first_step"], metadata["last_step"]) == (3, 4)
    assert metadata["items"] == [
        {"step": 3, "action": "on_llm_start", "run_id": "r1"},
        {"step": 4, "action": "on_llm_end", "run_id": "r1"},
    ]
    assert len(grouped) == 0


def test_aggregated_points_are_one_mean_per_metric_at_the_last_step():
    points = AggregatedPoints()
    points.add({"llm_latency_ms": 10.0, "total_tokens": 5}, 7, None)
    points.add({"llm_latency_ms": 30.0}, 9, None)
    points.add({"mean": 2.0}, 9, "chars")
    assert sorted(points.drain(), key=str) == sorted(
        [
            (None, "llm_latency_ms", 20.0, 9),
            (None, "total_tokens", 5.0, 7),
            ("chars", "mean", 2.0, 9),
        ],
        key=str,
    )
    assert len(points) == 0
