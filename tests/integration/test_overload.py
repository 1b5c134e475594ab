"""Past Comet's budget, texts are grouped and metric points averaged: nothing is lost."""

from __future__ import annotations

from collections import Counter

from langchain_core.language_models.fake import FakeListLLM


def test_a_burst_of_calls_keeps_every_text_and_every_run(handler, finish):
    calls = 1000
    llm = FakeListLLM(responses=[f"answer {i}" for i in range(calls)])
    for i in range(calls):
        llm.invoke(f"question {i}", config={"callbacks": [handler]})
    archive = finish(handler)

    texts = archive.texts()
    grouped = [t for t in texts if t.metadata["action"] == "grouped"]
    assert grouped, "a burst this size must exceed the individual-item budget"
    seen: Counter[tuple[str, str]] = Counter()
    for sample in texts:
        if sample.metadata["action"] == "grouped":
            items = sample.metadata["items"]
            assert sample.metadata["texts"] == len(items)
            for item in items:
                assert f"[step {item['step']}] {item['action']} run {item['run_id']}" in sample.text
                seen[(item["action"], item["run_id"])] += 1
        else:
            seen[(sample.metadata["action"], sample.metadata["run_id"])] += 1
    runs = archive.runs()
    assert len(runs) == calls
    for run in runs:  # each prompt and each answer exactly once, grouped or not
        assert seen[("on_llm_start", run["run_id"])] == 1
        assert seen[("on_llm_end", run["run_id"])] == 1
    for i in range(calls):
        assert f"question {i}" in "\n".join(t.text for t in texts)

    latency_points = archive.metrics("llm_latency_ms")
    assert 0 < len(latency_points) < calls  # averaged past the budget
    assert len(archive.session_table()) == calls  # the exact values are all here
