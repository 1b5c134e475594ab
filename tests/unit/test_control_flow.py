"""LangGraph control flow told apart from errors, and the bounded store of paused threads."""

from __future__ import annotations

import subprocess
import sys
from uuid import uuid4

import pytest
from langgraph.errors import GraphInterrupt, NodeInterrupt, ParentCommand
from langgraph.types import Command, Interrupt

from langchain_comet.control_flow import (
    ResumeStore,
    describe,
    is_control_flow,
    is_resume,
    merge,
    thread_key,
)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_langgraphs_bubble_ups_are_control_flow_and_other_exceptions_are_not() -> None:
    assert is_control_flow(GraphInterrupt((Interrupt(value="ok?", id="i1"),)))
    assert is_control_flow(ParentCommand(Command(goto="b", graph=Command.PARENT)))
    with pytest.warns(Warning):
        node_interrupt = NodeInterrupt("stop")
    assert is_control_flow(node_interrupt)
    assert not is_control_flow(ValueError("boom"))

    class GraphBubbleUp(Exception):  # same name, not LangGraph's
        pass

    assert not is_control_flow(GraphBubbleUp())


def test_describe_says_what_paused_or_redirected_the_graph() -> None:
    paused = describe(GraphInterrupt((Interrupt(value={"q": 1}, id="i1"),)), None)
    assert paused == {
        "kind": "interrupt",
        "type": "langgraph.errors.GraphInterrupt",
        "values": [{"q": 1}],
        "ids": ["i1"],
    }
    handoff = describe(ParentCommand(Command(goto="writer", update={"x": 1}, graph="p")), None)
    assert handoff["kind"] == "handoff"
    assert (handoff["goto"], handoff["update"], handoff["graph"]) == ("writer", {"x": 1}, "p")
    two = merge([paused, describe(GraphInterrupt((Interrupt(value="b", id="i2"),)), None), paused])
    assert two["values"] == [{"q": 1}, "b"] and two["ids"] == ["i1", "i2"]


def test_a_resume_is_a_command_with_a_resume_value() -> None:
    assert is_resume(Command(resume="yes"))
    assert not is_resume(Command(goto="x"))
    assert not is_resume({"resume": "yes"})
    assert thread_key({"thread_id": 7}) == "7"
    assert thread_key({"thread_id": ""}) is None and thread_key(None) is None


def test_a_resume_continues_the_interrupted_trace_of_its_thread() -> None:
    store = ResumeStore()
    first, resume, later = uuid4(), uuid4(), uuid4()
    assert store.begin("t", first, resume=False) == (first, None)
    store.settle("t", first, interrupted=True)
    assert store.begin("t", resume, resume=True) == (first, first)
    store.settle("t", first, interrupted=True)  # interrupted again: still the same trace
    assert store.begin("t", later, resume=True) == (first, first)
    store.settle("t", first, interrupted=False)  # done: forgotten
    assert len(store) == 0
    fresh = uuid4()
    assert store.begin("t", fresh, resume=True) == (fresh, None)


def test_a_new_input_on_a_paused_thread_starts_a_new_trace() -> None:
    store = ResumeStore()
    paused, new, resume = uuid4(), uuid4(), uuid4()
    store.begin("t", paused, resume=False)
    store.settle("t", paused, interrupted=True)
    assert store.begin("t", new, resume=False) == (new, None)
    store.settle("t", paused, interrupted=True)  # late news of the old trace changes nothing
    store.settle("t", new, interrupted=False)
    assert store.begin("t", resume, resume=True) == (resume, None)


def test_the_store_is_bounded_in_entries_and_in_age() -> None:
    clock = Clock()
    store = ResumeStore(max_entries=3, max_age_s=100.0, clock=clock)
    traces = {f"t{i}": uuid4() for i in range(4)}
    for thread, trace in traces.items():
        store.begin(thread, trace, resume=False)
        store.settle(thread, trace, interrupted=True)
    assert len(store) == 3  # t0, the oldest, forgotten
    assert store.begin("t0", uuid4(), resume=True)[1] is None
    clock.now = 50.0
    store.settle("t0", store.begin("t0", traces["t0"], resume=False)[0], interrupted=True)
    clock.now = 120.0  # t1..t3 paused at 0: older than 100 s; t0 paused at 50
    assert store.begin("t2", uuid4(), resume=True)[1] is None
    assert store.begin("t0", uuid4(), resume=True) == (traces["t0"], traces["t0"])


def test_the_package_imports_no_langgraph() -> None:
    script = (
        "import sys, langchain_comet, langchain_comet.handler, langchain_comet.cli\n"
        "assert 'langgraph' not in sys.modules, sorted(m for m in sys.modules if 'langgraph' in m)"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
