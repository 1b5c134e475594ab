"""The run tree: one record per run, joined by run id, written as langchain-runs.jsonl."""

from __future__ import annotations

import json
import math
from datetime import datetime

import pytest
import tenacity
from langchain_core.callbacks.manager import dispatch_custom_event
from langchain_core.documents import Document
from langchain_core.language_models.fake import FakeListLLM
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.language_models.llms import LLM
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate, PromptTemplate
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import RunnableLambda
from langchain_core.tools import tool

RECORD_FIELDS = {
    "run_id",
    "parent_run_id",
    "trace_id",
    "run_type",
    "name",
    "start_time",
    "end_time",
    "latency_ms",
    "inputs",
    "outputs",
    "error",
    "tags",
    "metadata",
    "model_name",
    "token_usage",
    "time_to_first_token_ms",
    "tokens_streamed",
}


class KeywordRetriever(BaseRetriever):
    documents: list[Document]

    def _get_relevant_documents(self, query: str, *, run_manager) -> list[Document]:
        words = set(query.lower().split())
        return [d for d in self.documents if words & set(d.page_content.lower().split())]


@tool
def explode(reason: str) -> str:
    """Always fails."""
    raise RuntimeError(f"tool exploded: {reason}")


def by_name(runs):
    return {run["name"]: run for run in runs}


def test_an_lcel_chain_becomes_a_tree_of_runs(handler, finish):
    chain = (
        PromptTemplate.from_template("Tell me about {topic}")
        | FakeListLLM(responses=["Paris is in France."])
        | StrOutputParser()
    )
    assert chain.invoke({"topic": "Paris"}, config={"callbacks": [handler]}) == (
        "Paris is in France."
    )
    runs = finish(handler).runs()

    assert len(runs) == 4
    for run in runs:
        assert set(run) >= RECORD_FIELDS
        assert run["status"] == "success"
        assert run["latency_ms"] >= 0
        assert datetime.fromisoformat(run["end_time"]) >= datetime.fromisoformat(run["start_time"])
    root = by_name(runs)["RunnableSequence"]
    assert root["parent_run_id"] is None
    assert root["trace_id"] == root["run_id"]
    assert root["inputs"] == {"topic": "Paris"}
    assert root["outputs"] == "Paris is in France."
    children = [r for r in runs if r is not root]
    assert {r["parent_run_id"] for r in children} == {root["run_id"]}
    assert {r["trace_id"] for r in children} == {root["run_id"]}
    assert {r["run_type"] for r in children} == {"prompt", "llm", "parser"}
    llm = by_name(runs)["FakeListLLM"]
    assert llm["inputs"] == {"prompts": ["Tell me about Paris"]}
    assert llm["outputs"]["generations"][0][0]["text"] == "Paris is in France."
    assert llm["tags"] == ["seq:step:2"]
    assert llm["metadata"]["ls_provider"] == "fakelist"


def test_chat_messages_keep_their_roles(handler, finish):
    model = GenericFakeChatModel(messages=iter([AIMessage(content="Bonjour!")]))
    prompt = ChatPromptTemplate.from_messages([("system", "Answer in French."), ("human", "{q}")])
    (prompt | model).invoke({"q": "Hello"}, config={"callbacks": [handler]})
    runs = finish(handler).runs()

    chat = next(r for r in runs if r["run_type"] == "chat_model")
    messages = chat["inputs"]["messages"][0]
    assert [(m["role"], m["content"]) for m in messages] == [
        ("system", "Answer in French."),
        ("user", "Hello"),
    ]
    answer = chat["outputs"]["generations"][0][0]["message"]
    assert answer["role"] == "assistant"
    assert answer["content"] == "Bonjour!"


def test_a_failing_tool_is_recorded_and_the_caller_still_gets_its_exception(handler, finish):
    with pytest.raises(RuntimeError, match="tool exploded: testing"):
        explode.invoke({"reason": "testing"}, config={"callbacks": [handler]})
    runs = finish(handler).runs()

    (run,) = runs
    assert run["run_type"] == "tool"
    assert run["name"] == "explode"
    assert run["status"] == "error"
    assert run["inputs"] == {"reason": "testing"}
    assert run["error"]["type"] == "RuntimeError"
    assert run["error"]["message"] == "tool exploded: testing"
    assert "raise RuntimeError" in run["error"]["traceback"]
    assert handler.get_custom_callback_meta()["errors"] == 1


def test_errors_inside_a_chain_mark_the_failing_run_and_its_ancestors(handler, finish):
    def boom(_: str) -> str:
        raise ValueError("bad input")

    chain = RunnableLambda(lambda x: x.upper(), name="upper") | RunnableLambda(boom, name="boom")
    with pytest.raises(ValueError):
        chain.invoke("abc", config={"callbacks": [handler]})
    runs = by_name(finish(handler).runs())

    assert runs["upper"]["status"] == "success"
    assert runs["upper"]["outputs"] == "ABC"
    assert runs["boom"]["status"] == "error"
    assert runs["boom"]["error"]["message"] == "bad input"
    assert runs["RunnableSequence"]["status"] == "error"
    assert runs["RunnableSequence"]["error"]["type"] == "ValueError"


def test_retrievers_record_their_query_and_documents(handler, finish):
    retriever = KeywordRetriever(
        documents=[
            Document(page_content="Comet tracks experiments", metadata={"source": "a"}),
            Document(page_content="Bread needs flour", metadata={"source": "b"}),
        ]
    )
    docs = retriever.invoke("what tracks experiments", config={"callbacks": [handler]})
    assert len(docs) == 1
    (run,) = finish(handler).runs()

    assert run["run_type"] == "retriever"
    assert run["inputs"] == {"query": "what tracks experiments"}
    (doc,) = run["outputs"]["documents"]
    assert doc["page_content"] == "Comet tracks experiments"
    assert doc["metadata"] == {"source": "a"}


def test_custom_events_are_attached_to_the_run_that_dispatched_them(handler, finish):
    def work(x: int) -> int:
        dispatch_custom_event("progress", {"done": 0.5})
        return x * 2

    assert RunnableLambda(work, name="work").invoke(21, config={"callbacks": [handler]}) == 42
    (run,) = finish(handler).runs()

    (event,) = run["events"]
    assert event["event"] == "custom_event"
    assert event["name"] == "progress"
    assert event["data"] == {"done": 0.5}


class FlakyLLM(LLM):
    """Fails twice, then answers: retried the way LangChain's LLM integrations retry."""

    failures: int = 2

    @property
    def _llm_type(self) -> str:
        return "flaky"

    def _call(self, prompt, stop=None, run_manager=None, **kwargs) -> str:
        # What create_base_retry_decorator does, without its 4-second minimum wait.
        @tenacity.retry(
            retry=tenacity.retry_if_exception_type(ConnectionError),
            stop=tenacity.stop_after_attempt(3),
            before_sleep=run_manager.on_retry,
            reraise=True,
        )
        def call() -> str:
            if self.failures:
                self.failures -= 1
                raise ConnectionError("try again")
            return "finally"

        return call()


def test_retries_are_attached_to_the_run_that_retried(handler, finish):
    assert FlakyLLM().invoke("hello", config={"callbacks": [handler]}) == "finally"
    (run,) = finish(handler).runs()

    assert run["status"] == "success"
    retries = [e for e in run["events"] if e["event"] == "retry"]
    assert len(retries) == 2
    first, second = (e["attempt"] for e in retries)  # tenacity's attempt_number
    assert second == first + 1
    assert all(e["error"]["type"] == "ConnectionError" for e in retries)


def test_streaming_chat_records_time_to_first_token_and_tokens_streamed(handler, finish):
    model = GenericFakeChatModel(messages=iter([AIMessage(content="one two three")]))
    chunks = list(model.stream([HumanMessage(content="count")], config={"callbacks": [handler]}))
    assert "".join(c.content for c in chunks) == "one two three"
    (run,) = finish(handler).runs()

    assert run["tokens_streamed"] == 5  # three words and two spaces
    assert 0 <= run["time_to_first_token_ms"] <= run["latency_ms"]


def test_token_usage_comes_from_usage_metadata(handler, finish):
    message = AIMessage(
        content="fine",
        usage_metadata={
            "input_tokens": 12,
            "output_tokens": 3,
            "total_tokens": 15,
            "input_token_details": {"cache_read": 4},
            "output_token_details": {"reasoning": 1},
        },
        response_metadata={"model_name": "demo-model-2024-01-01"},
    )
    model = GenericFakeChatModel(messages=iter([message]))
    model.invoke(
        [SystemMessage(content="hi"), HumanMessage(content="how are you")],
        config={"callbacks": [handler]},
    )
    archive = finish(handler)
    (run,) = archive.runs()

    assert run["token_usage"] == {
        "prompt_tokens": 12,
        "completion_tokens": 3,
        "total_tokens": 15,
        "cache_read": 4,
        "reasoning": 1,
    }
    assert run["model_name"] == "demo-model-2024-01-01"
    assert [m.value for m in archive.metrics("prompt_tokens")] == [12]
    assert [m.value for m in archive.metrics("total_tokens")] == [15]
    (latency,) = archive.metrics("llm_latency_ms")
    assert math.isclose(latency.value, run["latency_ms"])


def test_token_usage_falls_back_to_llm_output(handler, finish):
    from uuid import uuid4

    from langchain_core.outputs import Generation, LLMResult

    run_id = uuid4()
    handler.on_llm_start({}, ["2+2?"], run_id=run_id)
    handler.on_llm_end(
        LLMResult(
            generations=[[Generation(text="4")]],
            llm_output={
                "token_usage": {"prompt_tokens": 7, "completion_tokens": 1, "total_tokens": 8},
                "model_name": "legacy-model",
            },
        ),
        run_id=run_id,
    )
    (run,) = finish(handler).runs()
    assert run["token_usage"] == {"prompt_tokens": 7, "completion_tokens": 1, "total_tokens": 8}
    assert run["model_name"] == "legacy-model"


def test_session_ids_from_metadata_group_conversations(handler, finish):
    chain = RunnableLambda(lambda x: x, name="echo")
    chain.invoke("hi", config={"callbacks": [handler], "metadata": {"thread_id": "t-42"}})
    (run,) = finish(handler).runs()
    assert run["session_id"] == "t-42"


def test_trace_latency_is_a_metric_per_root_run(handler, finish):
    chain = RunnableLambda(lambda x: x + 1) | RunnableLambda(lambda x: x * 2)
    chain.batch([1, 2, 3], config={"callbacks": [handler]})
    archive = finish(handler)
    roots = [r for r in archive.runs() if r["parent_run_id"] is None]
    assert len(roots) == 3
    latencies = sorted(m.value for m in archive.metrics("trace_latency_ms"))
    assert latencies == pytest.approx(sorted(r["latency_ms"] for r in roots))


def test_the_run_tree_asset_is_strict_json_lines(handler, finish):
    RunnableLambda(lambda x: x, name="echo").invoke(
        {"nan": float("nan"), "inf": float("inf"), "bytes": b"\x00\xff"},
        config={"callbacks": [handler]},
    )
    (upload,) = finish(handler).assets("langchain-runs.jsonl")

    def reject(constant: str) -> None:
        raise AssertionError(f"non-strict JSON constant {constant}")

    for line in upload.text.splitlines():
        record = json.loads(line, parse_constant=reject)
        assert record["inputs"]["nan"] == "NaN"
        assert record["inputs"]["inf"] == "Infinity"
        assert record["inputs"]["bytes"]["type"] == "bytes"
