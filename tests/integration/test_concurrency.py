"""Records are joined by run id, never by arrival order: threads, batch and asyncio."""

from __future__ import annotations

import asyncio
import random
import time
from concurrent.futures import ThreadPoolExecutor

from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import PromptTemplate
from langchain_core.runnables import RunnableLambda


def slow_echo_llm():
    """An 'LLM' step whose latency varies, so threads finish out of order."""

    def answer(prompt) -> str:
        time.sleep(random.uniform(0, 0.01))
        return f"answer to <{prompt.to_string()}>"

    return RunnableLambda(answer, name="model")


def test_eight_threads_at_once_each_row_pairs_its_own_prompt_and_output(handler, finish):
    from langchain_core.language_models.fake import FakeListLLM

    class EchoLLM(FakeListLLM):
        def _call(self, prompt, stop=None, run_manager=None, **kwargs):
            time.sleep(random.uniform(0, 0.01))
            return f"answer to <{prompt}>"

    chain = (
        PromptTemplate.from_template("question {i}") | EchoLLM(responses=[""]) | StrOutputParser()
    )

    def ask(i: int) -> str:
        return chain.invoke({"i": i}, config={"callbacks": [handler]})

    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(ask, range(64)))
    assert answers == [f"answer to <question {i}>" for i in range(64)]
    archive = finish(handler)

    table = archive.session_table()
    assert len(table) == 64
    for row in table.to_dict("records"):
        assert row["text"] == f"answer to <{row['prompts']}>"
    roots = [r for r in archive.runs() if r["parent_run_id"] is None]
    assert len(roots) == 64
    meta = handler.get_custom_callback_meta()
    assert meta["llm_starts"] == meta["llm_ends"] == 64
    assert meta["chain_starts"] == meta["chain_ends"] == 64 * 3
    assert meta["starts"] == meta["ends"] == 64 * 4
    assert meta["step"] == 64 * 8


def test_batch_with_concurrency_keeps_every_trace_apart(handler, finish):
    chain = PromptTemplate.from_template("{x}") | slow_echo_llm()
    inputs = [{"x": f"item-{i}"} for i in range(16)]
    chain.batch(inputs, config={"callbacks": [handler], "max_concurrency": 4})
    runs = finish(handler).runs()

    roots = {r["run_id"]: r for r in runs if r["parent_run_id"] is None}
    assert len(roots) == 16
    for run in runs:
        root = roots[run["trace_id"]]
        if run["name"] == "model":
            assert run["outputs"] == f"answer to <{root['inputs']['x']}>"


async def test_abatch_of_ten_gives_ten_roots(handler, finish):
    async def answer(x: str) -> str:
        await asyncio.sleep(random.uniform(0, 0.01))
        return x[::-1]

    chain = RunnableLambda(lambda x: x.strip(), name="strip") | RunnableLambda(answer, name="rev")
    outputs = await chain.abatch([f" t{i} " for i in range(10)], config={"callbacks": [handler]})
    assert outputs == [f"t{i}"[::-1] for i in range(10)]
    runs = finish(handler).runs()

    roots = [r for r in runs if r["parent_run_id"] is None]
    assert len(roots) == 10
    assert sorted(r["outputs"] for r in roots) == sorted(outputs)
    for root in roots:
        children = [r for r in runs if r["parent_run_id"] == root["run_id"]]
        assert sorted(c["name"] for c in children) == ["rev", "strip"]
        rev = next(c for c in children if c["name"] == "rev")
        assert rev["outputs"] == root["outputs"]


async def test_astream_records_the_streamed_trace(handler, finish):
    async def tokens(text: str):
        for word in text.split():
            yield word

    chain = RunnableLambda(lambda x: x.lower(), name="lower") | RunnableLambda(tokens, name="split")
    chunks = [c async for c in chain.astream("Hello Big World", config={"callbacks": [handler]})]
    assert chunks == ["hello", "big", "world"]
    runs = finish(handler).runs()
    root = next(r for r in runs if r["parent_run_id"] is None)
    assert root["inputs"] == "Hello Big World"
    assert root["status"] == "success"
