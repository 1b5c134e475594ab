"""A real provider integration, ChatOpenAI, against an OpenAI-compatible server on 127.0.0.1."""

from __future__ import annotations

import openai
import pytest
from langchain_core.messages import HumanMessage, SystemMessage
from langchain_openai import ChatOpenAI

from tests.openai_server import OpenAIServer, ScriptedReply


def chat(server: OpenAIServer, **kwargs) -> ChatOpenAI:
    return ChatOpenAI(
        base_url=server.base_url, api_key="test", model="gpt-4o-mini", max_retries=0, **kwargs
    )


def test_invoke_records_tokens_latency_and_model(handler, finish):
    reply = ScriptedReply("Paris.", prompt_tokens=21, completion_tokens=2, delay_s=0.05)
    with OpenAIServer([reply]) as server:
        answer = chat(server).invoke(
            [SystemMessage(content="Be terse."), HumanMessage(content="Capital of France?")],
            config={"callbacks": [handler]},
        )
    assert answer.content == "Paris."
    archive = finish(handler)
    (run,) = archive.runs()

    assert run["run_type"] == "chat_model"
    assert run["name"] == "ChatOpenAI"
    assert run["model_name"] == "gpt-4o-mini"
    assert run["provider"] == "openai"
    assert run["token_usage"]["prompt_tokens"] == 21
    assert run["token_usage"]["completion_tokens"] == 2
    assert run["token_usage"]["total_tokens"] == 23
    assert run["latency_ms"] >= 50
    assert [m["role"] for m in run["inputs"]["messages"][0]] == ["system", "user"]
    assert [m.value for m in archive.metrics("total_tokens")] == [23]
    (row,) = archive.session_table().to_dict("records")
    assert row["text"] == "Paris."
    assert row["prompts"] == "system: Be terse.\nuser: Capital of France?"
    assert row["total_tokens"] == 23


def test_stream_records_time_to_first_token_and_usage(handler, finish):
    reply = ScriptedReply(
        "one two three four",
        prompt_tokens=9,
        completion_tokens=4,
        cached_tokens=3,
        delay_s=0.05,
        chunk_delay_s=0.02,
    )
    with OpenAIServer([reply]) as server:
        chunks = list(
            chat(server, stream_usage=True).stream("count", config={"callbacks": [handler]})
        )
    assert "".join(str(c.content) for c in chunks) == "one two three four"
    archive = finish(handler)
    (run,) = archive.runs()

    assert run["tokens_streamed"] >= 4
    assert run["time_to_first_token_ms"] >= 50
    assert run["latency_ms"] >= run["time_to_first_token_ms"] + 3 * 20 * 0.9
    assert run["token_usage"]["prompt_tokens"] == 9
    assert run["token_usage"]["completion_tokens"] == 4
    assert run["token_usage"]["cache_read"] == 3
    assert run["model_name"] == "gpt-4o-mini"
    (ttft,) = archive.metrics("time_to_first_token_ms")
    assert ttft.value == run["time_to_first_token_ms"]


def test_a_provider_error_is_recorded_and_raised_to_the_caller(handler, finish):
    with (
        OpenAIServer([ScriptedReply("overloaded", status=500)]) as server,
        pytest.raises(openai.InternalServerError),
    ):
        chat(server).invoke("hi", config={"callbacks": [handler]})
    (run,) = finish(handler).runs()
    assert run["status"] == "error"
    assert "overloaded" in run["error"]["message"]
    assert run["model_name"] == "gpt-4o-mini"
    assert run["cost_usd"] is None  # a failed call's cost is unknown, never 0
