"""A human-in-the-loop agent: it pauses for approval with ``interrupt()``, and a resume
with ``Command(resume=...)`` continues the same trace.

Run it with ``python examples/human_in_the_loop.py [DIRECTORY]``: no API key, no network
(the chat model is a scripted fake that calls tools; pass any real chat model instead).
The pause is recorded as ``status: "interrupted"`` with the question in ``interrupt``,
never as an error; the resumed run carries ``resumed_from`` and the same ``trace_id``, so
``langchain-comet show`` and the report show one trace: the pause, the wait, the resume.
The agent's graph is logged with the flush (``langchain-graph.json`` and ``.mmd``). The
archive goes to DIRECTORY, else ``COMET_OFFLINE_DIRECTORY``, else ``.cometml-runs``.
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
from langchain_core.runnables import Runnable
from langchain_core.tools import BaseTool, tool
from langchain_core.utils.function_calling import convert_to_openai_tool
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.types import Command, interrupt

from langchain_comet import CometCallbackHandler, trace_attributes


class ScriptedChatModel(GenericFakeChatModel):
    """Answers with its next scripted message, and accepts tools as real chat models do."""

    model_name: str = "scripted-chat"

    def bind_tools(
        self,
        tools: Sequence[dict[str, Any] | type | Callable[..., Any] | BaseTool],
        *,
        tool_choice: str | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        return self.bind(tools=[convert_to_openai_tool(t) for t in tools], **kwargs)


@tool
def refund(order_id: str, amount: float) -> str:
    """Refund an order; a human must approve it first."""
    decision = interrupt({"question": f"Refund {amount} on order {order_id}?"})
    return f"refund of {amount} on {order_id}: {decision}"


SCRIPT = [
    AIMessage(
        content="",
        tool_calls=[{"name": "refund", "args": {"order_id": "A-7", "amount": 12.5}, "id": "c1"}],
    ),
    AIMessage(content="Done: your refund of 12.5 is on its way."),
]


def main(directory: str | None) -> Path:
    handler = CometCallbackHandler(
        project_name="langchain-comet-examples",
        name="human in the loop",
        tags=["example"],
        online=False,  # always a local archive, even with a Comet API key configured
        offline_directory=directory,
    )
    agent = create_agent(
        ScriptedChatModel(messages=iter(SCRIPT)),
        tools=[refund],
        system_prompt="You handle refunds.",
        checkpointer=InMemorySaver(),  # interrupts need a checkpointer
    )
    # thread_id names the conversation: the pause and the resume share it.
    config: Any = {"configurable": {"thread_id": "ticket-42"}, "callbacks": [handler]}
    with trace_attributes(user_id="customer-7"):
        paused = agent.invoke(
            {"messages": [{"role": "user", "content": "Refund order A-7, please"}]}, config
        )
        question = paused["__interrupt__"][0].value["question"]
        print(f"agent asks: {question}")
        trace_id = handler.last_trace_id
        # ... a human answers, seconds or days later ...
        done = agent.invoke(Command(resume="approved by Dana"), config)
    print(f"agent says: {done['messages'][-1].text}")
    assert handler.last_trace_id == trace_id  # the resume continued the same trace
    handler.flush_tracker(langchain_asset=agent, finish=True)
    return Path(handler.experiment.offline_directory, f"{handler.experiment.id}.zip")


if __name__ == "__main__":
    print(f"archive: {main(sys.argv[1] if len(sys.argv) > 1 else None)}")
