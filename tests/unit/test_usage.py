"""Token usage in one shape whatever the provider reports; every name a run gives its model."""

from __future__ import annotations

from langchain_core.messages import AIMessage
from langchain_core.outputs import ChatGeneration, Generation, LLMResult

from langchain_comet.usage import model_name, model_names, token_usage


def test_anthropic_raw_usage_counts_cache_tokens_as_part_of_the_prompt():
    # Anthropic's API reports input_tokens without the cache reads and writes.
    raw = {
        "input_tokens": 100,
        "cache_read_input_tokens": 800,
        "cache_creation_input_tokens": 50,
        "output_tokens": 20,
    }
    result = LLMResult(generations=[[Generation(text="x")]], llm_output={"usage": raw})
    assert token_usage(result) == {
        "prompt_tokens": 950,
        "completion_tokens": 20,
        "total_tokens": 970,
        "cache_read": 800,
        "cache_creation": 50,
    }


def test_openai_raw_usage_already_counts_cached_tokens_in_the_prompt():
    raw = {
        "prompt_tokens": 1000,
        "completion_tokens": 30,
        "total_tokens": 1030,
        "prompt_tokens_details": {"cached_tokens": 600},
        "completion_tokens_details": {"reasoning_tokens": 10},
    }
    result = LLMResult(generations=[[Generation(text="x")]], llm_output={"token_usage": raw})
    assert token_usage(result) == {
        "prompt_tokens": 1000,
        "completion_tokens": 30,
        "total_tokens": 1030,
        "cache_read": 600,
        "reasoning": 10,
    }


def test_usage_metadata_is_langchains_shape_already():
    message = AIMessage(
        content="x",
        usage_metadata={
            "input_tokens": 950,
            "output_tokens": 20,
            "total_tokens": 970,
            "input_token_details": {"cache_read": 800, "cache_creation": 50},
        },
    )
    result = LLMResult(generations=[[ChatGeneration(message=message)]])
    assert token_usage(result) == {
        "prompt_tokens": 950,
        "completion_tokens": 20,
        "total_tokens": 970,
        "cache_read": 800,
        "cache_creation": 50,
    }


def test_model_names_in_order_without_repeats():
    message = AIMessage(content="x", response_metadata={"model_name": "gpt-4o-mini-2024-07-18"})
    result = LLMResult(generations=[[ChatGeneration(message=message)]])
    metadata = {"ls_model_name": "my-alias"}
    params = {"model": "my-alias", "deployment_name": "prod-deployment"}
    assert model_names(metadata, params, result) == [
        "my-alias",
        "prod-deployment",
        "gpt-4o-mini-2024-07-18",
    ]
    assert model_name(metadata, params, result) == "my-alias"
    assert model_name(None, None, result) == "gpt-4o-mini-2024-07-18"
    assert model_names(None, None) == []
    assert model_name(None, None) is None
