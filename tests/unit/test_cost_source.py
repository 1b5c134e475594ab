"""cost_source.py: a cost the response reports wins over the price tables."""

from __future__ import annotations

import time

from langchain_core.messages import AIMessage
from langchain_core.outputs import ChatGeneration, Generation, LLMResult

from langchain_comet.cost_source import choose, provider_cost
from langchain_comet.pricing import Pricer

TOKENS = {"prompt_tokens": 1000, "completion_tokens": 100, "total_tokens": 1100}


def result(llm_output=None, response_metadata=None, generation_info=None) -> LLMResult:
    message = AIMessage("ok", response_metadata=response_metadata or {})
    generation = ChatGeneration(message=message, generation_info=generation_info)
    return LLMResult(generations=[[generation]], llm_output=llm_output)


def test_usage_cost_in_llm_output() -> None:
    assert provider_cost(result({"token_usage": {"prompt_tokens": 3, "cost": 0.002}})) == 0.002
    assert provider_cost(result({"usage": {"cost": "0.5"}})) == 0.5


def test_xai_ticks() -> None:
    assert provider_cost(result({"token_usage": {"cost_in_usd_ticks": 37756000}})) == 0.0037756


def test_litellm_header_in_response_metadata_or_generation_info() -> None:
    headers = {"X-LiteLLM-Response-Cost": "0.00042", "x-other": "1"}
    assert provider_cost(result(response_metadata={"headers": headers})) == 0.00042
    assert provider_cost(result(generation_info={"headers": headers})) == 0.00042


def test_each_prompt_of_a_run_adds_its_call_cost() -> None:
    generations = [
        [ChatGeneration(message=AIMessage("a", response_metadata={"token_usage": {"cost": 0.25}}))],
        [ChatGeneration(message=AIMessage("b", response_metadata={"token_usage": {"cost": 0.5}}))],
    ]
    assert provider_cost(LLMResult(generations=generations)) == 0.75


def test_nonsense_is_no_cost() -> None:
    for value in (-1, float("nan"), float("inf"), True, "cheap", None, {"usd": 1}):
        assert provider_cost(result({"token_usage": {"cost": value}})) is None
    assert provider_cost(LLMResult(generations=[[Generation(text="x")]])) is None


def test_choose_says_where_the_cost_came_from() -> None:
    pricer = Pricer({"house": {"input": 1.0, "output": 2.0}})
    now = time.time()
    reported = result({"token_usage": {"cost": 0.01}})
    assert choose(pricer, reported, TOKENS, None, ["gpt-4o-mini"], now) == (0.01, "provider")
    plain = result({"token_usage": {}})
    assert choose(pricer, plain, TOKENS, None, ["house"], now) == (0.0012, "prices")
    cost, source = choose(pricer, plain, TOKENS, "openai", ["gpt-4o-mini"], now)
    assert source == "genai-prices" and cost is not None and cost > 0
    assert choose(pricer, plain, TOKENS, None, ["unknown-model-x"], now) == (None, None)
    assert choose(pricer, plain, None, None, ["house"], now) == (None, None)
