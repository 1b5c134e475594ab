"""LangGraph's control flow is not an error, a resume continues its trace, graph nodes and
the graph's structure are recorded: real LangGraph and ``create_agent``, the real archive."""

from __future__ import annotations

import asyncio
import re
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from langchain_core.runnables import RunnableLambda
from langgraph.types import Command

from langchain_comet import CometCallbackHandler, trace_attributes
from langchain_comet.archive import Archive
from langchain_comet.summary import summarize
from tests.agents import (
    approval_agent,
    failing_graph,
    handoff_graph,
    refund_agent,
    review_graph,
)
from tests.cli_output import show

pytestmark = pytest.mark.integration


def roots(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(
        (run for run in runs if run["parent_run_id"] is None), key=lambda r: r["start_time"]
    )


def by_name(runs: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return sorted((run for run in runs if run["name"] == name), key=lambda r: r["start_time"])


def session_metrics(archive: Archive) -> dict[str, float]:
    return {m.name: m.value for m in archive.metrics() if m.name.startswith("session_")}


def test_interrupts_are_not_errors_and_resumes_continue_the_trace(
    handler: CometCallbackHandler, finish: Callable[..., Archive]
) -> None:
    graph = review_graph()
    config = {"configurable": {"thread_id": "post-1"}, "callbacks": [handler]}
    first = graph.invoke({"topic": "tracing"}, config)
    assert first["__interrupt__"][0].value["question"] == "Publish this draft?"
    trace_id = handler.last_trace_id
    second = graph.invoke(Command(resume="yes"), config)
    assert second["__interrupt__"][0].value == "Any note for the editor?"
    assert handler.last_trace_id == trace_id  # a resume is the same trace
    final = graph.invoke(Command(resume="ship it"), config)
    assert final == {
        "topic": "tracing",
        "draft": "A post about tracing.",
        "verdict": "yes",
        "note": "ship it",
    }
    counters = handler.get_custom_callback_meta()
    archive = finish(handler)
    runs = archive.runs()

    # One trace across interrupt → resume → interrupt → resume, ids stitched.
    assert {run["trace_id"] for run in runs} == {trace_id}
    first_root, second_root, last_root = roots(runs)
    assert first_root["run_id"] == trace_id and "resumed_from" not in first_root
    assert second_root["resumed_from"] == last_root["resumed_from"] == trace_id
    assert [r["status"] for r in (first_root, second_root, last_root)] == [
        "interrupted",
        "interrupted",
        "success",
    ]
    # The pause: the node that called interrupt(), and the graph it paused, with its value.
    paused = by_name(runs, "approve")[0]
    assert paused["status"] == "interrupted" and paused["error"] is None
    assert paused["interrupt"]["kind"] == "interrupt"
    assert paused["interrupt"]["type"] == "langgraph.errors.GraphInterrupt"
    assert paused["interrupt"]["values"] == [
        {"question": "Publish this draft?", "draft": "A post about tracing."}
    ]
    assert first_root["interrupt"]["values"] == paused["interrupt"]["values"]
    assert second_root["interrupt"]["values"] == ["Any note for the editor?"]
    # LangGraph's node and step on every run inside the graph.
    write = by_name(runs, "write")[0]
    assert (write["langgraph_node"], write["langgraph_step"]) == ("write", 1)
    assert [(r["langgraph_node"], r["langgraph_step"]) for r in by_name(runs, "annotate")] == [
        ("annotate", 3),
        ("annotate", 3),
    ]
    assert all(run["session_id"] == "post-1" for run in runs)
    # Nowhere an error: not the records, the counters, the session summary, show's errors.
    assert not [run for run in runs if run["status"] == "error"]
    assert counters["errors"] == 0 and counters["starts"] == counters["ends"]
    summary = session_metrics(archive)
    assert summary["session_errors"] == 0
    assert summary["session_traces"] == 1
    assert summarize(archive).errors == []


def test_a_real_exception_in_a_node_stays_an_error(
    handler: CometCallbackHandler, finish: Callable[..., Archive]
) -> None:
    config = {"configurable": {"thread_id": "t"}, "callbacks": [handler]}
    with pytest.raises(ValueError, match="draft store is down"):
        failing_graph().invoke({"topic": "x"}, config)
    counters = handler.get_custom_callback_meta()
    archive = finish(handler)
    runs = archive.runs()
    node = by_name(runs, "broken")[0]
    assert node["status"] == "error" and "interrupt" not in node
    assert node["error"]["type"] == "ValueError"
    assert roots(runs)[0]["status"] == "error"
    assert counters["errors"] == 2  # the node and the graph
    assert session_metrics(archive)["session_errors"] == 2


def test_a_handoff_to_the_parent_graph_is_control_flow(
    handler: CometCallbackHandler, finish: Callable[..., Archive]
) -> None:
    result = handoff_graph().invoke({"log": []}, {"callbacks": [handler]})
    assert result == {"log": ["research", "write"]}
    counters = handler.get_custom_callback_meta()
    archive = finish(handler)
    runs = archive.runs()
    researcher = by_name(runs, "researcher")[0]
    assert researcher["status"] == "interrupted"
    assert researcher["interrupt"]["kind"] == "handoff"
    assert researcher["interrupt"]["type"] == "langgraph.errors.ParentCommand"
    assert researcher["interrupt"]["goto"] == "writer"
    assert researcher["interrupt"]["update"] == {"log": ["research"]}
    # The subgraph it left is handed off too; the parent graph went on and succeeded.
    assert by_name(runs, "research")[0]["status"] == "interrupted"
    assert by_name(runs, "writer")[0]["status"] == "success"
    assert roots(runs)[0]["status"] == "success" and "interrupt" not in roots(runs)[0]
    assert counters["errors"] == 0
    assert session_metrics(archive)["session_errors"] == 0


def test_create_agent_pauses_in_a_tool_and_resumes_as_one_trace(
    handler: CometCallbackHandler, finish: Callable[..., Archive]
) -> None:
    agent = refund_agent()
    config = {"configurable": {"thread_id": "ticket-9"}, "callbacks": [handler]}
    paused = agent.invoke({"messages": [("user", "Refund order A-7 please")]}, config)
    assert paused["__interrupt__"][0].value["action"] == "refund"
    done = agent.invoke(Command(resume="approved by Dana"), config)
    assert done["messages"][-1].content == "Your refund of 12.5 is on its way."
    archive = finish(handler)
    runs = archive.runs()

    assert len({run["trace_id"] for run in runs}) == 1
    first_root, resumed_root = roots(runs)
    assert first_root["status"] == "interrupted"
    assert first_root["interrupt"]["values"][0]["order_id"] == "A-7"
    assert resumed_root["status"] == "success"
    assert resumed_root["resumed_from"] == first_root["trace_id"]
    # The tool paused (interrupted), then ran again on resume and succeeded.
    assert [r["status"] for r in by_name(runs, "refund")] == ["interrupted", "success"]
    assert by_name(runs, "refund")[1]["outputs"]["output"]["content"] == (
        "refund of 12.5 on A-7: approved by Dana"
    )
    # Model calls run inside the "model" node; tools inside "tools".
    chats = [run for run in runs if run["run_type"] == "chat_model"]
    assert len(chats) == 3
    assert {run["langgraph_node"] for run in chats} == {"model"}
    assert {run["langgraph_node"] for run in by_name(runs, "refund")} == {"tools"}
    assert not [run for run in runs if run["status"] == "error"]

    # show: one trace, its two segments with the wait between, nodes labelled as nodes.
    out = show(str(archive.path))
    (Path(__file__).parents[2] / "build").mkdir(exist_ok=True)
    (Path(__file__).parents[2] / "build" / "show-interrupted-agent.txt").write_text(out)
    assert "Run tree: 1 trace\n" in out
    assert re.search(r"2 segments: 1 interrupt, 1 resume, now success", out)
    assert re.search(r"⋯ waited [\d.]+ (ms|s), resumed with approved by Dana", out)
    assert re.search(r"⏸ refund tool .*interrupt: \{\"action\": \"refund\"", out)
    assert re.search(r"✓ model node step 1", out)
    assert re.search(r"⏸ tools node step 4", out)
    assert "errors            0" in out or re.search(r"errors\s+0\b", out)
    assert re.search(r"interrupted\s+3\b", out)  # the tool, its node and the graph


def test_human_in_the_loop_middleware_pauses_as_control_flow(
    handler: CometCallbackHandler, finish: Callable[..., Archive]
) -> None:
    agent = approval_agent()
    config = {"configurable": {"thread_id": "approval"}, "callbacks": [handler]}
    assert "__interrupt__" in agent.invoke({"messages": [("user", "Where is B-1?")]}, config)
    done = agent.invoke(Command(resume={"decisions": [{"type": "approve"}]}), config)
    assert done["messages"][-1].content == "It was delivered."
    archive = finish(handler)
    runs = archive.runs()
    hook = by_name(runs, "HumanInTheLoopMiddleware.after_model")
    assert [run["status"] for run in hook] == ["interrupted", "success", "success"]
    assert hook[0]["interrupt"]["kind"] == "interrupt"
    assert [root["status"] for root in roots(runs)] == ["interrupted", "success"]
    assert len({run["trace_id"] for run in runs}) == 1
    assert by_name(runs, "order_status")[0]["status"] == "success"  # ran once, approved


def test_hidden_runs_are_kept_and_folded(
    handler: CometCallbackHandler, finish: Callable[..., Archive]
) -> None:
    internal = RunnableLambda(lambda x: x, name="internal-step").with_config(
        tags=["langsmith:hidden"]
    )
    chain = RunnableLambda(lambda x: x + 1, name="visible-step") | internal
    assert chain.invoke(1, {"callbacks": [handler]}) == 2
    archive = finish(handler)
    hidden = by_name(archive.runs(), "internal-step")
    assert len(hidden) == 1 and "langsmith:hidden" in hidden[0]["tags"]  # kept
    out = show(str(archive.path))
    assert "visible-step" in out
    assert "internal-step" not in out
    assert "1 hidden run (langsmith:hidden) folded" in out


def test_flush_logs_the_graph_structure_and_its_mermaid_text(
    handler: CometCallbackHandler, finish: Callable[..., Archive]
) -> None:
    graph = handoff_graph()
    graph.invoke({"log": []}, {"callbacks": [handler]})
    handler.flush_tracker(langchain_asset=graph)
    archive = finish(handler)
    logged = archive.graph()
    assert logged is not None
    structure, mermaid = logged
    assert structure["name"] == "team"
    nodes = {node["id"]: node for node in structure["nodes"]}
    # xray: the subgraph's agent is drawn inside its node.
    assert {"__start__", "__end__", "writer", "research:researcher"} <= set(nodes)
    assert nodes["research:researcher"]["subgraph"] == "research"
    assert nodes["__start__"]["kind"] == "start" and nodes["writer"]["kind"] == "node"
    edges = {(edge["source"], edge["target"]): edge for edge in structure["edges"]}
    assert ("writer", "__end__") in edges
    assert edges[("research:researcher", "writer")]["conditional"] is True
    assert "graph TD" in mermaid and "writer" in mermaid
    # model.json is still there, as for any asset.
    assert archive.assets("model.json")
    out = show(str(archive.path))
    assert "Graph: team (4 nodes)" in out
    assert re.search(r"research:researcher\s+⇢ writer", out)


def test_an_asset_that_is_not_a_graph_logs_no_graph(
    handler: CometCallbackHandler, finish: Callable[..., Archive]
) -> None:
    chain = RunnableLambda(lambda x: x, name="plain")
    chain.invoke(1, {"callbacks": [handler]})
    handler.flush_tracker(langchain_asset=chain)
    archive = finish(handler)
    assert archive.graph() is None
    assert archive.assets("model.json")


async def test_streamed_graphs_are_stitched_too(
    handler: CometCallbackHandler, finish: Callable[..., Archive]
) -> None:
    graph = review_graph()
    config = {"configurable": {"thread_id": "streamed"}, "callbacks": [handler]}
    chunks = [chunk async for chunk in graph.astream({"topic": "a"}, config, stream_mode="updates")]
    assert "__interrupt__" in chunks[-1]
    async for _ in graph.astream(Command(resume="y"), config):
        pass
    for _ in graph.stream(Command(resume="z"), config, stream_mode="values"):
        pass
    archive = await asyncio.to_thread(finish, handler)
    first, *resumes = roots(archive.runs())
    assert [root["status"] for root in (first, *resumes)] == [
        "interrupted",
        "interrupted",
        "success",
    ]
    assert {root["trace_id"] for root in resumes} == {first["run_id"]}
    assert [root["resumed_from"] for root in resumes] == [first["run_id"]] * 2


def test_redact_covers_interrupts_feedback_attributes_and_the_graph(
    make_handler: Callable[..., CometCallbackHandler], finish: Callable[..., Archive]
) -> None:
    secret = "sk-" + "a1" * 16

    def redact(text: str) -> str:
        return text.replace(secret, "[REDACTED]")

    handler = make_handler(redact=redact)
    graph = review_graph()
    config = {"configurable": {"thread_id": "r"}, "callbacks": [handler]}
    with trace_attributes(user_id=f"user {secret}", metadata={"key": secret}):
        graph.invoke({"topic": secret}, config)
    handler.log_feedback(handler.last_trace_id or "", "helpful", True, comment=f"see {secret}")
    handler.flush_tracker(langchain_asset=graph)
    archive = finish(handler)
    with zipfile.ZipFile(archive.path) as zipped:
        for name in zipped.namelist():
            assert secret.encode() not in zipped.read(name), name
    paused = by_name(archive.runs(), "approve")[0]
    assert paused["interrupt"]["values"][0]["draft"] == "A post about [REDACTED]."
    assert paused["user_id"] == "user [REDACTED]"
    assert archive.feedback()[0]["comment"] == "see [REDACTED]"
