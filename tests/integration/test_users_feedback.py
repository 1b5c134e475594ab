"""Users and sessions from anywhere (``trace_attributes``), and feedback on traces."""

from __future__ import annotations

import asyncio
import re
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from langchain_core.runnables import RunnableConfig, RunnableLambda, RunnableParallel

from langchain_comet import CometCallbackHandler, trace_attributes
from langchain_comet.archive import Archive
from tests.cli_output import show

pytestmark = pytest.mark.integration


def parallel_chain() -> Any:
    """A root with two branches LangChain runs on its thread pool, then a step."""
    branches = RunnableParallel(
        double=RunnableLambda(lambda x: x * 2, name="double"),
        square=RunnableLambda(lambda x: x * x, name="square"),
    )
    return branches | RunnableLambda(lambda d: d["double"] + d["square"], name="add")


def traces(archive: Archive) -> dict[str, list[dict[str, Any]]]:
    grouped: dict[str, list[dict[str, Any]]] = {}
    for run in archive.runs():
        grouped.setdefault(run["trace_id"], []).append(run)
    return grouped


def people(runs: list[dict[str, Any]]) -> set[tuple[str | None, str | None]]:
    return {(run["user_id"], run["session_id"]) for run in runs}


def metric(archive: Archive, name: str) -> list[float]:
    return [m.value for m in archive.metrics(name)]


# -- trace_attributes ---------------------------------------------------------------------


def test_batch_carries_the_attributes_to_every_run(
    handler: CometCallbackHandler, finish: Callable[..., Archive]
) -> None:
    threads: set[int] = set()

    def work(x: int, config: RunnableConfig) -> int:
        threads.add(threading.get_ident())
        result: int = parallel_chain().invoke(x, config)
        return result

    root = RunnableLambda(work, name="work")
    with trace_attributes(
        user_id="u-1", session_id="s-1", tags=["beta"], metadata={"tenant": "acme"}
    ):
        results = root.batch(list(range(6)), config={"callbacks": [handler], "max_concurrency": 3})
    assert threading.get_ident() not in threads  # every root started on LangChain's pool
    parallel_chain().invoke(1, {"callbacks": [handler]})  # outside: no attributes
    assert results == [x * 2 + x * x for x in range(6)]
    archive = finish(handler)
    grouped = traces(archive)
    assert len(grouped) == 7
    inside = [runs for runs in grouped.values() if any(run["user_id"] for run in runs)]
    assert len(inside) == 6
    for runs in inside:
        assert len(runs) == 6  # work, the sequence, parallel, two branches, add
        assert people(runs) == {("u-1", "s-1")}
        assert all("beta" in run["tags"] for run in runs)
        assert all(run["metadata"]["tenant"] == "acme" for run in runs)
    (outside,) = [runs for runs in grouped.values() if runs not in inside]
    assert people(outside) == {(None, None)}
    assert metric(archive, "session_users") == [1]
    assert metric(archive, "session_sessions") == [1]


def test_each_thread_and_langchains_pool_keep_their_own_user(
    handler: CometCallbackHandler, finish: Callable[..., Archive]
) -> None:
    chain = parallel_chain()

    def serve(i: int) -> int:
        with trace_attributes(user_id=f"user-{i}", session_id=f"chat-{i % 3}"):
            result: int = chain.invoke(i, {"callbacks": [handler]})
            return result

    with ThreadPoolExecutor(max_workers=8) as pool:
        assert list(pool.map(serve, range(24))) == [i * 2 + i * i for i in range(24)]
    archive = finish(handler)
    grouped = traces(archive)
    assert len(grouped) == 24
    for runs in grouped.values():
        root = next(run for run in runs if run["parent_run_id"] is None)
        i = root["inputs"]["input"] if isinstance(root["inputs"], dict) else root["inputs"]
        assert people(runs) == {(f"user-{i}", f"chat-{i % 3}")}
    assert metric(archive, "session_users") == [24]
    assert metric(archive, "session_sessions") == [3]


async def test_asyncio_gather_keeps_each_tasks_user(
    handler: CometCallbackHandler, finish: Callable[..., Archive]
) -> None:
    chain = parallel_chain()

    async def serve(i: int) -> int:
        with trace_attributes(user_id=f"user-{i}"):
            await asyncio.sleep(0.001 * (i % 3))  # interleave the tasks
            result: int = await chain.ainvoke(i, {"callbacks": [handler]})
            return result

    results = await asyncio.gather(*(serve(i) for i in range(12)))
    assert results == [i * 2 + i * i for i in range(12)]
    # abatch: LangChain runs each input in an asyncio task of its own.
    with trace_attributes(user_id="batch-user", session_id="b"):
        await chain.abatch(list(range(4)), {"callbacks": [handler]})
    archive = await asyncio.to_thread(finish, handler)
    users = [people(runs) for runs in traces(archive).values()]
    expected = [{(f"user-{i}", None)} for i in range(12)] + [{("batch-user", "b")}] * 4
    assert sorted(users, key=str) == sorted(expected, key=str)


def test_nesting_adds_up_and_the_runs_own_metadata_wins(
    handler: CometCallbackHandler, finish: Callable[..., Archive]
) -> None:
    step = RunnableLambda(lambda x: x, name="step")
    with trace_attributes(user_id="outer", tags=["a"], metadata={"k": 1, "j": 1}):
        with trace_attributes(session_id="inner-session", tags=["b"], metadata={"k": 2}):
            step.invoke(1, {"callbacks": [handler]})
            step.invoke(2, {"callbacks": [handler], "metadata": {"user_id": "from-metadata"}})
        step.invoke(3, {"callbacks": [handler]})
    archive = finish(handler)
    first, second, third = sorted(archive.runs(), key=lambda r: r["start_time"])
    assert (first["user_id"], first["session_id"]) == ("outer", "inner-session")
    assert first["tags"] == ["a", "b"] and first["metadata"] == {"k": 2, "j": 1}
    assert second["user_id"] == "from-metadata"
    assert (third["user_id"], third["session_id"], third["tags"]) == ("outer", None, ["a"])


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"user_id": 42}, "user_id must be a str"),
        ({"session_id": ["s"]}, "session_id must be a str"),
        ({"tags": "beta"}, "tags must be a list of strings"),
        ({"metadata": {1: "x"}}, "metadata must be a dict with str keys"),
    ],
)
def test_bad_attributes_fail_at_the_with(kwargs: dict[str, Any], expected: str) -> None:
    with pytest.raises(TypeError, match=expected), trace_attributes(**kwargs):
        pass


# -- feedback -----------------------------------------------------------------------------


def test_feedback_from_another_thread_before_and_after_a_flush(
    handler: CometCallbackHandler, finish: Callable[..., Archive]
) -> None:
    answer = RunnableLambda(lambda q: f"answer to {q}", name="answer")
    answer.invoke("q1", {"callbacks": [handler]})
    first = handler.last_trace_id
    known = uuid.uuid4()  # a caller under concurrency names its trace in advance
    answer.invoke("q2", {"callbacks": [handler], "run_id": known})
    assert handler.last_trace_id == str(known)
    handler.log_feedback(first, "helpful", True, comment="clear")
    handler.flush_tracker()

    def rate() -> None:  # after the flush, on another thread
        handler.log_feedback(known, "helpful", False)
        handler.log_feedback(first, "score", 0.25)
        handler.log_feedback(str(known), "score", 1)

    thread = threading.Thread(target=rate)
    thread.start()
    thread.join(30)
    archive = finish(handler)

    lines = archive.feedback()
    assert [(f["trace_id"], f["name"], f["value"], f["comment"]) for f in lines] == [
        (first, "helpful", True, "clear"),
        (str(known), "helpful", False, None),
        (first, "score", 0.25, None),
        (str(known), "score", 1, None),
    ]
    assert all(re.match(r"\d{4}-\d\d-\d\dT", f["time"]) for f in lines)
    assert len(archive.assets("langchain-feedback.jsonl")) == 2  # one per flush
    assert metric(archive, "feedback_helpful") == [1.0, 0.0]
    assert metric(archive, "feedback_score") == [0.25, 1.0]
    # At each flush, cumulative over the experiment.
    assert metric(archive, "session_feedback_helpful_mean") == [1.0, 0.5]
    assert metric(archive, "session_feedback_helpful_count") == [1, 2]
    assert metric(archive, "session_feedback_score_mean") == [0.625]
    assert metric(archive, "session_feedback_score_count") == [2]

    out = show(str(archive.path))
    assert re.search(r"helpful\s+2\s+0\.5\s+0\s+1", out)  # the Feedback table
    assert re.search(r'answer chain .*★ helpful=true "clear"  ★ score=0\.25', out)
    assert re.search(r"answer chain .*★ helpful=false  ★ score=1", out)
    assert "on 2 traces; each beside its trace below" in out and "not in this archive" not in out
    # The session's feedback metrics are numbers of their own, not a per-generation score.
    assert re.search(r"session_feedback_helpful_count\s+2\s+2\s+1\s+2", out)
    assert "per-generation scores" not in out


def test_feedback_while_the_trace_is_still_running(
    handler: CometCallbackHandler, finish: Callable[..., Archive]
) -> None:
    def grade(text: str) -> str:
        trace_id = handler.last_trace_id
        assert trace_id is not None
        handler.log_feedback(trace_id, "grounded", 1.0, comment="checked in flight")
        return text

    RunnableLambda(grade, name="grade").invoke("x", {"callbacks": [handler]})
    archive = finish(handler)
    (run,) = archive.runs()
    (line,) = archive.feedback()
    assert line["trace_id"] == run["trace_id"]
    assert line["comment"] == "checked in flight"


@pytest.mark.parametrize(
    ("args", "error", "message"),
    [
        ((None, "helpful", 1), TypeError, "trace_id must be a str"),
        (("", "helpful", 1), ValueError, "trace_id must not be empty"),
        (("t", 7, 1), TypeError, "name must be a str"),
        (("t", "not ok", 1), ValueError, "name must be 1 to 64 letters"),
        (("t", "x" * 65, 1), ValueError, "name must be 1 to 64 letters"),
        (("t", "helpful", "yes"), TypeError, "value must be a number or a bool"),
        (("t", "helpful", None), TypeError, "value must be a number or a bool"),
        (("t", "helpful", float("nan")), ValueError, "value must be a finite number"),
        (("t", "helpful", float("inf")), ValueError, "value must be a finite number"),
    ],
)
def test_bad_feedback_fails_at_the_call_saying_what_is_expected(
    handler: CometCallbackHandler, args: tuple[Any, ...], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        handler.log_feedback(*args)


def test_a_comment_must_be_text(handler: CometCallbackHandler) -> None:
    with pytest.raises(TypeError, match="comment must be a str or None"):
        handler.log_feedback("t", "helpful", 1, comment=5)  # type: ignore[arg-type]


def test_show_filters_by_user_and_session(
    handler: CometCallbackHandler, finish: Callable[..., Archive]
) -> None:
    step = RunnableLambda(lambda x: x, name="step")
    for user, session in (("ann", "s1"), ("ann", "s2"), ("bob", "s1")):
        with trace_attributes(user_id=user, session_id=session):
            step.invoke(f"{user}/{session}", {"callbacks": [handler]})
    archive = finish(handler)
    out = show(str(archive.path), "--user", "ann")
    assert "Run tree: 2 of 3 traces (user ann)" in out
    assert out.count("✓ step chain") == 2 and "bob" not in out.split("Run tree")[1]
    out = show(str(archive.path), "--user", "ann", "--session", "s1")
    assert "Run tree: 1 of 3 traces (user ann and session s1)" in out
    assert "user ann  session s1" in out
    out = show(str(archive.path), "--session", "nobody")
    assert "Run tree: 0 of 3 traces (session nobody)" in out


def test_show_says_when_feedback_names_a_trace_not_in_the_archive(
    handler: CometCallbackHandler, finish: Callable[..., Archive]
) -> None:
    RunnableLambda(lambda x: x, name="step").invoke("q", {"callbacks": [handler]})
    handler.log_feedback(handler.last_trace_id, "helpful", True)
    handler.log_feedback(uuid.uuid4(), "helpful", False)  # a trace this archive does not hold
    out = " ".join(show(str(finish(handler).path)).split())  # the caption wraps
    assert "on 1 trace; each beside its trace below; on 1 trace not in this archive" in out
