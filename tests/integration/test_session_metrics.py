"""session_* metrics: one number each per experiment, cumulative, exact, per experiment."""

from __future__ import annotations

import math

import openai
import pandas as pd
import pytest
from langchain_core.language_models.fake import FakeListLLM
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import RunnableLambda
from langchain_openai import ChatOpenAI

from langchain_comet.archive import Archive
from tests.openai_server import OpenAIServer, ScriptedReply

SESSION_METRICS = {
    "session_traces",
    "session_llm_calls",
    "session_errors",
    "session_prompt_tokens",
    "session_completion_tokens",
    "session_total_tokens",
    "session_cost_usd",
    "session_unpriced_llm_calls",
    "session_llm_latency_ms_p50",
    "session_llm_latency_ms_p95",
    "session_trace_latency_ms_p50",
    "session_trace_latency_ms_p95",
    "session_users",
    "session_sessions",
}


def chat(server: OpenAIServer, model: str = "gpt-4o-mini") -> ChatOpenAI:
    return ChatOpenAI(base_url=server.base_url, api_key="test", model=model, max_retries=0)


def expected_summary(runs: list[dict]) -> dict[str, float]:
    """The session_* metrics computed independently from the run records."""
    llm = [run for run in runs if run["run_type"] in ("llm", "chat_model")]
    roots = [run for run in runs if run["parent_run_id"] is None]
    costs = [run["cost_usd"] for run in llm if run["cost_usd"] is not None]
    expected = {
        "session_traces": len(roots),
        "session_llm_calls": len(llm),
        "session_errors": sum(run["status"] == "error" for run in runs),
        "session_unpriced_llm_calls": len(llm) - len(costs),
        "session_users": len({run["user_id"] for run in runs if run.get("user_id")}),
        "session_sessions": len({run["session_id"] for run in runs if run.get("session_id")}),
    }
    for key in ("prompt_tokens", "completion_tokens", "total_tokens"):
        expected[f"session_{key}"] = sum((run["token_usage"] or {}).get(key, 0) for run in llm)
    if costs:
        expected["session_cost_usd"] = math.fsum(costs)
    for name, chosen in (("llm", llm), ("trace", roots)):
        latencies = pd.Series(
            [run["latency_ms"] for run in chosen if run["latency_ms"] is not None]
        )
        if len(latencies):
            expected[f"session_{name}_latency_ms_p50"] = latencies.quantile(0.5)
            expected[f"session_{name}_latency_ms_p95"] = latencies.quantile(0.95)
    return expected


def logged_summary(archive: Archive) -> dict[str, float]:
    """The last value of each session_* metric: the experiment's summary."""
    return {m.name: m.value for m in archive.metrics() if m.name.startswith("session_")}


def assert_summary(archive: Archive) -> dict[str, float]:
    expected = expected_summary(archive.runs())
    logged = logged_summary(archive)
    assert logged.keys() == expected.keys()
    for name, value in expected.items():
        assert logged[name] == pytest.approx(value), name
    return logged


def test_every_session_metric_is_computed_from_the_run_records(handler, finish):
    replies = [
        ScriptedReply("Paris.", prompt_tokens=1200, completion_tokens=30, cached_tokens=512),
        ScriptedReply("Squawk.", prompt_tokens=9, completion_tokens=2),
        ScriptedReply("overloaded", status=500),
        ScriptedReply("Rome.", prompt_tokens=800, completion_tokens=20, delay_s=0.02),
    ]
    config = {"callbacks": [handler]}
    with OpenAIServer(replies) as server:
        chain = ChatPromptTemplate.from_messages([("human", "{q}")]) | chat(server)
        (chain | StrOutputParser()).invoke({"q": "Capital of France?"}, config=config)
        chat(server, "parrot-7b").invoke("hi", config=config)  # unknown: unpriced
        with pytest.raises(openai.InternalServerError):  # failed: unpriced
            chat(server).invoke("hi", config=config)
        chat(server).invoke("Capital of Italy?", config=config)
    FakeListLLM(responses=["no usage"]).invoke("hi", config=config)  # no usage: unpriced
    with pytest.raises(ZeroDivisionError):
        (RunnableLambda(lambda x: x) | RunnableLambda(lambda x: 1 / 0)).invoke(1, config=config)
    archive = finish(handler)

    logged = assert_summary(archive)
    assert logged.keys() == SESSION_METRICS
    assert logged["session_llm_calls"] == 5
    assert logged["session_unpriced_llm_calls"] == 3
    assert logged["session_traces"] == 6
    assert logged["session_errors"] == 3  # the failed call; a sequence and its failed step
    assert logged["session_prompt_tokens"] == 1200 + 9 + 800
    # One point per flush, all at the flush's step.
    steps = {m.step for m in archive.metrics() if m.name.startswith("session_")}
    assert steps == {handler.get_custom_callback_meta()["step"]}


def test_summaries_are_cumulative_across_flushes_of_one_experiment(handler, finish):
    config = {"callbacks": [handler]}
    llm = FakeListLLM(responses=["a", "b", "c"])
    llm.invoke("one", config=config)
    handler.flush_tracker()
    llm.invoke("two", config=config)
    llm.invoke("three", config=config)
    archive = finish(handler)

    assert [m.value for m in archive.metrics("session_llm_calls")] == [1, 3]
    assert [m.value for m in archive.metrics("session_traces")] == [1, 3]
    assert_summary(archive)
    # Nothing was priced: no cost at all rather than a cost of 0.
    assert archive.metrics("session_cost_usd") == []
    assert [m.value for m in archive.metrics("session_unpriced_llm_calls")] == [1, 3]


def test_a_reset_experiment_summarises_only_its_own_session(handler, finish, offline_dir):
    replies = [
        ScriptedReply("a", prompt_tokens=100, completion_tokens=10),
        ScriptedReply("b", prompt_tokens=200, completion_tokens=20),
        ScriptedReply("c", prompt_tokens=400, completion_tokens=40),
    ]
    config = {"callbacks": [handler]}
    with OpenAIServer(replies) as server:
        chat(server).invoke("first", config=config)
        first_id = handler.experiment.id
        handler.flush_tracker(reset=True)
        chat(server).invoke("second", config=config)
        chat(server).invoke("third", config=config)
    second = finish(handler)
    first = Archive(offline_dir / f"{first_id}.zip")

    assert logged_summary(first)["session_prompt_tokens"] == 100
    assert logged_summary(second)["session_prompt_tokens"] == 600
    assert logged_summary(second)["session_llm_calls"] == 2
    assert_summary(first)
    assert_summary(second)


def test_summaries_are_exact_when_per_run_metrics_are_averaged(handler, finish):
    # 150 calls at once: the per-run metrics go past the Comet budget and are averaged
    # into one point per second; the summaries are logged as they are.
    llm = FakeListLLM(responses=["x"])
    llm.batch([str(i) for i in range(150)], config={"callbacks": [handler]})
    archive = finish(handler)

    assert len(archive.metrics("llm_latency_ms")) < 150
    logged = assert_summary(archive)
    assert logged["session_llm_calls"] == 150
