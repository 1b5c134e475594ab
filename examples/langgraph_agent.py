"""A LangChain 1.x agent (``create_agent``, a LangGraph graph) calling a tool, in one trace.

Run it with ``python examples/langgraph_agent.py [DIRECTORY]``: it needs no API key and no
network. The chat model is a scripted fake that supports ``bind_tools``; pass
``"openai:gpt-4o-mini"`` or any chat model instead. The graph's nodes (``model``,
``tools``) are chain runs under the graph's root, each model call and tool call a run of
its own. The archive goes to DIRECTORY, else ``COMET_OFFLINE_DIRECTORY``, else
``.cometml-runs``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from langchain.agents import create_agent
from langchain_core.language_models import LanguageModelInput
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from langchain_core.messages.ai import UsageMetadata
from langchain_core.runnables import Runnable
from langchain_core.tools import BaseTool, tool
from langchain_core.utils.function_calling import convert_to_openai_tool

from langchain_comet import CometCallbackHandler


class ScriptedChatModel(GenericFakeChatModel):
    """Answers with the next scripted message, and accepts tools as real chat models do."""

    model_name: str = "scripted-chat"

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
def search_docs(query: str) -> str:
    """Search the product documentation."""
    return "flush_tracker(finish=True) ends the experiment and writes the offline archive."


def _usage(prompt: int, completion: int) -> UsageMetadata:
    return UsageMetadata(
        input_tokens=prompt, output_tokens=completion, total_tokens=prompt + completion
    )


SCRIPT = [
    AIMessage(
        content="",
        tool_calls=[{"name": "search_docs", "args": {"query": "write archive"}, "id": "call_1"}],
        usage_metadata=_usage(61, 17),
    ),
    AIMessage(
        content="Call flush_tracker(finish=True): it ends the experiment and writes the archive.",
        usage_metadata=_usage(98, 21),
    ),
]


def main(directory: str | None) -> Path:
    handler = CometCallbackHandler(
        project_name="langchain-comet-examples",
        name="langgraph agent",
        tags=["example"],
        online=False,  # always a local archive, even with a Comet API key configured
        offline_directory=directory,
    )
    agent = create_agent(
        ScriptedChatModel(messages=iter(SCRIPT)),
        tools=[search_docs],
        system_prompt="Answer questions about langchain-comet from its documentation.",
    )
    result = agent.invoke(
        {"messages": [{"role": "user", "content": "How do I write the archive?"}]},
        # thread_id: the conversation; it is recorded as the runs' session_id.
        config={"callbacks": [handler], "metadata": {"thread_id": "conversation-1"}},
    )
    print(result["messages"][-1].text)
    handler.flush_tracker(finish=True)
    return Path(handler.experiment.offline_directory, f"{handler.experiment.id}.zip")


if __name__ == "__main__":
    print(f"archive: {main(sys.argv[1] if len(sys.argv) > 1 else None)}")
