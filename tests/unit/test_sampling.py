"""TraceSampler: a trace is kept or dropped whole, decided once at its root."""

from __future__ import annotations

from uuid import uuid4

from langchain_comet.sampling import TraceSampler


def draws(*values: float):
    it = iter(values)
    return lambda: next(it)


def test_a_dropped_root_drops_its_whole_tree_and_forgets_it_at_the_end():
    sampler = TraceSampler(0.5, draws(0.9))  # 0.9 >= 0.5: dropped
    root, child, grandchild = uuid4(), uuid4(), uuid4()
    assert not sampler.keep("on_chain_start", root, None)
    assert not sampler.keep("on_llm_start", child, root)
    assert not sampler.keep("on_retriever_start", grandchild, child)
    assert not sampler.keep("on_llm_new_token", child, root)
    assert not sampler.keep("on_custom_event", grandchild, None)
    for run, parent in ((grandchild, child), (child, root), (root, None)):
        assert not sampler.keep("on_chain_end", run, parent)
    assert sampler.open_dropped_runs == 0


def test_a_kept_root_keeps_everything_below_it():
    sampler = TraceSampler(0.5, draws(0.1))
    root, child = uuid4(), uuid4()
    assert sampler.keep("on_chain_start", root, None)
    assert sampler.keep("on_tool_start", child, root)
    assert sampler.keep("on_tool_error", child, root)
    assert sampler.keep("on_chain_error", root, None)
    assert sampler.open_dropped_runs == 0


def test_events_of_runs_never_started_here_are_kept():
    sampler = TraceSampler(0.0, draws())
    assert sampler.keep("on_llm_end", uuid4(), uuid4())
    assert sampler.keep("on_text", None, None)


def test_a_langgraph_resume_follows_the_decision_taken_for_its_trace():
    from langchain_comet.attributes import TraceStart

    sampler = TraceSampler(0.5, draws(0.9, 0.1))  # the first trace dropped, the second kept
    dropped, kept = uuid4(), uuid4()
    assert not sampler.keep("on_chain_start", dropped, None, TraceStart(dropped, thread="t1"))
    assert sampler.keep("on_chain_start", kept, None, TraceStart(kept, thread="t2"))
    # Resumes draw nothing (draws() would raise): each follows its interrupted trace.
    resume_1, resume_2 = uuid4(), uuid4()
    assert not sampler.keep(
        "on_chain_start", resume_1, None, TraceStart(dropped, resumed_from=dropped, thread="t1")
    )
    assert sampler.keep(
        "on_chain_start", resume_2, None, TraceStart(kept, resumed_from=kept, thread="t2")
    )
