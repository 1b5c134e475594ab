"""Cost per run and per trace, through ChatOpenAI against the local OpenAI-compatible server."""

from __future__ import annotations

import logging
import math

import pytest
from genai_prices import Usage, calc_price
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import RunnableLambda
from langchain_openai import ChatOpenAI

from langchain_comet.archive import Archive
from tests.openai_server import OpenAIServer, ScriptedReply


def chat(server: OpenAIServer, model: str = "gpt-4o-mini", **kwargs) -> ChatOpenAI:
    return ChatOpenAI(
        base_url=server.base_url, api_key="test", model=model, max_retries=0, **kwargs
    )


def library_cost(model: str, **usage: int) -> float:
    return float(calc_price(Usage(**usage), model, provider_id="openai").total_price)


def llm_runs(archive: Archive) -> list[dict]:
    return [run for run in archive.runs() if run["run_type"] in ("llm", "chat_model")]


@pytest.mark.parametrize(
    ("requested", "answered"),
    [
        ("gpt-4o-mini", None),
        ("gpt-4o-mini", "gpt-4o-mini-2024-07-18"),
        ("gpt-4o-mini-2024-07-18", None),
        # An alias the price data lacks: the dated model the server answered with prices it.
        ("my-gateway-alias", "gpt-4o-mini-2024-07-18"),
    ],
)
def test_a_known_model_costs_what_genai_prices_says(handler, finish, requested, answered):
    reply = ScriptedReply(
        "Paris.", prompt_tokens=1200, completion_tokens=300, reasoning_tokens=100, model=answered
    )
    with OpenAIServer([reply]) as server:
        chat(server, requested).invoke("Capital of France?", config={"callbacks": [handler]})
    archive = finish(handler)
    (run,) = archive.runs()

    expected = library_cost(
        "gpt-4o-mini-2024-07-18",
        input_tokens=1200,
        output_tokens=300,
        output_reasoning_tokens=100,
    )
    assert run["model_name"] == requested
    assert run["token_usage"]["reasoning"] == 100
    assert run["cost_usd"] == pytest.approx(expected)
    assert run["trace_cost_usd"] == run["cost_usd"]  # the chat model is the trace's root
    assert [m.value for m in archive.metrics("cost_usd")] == [pytest.approx(expected)]
    assert [m.value for m in archive.metrics("trace_cost_usd")] == [pytest.approx(expected)]


def test_cached_prompt_tokens_cost_less(handler, finish):
    replies = [
        ScriptedReply("a", prompt_tokens=10_000, completion_tokens=50),
        ScriptedReply("a", prompt_tokens=10_000, completion_tokens=50, cached_tokens=8_000),
    ]
    with OpenAIServer(replies) as server:
        llm = chat(server)
        for _ in replies:
            llm.invoke("hi", config={"callbacks": [handler]})
    uncached, cached = llm_runs(finish(handler))

    assert cached["token_usage"]["cache_read"] == 8_000
    assert cached["cost_usd"] < uncached["cost_usd"]
    assert uncached["cost_usd"] == pytest.approx(
        library_cost("gpt-4o-mini", input_tokens=10_000, output_tokens=50)
    )
    assert cached["cost_usd"] == pytest.approx(
        library_cost("gpt-4o-mini", input_tokens=10_000, output_tokens=50, cache_read_tokens=8_000)
    )


@pytest.mark.parametrize("model", ["my-finetune", "gpt-4o-mini"])
def test_the_users_prices_win(make_handler, finish, model):
    table = {"input": 2.0, "output": 8.0, "cache_read": 0.5}
    handler = make_handler(prices={model: table})
    reply = ScriptedReply("a", prompt_tokens=1000, completion_tokens=100, cached_tokens=400)
    with OpenAIServer([reply]) as server:
        chat(server, model).invoke("hi", config={"callbacks": [handler]})
    (run,) = finish(handler).runs()

    expected = (600 * table["input"] + 400 * table["cache_read"] + 100 * table["output"]) / 1e6
    assert run["cost_usd"] == pytest.approx(expected)


def test_an_unknown_model_has_no_cost_never_zero(handler, finish):
    with OpenAIServer([ScriptedReply("a", prompt_tokens=10, completion_tokens=2)]) as server:
        chat(server, "parrot-7b").invoke("hi", config={"callbacks": [handler]})
    archive = finish(handler)
    (run,) = archive.runs()

    assert run["token_usage"]["total_tokens"] == 12
    assert "cost_usd" in run
    assert run["cost_usd"] is None
    assert run["trace_cost_usd"] is None
    assert archive.metrics("cost_usd") == []
    assert archive.metrics("trace_cost_usd") == []
    assert archive.metrics("session_unpriced_llm_calls")[-1].value == 1


def test_streamed_and_invoked_calls_cost_the_same(handler, finish):
    def reply(request):
        return ScriptedReply(
            "one two three", prompt_tokens=900, completion_tokens=3, cached_tokens=512
        )

    with OpenAIServer(reply) as server:
        chat(server).invoke("count", config={"callbacks": [handler]})
        list(chat(server, stream_usage=True).stream("count", config={"callbacks": [handler]}))
        list(
            chat(server, model_kwargs={"stream_options": {"include_usage": True}}).stream(
                "count", config={"callbacks": [handler]}
            )
        )
    invoked, *streamed = llm_runs(finish(handler))

    assert [run["tokens_streamed"] > 0 for run in streamed] == [True, True]
    assert invoked["cost_usd"] is not None
    for run in streamed:
        assert run["token_usage"] == invoked["token_usage"]
        assert run["cost_usd"] == invoked["cost_usd"]


def test_a_traces_cost_is_the_sum_of_its_llm_runs(handler, finish):
    replies = [
        ScriptedReply("draft", prompt_tokens=500, completion_tokens=40),
        ScriptedReply("final", prompt_tokens=700, completion_tokens=60, cached_tokens=256),
        ScriptedReply("?", prompt_tokens=5, completion_tokens=1),
    ]
    with OpenAIServer(replies) as server:
        prompt = ChatPromptTemplate.from_messages([("human", "{q}")])
        parse = StrOutputParser()
        draft = prompt | chat(server) | parse
        review = chat(server, "gpt-4o") | parse
        unknown = chat(server, "parrot-7b") | parse
        pipeline = draft | RunnableLambda(lambda text: f"Improve: {text}") | review | unknown
        pipeline.invoke({"q": "write"}, config={"callbacks": [handler]})
    archive = finish(handler)
    runs = archive.runs()

    (root,) = [run for run in runs if run["parent_run_id"] is None]
    costs = [run["cost_usd"] for run in runs if run["run_type"] == "chat_model"]
    assert len(costs) == 3
    assert costs.count(None) == 1
    assert root["trace_cost_usd"] == pytest.approx(math.fsum(c for c in costs if c is not None))
    assert [m.value for m in archive.metrics("trace_cost_usd")] == [
        pytest.approx(root["trace_cost_usd"])
    ]
    # Only LLM runs carry a cost, only roots a trace cost.
    for run in runs:
        assert ("cost_usd" in run) == (run["run_type"] == "chat_model")
        assert ("trace_cost_usd" in run) == (run is root)


@pytest.mark.parametrize(
    ("prices", "error", "model", "key"),
    [
        ({"my-model": {"input": -1.0, "output": 2.0}}, ValueError, "my-model", "input"),
        ({"my-model": {"input": 1.0, "output": "2.0"}}, TypeError, "my-model", "output"),
        ({"my-model": {"input": True, "output": 2.0}}, TypeError, "my-model", "input"),
        ({"my-model": {"input": float("nan"), "output": 2.0}}, ValueError, "my-model", "input"),
        ({"my-model": {"input": 1.0, "output": float("inf")}}, ValueError, "my-model", "output"),
        (
            {"my-model": {"input": 1.0, "output": 2.0, "cache_read": -0.1}},
            ValueError,
            "my-model",
            "cache_read",
        ),
        ({"my-model": {"output": 2.0}}, ValueError, "my-model", "input"),
        ({"my-model": {"input": 1.0}}, ValueError, "my-model", "output"),
        (
            {"my-model": {"input": 1.0, "output": 2.0, "cache_write": 1.0}},
            ValueError,
            "my-model",
            "cache_write",
        ),
    ],
)
def test_bad_prices_fail_at_construction(make_handler, caplog, prices, error, model, key):
    caplog.set_level(logging.INFO, logger="langchain_comet")
    with pytest.raises(error) as failure:
        make_handler(prices=prices)
    assert repr(model) in str(failure.value)
    assert repr(key) in str(failure.value)
    assert "logging offline" not in caplog.text  # before any experiment was started


@pytest.mark.parametrize("prices", [["my-model"], "my-model", 1.0])
def test_prices_must_be_a_mapping(make_handler, prices):
    with pytest.raises(TypeError, match="prices must be a mapping of model name"):
        make_handler(prices=prices)
