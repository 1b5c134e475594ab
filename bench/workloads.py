"""The three deterministic, local LangChain workloads every contender runs."""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.language_models import FakeListLLM, GenericFakeChatModel
from langchain_core.messages import AIMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate, PromptTemplate
from langchain_core.runnables import Runnable

TOPICS = ("otters", "lighthouses", "sourdough", "glaciers", "chess", "tides", "comets", "moss")
RESPONSES = (
    "Otters hold hands while sleeping so that the current does not carry them apart, "
    "which is a charming habit.",
    "A lighthouse keeper once trimmed the wick every few hours through the night to keep "
    "the beam bright.",
    "Sourdough rises slowly because wild yeast and bacteria share the work of "
    "fermenting the flour.",
)
# About twenty words: GenericFakeChatModel streams each word and each space as a token.
CHAT_REPLY = (
    "Glaciers move slowly downhill under their own weight, carving valleys and carrying "
    "rocks for many kilometres before they finally melt away."
)
BATCH_SIZE = 8
BATCH_CONCURRENCY = 4

Call = Callable[[int, dict[str, Any]], None]


@dataclass(frozen=True)
class Workload:
    """One kind of application call; ``calls`` is the block size of the full latency run."""

    name: str
    calls: int
    description: str
    call: Call


_REPLY_NUMBERS = itertools.count()


def _numbered(text: str) -> str:
    """Every reply differs, as a real model's do: nothing may score or parse a text once
    and serve it from a cache (textstat caches its scores per text)."""
    return f"{text} Note {next(_REPLY_NUMBERS)}."


class UniqueReplies(FakeListLLM):
    """FakeListLLM whose every reply is one of its responses with a number appended."""

    def _call(self, *args: Any, **kwargs: Any) -> str:
        return _numbered(super()._call(*args, **kwargs))


def _endless_replies() -> Iterator[AIMessage]:
    for i in itertools.count():
        yield AIMessage(content=_numbered(CHAT_REPLY), id=f"reply-{i}")


@functools.cache
def text_chain() -> Runnable[Any, str]:
    """Prompt | fake LLM | parser: the cheapest realistic chain, so overhead shows most."""
    llm = UniqueReplies(responses=list(RESPONSES))
    return PromptTemplate.from_template("Tell me about {topic}") | llm | StrOutputParser()


@functools.cache
def chat_chain() -> Runnable[Any, str]:
    """A streaming chat chain: ~40 token callbacks per call."""
    prompt = ChatPromptTemplate.from_messages(
        [("system", "You answer in one sentence."), ("human", "Tell me about {topic}")]
    )
    model = GenericFakeChatModel(messages=_endless_replies())
    return prompt | model | StrOutputParser()


def _topic(i: int) -> dict[str, str]:
    return {"topic": TOPICS[i % len(TOPICS)]}


def call_chain(i: int, config: dict[str, Any]) -> None:
    text_chain().invoke(_topic(i), config=config)


def call_chat_stream(i: int, config: dict[str, Any]) -> None:
    for _ in chat_chain().stream(_topic(i), config=config):
        pass


def call_batch8(i: int, config: dict[str, Any]) -> None:
    inputs = [_topic(i * BATCH_SIZE + j) for j in range(BATCH_SIZE)]
    text_chain().batch(inputs, config={**config, "max_concurrency": BATCH_CONCURRENCY})


WORKLOADS = (
    Workload("chain", 300, "prompt | fake LLM | StrOutputParser, invoke", call_chain),
    Workload(
        "chat-stream",
        100,
        "chat prompt | GenericFakeChatModel | StrOutputParser, stream (~44 tokens)",
        call_chat_stream,
    ),
    Workload("batch8", 50, "the chain's batch(8 inputs, max_concurrency=4)", call_batch8),
)


def workload_named(name: str) -> Workload:
    return next(w for w in WORKLOADS if w.name == name)


def config_for(handler: Any) -> dict[str, Any]:
    """The per-call config: no callbacks for ``none``, nor for MLflow's autologging (it
    patches LangChain to add its own)."""
    return {"callbacks": [handler]} if isinstance(handler, BaseCallbackHandler) else {}
