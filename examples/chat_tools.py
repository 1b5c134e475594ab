"""A chat model calling tools in a loop until it can answer, all in one trace.

Run it with ``python examples/chat_tools.py [DIRECTORY]``: it needs no API key and no
network. The chat model is a scripted fake that supports ``bind_tools`` like a real
provider's (``ChatOpenAI``, ``ChatAnthropic``...), which drop in unchanged. The archive goes
to DIRECTORY, else ``COMET_OFFLINE_DIRECTORY``, else ``.cometml-runs``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from langchain_core.language_models import LanguageModelInput
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from langchain_core.messages.ai import UsageMetadata
from langchain_core.runnables import Runnable, chain
from langchain_core.tools import BaseTool, tool
from langchain_core.utils.function_calling import convert_to_openai_tool

from langchain_comet import CometCallbackHandler

MODEL = "scripted-chat"


class ScriptedChatModel(GenericFakeChatModel):
    """Answers with the next scripted message, and accepts tools as real chat models do."""

    model_name: str = MODEL

    def bind_tools(
        self,
        tools: Sequence[dict[str, Any] | type | Callable[..., Any] | BaseTool],
        *,
        tool_choice: str | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        schemas = [convert_to_openai_tool(t) for t in tools]
        return self.bind(tools=schemas, tool_choice=tool_choice, **kwargs)


@tool
def get_weather(city: str) -> str:
    """Get the current weather for a city."""
    return f"It is 21 degrees and sunny in {city}."


@tool
def convert_celsius(degrees: float) -> float:
    """Convert degrees Celsius to Fahrenheit."""
    return degrees * 9 / 5 + 32


def _reply(content: str, tokens: tuple[int, int], **kwargs: Any) -> AIMessage:
    """A scripted reply with the token usage a provider would report."""
    prompt, completion = tokens
    usage = UsageMetadata(
        input_tokens=prompt, output_tokens=completion, total_tokens=prompt + completion
    )
    return AIMessage(content=content, usage_metadata=usage, **kwargs)


def _call(name: str, args: dict[str, Any], call_id: str) -> dict[str, Any]:
    return {"name": name, "args": args, "id": call_id, "type": "tool_call"}


SCRIPT = [
    _reply("", (52, 18), tool_calls=[_call("get_weather", {"city": "Paris"}, "call_1")]),
    _reply("", (80, 14), tool_calls=[_call("convert_celsius", {"degrees": 21}, "call_2")]),
    _reply("It is sunny in Paris: 21 °C, or 69.8 °F.", (101, 16)),
]
TOOLS: list[BaseTool] = [get_weather, convert_celsius]


def build_assistant(model: ScriptedChatModel) -> Runnable[str, str]:
    """The tool-calling loop: ask the model, run the tools it asks for, until it answers."""
    by_name = {t.name: t for t in TOOLS}
    with_tools = model.bind_tools(TOOLS)

    @chain
    def assistant(question: str) -> str:
        messages: list[BaseMessage] = [
            SystemMessage("Answer weather questions with the tools."),
            HumanMessage(question),
        ]
        while True:
            reply = with_tools.invoke(messages)
            messages.append(reply)
            if not reply.tool_calls:
                return reply.text
            messages.extend(by_name[call["name"]].invoke(call) for call in reply.tool_calls)

    return assistant


def main(directory: str | None) -> Path:
    handler = CometCallbackHandler(
        project_name="langchain-comet-examples",
        name="chat with tools",
        tags=["example"],
        # USD per million tokens, for a model the price library does not know (public
        # models such as gpt-4o-mini are priced without this).
        prices={MODEL: {"input": 0.15, "output": 0.60}},
        online=False,  # always a local archive, even with a Comet API key configured
        offline_directory=directory,
    )
    assistant = build_assistant(ScriptedChatModel(messages=iter(SCRIPT)))
    answer = assistant.invoke(
        "How warm is it in Paris, in Fahrenheit?",
        config={"callbacks": [handler], "metadata": {"user_id": "user-42"}},
    )
    print(answer)
    handler.flush_tracker(finish=True)
    return Path(handler.experiment.offline_directory, f"{handler.experiment.id}.zip")


if __name__ == "__main__":
    print(f"archive: {main(sys.argv[1] if len(sys.argv) > 1 else None)}")
