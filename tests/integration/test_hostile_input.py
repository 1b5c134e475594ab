"""Hostile input (issue #6, part 4): every callback, arbitrary payloads, events out of order.

Whatever a callback receives, no exception reaches the caller, nothing is silently
dropped (no failure is even reported: hostile input is data, not a fault) and every
artifact in the archive stays strict JSON and valid UTF-8.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from langchain_core.agents import AgentAction, AgentFinish
from langchain_core.documents import Document
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
from langchain_core.outputs import ChatGeneration, Generation, LLMResult
from pydantic import BaseModel

from langchain_comet import CometCallbackHandler
from langchain_comet.archive import Archive
from langchain_comet.failures import HandlerError

EXAMPLES = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


# -- hostile values --------------------------------------------------------------------


class Unprintable:
    """An object whose every textual form raises."""

    def __repr__(self) -> str:
        raise RuntimeError("no repr for you")

    def __str__(self) -> str:
        raise RuntimeError("no str for you")

    def __format__(self, spec: str) -> str:
        raise RuntimeError("no format for you")


class UnprintableError(Exception):
    def __str__(self) -> str:
        raise RuntimeError("no message for you")


class NotAString:
    """``__str__`` returns a non-string, which ``str()`` turns into a TypeError."""

    def __str__(self) -> Any:
        return 42

    __repr__ = __str__


class Model(BaseModel):
    value: Any


@dataclasses.dataclass
class Record:
    value: Any


def self_containing_list(item: Any) -> list[Any]:
    value: list[Any] = [item]
    value.append(value)
    return value


def self_containing_dict(item: Any) -> dict[str, Any]:
    value: dict[str, Any] = {"item": item}
    value["self"] = value
    return value


def deep(item: Any, levels: int = 3000) -> Any:
    for _ in range(levels):
        item = [item]
    return item


def huge(length: int) -> str:
    return "x" * length if length % 2 == 0 else "\ud83d" * length


# st.text() never yields surrogates: build strings from characters that include them.
any_char = st.characters(codec=None) | st.characters(categories=["Cs"])
texts = (
    st.lists(any_char, max_size=20).map("".join)
    | st.sampled_from(["\ud800", "a\udfffb", "\x00", "\u2028", "é" * 3, "🦜" * 2])
    | st.sampled_from([250_000, 120_001]).map(huge)  # past max_text_chars
)
leaves = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats(allow_nan=True, allow_infinity=True)
    | texts
    | st.binary(max_size=30)
    | st.builds(Unprintable)
    | st.builds(NotAString)
    | st.builds(UnprintableError)
    | st.just(float("nan"))
)
values = st.recursive(
    leaves,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(texts | st.integers() | st.builds(Unprintable), children, max_size=4)
        | st.tuples(children, children)
        | children.map(self_containing_list)
        | children.map(self_containing_dict)
        | children.map(deep)
        | children.map(lambda v: Model(value=v))
        | children.map(Record)
        | st.builds(Document, page_content=texts, metadata=st.dictionaries(texts, children))
        | st.builds(
            lambda c, extra: HumanMessage(content=c, additional_kwargs={"extra": extra}),
            texts,
            children,
        )
    ),
    max_leaves=12,
)
dicts = st.dictionaries(texts | st.builds(Unprintable), values, max_size=4)
str_dicts = st.dictionaries(texts, values, max_size=4)  # where LangChain's types insist
errors = (
    st.builds(ValueError, texts)
    | st.builds(UnprintableError)
    | st.builds(lambda v: RuntimeError(v, v), values)
)
tags = st.none() | st.lists(texts, max_size=3)

# A few run ids shared by every event, so that runs collide, end twice, end without a
# start, error after their end, and name parents that never started.
RUN_IDS = [uuid.UUID(int=i + 1) for i in range(6)]
run_ids = st.sampled_from(RUN_IDS)
parents = st.none() | run_ids | st.just(uuid.UUID(int=999))


def generation(text: str, info: dict[str, Any], chat: bool, usage: Any) -> Generation:
    if chat:
        message = AIMessage(content=text, response_metadata={"info": info})
        if usage is not None:
            message.usage_metadata = usage
        return ChatGeneration(message=message, generation_info=info)
    return Generation(text=text, generation_info=info)


token_counts = st.integers(min_value=-5, max_value=2**70) | st.floats(
    allow_nan=True, allow_infinity=True
)
llm_results = st.builds(
    lambda gens, output: LLMResult(generations=gens, llm_output=output),
    st.lists(
        st.lists(
            st.builds(
                generation,
                texts,
                str_dicts,
                st.booleans(),
                st.none()
                | st.fixed_dictionaries(
                    {
                        "input_tokens": token_counts,
                        "output_tokens": token_counts,
                        "total_tokens": token_counts,
                    }
                ),
            ),
            min_size=1,
            max_size=2,
        ),
        min_size=1,
        max_size=2,
    ),
    st.none()
    | str_dicts
    | st.fixed_dictionaries(
        {"token_usage": st.fixed_dictionaries({"prompt_tokens": token_counts}), "model": values}
    ),
)
chat_messages = st.lists(
    st.lists(
        st.builds(HumanMessage, content=texts)
        | st.builds(SystemMessage, content=texts)
        | st.builds(lambda c, meta: AIMessage(content=c, response_metadata=meta), texts, str_dicts),
        max_size=3,
    ),
    min_size=1,
    max_size=2,
)


class RetryState:
    """What tenacity passes, with hostile parts."""

    def __init__(self, attempt: Any, outcome: Any) -> None:
        self.attempt_number = attempt
        self.outcome = outcome


def common() -> dict[str, Any]:
    return {"run_id": run_ids, "parent_run_id": parents}


# The keys the handler reads from, with hostile values.
serialized = dicts | st.fixed_dictionaries({"id": st.lists(values, max_size=2), "name": values})
metadata = dicts | st.fixed_dictionaries(
    {"session_id": values, "ls_provider": values, "ls_model_name": values}
)
invocation_params = dicts | st.fixed_dictionaries({"model": values, "model_name": values})


def starts() -> dict[str, Any]:
    return {
        **common(),
        "tags": tags,
        "metadata": st.none() | metadata,
        "name": st.none() | texts,
        "run_type": st.none() | texts | values,
        "invocation_params": st.none() | invocation_params,
    }


def call(method: str, *args: Any, **kwargs: Any) -> st.SearchStrategy[tuple[str, Any, Any]]:
    return st.tuples(st.just(method), st.tuples(*args), st.fixed_dictionaries(kwargs))


callbacks = st.one_of(
    call("on_llm_start", serialized, st.lists(texts | values, max_size=3), **starts()),
    call("on_chat_model_start", serialized, chat_messages, **starts()),
    call("on_llm_new_token", texts, **common()),
    call("on_llm_end", llm_results, **common()),
    call("on_llm_error", errors, **common()),
    call("on_chain_start", serialized | st.none(), values, **starts()),
    call("on_chain_end", values, **common(), inputs=values),
    call("on_chain_error", errors, **common()),
    call("on_tool_start", serialized, texts | values, **starts(), inputs=st.none() | dicts),
    call("on_tool_end", values, **common()),
    call("on_tool_error", errors, **common()),
    call(
        "on_agent_action",
        st.builds(
            lambda tool, tool_input, log: AgentAction.model_construct(
                tool=tool, tool_input=tool_input, log=log
            ),
            texts,
            values,
            texts,
        ),
        **common(),
    ),
    call(
        "on_agent_finish",
        st.builds(
            lambda rv, log: AgentFinish.model_construct(return_values=rv, log=log), values, texts
        ),
        **common(),
    ),
    call("on_retriever_start", serialized, texts, **starts()),
    call(
        "on_retriever_end",
        st.lists(st.builds(Document, page_content=texts, metadata=dicts), max_size=3),
        **common(),
    ),
    call("on_retriever_error", errors, **common()),
    call("on_text", texts, **common()),
    call("on_retry", st.builds(RetryState, values, values), **common()),
    call(
        "on_custom_event",
        texts,
        values,
        run_id=run_ids,
        tags=tags,
        metadata=st.none() | dicts,
    ),
)


# -- strictness of what comet_ml wrote ---------------------------------------------------


def _reject(constant: str) -> Any:
    raise AssertionError(f"non-strict JSON constant {constant}")


def strict_loads(text: str | bytes) -> Any:
    value = json.loads(text, parse_constant=_reject)
    _no_surrogates(value)
    return value


def _no_surrogates(value: Any) -> None:
    """JSON may escape a lone surrogate ("\\ud800"); the text it stands for is not Unicode."""
    if isinstance(value, str):
        value.encode("utf-8")
    elif isinstance(value, float):
        assert math.isfinite(value)
    elif isinstance(value, list):
        for item in value:
            _no_surrogates(item)
    elif isinstance(value, dict):
        for key, item in value.items():
            _no_surrogates(key)
            _no_surrogates(item)


def assert_strict_archive(archive: Archive) -> None:
    """Every message line and every JSON asset parses strictly; every text is UTF-8."""
    for line in archive._files["messages.json"].decode("utf-8").split("\n"):
        if line.strip():
            strict_loads(line)
    for upload in archive.uploads():
        if upload.upload_type == "git-patch":  # comet_ml's own zip of the working tree
            continue
        try:  # text samples, tables and assets alike
            upload.data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise AssertionError(f"{upload.name} ({upload.upload_type}): {exc}") from None
        if upload.name.endswith(".jsonl"):
            for line in upload.text.split("\n"):  # not splitlines(): U+2028 is no line end
                if line:
                    strict_loads(line)
        elif upload.name.endswith(".json"):
            strict_loads(upload.data)


# -- the tests ----------------------------------------------------------------------------


def drive(handler: CometCallbackHandler) -> Callable[[], None]:
    @EXAMPLES
    @given(st.lists(callbacks, min_size=1, max_size=12))
    def run(events: list[tuple[str, Any, Any]]) -> None:
        for method, args, kwargs in events:
            kwargs = {k: v for k, v in kwargs.items() if v is not None or k == "parent_run_id"}
            getattr(handler, method)(*args, **kwargs)

    return run


def test_every_callback_takes_hostile_input_and_the_archive_stays_strict(
    make_handler, finish, caplog
):
    handler = make_handler(raise_error=False, complexity_metrics=True, custom_metrics=per_char)
    with caplog.at_level(logging.WARNING, logger="langchain_comet"):
        drive(handler)()  # raises if any callback let an exception out
        archive = finish(handler)
    assert [r.getMessage() for r in caplog.records if r.name == "langchain_comet"] == []
    assert handler._failures.kinds == set()
    assert_strict_archive(archive)
    assert archive.runs(), "the runs were recorded"


def per_char(generation: Any, prompt_idx: int, gen_idx: int) -> dict[str, float]:
    """A custom metric whose names come from the (hostile) generation text."""
    return {f"len {generation.text[:3]}": float(len(generation.text))}


def test_hostile_input_is_not_a_failure_even_with_raise_error(make_handler, finish):
    handler = make_handler(raise_error=True)
    drive(handler)()  # hostile input is data: nothing to raise
    assert_strict_archive(finish(handler))


def test_with_raise_error_a_genuine_fault_still_propagates(make_handler, monkeypatch):
    handler = make_handler(raise_error=True)
    handler.on_chain_start({}, {"x": Unprintable()}, run_id=RUN_IDS[0])

    def full_disk(*args: Any, **kwargs: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(handler.experiment, "log_text", full_disk)
    handler.on_chain_end({"y": "out"}, run_id=RUN_IDS[0])
    with pytest.raises(HandlerError, match="No space left on device"):
        handler.flush_tracker()
    monkeypatch.undo()
    handler.flush_tracker(finish=True)
    with pytest.raises(TypeError, match="custom_metrics must be a callable"):
        CometCallbackHandler(custom_metrics=42, raise_error=False)


def test_visualizations_of_a_hostile_generation_are_bounded_and_strict(
    make_handler, finish, caplog
):
    from langchain_core.language_models.fake import FakeListLLM

    from langchain_comet.visualize import MAX_VISUALIZED_CHARS

    answer = "lone \ud800 surrogate, then " + "word " * 100_000
    handler = make_handler(raise_error=False, visualizations=["ent"])
    with caplog.at_level(logging.WARNING, logger="langchain_comet"):
        FakeListLLM(responses=[answer]).invoke("hi", config={"callbacks": [handler]})
        archive = finish(handler)
    assert [r.getMessage() for r in caplog.records if r.name == "langchain_comet"] == []
    (page,) = [u for u in archive.uploads() if u.name == "langchain-viz-ent-0.html"]
    assert "\ufffd" in page.text and "truncated" in page.text  # entities are marked up
    assert len(page.text) < 2 * MAX_VISUALIZED_CHARS + 10_000
    assert_strict_archive(archive)
