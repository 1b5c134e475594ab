"""What the model saw (issue #15): call parameters, offered tools, prompt templates,
images/audio/files, provider-reported cost. Through ChatOpenAI against the local
OpenAI-compatible server, asserting on the archive the real comet_ml wrote."""

from __future__ import annotations

import asyncio
import errno
import hashlib
import uuid
import zipfile
from collections.abc import Callable
from typing import Any

import pytest
from langchain_core.language_models import FakeListLLM
from langchain_core.messages import HumanMessage, SystemMessage
from langchain_core.prompts import ChatPromptTemplate, PromptTemplate
from langchain_core.runnables import RunnableConfig, RunnableLambda
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI
from pydantic import BaseModel, Field

from langchain_comet import CometCallbackHandler, media
from langchain_comet.archive import Archive
from tests.media_files import b64, data_url, png, wav
from tests.openai_server import OpenAIServer, ScriptedReply

pytestmark = pytest.mark.integration

MakeHandler = Callable[..., CometCallbackHandler]
Finish = Callable[..., Archive]


def chat(server: OpenAIServer, **kwargs: Any) -> ChatOpenAI:
    kwargs.setdefault("api_key", "test")
    kwargs.setdefault("model", "gpt-4o-mini")
    return ChatOpenAI(base_url=server.base_url, max_retries=0, **kwargs)


def chat_runs(archive: Archive) -> list[dict[str, Any]]:
    return [run for run in archive.runs() if run["run_type"] == "chat_model"]


def contents(run: dict[str, Any]) -> list[Any]:
    """The content of each input message of a single-batch chat run."""
    (batch,) = run["inputs"]["messages"]
    return [message["content"] for message in batch]


# -- invocation parameters -----------------------------------------------------------------


def test_call_parameters_are_recorded_as_the_provider_got_them(
    handler: CometCallbackHandler, finish: Finish
) -> None:
    with OpenAIServer() as server:
        llm = chat(server, temperature=0.2, max_tokens=64, top_p=0.9, seed=7)
        llm.bind(stop=["END"]).invoke("Say hi", config={"callbacks": [handler]})
        (request,) = server.requests
    (run,) = finish(handler).runs()

    params = run["invocation_params"]
    assert params["model"] == request["model"] == "gpt-4o-mini"
    assert params["temperature"] == request["temperature"] == 0.2
    # ChatOpenAI sends max_tokens as max_completion_tokens; the record says what was sent.
    assert params["max_completion_tokens"] == request["max_completion_tokens"] == 64
    assert params["top_p"] == request["top_p"] == 0.9
    assert params["seed"] == request["seed"] == 7
    assert params["stop"] == request["stop"] == ["END"]
    for absent in ("tools", "tool_choice", "prompt_template"):
        assert absent not in run


def test_a_completion_model_run_has_its_parameters_too(
    handler: CometCallbackHandler, finish: Finish
) -> None:
    llm = FakeListLLM(responses=["four"])
    llm.bind(stop=["."]).invoke("Two plus two?", config={"callbacks": [handler]})
    (run,) = finish(handler).runs()
    assert run["run_type"] == "llm"
    assert run["invocation_params"]["stop"] == ["."]
    assert run["invocation_params"]["responses"] == ["four"]


def test_planted_credentials_never_reach_the_archive(
    make_handler: MakeHandler, finish: Finish
) -> None:
    # Made at run time: comet_ml archives the creating script's source, which must not
    # be what finds (or hides) the secret.
    api_key = "sk-planted" + uuid.uuid4().hex + uuid.uuid4().hex
    header_token = "hdr" + uuid.uuid4().hex
    bound_token = "bound" + uuid.uuid4().hex
    secrets = [api_key, header_token, bound_token]
    handler = make_handler()
    with OpenAIServer() as server:
        llm = chat(
            server,
            api_key=api_key,
            default_headers={"Authorization": f"Bearer {header_token}", "X-Team": "blue"},
        )
        bound = llm.bind(
            extra_headers={"api-key": bound_token, "X-Trace": "t-1"},
            user="user-42",
        )
        chain = ChatPromptTemplate.from_messages([("human", "{question}")]) | bound
        chain.invoke({"question": "Hello?"}, config={"callbacks": [handler]})
        (request,) = server.requests
    archive = finish(handler, langchain_asset=chain)

    (run,) = chat_runs(archive)
    assert run["invocation_params"]["extra_headers"] == {"api-key": "[secret]", "X-Trace": "t-1"}
    assert run["invocation_params"]["user"] == request["user"] == "user-42"
    with zipfile.ZipFile(archive.path) as archived:
        names = archived.namelist()
        assert "messages.json" in names and len(names) > 3
        for name in names:
            data = archived.read(name)
            for secret in secrets:
                assert secret.encode() not in data, f"{secret[:12]}… leaked into {name}"


# -- tools offered ---------------------------------------------------------------------------


@tool
def get_weather(city: str) -> str:
    """The weather in a city."""
    return f"sunny in {city}"


class Search(BaseModel):
    """Search the web."""

    query: str = Field(description="what to look for")
    max_results: int = 5


def test_tools_offered_with_bind_tools_are_the_schemas_the_model_got(
    handler: CometCallbackHandler, finish: Finish
) -> None:
    reply = ScriptedReply(tool_calls=[{"name": "get_weather", "arguments": {"city": "Oslo"}}])
    with OpenAIServer([reply]) as server:
        llm = chat(server).bind_tools([get_weather, Search], tool_choice="get_weather")
        answer = llm.invoke("Weather in Oslo?", config={"callbacks": [handler]})
        (request,) = server.requests
    assert answer.tool_calls[0]["args"] == {"city": "Oslo"}
    (run,) = finish(handler).runs()

    assert run["tools"] == request["tools"]
    assert [tool["function"]["name"] for tool in run["tools"]] == ["get_weather", "Search"]
    search = run["tools"][1]["function"]["parameters"]
    assert search["properties"]["query"]["description"] == "what to look for"
    assert run["tool_choice"] == request["tool_choice"]
    assert run["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}
    assert "tools" not in run["invocation_params"]
    assert "tool_choice" not in run["invocation_params"]


# -- prompt templates --------------------------------------------------------------------------

CHAT_TEMPLATE = ChatPromptTemplate.from_messages(
    [("system", "You are {role}."), ("human", "Tell me about {topic}.")]
)


def assert_template_matches_messages(run: dict[str, Any]) -> dict[str, Any]:
    """The template's variables are exactly what produced this run's messages."""
    template = run["prompt_template"]
    variables = template["variables"]
    assert contents(run) == [
        f"You are {variables['role']}.",
        f"Tell me about {variables['topic']}.",
    ]
    assert template["name"] == "ChatPromptTemplate"
    assert template["template"] == [
        {"role": "system", "template": "You are {role}."},
        {"role": "user", "template": "Tell me about {topic}."},
    ]
    return dict(variables)


def test_prompt_template_under_batch(handler: CometCallbackHandler, finish: Finish) -> None:
    inputs = [{"role": f"role-{i}", "topic": f"topic-{i}"} for i in range(8)]
    with OpenAIServer() as server:
        (CHAT_TEMPLATE | chat(server)).batch(
            inputs,
            config={
                "callbacks": [handler],
                "metadata": {"prompt_version": "v7"},
                "max_concurrency": 4,
            },
        )
    runs = chat_runs(finish(handler))
    assert len(runs) == len(inputs)
    seen = [assert_template_matches_messages(run) for run in runs]
    assert sorted(seen, key=lambda v: v["role"]) == inputs
    assert {run["prompt_template"]["version"] for run in runs} == {"v7"}


async def test_prompt_template_under_asyncio_concurrency(
    handler: CometCallbackHandler, finish: Finish
) -> None:
    with OpenAIServer() as server:
        chain = CHAT_TEMPLATE | chat(server)
        config: RunnableConfig = {"callbacks": [handler]}
        await asyncio.gather(
            *(chain.ainvoke({"role": f"r{i}", "topic": f"t{i}"}, config) for i in range(6))
        )
    runs = chat_runs(finish(handler))
    assert len(runs) == 6
    assert sorted(assert_template_matches_messages(run)["role"] for run in runs) == [
        f"r{i}" for i in range(6)
    ]
    assert {run["prompt_template"]["version"] for run in runs} == {None}


def test_prompt_template_is_never_attached_to_an_unrelated_call(
    handler: CometCallbackHandler, finish: Finish
) -> None:
    variables = {"role": "a poet", "topic": "cats"}
    with OpenAIServer() as server:
        llm = chat(server)

        def app(question: str, config: RunnableConfig) -> str:
            value = CHAT_TEMPLATE.invoke(variables, config)
            llm.invoke("an unrelated question", config)  # same parent, other messages
            llm.invoke([*value.to_messages(), HumanMessage("and dogs?")], config)  # changed
            llm.invoke(value, config)  # exactly the template's output: this one only
            return question

        RunnableLambda(app, name="app").invoke("q", config={"callbacks": [handler]})
        # Another trace with the very same messages: no prompt run of its own.
        llm.invoke(
            [SystemMessage("You are a poet."), HumanMessage("Tell me about cats.")],
            config={"callbacks": [handler]},
        )
    unrelated, changed, exact, other_trace = chat_runs(finish(handler))
    assert assert_template_matches_messages(exact) == variables
    for run in (unrelated, changed, other_trace):
        assert "prompt_template" not in run
    assert len(contents(changed)) == 3
    assert contents(other_trace) == contents(exact)
    assert other_trace["trace_id"] != exact["trace_id"] == unrelated["trace_id"]


def test_string_prompt_template_feeds_an_llm(handler: CometCallbackHandler, finish: Finish) -> None:
    template = PromptTemplate.from_template("Q: {question}\nA:").with_config(
        metadata={"prompt_version": "2024-06"}
    )
    llm = FakeListLLM(responses=["4", "6"])
    (template | llm).batch(
        [{"question": "2+2?"}, {"question": "3+3?"}], config={"callbacks": [handler]}
    )
    runs = [run for run in finish(handler).runs() if run["run_type"] == "llm"]
    assert len(runs) == 2
    for run in runs:
        template_record = run["prompt_template"]
        assert template_record["template"] == "Q: {question}\nA:"
        assert template_record["version"] == "2024-06"
        assert run["inputs"]["prompts"] == [f"Q: {template_record['variables']['question']}\nA:"]


# -- images, audio, files ----------------------------------------------------------------------


def image_message(image: bytes, text: str = "What is in this picture?") -> HumanMessage:
    return HumanMessage(
        content=[
            {"type": "text", "text": text},
            {"type": "image_url", "image_url": {"url": data_url("image/png", image)}},
            {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}},
        ]
    )


def test_an_image_is_logged_once_and_referenced_in_the_message(
    handler: CometCallbackHandler, finish: Finish
) -> None:
    image = png(64, 48)
    sha = hashlib.sha256(image).hexdigest()
    standard_block = {"type": "image", "base64": b64(image), "mime_type": "image/png"}
    with OpenAIServer([ScriptedReply("A gradient.")]) as server:
        llm = chat(server)
        llm.invoke([image_message(image)], config={"callbacks": [handler]})
        llm.invoke([image_message(image, "Again?")], config={"callbacks": [handler]})
        llm.invoke(
            [HumanMessage(content=[{"type": "text", "text": "Once more"}, standard_block])],
            config={"callbacks": [handler]},
        )
        sent = server.requests[0]["messages"][0]["content"][1]["image_url"]["url"]
    assert sent == data_url("image/png", image)  # the application's call is untouched
    archive = finish(handler)

    name = f"langchain-image-{sha[:16]}.png"
    reference = {"type": "image", "name": name, "mime_type": "image/png", "bytes": len(image)}
    reference["sha256"] = sha
    first, second, third = chat_runs(archive)
    assert contents(first) == [
        [
            {"type": "text", "text": "What is in this picture?"},
            reference,
            {"type": "image", "url": "https://example.com/cat.jpg", "mime_type": "image/jpeg"},
        ]
    ]
    assert contents(second)[0][1] == reference
    assert contents(third)[0][1] == reference

    (logged,) = archive.uploads("visualization")  # Comet's Images tab, once
    assert logged.name == name
    assert logged.data == image
    assert logged.metadata["sha256"] == sha
    with zipfile.ZipFile(archive.path) as archived:
        for member in archived.namelist():
            assert b64(image)[:64].encode() not in archived.read(member), member


def test_audio_and_files_are_logged_as_assets(
    handler: CometCallbackHandler, finish: Finish
) -> None:
    audio = wav()
    pdf = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
    message = HumanMessage(
        content=[
            {"type": "text", "text": "Transcribe and summarise."},
            {"type": "input_audio", "input_audio": {"data": b64(audio), "format": "wav"}},
            {
                "type": "file",
                "file": {"file_data": data_url("application/pdf", pdf), "filename": "q3.pdf"},
            },
        ]
    )
    with OpenAIServer() as server:
        chat(server).invoke([message], config={"callbacks": [handler]})
    archive = finish(handler)
    (run,) = chat_runs(archive)
    _, audio_ref, file_ref = contents(run)[0]
    assert audio_ref["type"] == "audio" and audio_ref["mime_type"] == "audio/wav"
    assert audio_ref["sha256"] == hashlib.sha256(audio).hexdigest()
    assert audio_ref["format"] == "wav"
    assert file_ref["type"] == "file" and file_ref["filename"] == "q3.pdf"
    assert file_ref["name"].endswith(".pdf") and file_ref["bytes"] == len(pdf)

    (logged_audio,) = archive.uploads("audio")
    assert logged_audio.name == audio_ref["name"] and logged_audio.data == audio
    (logged_file,) = archive.assets(file_ref["name"])
    assert logged_file.data == pdf and logged_file.metadata["filename"] == "q3.pdf"


def test_media_past_the_bounds_is_referenced_with_a_marker(
    handler: CometCallbackHandler, finish: Finish, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(media, "MAX_MEDIA_PER_RUN", 2)
    monkeypatch.setattr(media, "MAX_MEDIA_BYTES", 4000)
    small = [png(8, 8, seed) for seed in range(3)]
    large = png(256, 256)
    assert len(large) > 4000 > max(len(image) for image in small)
    blocks = [
        {"type": "image_url", "image_url": {"url": data_url("image/png", image)}}
        for image in [large, *small]
    ]
    with OpenAIServer() as server:
        chat(server).invoke([HumanMessage(content=blocks)], config={"callbacks": [handler]})
    archive = finish(handler)
    (run,) = chat_runs(archive)
    big, first, second, third = contents(run)[0]
    assert big["omitted"] == "larger than 4000 bytes"
    assert big["sha256"] is None and "name" not in big
    assert "omitted" not in first and "omitted" not in second
    assert third["omitted"] == "more than 2 media items in one run"
    assert "name" not in third
    logged = {upload.data for upload in archive.uploads("visualization")}
    assert logged == {small[0], small[1]}


def test_redact_still_applies_to_the_text_around_an_image(
    make_handler: MakeHandler, finish: Finish
) -> None:
    handler = make_handler(redact=lambda text: text.replace("Alice", "[name]"))
    image = png(16, 16)
    with OpenAIServer() as server:
        chat(server).invoke(
            [image_message(image, "Is Alice in it?")], config={"callbacks": [handler]}
        )
    archive = finish(handler)
    (run,) = chat_runs(archive)
    text, reference, _ = contents(run)[0]
    assert text == {"type": "text", "text": "Is [name] in it?"}
    assert reference["sha256"] == hashlib.sha256(image).hexdigest()
    assert "Alice" not in archive.runs().__repr__()
    (logged,) = archive.uploads("visualization")
    assert logged.data == image


def test_log_media_false_keeps_references_only(make_handler: MakeHandler, finish: Finish) -> None:
    handler = make_handler(log_media=False)
    image = png(16, 16)
    with OpenAIServer() as server:
        chat(server).invoke([image_message(image)], config={"callbacks": [handler]})
    archive = finish(handler)
    (run,) = chat_runs(archive)
    reference = contents(run)[0][1]
    assert reference == {
        "type": "image",
        "mime_type": "image/png",
        "bytes": len(image),
        "sha256": hashlib.sha256(image).hexdigest(),
    }
    assert archive.uploads("visualization") == []


def test_an_image_template_variable_is_a_reference(
    handler: CometCallbackHandler, finish: Finish
) -> None:
    image = png(40, 30)
    template = ChatPromptTemplate.from_messages(
        [
            (
                "human",
                [
                    {"type": "text", "text": "Describe: {hint}"},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,{image}"}},
                ],
            )
        ]
    )
    with OpenAIServer() as server:
        (template | chat(server)).invoke(
            {"hint": "colours", "image": b64(image)}, config={"callbacks": [handler]}
        )
    (run,) = chat_runs(finish(handler))
    variables = run["prompt_template"]["variables"]
    sha = hashlib.sha256(image).hexdigest()
    assert variables["hint"] == "colours"
    assert variables["image"] == {
        "type": "image",
        "mime_type": "image/png",
        "bytes": len(image),
        "sha256": sha,
    }
    assert contents(run)[0][1]["sha256"] == sha


# -- provider-reported cost ---------------------------------------------------------------------


def test_provider_reported_cost_wins_over_the_price_tables(
    make_handler: MakeHandler, finish: Finish
) -> None:
    handler = make_handler(prices={"house-model": {"input": 1.0, "output": 2.0}})
    replies = [
        ScriptedReply("a", prompt_tokens=1000, completion_tokens=10, cost=0.0123),
        ScriptedReply("b", prompt_tokens=1000, completion_tokens=10),
        ScriptedReply("c", prompt_tokens=1000, completion_tokens=10),
        ScriptedReply("d", prompt_tokens=1000, completion_tokens=10, cost=0),
    ]
    with OpenAIServer(replies) as server:
        config: RunnableConfig = {"callbacks": [handler]}
        chat(server).invoke("one", config)
        chat(server).invoke("two", config)
        chat(server, model="house-model").invoke("three", config)
        chat(server).invoke("four", config)
    archive = finish(handler)
    provider, library, user, free = archive.runs()
    assert (provider["cost_usd"], provider["cost_source"]) == (0.0123, "provider")
    assert provider["trace_cost_usd"] == 0.0123
    assert library["cost_source"] == "genai-prices" and library["cost_usd"] > 0
    assert library["cost_usd"] != 0.0123
    assert (user["cost_usd"], user["cost_source"]) == (1000 * 1.0 / 1e6 + 10 * 2.0 / 1e6, "prices")
    assert (free["cost_usd"], free["cost_source"]) == (0.0, "provider")
    assert [m.value for m in archive.metrics("cost_usd")] == [
        0.0123,
        library["cost_usd"],
        user["cost_usd"],
        0.0,
    ]


def test_litellm_response_cost_header_is_the_provider_cost(
    handler: CometCallbackHandler, finish: Finish
) -> None:
    reply = ScriptedReply("ok", headers={"x-litellm-response-cost": "0.00042"})
    with OpenAIServer([reply, reply]) as server:
        llm = chat(server, model="my-litellm-alias", include_response_headers=True)
        llm.invoke("hi", config={"callbacks": [handler]})
        list(llm.stream("hi", config={"callbacks": [handler]}))
    for run in finish(handler).runs():
        assert (run["cost_usd"], run["cost_source"]) == (0.00042, "provider")


def test_an_unpriced_call_has_no_cost_source(handler: CometCallbackHandler, finish: Finish) -> None:
    with OpenAIServer() as server:
        chat(server, model="nobody-knows-this-model").invoke("hi", config={"callbacks": [handler]})
    (run,) = finish(handler).runs()
    assert run["cost_usd"] is None
    assert "cost_source" not in run


def test_an_image_the_model_generates_is_referenced_and_logged(
    handler: CometCallbackHandler, finish: Finish
) -> None:
    from langchain_core.language_models import GenericFakeChatModel
    from langchain_core.messages import AIMessage

    image = png(32, 32, seed=3)
    answer = AIMessage(
        content=[
            {"type": "text", "text": "Here is your picture."},
            {"type": "image", "base64": b64(image), "mime_type": "image/png"},
        ]
    )
    GenericFakeChatModel(messages=iter([answer])).invoke("Draw", config={"callbacks": [handler]})
    archive = finish(handler)
    (run,) = chat_runs(archive)
    content = run["outputs"]["generations"][0][0]["message"]["content"]
    assert content[0] == {"type": "text", "text": "Here is your picture."}
    assert content[1]["sha256"] == hashlib.sha256(image).hexdigest()
    (logged,) = archive.uploads("visualization")
    assert logged.name == content[1]["name"] and logged.data == image


def test_a_failed_call_still_says_what_it_was_called_with(
    handler: CometCallbackHandler, finish: Finish
) -> None:
    with (
        OpenAIServer([ScriptedReply("overloaded", status=500)]) as server,
        pytest.raises(Exception, match="overloaded"),
    ):
        chat(server, temperature=0.9).bind_tools([get_weather]).invoke(
            "hi", config={"callbacks": [handler]}
        )
    (run,) = finish(handler).runs()
    assert run["status"] == "error"
    assert run["invocation_params"]["temperature"] == 0.9
    assert [tool["function"]["name"] for tool in run["tools"]] == ["get_weather"]
    assert run["cost_usd"] is None and "cost_source" not in run


def test_audio_the_disk_refuses_to_keep_still_reaches_comet_as_an_asset(
    make_handler: MakeHandler, finish: Finish, monkeypatch: pytest.MonkeyPatch
) -> None:
    handler = make_handler(raise_error=False)  # the full disk is reported, not raised
    from langchain_comet.store import SessionStore

    def full_disk(self: SessionStore, name: str, data: bytes) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(SessionStore, "file", full_disk)  # the fault: a full disk
    audio = wav()
    message = HumanMessage(
        content=[{"type": "input_audio", "input_audio": {"data": b64(audio), "format": "wav"}}]
    )
    with OpenAIServer() as server:
        chat(server).invoke([message], config={"callbacks": [handler]})
    archive = finish(handler)
    ((audio_ref,),) = contents(chat_runs(archive)[0])
    (logged,) = archive.assets(audio_ref["name"])
    assert logged.data == audio
