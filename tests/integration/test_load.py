"""Load (issue #6, part 1): 16 threads x 1,000 traces, 1,000 concurrent asyncio traces.

Every run is recorded exactly once, under the right parent in the right trace, the
counters agree with the records, and nothing is lost once ``flush_tracker`` returns.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from langchain_core.language_models.fake import FakeListLLM
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import PromptTemplate
from langchain_core.runnables import RunnableLambda

from langchain_comet.archive import Archive

pytestmark = pytest.mark.integration


class EchoLLM(FakeListLLM):
    """Answers with its own prompt, so every record can be checked against its input."""

    def _call(self, prompt: str, stop: Any = None, run_manager: Any = None, **kwargs: Any) -> str:
        return f"answer to <{prompt}>"

    async def _acall(
        self, prompt: str, stop: Any = None, run_manager: Any = None, **kwargs: Any
    ) -> str:
        await asyncio.sleep(0)
        return f"answer to <{prompt}>"


def echo_chain() -> Any:
    return (
        PromptTemplate.from_template("question {i}") | EchoLLM(responses=[""]) | StrOutputParser()
    )


def check_archive(archive: Archive, meta: dict[str, int], traces: int, runs_per_trace: int):
    """The run tree, session table and action records against the counters."""
    runs = archive.runs()
    assert len(runs) == traces * runs_per_trace
    by_id = {run["run_id"]: run for run in runs}
    assert len(by_id) == len(runs), "a run was recorded twice"

    roots = {run["run_id"] for run in runs if run["parent_run_id"] is None}
    assert len(roots) == traces
    assert {run["trace_id"] for run in runs} == roots  # trace ids are the roots' run ids
    for run in runs:
        assert run["status"] == "success"
        if run["parent_run_id"] is not None:
            parent = by_id[run["parent_run_id"]]  # every parent exists...
            assert parent["trace_id"] == run["trace_id"]  # ...in the same trace
        if run["run_type"] == "llm":  # each LLM run answered its own prompt
            (prompt,) = run["inputs"]["prompts"]
            assert run["outputs"]["generations"][0][0]["text"] == f"answer to <{prompt}>"

    kinds = Counter(run["run_type"] for run in runs)
    assert meta["llm_starts"] == meta["llm_ends"] == kinds["llm"] == traces
    assert meta["chain_starts"] == meta["chain_ends"] == len(runs) - kinds["llm"]
    assert meta["starts"] == meta["ends"] == len(runs)
    assert meta["errors"] == 0
    assert meta["step"] == 2 * len(runs)  # a start and an end per run

    table = archive.session_table()
    assert len(table) == traces
    assert all(row["text"] == f"answer to <{row['prompts']}>" for row in table.to_dict("records"))
    actions = archive.action_records()
    assert len(actions) == meta["step"]  # one per callback
    assert sorted(a["step"] for a in actions) == list(range(1, meta["step"] + 1))


def test_sixteen_threads_of_a_thousand_traces_lose_nothing(handler, finish):
    threads, per_thread = 16, 1000
    chain = echo_chain()

    def work(thread: int) -> None:
        for i in range(per_thread):
            n = thread * per_thread + i
            answer = chain.invoke({"i": n}, config={"callbacks": [handler]})
            assert answer == f"answer to <question {n}>"

    with ThreadPoolExecutor(max_workers=threads) as pool:
        done = pool.map(work, range(threads))
        flushes = 0
        while flushes < 5:  # flushes while the threads work: each writes what came so far
            handler.flush_tracker()
            flushes += 1
        list(done)
    meta = handler.get_custom_callback_meta()
    archive = finish(handler)
    assert len(archive.assets("langchain-runs.jsonl")) > 1
    check_archive(archive, meta, threads * per_thread, runs_per_trace=4)


async def test_a_thousand_concurrent_asyncio_traces_lose_nothing(handler, finish):
    async def pause(value: Any) -> Any:
        await asyncio.sleep(0)  # let the other traces interleave with this one
        return value

    chain = (
        PromptTemplate.from_template("question {i}")
        | RunnableLambda(pause, name="pause")
        | EchoLLM(responses=[""])
        | StrOutputParser()
    )
    traces = 1000
    answers = await asyncio.gather(
        *(chain.ainvoke({"i": i}, config={"callbacks": [handler]}) for i in range(traces))
    )
    assert answers == [f"answer to <question {i}>" for i in range(traces)]
    meta = handler.get_custom_callback_meta()
    check_archive(finish(handler), meta, traces, runs_per_trace=5)
