"""Real LangGraph graphs and LangChain agents for the agent tests: human in the loop,
several interrupts in a row, a multi-agent handoff, a node that fails, a tool-calling agent."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypedDict

from langchain.agents import create_agent
from langchain_core.language_models import LanguageModelInput
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from langchain_core.runnables import Runnable
from langchain_core.tools import BaseTool, tool
from langchain_core.utils.function_calling import convert_to_openai_tool
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, StateGraph
from langgraph.types import Command, interrupt


class Draft(TypedDict, total=False):
    topic: str
    draft: str
    verdict: str
    note: str


def review_graph() -> Any:
    """write → approve (interrupt) → annotate (interrupt) → end, with a checkpointer."""

    def write(state: Draft) -> Draft:
        return {"draft": f"A post about {state['topic']}."}

    def approve(state: Draft) -> Draft:
        verdict = interrupt({"question": "Publish this draft?", "draft": state["draft"]})
        return {"verdict": str(verdict)}

    def annotate(state: Draft) -> Draft:
        note = interrupt("Any note for the editor?")
        return {"note": str(note)}

    builder = StateGraph(Draft)
    builder.add_node("write", write)
    builder.add_node("approve", approve)
    builder.add_node("annotate", annotate)
    builder.add_edge(START, "write")
    builder.add_edge("write", "approve")
    builder.add_edge("approve", "annotate")
    builder.add_edge("annotate", END)
    return builder.compile(checkpointer=InMemorySaver(), name="review")


def failing_graph() -> Any:
    """A node that raises a real exception."""

    def broken(state: Draft) -> Draft:
        raise ValueError("the draft store is down")

    builder = StateGraph(Draft)
    builder.add_node("broken", broken)
    builder.add_edge(START, "broken")
    builder.add_edge("broken", END)
    return builder.compile(checkpointer=InMemorySaver(), name="failing")


class Team(TypedDict, total=False):
    log: list[str]


def handoff_graph() -> Any:
    """A "research" team (a subgraph) whose agent hands off to "writer" in the parent graph
    with ``Command(goto="writer", graph=Command.PARENT)``."""

    def researcher(state: Team) -> Command[Any]:
        return Command(
            goto="writer", update={"log": [*state.get("log", []), "research"]}, graph=Command.PARENT
        )

    team = StateGraph(Team)
    team.add_node("researcher", researcher)
    team.add_edge(START, "researcher")

    def writer(state: Team) -> Team:
        return {"log": [*state.get("log", []), "write"]}

    parent = StateGraph(Team)
    parent.add_node("research", team.compile(), destinations=("writer",))
    parent.add_node("writer", writer)
    parent.add_edge(START, "research")
    parent.add_edge("writer", END)
    return parent.compile(name="team")


class ScriptedChatModel(GenericFakeChatModel):
    """A deterministic chat model that answers with its next scripted message and, as real
    chat models do, accepts tools (so ``create_agent`` can bind them)."""

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
def refund(order_id: str, amount: float) -> str:
    """Refund an order, once a human approved it."""
    decision = interrupt({"action": "refund", "order_id": order_id, "amount": amount})
    return f"refund of {amount} on {order_id}: {decision}"


@tool
def order_status(order_id: str) -> str:
    """Look an order up."""
    return f"order {order_id} was delivered"


def refund_agent() -> Any:
    """``create_agent`` with a model that looks an order up, asks for a refund (the tool
    pauses for a human), then answers."""
    script = iter(
        [
            AIMessage(
                content="",
                tool_calls=[{"name": "order_status", "args": {"order_id": "A-7"}, "id": "c1"}],
            ),
            AIMessage(
                content="",
                tool_calls=[
                    {"name": "refund", "args": {"order_id": "A-7", "amount": 12.5}, "id": "c2"}
                ],
            ),
            AIMessage(content="Your refund of 12.5 is on its way."),
        ]
    )
    return create_agent(
        ScriptedChatModel(messages=script),
        tools=[order_status, refund],
        system_prompt="You handle refunds.",
        checkpointer=InMemorySaver(),
    )


def approval_agent() -> Any:
    """``create_agent`` with LangChain's ``HumanInTheLoopMiddleware`` on a tool."""
    from langchain.agents.middleware import HumanInTheLoopMiddleware

    script = iter(
        [
            AIMessage(
                content="",
                tool_calls=[{"name": "order_status", "args": {"order_id": "B-1"}, "id": "c1"}],
            ),
            AIMessage(content="It was delivered."),
        ]
    )
    return create_agent(
        ScriptedChatModel(messages=script),
        tools=[order_status],
        middleware=[HumanInTheLoopMiddleware(interrupt_on={"order_status": True})],
        checkpointer=InMemorySaver(),
    )
