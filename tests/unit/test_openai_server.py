"""The fake OpenAI server, exercised through the real ``langchain_openai.ChatOpenAI``."""

from __future__ import annotations

import asyncio
import functools
import json
import operator
import time
import urllib.request
from typing import Any

import openai
import pytest
from langchain_core.exceptions import ModelAPIError
from langchain_core.messages import AIMessage, AIMessageChunk, HumanMessage, SystemMessage
from langchain_openai import ChatOpenAI

from tests.openai_server import OpenAIServer, ScriptedReply


def make_llm(server: Any, **kwargs: Any) -> ChatOpenAI:
    return ChatOpenAI(
        base_url=server.base_url, api_key="test", model="gpt-4o-mini", max_retries=0, **kwargs
    )


def get_weather(city: str) -> str:
    """Get the current weather for a city."""
    return f"sunny in {city}"


def aggregate(chunks: list[AIMessageChunk]) -> AIMessageChunk:
    return functools.reduce(operator.add, chunks)


# -- invoke ---------------------------------------------------------------------------


def test_invoke_returns_scripted_content_and_usage() -> None:
    reply = ScriptedReply("Paris is the capital.", prompt_tokens=12, completion_tokens=5)
    with OpenAIServer([reply]) as server:
        message = make_llm(server).invoke("What is the capital of France?")

    assert isinstance(message, AIMessage)
    assert message.content == "Paris is the capital."
    assert message.usage_metadata is not None
    assert message.usage_metadata["input_tokens"] == 12
    assert message.usage_metadata["output_tokens"] == 5
    assert message.usage_metadata["total_tokens"] == 17
    assert message.response_metadata["finish_reason"] == "stop"
    assert message.response_metadata["model_name"] == "gpt-4o-mini"
    assert message.tool_calls == []


def test_invoke_computes_token_counts_from_words_when_not_scripted() -> None:
    with OpenAIServer([ScriptedReply("one two three four")]) as server:
        message = make_llm(server).invoke(
            [SystemMessage("You are terse."), HumanMessage("Count to four please")]
        )

    assert message.usage_metadata is not None
    assert message.usage_metadata["input_tokens"] == 7  # 3 + 4 words of the two messages
    assert message.usage_metadata["output_tokens"] == 4
    assert message.usage_metadata["total_tokens"] == 11


def test_invoke_reports_cache_read_and_reasoning_details() -> None:
    reply = ScriptedReply(
        "42", prompt_tokens=100, completion_tokens=30, cached_tokens=64, reasoning_tokens=25
    )
    with OpenAIServer([reply]) as server:
        message = make_llm(server).invoke("Think hard.")

    assert message.usage_metadata == {
        "input_tokens": 100,
        "output_tokens": 30,
        "total_tokens": 130,
        "input_token_details": {"cache_read": 64},
        "output_token_details": {"reasoning": 25},
    }
    token_usage = message.response_metadata["token_usage"]
    assert token_usage["prompt_tokens_details"]["cached_tokens"] == 64
    assert token_usage["completion_tokens_details"]["reasoning_tokens"] == 25


def test_zero_cached_and_reasoning_tokens_still_show_up_as_zero() -> None:
    with OpenAIServer([ScriptedReply("hi", prompt_tokens=3, completion_tokens=1)]) as server:
        message = make_llm(server).invoke("hello")

    assert message.usage_metadata is not None
    # OpenAI always sends cached_tokens / reasoning_tokens, so ChatOpenAI keeps the zeros.
    assert message.usage_metadata.get("input_token_details") == {"cache_read": 0}
    assert message.usage_metadata.get("output_token_details") == {"reasoning": 0}


def test_replies_are_consumed_in_order_then_default_to_ok() -> None:
    with OpenAIServer([ScriptedReply("first"), ScriptedReply("second")]) as server:
        llm = make_llm(server)
        contents = [llm.invoke(f"question {i}").content for i in range(4)]

    assert contents == ["first", "second", "ok", "ok"]
    assert len(server.requests) == 4


def test_no_replies_means_ok() -> None:
    with OpenAIServer() as server:
        assert make_llm(server).invoke("ping").content == "ok"


# -- requests / model -----------------------------------------------------------------


def test_requests_record_model_name_and_messages() -> None:
    with OpenAIServer() as server:
        make_llm(server, temperature=0.2).invoke("hello there")

    [request] = server.requests
    assert request["model"] == "gpt-4o-mini"
    assert request["messages"] == [{"role": "user", "content": "hello there"}]
    assert request["temperature"] == 0.2
    assert request["stream"] is False


def test_reply_model_overrides_response_model_name() -> None:
    with OpenAIServer([ScriptedReply("hi", model="gpt-4o-mini-2024-07-18")]) as server:
        message = make_llm(server).invoke("hello")

    assert server.requests[0]["model"] == "gpt-4o-mini"
    assert message.response_metadata["model_name"] == "gpt-4o-mini-2024-07-18"


def test_callable_replies_see_the_request_body() -> None:
    seen: list[dict[str, Any]] = []

    def reply_for(request: dict[str, Any]) -> Any:
        seen.append(request)
        last = request["messages"][-1]["content"]
        return ScriptedReply(f"{request['model']} heard: {last}")

    with OpenAIServer(reply_for) as server:
        message = make_llm(server).invoke("marco")

    assert message.content == "gpt-4o-mini heard: marco"
    assert seen == server.requests
    assert seen[0]["messages"] == [{"role": "user", "content": "marco"}]


def test_callable_replies_serve_concurrent_requests() -> None:
    def echo_upper(request: dict[str, Any]) -> Any:
        text = request["messages"][-1]["content"]
        return ScriptedReply(text.upper(), chunk_delay_s=0.01, delay_s=0.05)

    prompts = [f"prompt number {i}" for i in range(8)]
    with OpenAIServer(echo_upper) as server:
        started = time.perf_counter()
        results = make_llm(server).batch(prompts, config={"max_concurrency": 8})
        elapsed = time.perf_counter() - started

    assert [r.content for r in results] == [p.upper() for p in prompts]
    assert sorted(r["messages"][-1]["content"] for r in server.requests) == sorted(prompts)
    assert elapsed < 8 * 0.05 + 2.0  # served in parallel threads, not one after another


def test_broken_callable_becomes_a_500() -> None:
    def broken(request: dict[str, Any]) -> Any:
        raise RuntimeError("boom")

    with OpenAIServer(broken) as server, pytest.raises(openai.InternalServerError):
        make_llm(server).invoke("hello")
    assert len(server.errors) == 1


# -- streaming ------------------------------------------------------------------------


def test_stream_concatenates_to_content_and_sums_usage() -> None:
    content = "Streaming  keeps\nevery space, exactly. "
    reply = ScriptedReply(content, prompt_tokens=9, cached_tokens=4, reasoning_tokens=2)
    with OpenAIServer([reply]) as server:
        chunks = list(make_llm(server).stream("Tell me a story", stream_usage=True))

    assert "".join(str(c.content) for c in chunks) == content
    assert sum(1 for c in chunks if c.content) == 5  # one chunk per word
    usages = [c.usage_metadata for c in chunks if c.usage_metadata]
    assert sum(u["input_tokens"] for u in usages) == 9
    assert sum(u["output_tokens"] for u in usages) == 5
    assert sum(u["total_tokens"] for u in usages) == 14

    merged = aggregate(chunks)
    assert merged.content == content
    assert merged.usage_metadata == {
        "input_tokens": 9,
        "output_tokens": 5,
        "total_tokens": 14,
        "input_token_details": {"cache_read": 4},
        "output_token_details": {"reasoning": 2},
    }
    assert merged.response_metadata["finish_reason"] == "stop"
    assert server.requests[0]["stream"] is True
    assert server.requests[0]["stream_options"] == {"include_usage": True}


def test_stream_without_stream_usage_reports_no_usage_for_custom_base_url() -> None:
    # ChatOpenAI only defaults stream_usage=True for the real OpenAI base URL.
    with OpenAIServer([ScriptedReply("no usage here", prompt_tokens=3)]) as server:
        chunks = list(make_llm(server).stream("hi"))

    assert "".join(str(c.content) for c in chunks) == "no usage here"
    assert all(c.usage_metadata is None for c in chunks)
    assert "stream_options" not in server.requests[0]


def test_stream_usage_can_be_enabled_on_the_model() -> None:
    with OpenAIServer([ScriptedReply("a b c", prompt_tokens=2)]) as server:
        merged = aggregate(list(make_llm(server, stream_usage=True).stream("hi")))

    assert merged.usage_metadata is not None
    assert merged.usage_metadata["input_tokens"] == 2
    assert merged.usage_metadata["output_tokens"] == 3


def test_stream_respects_delay_and_chunk_delay() -> None:
    reply = ScriptedReply("w1 w2 w3 w4", delay_s=0.3, chunk_delay_s=0.05)
    with OpenAIServer([reply]) as server:
        started = time.perf_counter()
        arrivals: list[float] = []
        for _chunk in make_llm(server).stream("go", stream_usage=True):
            arrivals.append(time.perf_counter() - started)

    assert arrivals[0] >= 0.3  # time to first token
    # role, 4 words, finish, usage: 6 gaps of >= 50ms after the first event
    assert arrivals[-1] - arrivals[0] >= 0.25


# -- tool calls -----------------------------------------------------------------------


def test_invoke_returns_parsed_tool_calls() -> None:
    reply = ScriptedReply(tool_calls=[{"name": "get_weather", "arguments": {"city": "Paris"}}])
    with OpenAIServer([reply]) as server:
        message = make_llm(server).bind_tools([get_weather]).invoke("Weather in Paris?")

    assert isinstance(message, AIMessage)
    assert message.content == ""
    [call] = message.tool_calls
    assert call["name"] == "get_weather"
    assert call["args"] == {"city": "Paris"}
    assert call["id"] is not None and call["id"].startswith("call_")
    assert message.response_metadata["finish_reason"] == "tool_calls"
    [tool] = server.requests[0]["tools"]
    assert tool["function"]["name"] == "get_weather"


def test_stream_merges_tool_call_deltas() -> None:
    reply = ScriptedReply(
        "Checking.",
        tool_calls=[
            {"name": "get_weather", "arguments": {"city": "Paris"}},
            {"name": "get_weather", "arguments": '{"city": "Oslo"}', "id": "call_fixed"},
        ],
    )
    with OpenAIServer([reply]) as server:
        llm = make_llm(server).bind_tools([get_weather])
        merged = aggregate(list(llm.stream("Weather in Paris and Oslo?", stream_usage=True)))

    assert merged.content == "Checking."
    assert [(c["name"], c["args"]) for c in merged.tool_calls] == [
        ("get_weather", {"city": "Paris"}),
        ("get_weather", {"city": "Oslo"}),
    ]
    assert merged.tool_calls[1]["id"] == "call_fixed"
    assert merged.response_metadata["finish_reason"] == "tool_calls"
    assert merged.usage_metadata is not None
    assert merged.usage_metadata["output_tokens"] == 3  # 1 word + 2 tool calls


# -- errors ---------------------------------------------------------------------------


def test_status_500_raises() -> None:
    server = OpenAIServer([ScriptedReply("upstream exploded", status=500)])
    with server, pytest.raises(openai.InternalServerError) as exc_info:
        make_llm(server).invoke("hello")

    error = exc_info.value
    assert isinstance(error, openai.APIStatusError)
    assert isinstance(error, ModelAPIError)  # ChatOpenAI 1.7 re-raises a LangChain subclass
    assert error.status_code == 500
    assert isinstance(error.body, dict)
    assert error.body["message"] == "upstream exploded"
    assert error.body["type"] == "server_error"
    assert len(server.requests) == 1  # max_retries=0: no retry


@pytest.mark.parametrize(
    ("status", "error_type"),
    [
        (400, openai.BadRequestError),
        (401, openai.AuthenticationError),
        (404, openai.NotFoundError),
        (429, openai.RateLimitError),
        (503, openai.InternalServerError),
    ],
)
def test_error_statuses_map_to_openai_errors(
    status: int, error_type: type[openai.APIStatusError]
) -> None:
    server = OpenAIServer([ScriptedReply(status=status)])
    with server, pytest.raises(error_type) as exc_info:
        make_llm(server).invoke("hello")

    assert exc_info.value.status_code == status


def test_stream_error_raises_before_any_chunk() -> None:
    with OpenAIServer([ScriptedReply(status=500)]) as server:
        received: list[AIMessageChunk] = []
        with pytest.raises(openai.APIStatusError):
            received.extend(make_llm(server).stream("hello", stream_usage=True))

    assert received == []


def test_stopped_server_refuses_connections() -> None:
    server = OpenAIServer().start()
    llm = make_llm(server)
    assert llm.invoke("hello").content == "ok"
    server.stop()

    with pytest.raises(openai.APIConnectionError):
        llm.invoke("hello again")


# -- async ----------------------------------------------------------------------------


async def test_ainvoke_returns_content_and_usage() -> None:
    reply = ScriptedReply("async hello", prompt_tokens=4, cached_tokens=1, reasoning_tokens=1)
    with OpenAIServer([reply]) as server:
        message = await make_llm(server).ainvoke("hello from asyncio")

    assert message.content == "async hello"
    assert message.usage_metadata == {
        "input_tokens": 4,
        "output_tokens": 2,
        "total_tokens": 6,
        "input_token_details": {"cache_read": 1},
        "output_token_details": {"reasoning": 1},
    }
    assert server.requests[0]["model"] == "gpt-4o-mini"


async def test_astream_and_concurrent_ainvoke() -> None:
    with OpenAIServer(lambda req: ScriptedReply(req["messages"][-1]["content"][::-1])) as server:
        llm = make_llm(server, stream_usage=True)
        chunks = [chunk async for chunk in llm.astream("olleh dlrow")]
        answers = await asyncio.gather(*(llm.ainvoke(f"{i} abc") for i in range(5)))

    assert aggregate(chunks).content == "world hello"
    assert aggregate(chunks).usage_metadata is not None
    assert [a.content for a in answers] == [f"cba {i}" for i in range(5)]
    assert len(server.requests) == 6


# -- raw HTTP -------------------------------------------------------------------------


def test_models_endpoint_and_raw_sse_stream() -> None:
    with OpenAIServer([ScriptedReply("raw text")]) as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="test", max_retries=0)
        assert [m.id for m in client.models.list()] == ["gpt-4o-mini"]

        body = json.dumps(
            {
                "model": "m",
                "stream": True,
                "stream_options": {"include_usage": True},
                "messages": [{"role": "user", "content": "hi"}],
            }
        ).encode()
        request = urllib.request.Request(
            f"{server.base_url}/chat/completions",
            data=body,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            assert response.headers["Content-Type"] == "text/event-stream"
            events = [
                line.removeprefix(b"data: ").decode()
                for line in response.read().splitlines()
                if line.startswith(b"data: ")
            ]

    assert events[-1] == "[DONE]"
    payloads = [json.loads(e) for e in events[:-1]]
    assert payloads[0]["choices"][0]["delta"]["role"] == "assistant"
    assert [p["choices"][0]["delta"].get("content") for p in payloads[1:3]] == ["raw ", "text"]
    assert payloads[3]["choices"][0]["finish_reason"] == "stop"
    assert payloads[4]["choices"] == []
    assert payloads[4]["usage"]["total_tokens"] == 3
    assert {p["object"] for p in payloads} == {"chat.completion.chunk"}


# -- gateways and media ---------------------------------------------------------------


def test_a_gateway_cost_is_answered_in_usage_and_headers() -> None:
    reply = ScriptedReply("ok", cost=0.0007, headers={"x-litellm-response-cost": "0.0007"})
    with OpenAIServer([reply]) as server:
        answer = make_llm(server, include_response_headers=True).invoke("hi")
    assert answer.response_metadata["token_usage"]["cost"] == 0.0007
    assert answer.response_metadata["headers"]["x-litellm-response-cost"] == "0.0007"


def test_images_audio_and_files_are_accepted_and_broken_parts_refused() -> None:
    from tests.media_files import b64, data_url, png, wav

    good = HumanMessage(
        content=[
            {"type": "text", "text": "look"},
            {"type": "image_url", "image_url": {"url": data_url("image/png", png(4, 4))}},
            {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}},
            {"type": "input_audio", "input_audio": {"data": b64(wav()), "format": "wav"}},
            {
                "type": "file",
                "file": {"file_data": data_url("application/pdf", b"%PDF"), "filename": "a.pdf"},
            },
        ]
    )
    bad = HumanMessage(
        content=[{"type": "image_url", "image_url": {"url": "data:image/png;base64,@@not base64"}}]
    )
    with OpenAIServer() as server:
        llm = make_llm(server)
        assert llm.invoke([good]).content == "ok"
        with pytest.raises(openai.BadRequestError, match="not base64"):
            llm.invoke([bad])
    assert len(server.requests[0]["messages"][0]["content"]) == 5
