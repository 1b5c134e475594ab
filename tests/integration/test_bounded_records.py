"""Bounded records (issue #13, item 7), through real runnables into the real archive.

A million-item input makes a run record of a thousand items; no run record, action
record or text sample is larger than ``MAX_RECORD_BYTES``; and an object's ``repr``/``str``
is computed once per event that captured it, however many records show it.
"""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest
from langchain_core.runnables import RunnableLambda
from langchain_core.tools import tool

from langchain_comet import CometCallbackHandler
from langchain_comet.archive import Archive
from langchain_comet.budget import TokenBucket
from langchain_comet.experiment import ExperimentSettings, start_experiment
from langchain_comet.failures import Failures
from langchain_comet.serialize import CUT_KEY, MAX_RECORD_BYTES, MAX_STRING_CHARS
from langchain_comet.sink import CometSink, open_store

pytestmark = pytest.mark.integration


def encoded_size(value: Any) -> int:
    return len(json.dumps(value, ensure_ascii=False).encode("utf-8"))


def run_lines(archive: Archive) -> list[bytes]:
    (upload,) = archive.assets("langchain-runs.jsonl")
    return [line for line in upload.data.split(b"\n") if line]


def test_a_million_item_input_makes_a_run_record_of_a_thousand(make_handler, finish):
    handler = make_handler()
    big = list(range(1_000_000))
    chain = RunnableLambda(lambda x: len(x["items"]), name="count")
    assert chain.invoke({"items": big, "tag": "t"}, config={"callbacks": [handler]}) == 1_000_000
    archive = finish(handler)

    (run,) = archive.runs()
    items = run["inputs"]["items"]
    assert items[:3] == [0, 1, 2] and len(items) == 1001
    assert items[-1] == "…[truncated, 1000000 items]"
    assert run["inputs"]["tag"] == "t" and run["outputs"] == 1_000_000
    assert max(len(line) for line in run_lines(archive)) < 20_000  # not 16-20 MB


def test_max_items_caps_tool_outputs_and_retriever_results(make_handler, finish):
    handler = make_handler(max_items=5)

    @tool
    def table(n: int) -> dict[str, Any]:
        """Returns a large table."""
        return {f"row{i}": list(range(n)) for i in range(n)}

    table.invoke({"n": 50}, config={"callbacks": [handler]})
    (run,) = finish(handler).runs()
    output = run["outputs"]["output"]
    assert list(output) == ["row0", "row1", "row2", "row3", "row4", CUT_KEY]
    assert output["row0"] == [0, 1, 2, 3, 4, "…[truncated, 50 items]"]
    assert output[CUT_KEY] == "…[truncated, 50 items]"


def test_max_items_none_keeps_everything(make_handler, finish):
    handler = make_handler(max_items=None)
    RunnableLambda(len).invoke(list(range(5000)), config={"callbacks": [handler]})
    (run,) = finish(handler).runs()
    assert run["inputs"] == list(range(5000))


@pytest.mark.parametrize("bad", [0, -1, 2.5, True, "10"])
def test_max_items_is_checked_at_construction(tmp_path, bad):
    with pytest.raises(ValueError, match=r"max_items must be a positive int .* or None"):
        CometCallbackHandler(online=False, offline_directory=str(tmp_path), max_items=bad)


def test_no_record_and_no_text_sample_is_larger_than_the_bound(make_handler, finish):
    handler = make_handler(max_text_chars=None)  # strings are still cut at MAX_STRING_CHARS
    inputs = {f"k{i}": f"{i}" + "é" * 900_000 for i in range(6)}  # ~11 MB of UTF-8
    RunnableLambda(lambda x: x, name="echo").invoke(inputs, config={"callbacks": [handler]})
    archive = finish(handler)

    lines = run_lines(archive)
    assert lines and max(len(line) for line in lines) <= MAX_RECORD_BYTES
    (run,) = archive.runs()
    assert run["name"] == "echo" and run["status"] == "success"
    assert run[CUT_KEY].startswith("…[truncated, ") and run[CUT_KEY].endswith(" bytes]")
    assert run["inputs"]["k0"].endswith("…[truncated, 900001 chars]")
    actions = archive.action_records()
    assert actions and max(encoded_size(record) for record in actions) <= MAX_RECORD_BYTES
    assert any(CUT_KEY in record for record in actions)  # six 900,000-char strings each
    texts = archive.texts()
    assert len(texts) == 12  # every string input and output is still a text sample
    assert max(len(text.data) for text in texts) <= MAX_RECORD_BYTES


def test_grouped_text_samples_stay_within_the_bound(offline_dir):
    failures = Failures(raise_error=True)
    settings = ExperimentSettings(online=False, offline_directory=str(offline_dir))
    handle = start_experiment(settings, failures)
    experiment = handle.get()
    # No budget at all: every text is grouped.
    store = open_store(handle, settings, failures)
    sink = CometSink(handle, failures, store, budget=TokenBucket(rate=0.0, burst=0.0))
    text = "g" * (MAX_STRING_CHARS // 2)
    for step in range(5):
        sink.text(text, {"action": "on_text", "run_id": "r"}, step)
    sink.write_session("test")
    sink.end()
    samples = Archive(offline_dir / f"{experiment.id}.zip").texts()
    assert len(samples) == 3  # 2 + 2 + 1 texts, never more than fit
    assert max(len(sample.data) for sample in samples) <= MAX_RECORD_BYTES
    assert sum(sample.text.count(text) for sample in samples) == 5  # nothing dropped


# -- repr and str once per event ------------------------------------------------------------


class Counted:
    """Counts its conversions to text; ``str()`` falls back to ``__repr__``."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.calls = 0
        self.threads: set[str] = set()

    def __repr__(self) -> str:
        self.calls += 1
        self.threads.add(threading.current_thread().name)
        return f"Counted({self.name})"


class Twofaced(Counted):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.strs = 0

    def __str__(self) -> str:
        self.strs += 1
        return f"twofaced {self.name}"


class SlowError(Exception):
    calls = 0

    def __str__(self) -> str:
        SlowError.calls += 1
        return "slow to describe"


def workload(config: dict[str, Any]) -> dict[str, Counted]:
    """A chain input, a tool output and a chain output, each shown by several records."""
    key, value, answer, found, both = (
        Counted("key"),
        Counted("value"),
        Counted("answer"),
        Counted("found"),
        Twofaced("both"),
    )
    # A chain input: the object is a key of a string value (streamed, in the action record
    # and the run record) and a value.
    RunnableLambda(lambda x: "done", name="takes").invoke({key: "text", "v": value}, config)

    @tool
    def lookup(query: str) -> Any:
        """Finds something."""
        return {"found": found}

    @tool
    def describe(query: str) -> Any:
        """Describes something."""
        return both

    # Tool outputs: each in a text sample and an action record (str) and its run record
    # (repr); str() of the dict is the repr of what it holds.
    lookup.invoke({"query": "q"}, config)
    describe.invoke({"query": "q"}, config)
    # A chain output: the object itself and inside a set (sorted by repr).
    RunnableLambda(lambda x: {"answer": answer, "again": {answer}}, name="gives").invoke(
        "go", config
    )

    def fails(x: Any) -> None:
        raise SlowError()

    with pytest.raises(SlowError):
        RunnableLambda(fails, name="fails").invoke("go", config)
    return {"key": key, "value": value, "answer": answer, "found": found, "both": both}


def test_langchain_itself_does_not_convert_them(make_handler):
    SlowError.calls = 0
    objects = workload({})
    assert {name: obj.calls for name, obj in objects.items()} == dict.fromkeys(objects, 0)
    assert SlowError.calls == 0


def test_each_object_is_converted_once_per_event_that_captured_it(make_handler, finish):
    handler = make_handler()
    SlowError.calls = 0
    objects = workload({"callbacks": [handler]})
    finish(handler)
    # Each object was captured by one event: its start or its end.
    assert {name: obj.calls for name, obj in objects.items()} == dict.fromkeys(objects, 1)
    both = objects["both"]
    assert isinstance(both, Twofaced) and both.strs == 1  # its own str, once too
    assert SlowError.calls == 1  # the error's message and its traceback share one str()
    worker = handler._session.worker._thread.name  # never on the application's thread
    assert all(obj.threads == {worker} for obj in objects.values())
