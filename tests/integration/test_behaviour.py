"""SPEC §5: never break the application, lose nothing, fail fast, write at exit."""

from __future__ import annotations

import dataclasses
import json
import logging
import textwrap
from pathlib import Path

import pytest
from langchain_core.documents import Document
from langchain_core.language_models.fake import FakeListLLM
from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.runnables import RunnableLambda
from pydantic import BaseModel

from langchain_comet.archive import Archive, ArchiveError
from langchain_comet.failures import HandlerError


def failing(*args, **kwargs):
    raise OSError("No space left on device")


def test_comet_ml_failing_never_reaches_the_app_and_warns_once(
    make_handler, finish, monkeypatch, caplog
):
    handler = make_handler(raise_error=False)
    monkeypatch.setattr(handler.experiment, "log_text", failing)
    llm = FakeListLLM(responses=["fine"] * 3)
    with caplog.at_level(logging.WARNING, logger="langchain_comet"):
        for _ in range(3):
            assert llm.invoke("hello", config={"callbacks": [handler]}) == "fine"
        archive = finish(handler)

    warnings = [r for r in caplog.records if r.name == "langchain_comet"]
    assert len(warnings) == 1
    assert "OSError" in warnings[0].getMessage()
    assert "No space left on device" in warnings[0].getMessage()
    assert len(archive.runs()) == 3  # everything that did not fail is still written
    assert len(archive.session_table()) == 3


def test_raise_error_propagates_background_failures(make_handler, monkeypatch):
    handler = make_handler(raise_error=True)
    monkeypatch.setattr(handler.experiment, "log_text", failing)
    FakeListLLM(responses=["fine"]).invoke("hello", config={"callbacks": [handler]})
    with pytest.raises(HandlerError, match="No space left on device"):
        handler.flush_tracker()


def test_a_failure_on_the_hot_path_is_contained_unless_raise_error(make_handler, monkeypatch):
    quiet = make_handler(raise_error=False)
    monkeypatch.setattr(quiet._session, "submit", failing)
    assert FakeListLLM(responses=["ok"]).invoke("x", config={"callbacks": [quiet]}) == "ok"

    loud = make_handler(raise_error=True)
    monkeypatch.setattr(loud._session, "submit", failing)
    with pytest.raises(OSError, match="No space left"):
        FakeListLLM(responses=["ok"]).invoke("x", config={"callbacks": [loud]})


def test_a_raising_custom_metric_loses_nothing_else(make_handler, finish, caplog):
    def broken(generation, prompt_idx, gen_idx):
        raise ZeroDivisionError("custom metric bug")

    handler = make_handler(custom_metrics=broken, raise_error=False)
    with caplog.at_level(logging.WARNING, logger="langchain_comet"):
        FakeListLLM(responses=["a", "b"]).batch(["1", "2"], config={"callbacks": [handler]})
        archive = finish(handler)
    assert sorted(archive.session_table()["text"]) == ["a", "b"]
    messages = [r.getMessage() for r in caplog.records if r.name == "langchain_comet"]
    assert len(messages) == 1 and "custom_metrics" in messages[0]
    assert "custom metric bug" in messages[0]


def test_a_custom_metric_returning_a_non_dict_is_reported(make_handler, finish, caplog):
    handler = make_handler(custom_metrics=lambda g, p, i: 0.5, raise_error=False)
    with caplog.at_level(logging.WARNING, logger="langchain_comet"):
        FakeListLLM(responses=["a"]).invoke("1", config={"callbacks": [handler]})
        archive = finish(handler)
    assert list(archive.session_table()["text"]) == ["a"]
    (message,) = [r.getMessage() for r in caplog.records if r.name == "langchain_comet"]
    assert "must return a dict" in message


@dataclasses.dataclass
class Order:
    item: str
    qty: int


class Customer(BaseModel):
    name: str
    vip: bool


class Opaque:
    def __repr__(self) -> str:
        return "<Opaque thing>"


def test_every_kind_of_input_and_output_is_kept_as_strict_json(handler, finish):
    payload = {
        "doc": Document(page_content="body", metadata={"k": 1}),
        "customer": Customer(name="Ada", vip=True),
        "order": Order(item="tea", qty=2),
        "messages": [HumanMessage(content="hi"), AIMessage(content="hello")],
        "raw": b"\x89PNG",
        "nan": float("nan"),
        "nested": [{"deep": [1, 2.5, None, True]}],
        "opaque": Opaque(),
    }
    RunnableLambda(lambda x: x, name="identity").invoke(payload, config={"callbacks": [handler]})
    (upload,) = finish(handler).assets("langchain-runs.jsonl")

    def reject(constant: str) -> None:
        raise AssertionError(constant)

    (record,) = [json.loads(line, parse_constant=reject) for line in upload.text.splitlines()]
    for side in ("inputs", "outputs"):
        value = record[side]
        assert value["doc"] == {"page_content": "body", "metadata": {"k": 1}}
        assert value["customer"] == {"name": "Ada", "vip": True}
        assert value["order"] == {"item": "tea", "qty": 2}
        assert [(m["role"], m["content"]) for m in value["messages"]] == [
            ("user", "hi"),
            ("assistant", "hello"),
        ]
        assert value["raw"]["type"] == "bytes" and value["raw"]["length"] == 4
        assert value["nan"] == "NaN"
        assert value["nested"] == [{"deep": [1, 2.5, None, True]}]
        assert value["opaque"]["repr"] == "<Opaque thing>"


def test_long_texts_are_cut_with_a_marker_giving_their_length(make_handler, finish):
    handler = make_handler(max_text_chars=100)
    long_prompt = "x" * 5000
    FakeListLLM(responses=["y" * 300]).invoke(long_prompt, config={"callbacks": [handler]})
    archive = finish(handler)
    (run,) = archive.runs()
    (prompt,) = run["inputs"]["prompts"]
    assert prompt.startswith("x" * 100) and "5000" in prompt and len(prompt) < 150
    row = archive.session_table().to_dict("records")[0]
    assert row["text"].startswith("y" * 100) and "300" in row["text"]
    assert all(len(t.text) < 150 for t in archive.texts())


def test_a_process_that_exits_without_flush_still_writes_its_archive(tmp_path: Path, run_python):
    script = textwrap.dedent(
        f"""
        from langchain_core.language_models.fake import FakeListLLM
        from langchain_comet import CometCallbackHandler

        handler = CometCallbackHandler(online=False, offline_directory={str(tmp_path)!r})
        llm = FakeListLLM(responses=["bye"])
        print(llm.invoke("exit without flush", config={{"callbacks": [handler]}}))
        """
    )
    result = run_python(script)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[0] == "bye"
    archive = Archive(tmp_path)
    (run,) = archive.runs()
    assert run["inputs"] == {"prompts": ["exit without flush"]}
    assert list(archive.session_table()["text"]) == ["bye"]


def test_a_dropped_handler_writes_its_archive_without_blocking_the_app(make_handler, offline_dir):
    import gc
    import time

    handler = make_handler()
    FakeListLLM(responses=["kept"]).invoke("dropped", config={"callbacks": [handler]})
    archive_file = offline_dir / f"{handler.experiment.id}.zip"
    del handler
    gc.collect()
    deadline = time.monotonic() + 60
    runs = None
    while runs is None and time.monotonic() < deadline:
        try:  # written by the worker in the background; complete once it parses
            runs = Archive(archive_file).runs()
        except ArchiveError:
            time.sleep(0.1)
    assert runs is not None
    (run,) = runs
    assert run["inputs"] == {"prompts": ["dropped"]}


def test_a_handler_finalised_on_its_own_worker_closes_once_and_keeps_everything(
    make_handler, offline_dir
):
    handler = make_handler(raise_error=False)
    llm = FakeListLLM(responses=[f"answer {i}" for i in range(50)])
    for i in range(50):
        llm.invoke(f"q{i}", config={"callbacks": [handler]})
    session = handler._session
    # What a garbage collection on the worker thread does: close it from there.
    session.worker.call(session.close_soon)
    session.worker.join(60)
    (archive_file,) = offline_dir.glob("*.zip")  # no second, empty experiment
    assert len(Archive(archive_file).runs()) == 50


def test_a_flush_waiting_on_a_stopping_worker_still_returns(handler):
    worker = handler._session.worker
    worker.stop_soon()
    assert worker.call(lambda: "ran") == "ran"


def test_an_asset_comet_ml_failed_to_log_is_retried_at_the_next_flush(
    make_handler, finish, monkeypatch
):
    handler = make_handler(raise_error=False)
    llm = FakeListLLM(responses=["first", "second"])
    llm.invoke("1", config={"callbacks": [handler]})
    real_log_asset = handler.experiment.log_asset
    monkeypatch.setattr(handler.experiment, "log_asset", failing)
    handler.flush_tracker()
    monkeypatch.setattr(handler.experiment, "log_asset", real_log_asset)
    llm.invoke("2", config={"callbacks": [handler]})
    archive = finish(handler)
    assert sorted(r["inputs"]["prompts"][0] for r in archive.runs()) == ["1", "2"]
    assert len(archive.session_table()) == 2  # the table was logged once per flush, no repeats
    actions = archive.action_records()
    assert [a["action"] for a in actions].count("on_llm_start") == 2
