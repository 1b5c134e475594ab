"""Tests for langchain_comet.serialize: anything a callback sees becomes strict JSON."""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import json
import pathlib
import uuid
from collections import OrderedDict, deque
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from langchain_core.documents import Document
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    ChatMessage,
    FunctionMessage,
    HumanMessage,
    HumanMessageChunk,
    RemoveMessage,
    SystemMessage,
    ToolMessage,
)
from langchain_core.outputs import ChatGeneration, ChatResult, Generation, LLMResult
from langchain_core.prompt_values import ChatPromptValue
from pydantic import BaseModel, field_serializer

from langchain_comet.serialize import (
    DEFAULT_MAX_TEXT_CHARS,
    dumps,
    message_text,
    message_to_dict,
    render_messages,
    to_json,
    truncate,
)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"non-strict JSON constant {name}")


def strict_loads(text: str) -> Any:
    """json.loads that refuses NaN/Infinity, like a strict JSON parser would."""
    return json.loads(text, parse_constant=_reject_constant)


def loose(value: Any) -> Any:
    """Index into converted JSON in assertions without narrowing the union at every step."""
    return value


def nested_lists(levels: int) -> list[Any]:
    outer: list[Any] = []
    current = outer
    for _ in range(levels - 1):
        inner: list[Any] = []
        current.append(inner)
        current = inner
    return outer


def tool_call_message() -> AIMessage:
    return AIMessage(
        content="Let me look that up.",
        id="msg-1",
        tool_calls=[{"name": "search", "args": {"query": "comet", "limit": 3}, "id": "call-1"}],
        usage_metadata={"input_tokens": 12, "output_tokens": 7, "total_tokens": 19},
        response_metadata={"model_name": "gpt-test", "finish_reason": "tool_calls"},
    )


# --- scalars -------------------------------------------------------------------------------


def test_none_bool_int_pass_through_and_bool_stays_bool() -> None:
    assert to_json(None) is None
    assert to_json(True) is True
    assert to_json(False) is False
    assert to_json(42) == 42
    assert to_json(-(2**63)) == -(2**63)
    assert to_json(2**63 - 1) == 2**63 - 1


def test_ints_beyond_int64_become_exact_strings() -> None:
    assert to_json(2**63) == str(2**63)
    assert to_json(-(2**63) - 1) == str(-(2**63) - 1)
    huge = 10**5000  # past Python's int->str digit limit, so json.dumps itself would fail
    result = to_json(huge)
    assert isinstance(result, str)
    assert int(result, 0) == huge


def test_int_subclasses_become_plain_ints() -> None:
    class Priority(enum.IntEnum):
        HIGH = 3

    assert to_json(Priority.HIGH) == 3
    assert type(to_json(Priority.HIGH)) is int


def test_finite_floats_pass_and_non_finite_become_strings() -> None:
    assert to_json(1.5) == 1.5
    assert to_json(float("nan")) == "NaN"
    assert to_json(float("inf")) == "Infinity"
    assert to_json(float("-inf")) == "-Infinity"
    text = dumps({"values": [float("nan"), float("inf"), float("-inf"), 0.25]})
    assert strict_loads(text) == {"values": ["NaN", "Infinity", "-Infinity", 0.25]}


# --- strings and truncation ----------------------------------------------------------------


def test_truncate_leaves_short_text_and_none_limit_alone() -> None:
    assert truncate("hello", 5) == "hello"
    assert truncate("hello", None) == "hello"
    assert truncate("x" * 10, None) == "x" * 10


def test_truncate_cuts_and_reports_original_length() -> None:
    assert truncate("abcdefgh", 3) == "abc…[truncated, 8 chars]"


def test_million_char_string_is_truncated_by_default() -> None:
    text = "a" * 1_000_000
    result = to_json(text)
    assert isinstance(result, str)
    assert result.startswith("a" * DEFAULT_MAX_TEXT_CHARS)
    assert not result.startswith("a" * (DEFAULT_MAX_TEXT_CHARS + 1))
    assert result.endswith("…[truncated, 1000000 chars]")
    assert "1000000" in result
    assert to_json(text, max_chars=None) == text


def test_lone_surrogates_are_replaced_so_output_is_valid_utf8() -> None:
    assert truncate("a\ud800b", None) == "a\ufffdb"
    assert truncate("\udc00", 10) == "\ufffd"
    # A well-formed pair left as two code points is re-joined, not destroyed.
    assert truncate("\ud83d\ude00", None) == "😀"
    text = dumps({"\ud800key": ["\udfff", "ok \ud83d"]})
    text.encode("utf-8")  # would raise UnicodeEncodeError on a lone surrogate
    assert strict_loads(text) == {"\ufffdkey": ["\ufffd", "ok \ufffd"]}


def test_dumps_is_compact_and_keeps_non_ascii() -> None:
    assert dumps({"a": [1, "é"]}) == '{"a":[1,"é"]}'


def test_nested_json_native_data_round_trips() -> None:
    data = {
        "name": "run",
        "tags": ["a", "b"],
        "metrics": {"latency": 0.5, "tokens": 12, "ok": True, "error": None},
        "nested": [[1, 2, [3, {"deep": "yes"}]], {}],
    }
    assert strict_loads(dumps(data)) == data


# --- bytes -----------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [b"hi \xff", bytearray(b"hi \xff"), memoryview(b"hi \xff")])
def test_bytes_like_values_report_length_and_decoded_text(value: Any) -> None:
    assert to_json(value) == {"type": "bytes", "length": 4, "text": "hi \ufffd"}


def test_long_bytes_text_is_truncated() -> None:
    result = to_json(b"z" * 50, max_chars=10)
    assert result == {"type": "bytes", "length": 50, "text": "z" * 10 + "…[truncated, 50 chars]"}


# --- containers ------------------------------------------------------------------------------


def test_mapping_keys_become_strings() -> None:
    result = to_json(OrderedDict([(1, "int"), (None, "none"), ((1, 2), "tuple")]))
    assert result == {"1": "int", "None": "none", "(1, 2)": "tuple"}


def test_colliding_keys_keep_both_values() -> None:
    result = to_json({1: "int one", "1": "str one"})
    assert isinstance(result, dict)
    assert sorted(result.values(), key=str) == ["int one", "str one"]
    assert result["1"] == "int one"


def test_key_with_broken_str_is_still_serialized() -> None:
    class BadKey:
        def __str__(self) -> str:
            raise RuntimeError("no str")

        def __hash__(self) -> int:
            return 1

    result = to_json({BadKey(): "value"})
    assert result == {"<unrepresentable: RuntimeError>": "value"}


def test_sequences_become_lists() -> None:
    assert to_json((1, "two", (3,))) == [1, "two", [3]]
    assert to_json(deque([1, 2])) == [1, 2]
    assert to_json({"a": 1}.keys()) == ["a"]
    assert to_json({"a": 1}.items()) == [["a", 1]]


def test_sets_become_sorted_lists() -> None:
    assert to_json({3, 1, 2}) == [1, 2, 3]
    assert to_json(frozenset({"b", "c", "a"})) == ["a", "b", "c"]
    assert sorted(map(str, loose(to_json({1, "1"})))) == ["1", "1"]


def test_generator_is_described_not_consumed() -> None:
    gen = (i * 10 for i in range(3))
    result = to_json(gen)
    assert isinstance(result, dict)
    assert result["type"] == "generator"
    assert "generator object" in str(result["repr"])
    assert list(gen) == [0, 10, 20]


def test_iterator_is_described_not_consumed() -> None:
    it = iter([1, 2, 3])
    result = to_json(it)
    assert isinstance(result, dict)
    assert result["type"] == "list_iterator"
    assert next(it) == 1


# --- recursion -------------------------------------------------------------------------------


def test_self_referencing_list_and_dict() -> None:
    items: list[Any] = [1]
    items.append(items)
    mapping: dict[str, Any] = {"name": "root"}
    mapping["self"] = mapping
    assert to_json(items) == [1, "<cycle>"]
    assert to_json(mapping) == {"name": "root", "self": "<cycle>"}
    assert strict_loads(dumps([items, mapping])) == [
        [1, "<cycle>"],
        {"name": "root", "self": "<cycle>"},
    ]


def test_mutual_cycle_through_a_dataclass() -> None:
    @dataclasses.dataclass
    class Node:
        name: str
        children: list[Any]

    parent = Node("parent", [])
    parent.children.append({"back": parent})
    assert to_json(parent) == {"name": "parent", "children": [{"back": "<cycle>"}]}


def test_shared_references_are_not_cycles() -> None:
    shared = {"k": [1, 2]}
    assert to_json([shared, shared, {"again": shared}]) == [
        {"k": [1, 2]},
        {"k": [1, 2]},
        {"again": {"k": [1, 2]}},
    ]


def test_depth_limit_is_exactly_fifty_levels_below_the_root() -> None:
    assert "<max depth>" not in dumps(nested_lists(51))
    assert strict_loads(dumps(nested_lists(51))) == nested_lists(51)
    assert "<max depth>" in dumps(nested_lists(52))


def test_depth_1000_nesting_is_cut_without_error() -> None:
    text = dumps(nested_lists(1000))
    assert text.count("[") == 51
    assert '"<max depth>"' in text
    assert strict_loads(text)


# --- standard library values -----------------------------------------------------------------


def test_uuid_datetime_decimal_path() -> None:
    run_id = uuid.UUID("12345678-1234-5678-1234-567812345678")
    assert to_json(run_id) == "12345678-1234-5678-1234-567812345678"
    moment = dt.datetime(2024, 5, 6, 7, 8, 9, tzinfo=dt.UTC)
    assert to_json(moment) == "2024-05-06T07:08:09+00:00"
    assert to_json(dt.date(2024, 5, 6)) == "2024-05-06"
    assert to_json(dt.time(7, 8)) == "07:08:00"
    assert to_json(Decimal("1.25")) == 1.25
    assert to_json(Decimal("NaN")) == "NaN"
    assert to_json(Decimal("-Infinity")) == "-Infinity"
    assert to_json(Decimal("1e400")) == "1E+400"  # finite, but would overflow to float inf
    assert to_json(pathlib.Path("/tmp/data.txt")) == "/tmp/data.txt"


def test_enum_uses_its_value() -> None:
    class Color(enum.Enum):
        RED = "red"
        POINT = (1, 2)

    class Mode(enum.StrEnum):
        FAST = "fast"

    assert to_json(Color.RED) == "red"
    assert to_json(Color.POINT) == [1, 2]
    assert to_json(Mode.FAST) == "fast"
    assert type(to_json(Mode.FAST)) is str


# --- exceptions and opaque objects -----------------------------------------------------------


class QuotaError(Exception):
    pass


def test_exceptions_keep_type_and_message() -> None:
    assert to_json(ValueError("bad input")) == {"type": "ValueError", "message": "bad input"}
    assert to_json(QuotaError("over")) == {
        "type": f"{__name__}.QuotaError",
        "message": "over",
    }


def test_exception_with_broken_str() -> None:
    class Broken(Exception):
        def __str__(self) -> str:
            raise RuntimeError("nope")

    result = to_json(Broken())
    assert isinstance(result, dict)
    assert result["message"] == "<unrepresentable: RuntimeError>"
    assert str(result["type"]).endswith("Broken")


def test_unknown_object_becomes_type_and_repr() -> None:
    class Widget:
        def __repr__(self) -> str:
            return "Widget(size=3)"

    result = to_json(Widget())
    assert isinstance(result, dict)
    assert result["repr"] == "Widget(size=3)"
    assert str(result["type"]).endswith("Widget")


def test_object_whose_repr_raises() -> None:
    class Hostile:
        def __repr__(self) -> str:
            raise RuntimeError("no repr for you")

    result = to_json({"payload": Hostile()})
    assert isinstance(result, dict)
    payload = result["payload"]
    assert isinstance(payload, dict)
    assert payload["repr"] == "<unrepresentable: RuntimeError>"
    assert str(payload["type"]).endswith("Hostile")
    strict_loads(dumps({"payload": Hostile()}))


def test_long_repr_is_truncated() -> None:
    class Chatty:
        def __repr__(self) -> str:
            return "r" * 500

    result = to_json(Chatty(), max_chars=20)
    assert isinstance(result, dict)
    assert result["repr"] == "r" * 20 + "…[truncated, 500 chars]"


# --- pydantic and dataclasses ----------------------------------------------------------------


class Address(BaseModel):
    city: str
    created: dt.date


class Customer(BaseModel):
    name: str
    score: float
    address: Address
    tags: set[str]


def test_pydantic_model_is_dumped_and_recursed() -> None:
    customer = Customer(
        name="Ada",
        score=float("inf"),
        address=Address(city="London", created=dt.date(2020, 1, 2)),
        tags={"b", "a"},
    )
    assert to_json(customer) == {
        "name": "Ada",
        "score": "Infinity",
        "address": {"city": "London", "created": "2020-01-02"},
        "tags": ["a", "b"],
    }


def test_pydantic_model_whose_dump_raises_falls_back_to_repr() -> None:
    class Fragile(BaseModel):
        value: int

        @field_serializer("value")
        def _explode(self, value: int) -> int:
            raise RuntimeError("cannot dump")

    result = to_json(Fragile(value=3))
    assert isinstance(result, dict)
    assert str(result["type"]).endswith("Fragile")
    assert result["repr"] == "Fragile(value=3)"


def test_dataclass_fields_are_recursed() -> None:
    @dataclasses.dataclass
    class Point:
        x: int
        y: float
        label: bytes
        meta: dict[str, Any] = dataclasses.field(default_factory=dict)

    point = Point(1, float("nan"), b"p", {"when": dt.date(2024, 1, 1)})
    assert to_json(point) == {
        "x": 1,
        "y": "NaN",
        "label": {"type": "bytes", "length": 1, "text": "p"},
        "meta": {"when": "2024-01-01"},
    }


def test_dataclass_with_unset_field_is_reported_not_dropped() -> None:
    @dataclasses.dataclass
    class Lazy:
        ready: bool
        cache: int = dataclasses.field(init=False)

    assert to_json(Lazy(ready=True)) == {
        "ready": True,
        "cache": "<unavailable: AttributeError>",
    }


# --- numpy -----------------------------------------------------------------------------------


def test_numpy_scalars_and_arrays() -> None:
    np = pytest.importorskip("numpy")
    assert to_json(np.int64(7)) == 7
    assert to_json(np.bool_(True)) is True
    assert to_json(np.array([[1, 2], [3, 4]])) == [[1, 2], [3, 4]]
    assert to_json(np.array([1.5, np.nan, np.inf])) == [1.5, "NaN", "Infinity"]


# --- messages --------------------------------------------------------------------------------


def test_human_message_is_minimal() -> None:
    assert message_to_dict(HumanMessage("Hi there")) == {"role": "user", "content": "Hi there"}
    assert to_json(HumanMessage("Hi", name="ada", id="h1")) == {
        "role": "user",
        "content": "Hi",
        "name": "ada",
        "id": "h1",
    }


def test_ai_message_with_tool_calls_and_usage() -> None:
    assert message_to_dict(tool_call_message()) == {
        "role": "assistant",
        "content": "Let me look that up.",
        "id": "msg-1",
        "tool_calls": [{"name": "search", "args": {"query": "comet", "limit": 3}, "id": "call-1"}],
        "usage_metadata": {"input_tokens": 12, "output_tokens": 7, "total_tokens": 19},
        "response_metadata": {"model_name": "gpt-test", "finish_reason": "tool_calls"},
    }


def test_invalid_tool_calls_are_kept() -> None:
    message = AIMessage(
        content="",
        invalid_tool_calls=[{"name": "f", "args": "{oops", "id": "c9", "error": "bad json"}],
    )
    result = message_to_dict(message)
    assert result["invalid_tool_calls"] == [
        {"name": "f", "args": "{oops", "id": "c9", "error": "bad json", "type": "invalid_tool_call"}
    ]
    assert "tool_calls" not in result


def test_tool_message() -> None:
    message = ToolMessage(content="42 results", tool_call_id="call-1", artifact={"rows": 42})
    assert message_to_dict(message) == {
        "role": "tool",
        "content": "42 results",
        "tool_call_id": "call-1",
        "status": "success",
        "artifact": {"rows": 42},
    }
    errored = ToolMessage(content="boom", tool_call_id="call-2", status="error")
    assert message_to_dict(errored)["status"] == "error"


def test_ai_message_chunk_maps_like_ai_message() -> None:
    chunk = AIMessageChunk(
        content="partial",
        tool_call_chunks=[{"name": "search", "args": '{"q": "x"}', "id": "c1", "index": 0}],
    )
    result = message_to_dict(chunk)
    assert result["role"] == "assistant"
    assert result["content"] == "partial"
    assert result["tool_calls"] == [{"name": "search", "args": {"q": "x"}, "id": "c1"}]
    assert "tool_call_chunks" not in result
    assert message_to_dict(HumanMessageChunk(content="hey"))["role"] == "user"


def test_other_roles() -> None:
    assert message_to_dict(SystemMessage("Be brief"))["role"] == "system"
    assert message_to_dict(ChatMessage(content="hm", role="critic"))["role"] == "critic"
    function = message_to_dict(FunctionMessage(content="{}", name="lookup"))
    assert function == {"role": "function", "content": "{}", "name": "lookup"}
    assert message_to_dict(RemoveMessage(id="m1")) == {"role": "remove", "content": "", "id": "m1"}


def test_message_content_blocks_and_extra_fields() -> None:
    message = HumanMessage(
        content=[{"type": "text", "text": "Look:"}, {"type": "image", "url": "http://x/y.png"}],
        trace_tag="abc",
    )
    assert message_to_dict(message) == {
        "role": "user",
        "content": [{"type": "text", "text": "Look:"}, {"type": "image", "url": "http://x/y.png"}],
        "trace_tag": "abc",
    }


def test_message_content_is_truncated() -> None:
    result = message_to_dict(HumanMessage("y" * 30), max_chars=5)
    assert result["content"] == "yyyyy…[truncated, 30 chars]"


def test_message_text_and_render_messages() -> None:
    assert message_text(HumanMessage("Hi")) == "Hi"
    assert type(message_text(HumanMessage("Hi"))) is str
    blocks = AIMessage(content=[{"type": "text", "text": "a"}, {"type": "text", "text": "b"}])
    assert message_text(blocks) == "ab"
    assert message_text(HumanMessage("bad \ud800")) == "bad \ufffd"
    transcript = render_messages([SystemMessage("Be brief"), HumanMessage("Hi")])
    assert transcript == "system: Be brief\nuser: Hi"
    assert render_messages([tool_call_message()]) == "assistant: Let me look that up."
    assert render_messages([]) == ""


def test_message_text_falls_back_when_text_breaks() -> None:
    class WeirdMessage(HumanMessage):
        @property
        def text(self) -> Any:
            raise RuntimeError("broken text")

    assert message_text(WeirdMessage(content="fallback content")) == "fallback content"


# --- documents and LangChain outputs ---------------------------------------------------------


def test_documents() -> None:
    doc = Document(page_content="Comet logs runs.", metadata={"source": "a.md", "page": 2})
    assert to_json(doc) == {
        "page_content": "Comet logs runs.",
        "metadata": {"source": "a.md", "page": 2},
    }
    with_id = Document(page_content="x", id="doc-1")
    assert to_json([with_id]) == [{"page_content": "x", "metadata": {}, "id": "doc-1"}]


def test_llm_result_keeps_message_details() -> None:
    result = LLMResult(
        generations=[[ChatGeneration(message=tool_call_message())], [Generation(text="plain")]],
        llm_output={"token_usage": {"total_tokens": 19}},
    )
    data = loose(to_json(result))
    assert data["llm_output"] == {"token_usage": {"total_tokens": 19}}
    chat_gen, plain_gen = data["generations"][0][0], data["generations"][1][0]
    assert chat_gen["type"] == "ChatGeneration"
    assert chat_gen["text"] == "Let me look that up."
    assert chat_gen["message"] == message_to_dict(tool_call_message())
    assert plain_gen == {"text": "plain", "generation_info": None, "type": "Generation"}
    assert list(data) == ["generations", "llm_output", "run", "type"]
    strict_loads(dumps(result))


def test_chat_result_and_prompt_value_keep_message_details() -> None:
    chat = ChatResult(generations=[ChatGeneration(message=tool_call_message())])
    chat_result = loose(to_json(chat))
    assert chat_result["generations"][0]["message"]["tool_calls"][0]["id"] == "call-1"
    prompt = ChatPromptValue(messages=[SystemMessage("Be brief"), tool_call_message()])
    assert to_json(prompt) == {
        "messages": [
            {"role": "system", "content": "Be brief"},
            message_to_dict(tool_call_message()),
        ]
    }


def test_message_inside_a_user_model_keeps_subclass_fields() -> None:
    class Turn(BaseModel):
        message: BaseMessage

    data = loose(to_json(Turn(message=tool_call_message())))
    assert data["message"]["tool_calls"][0]["name"] == "search"


# --- property test ---------------------------------------------------------------------------

# st.text() never yields surrogates, so build strings from characters that include them.
any_char = st.characters(codec=None) | st.characters(categories=["Cs"])
any_text = st.lists(any_char, max_size=12).map("".join)

json_like = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | any_text
    | st.binary(),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(any_text, children, max_size=5)
    ),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None)
@given(json_like)
def test_dumps_always_produces_strict_utf8_json(value: Any) -> None:
    text = dumps(value)
    text.encode("utf-8")
    strict_loads(text)
