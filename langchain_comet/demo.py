"""A small LangChain application, run offline through the handler, for ``langchain-comet demo``.

Every model here is one of langchain_core's deterministic fakes, so the demo needs no
network and no API key, yet it exercises what a real application does: a batched LCEL
chain, a chat model calling a tool in an agent loop, retrieval, streaming, a failing tool
and a custom event. The archive it writes is the one ``comet upload`` would send.

The fakes report token usage the way real providers do, and the handler is given made-up
prices for their model names through ``prices=`` (:data:`DEMO_PRICES`), exactly as a user
prices a model the price library lacks: so the summary shows what each call, each trace and
the session cost, and nothing in the package treats the demo's models specially.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun, CallbackManagerForRetrieverRun
from langchain_core.callbacks.manager import dispatch_custom_event
from langchain_core.documents import Document
from langchain_core.language_models import FakeListLLM, LangSmithParams
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    HumanMessage,
    SystemMessage,
)
from langchain_core.messages.ai import UsageMetadata
from langchain_core.output_parsers import StrOutputParser
from langchain_core.outputs import ChatGenerationChunk, LLMResult
from langchain_core.prompts import ChatPromptTemplate, PromptTemplate
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import (
    Runnable,
    RunnableConfig,
    RunnableLambda,
    RunnablePassthrough,
    chain,
)
from langchain_core.tools import tool

from langchain_comet import visualize
from langchain_comet.experiment import archive_path
from langchain_comet.handler import CometCallbackHandler

logger = logging.getLogger("langchain_comet.demo")


class DemoError(RuntimeError):
    """The demo could not produce its archive (bad directory, archive not written)."""


DEMO_NAME = "langchain-comet demo"
DEMO_TAGS = ["demo"]
SESSION = {"session_id": "demo-session"}
CHAT_MODEL_NAME = "demo-chat"
COMPLETION_MODEL_NAME = "demo-completion"
DEMO_PROVIDER = "demo"
# Made-up prices, USD per million tokens, for the demo's fake models: given to the handler
# with ``prices=`` as a user prices a model the price library does not know.
DEMO_PRICES: dict[str, dict[str, float]] = {
    COMPLETION_MODEL_NAME: {"input": 0.50, "output": 1.50},
    CHAT_MODEL_NAME: {"input": 3.00, "output": 15.00},
}

QUESTIONS = [
    "What does LCEL stand for?",
    "Why log LangChain runs to Comet?",
    "What is an offline experiment?",
]
ANSWERS = [
    "LCEL is the LangChain Expression Language: runnables composed with the | operator.",
    "To see every prompt, answer, token count, latency and error of the application.",
    "An experiment saved as a zip archive that `comet upload` sends to Comet later.",
]

KNOWLEDGE_BASE = [
    Document(
        id="kb-1",
        page_content="CometCallbackHandler records every LangChain run as a node of a run tree.",
        metadata={"source": "handler.md"},
    ),
    Document(
        id="kb-2",
        page_content="Without a Comet API key the handler logs offline to a zip archive.",
        metadata={"source": "offline.md"},
    ),
    Document(
        id="kb-3",
        page_content="Upload an offline archive later with the command comet upload.",
        metadata={"source": "offline.md"},
    ),
    Document(
        id="kb-4",
        page_content="Chat model runs carry token usage: input, output and total tokens.",
        metadata={"source": "tokens.md"},
    ),
    Document(
        id="kb-5",
        page_content="A failing tool is recorded as a run with status error and its traceback.",
        metadata={"source": "errors.md"},
    ),
    Document(
        id="kb-6",
        page_content="flush_tracker(finish=True) ends the experiment and writes the archive.",
        metadata={"source": "handler.md"},
    ),
]


def _words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z0-9_]+", text.lower()) if len(w) > 2}


class KeywordRetriever(BaseRetriever):
    """Ranks in-memory documents by words shared with the query: retrieval without a vector DB."""

    documents: list[Document]
    k: int = 2

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun
    ) -> list[Document]:
        wanted = _words(query)
        scored = [(len(wanted & _words(doc.page_content)), doc) for doc in self.documents]
        ranked = sorted((pair for pair in scored if pair[0] > 0), key=lambda p: -p[0])
        return [doc for _, doc in ranked[: self.k]]


def format_docs(docs: list[Document], config: RunnableConfig) -> str:
    """Joins the retrieved documents into the prompt's context and reports which they were."""
    dispatch_custom_event(
        "docs_retrieved",
        {"count": len(docs), "ids": [doc.id for doc in docs]},
        config=config,
    )
    return "\n".join(f"[{doc.metadata.get('source')}] {doc.page_content}" for doc in docs)


@tool
def get_weather(city: str) -> str:
    """Get the current weather for a city."""
    return f"It is 21 degrees and sunny in {city}."


@tool
def divide(a: float, b: float) -> float:
    """Divide a by b."""
    return a / b


def price_note() -> str:
    """One line saying the demo's costs come from made-up prices, and which."""
    rates = ", ".join(
        f"{model} ${price['input']:.2f} in / ${price['output']:.2f} out"
        for model, price in DEMO_PRICES.items()
    )
    return (
        f"Costs use demo prices, made up for the demo's fake models and passed with prices= "
        f"(USD per million tokens): {rates}."
    )


def count_tokens(text: str) -> int:
    """The demo's tokenizer: words and punctuation marks (real tokenizers split finer)."""
    return len(re.findall(r"\w+|[^\w\s]", text))


class DemoLLM(FakeListLLM):
    """A scripted completion model that reports token usage and its model name.

    ``FakeListLLM`` reports neither, so its calls could not be priced; a real completion
    API reports both in ``llm_output``, which is where this one puts them.
    """

    model_name: str = COMPLETION_MODEL_NAME

    def _generate(
        self,
        prompts: list[str],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> LLMResult:
        result = super()._generate(prompts, stop=stop, run_manager=run_manager, **kwargs)
        prompt_tokens = sum(count_tokens(prompt) for prompt in prompts)
        completion_tokens = sum(
            count_tokens(generation.text) for batch in result.generations for generation in batch
        )
        result.llm_output = {
            "model_name": self.model_name,
            "token_usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }
        return result

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> LangSmithParams:
        return {**super()._get_ls_params(stop=stop, **kwargs), "ls_provider": DEMO_PROVIDER}


class DemoChatModel(GenericFakeChatModel):
    """A scripted chat model whose streamed answers report token usage too.

    ``GenericFakeChatModel`` streams the text of its scripted reply and drops its usage;
    providers that stream usage (OpenAI with ``stream_usage``, Anthropic) send it in the
    last chunk, which is what this one does.
    """

    model_name: str = CHAT_MODEL_NAME

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        reply = self._generate(messages, stop=stop, **kwargs).generations[0].message
        for token in re.split(r"(\s)", reply.text):
            chunk = ChatGenerationChunk(message=AIMessageChunk(content=token, id=reply.id))
            if run_manager:
                run_manager.on_llm_new_token(token, chunk=chunk)
            yield chunk
        usage = reply.usage_metadata if isinstance(reply, AIMessage) else None
        yield ChatGenerationChunk(
            message=AIMessageChunk(
                content="",
                id=reply.id,
                usage_metadata=usage,
                response_metadata=reply.response_metadata,
                chunk_position="last",
            )
        )

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> LangSmithParams:
        return {**super()._get_ls_params(stop=stop, **kwargs), "ls_provider": DEMO_PROVIDER}


def _usage(input_tokens: int, output_tokens: int) -> UsageMetadata:
    return UsageMetadata(
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        total_tokens=input_tokens + output_tokens,
    )


def _chat_model(*replies: AIMessage) -> DemoChatModel:
    """A scripted chat model: each call answers with the next reply."""
    return DemoChatModel(messages=iter(replies))


def _reply(content: str, input_tokens: int, output_tokens: int, **kwargs: Any) -> AIMessage:
    return AIMessage(
        content=content,
        usage_metadata=_usage(input_tokens, output_tokens),
        response_metadata={"model_name": CHAT_MODEL_NAME},
        **kwargs,
    )


def build_qa_chain() -> Runnable[dict[str, str], str]:
    """The classic LCEL pipeline: prompt, completion model, parser."""
    prompt = PromptTemplate.from_template("Answer in one sentence.\nQuestion: {question}\nAnswer:")
    return prompt | DemoLLM(responses=ANSWERS) | StrOutputParser()


def build_agent() -> Runnable[str, str]:
    """A hand-written tool-calling loop: model, tool, model again, all in one trace."""
    model = _chat_model(
        _reply(
            "",
            24,
            12,
            tool_calls=[
                {
                    "name": "get_weather",
                    "args": {"city": "Paris"},
                    "id": "call_1",
                    "type": "tool_call",
                }
            ],
        ),
        _reply("It is 21 degrees and sunny in Paris, a fine day for a walk.", 48, 15),
    )
    tools = {"get_weather": get_weather}

    @chain
    def weather_agent(question: str) -> str:
        messages: list[BaseMessage] = [
            SystemMessage("You answer weather questions using the get_weather tool."),
            HumanMessage(question),
        ]
        reply = model.invoke(messages)
        messages.append(reply)
        for call in reply.tool_calls:
            messages.append(tools[call["name"]].invoke(call))
        return model.invoke(messages).text

    return weather_agent


def build_rag_chain() -> Runnable[str, str]:
    """Retrieval-augmented answering over the in-memory knowledge base."""
    prompt = ChatPromptTemplate.from_messages(
        [
            ("system", "Answer from the context only.\n\nContext:\n{context}"),
            ("human", "{question}"),
        ]
    )
    model = _chat_model(
        _reply(
            "Without an API key it writes a zip archive; send it later with comet upload.", 71, 19
        )
    )
    retriever = KeywordRetriever(documents=KNOWLEDGE_BASE)
    context = (retriever | RunnableLambda(format_docs)).with_config(run_name="context")
    return (
        {"context": context, "question": RunnablePassthrough()} | prompt | model | StrOutputParser()
    )


def build_streaming_chain() -> Runnable[dict[str, str], str]:
    """A chat chain meant to be consumed chunk by chunk."""
    prompt = ChatPromptTemplate.from_messages([("human", "Write a haiku about {topic}.")])
    model = _chat_model(
        _reply(
            "Runs nest like branches\ntokens fall as autumn leaves\nthe archive keeps all", 14, 17
        )
    )
    return prompt | model | StrOutputParser()


def _visualizations() -> list[str] | None:
    """spaCy renderings when the ``viz`` extra is installed (``make demo`` installs it)."""
    try:
        visualize.resolve_pipeline(None)
    except visualize.VisualizationError as exc:
        logger.info("demo: no visualizations (%s)", exc)
        return None
    return ["dep", "ent"]


def run_demo(
    offline_directory: str | None = None, project_name: str = "langchain-comet-demo"
) -> Path:
    """Run the demo application through a fresh offline handler; return the archive written.

    Without ``offline_directory`` comet_ml's own default applies
    (``COMET_OFFLINE_DIRECTORY``, else ``.cometml-runs``), as for any offline user.
    """
    # comet_ml's multi-line summary at experiment end would drown the demo's own output.
    os.environ.setdefault("COMET_DISPLAY_SUMMARY_LEVEL", "0")
    try:
        handler = CometCallbackHandler(
            project_name=project_name,
            tags=DEMO_TAGS,
            name=DEMO_NAME,
            complexity_metrics=True,
            visualizations=_visualizations(),
            online=False,
            offline_directory=offline_directory,
            prices=DEMO_PRICES,
            # An application's handler falls back to a temporary archive when the offline
            # directory cannot be written; the demo was told where to write, so it fails.
            raise_error=True,
        )
    except Exception as exc:  # comet_ml rejects the directory with its own exception types
        raise DemoError(f"cannot start the offline experiment: {exc}") from exc
    handler.raise_error = False  # from here on, the demo runs as any application does
    path = archive_path(handler.experiment)
    if path is None:  # online=False always gives an offline experiment
        raise DemoError("the demo's experiment is not an offline experiment")
    callbacks: list[Any] = [handler]

    # max_concurrency=1: a completion model given several prompts in one call reports one
    # usage for all of them, which LangChain hands to the first prompt's run only; one
    # prompt per call gives every run its own tokens and cost.
    answers = build_qa_chain().batch(
        [{"question": q} for q in QUESTIONS],
        config={
            "callbacks": callbacks,
            "run_name": "qa",
            "tags": ["batch"],
            "max_concurrency": 1,
        },
    )
    logger.info("demo: answered a batch of %d questions with an LCEL chain", len(answers))

    forecast = build_agent().invoke(
        "What's the weather in Paris?",
        config={"callbacks": callbacks, "run_name": "weather_agent", "metadata": SESSION},
    )
    logger.info("demo: the agent called get_weather and answered: %s", forecast)

    rag_chain = build_rag_chain()
    rag_answer = rag_chain.invoke(
        "How do I upload an offline archive without an API key?",
        config={"callbacks": callbacks, "run_name": "rag", "metadata": SESSION},
    )
    logger.info("demo: retrieval-augmented answer: %s", rag_answer)

    chunks = list(
        build_streaming_chain().stream(
            {"topic": "tracing"}, config={"callbacks": callbacks, "run_name": "haiku"}
        )
    )
    logger.info("demo: streamed a haiku in %d chunks", len(chunks))

    try:
        divide.invoke({"a": 1, "b": 0}, config={"callbacks": callbacks, "metadata": SESSION})
    except ZeroDivisionError as exc:
        logger.info("demo: the divide tool failed as intended (%s); the archive records it", exc)

    handler.flush_tracker(langchain_asset=rag_chain, finish=True)
    if not path.is_file():
        raise DemoError(f"comet_ml did not write the archive {path} (see the warnings above)")
    return path.resolve()
