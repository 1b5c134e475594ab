"""flush_tracker: LangChain 1.x assets, finish, reset, and what comes after."""

from __future__ import annotations

import json
import logging

from langchain_core.language_models.fake import FakeListLLM
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import RunnableLambda
from langchain_openai import ChatOpenAI

from langchain_comet.archive import Archive


def model_file(archive: Archive) -> dict:
    (upload,) = [u for u in archive.uploads("model-element") if u.name == "model.json"]
    return json.loads(upload.data)


def test_an_lcel_runnable_logs_its_models_parameters_and_langchains_serialization(
    handler, finish, openai_server
):
    llm = ChatOpenAI(
        base_url=openai_server.base_url,
        api_key="sk-secret-do-not-log",
        model="gpt-4o-mini",
        temperature=0.2,
    )
    chain = ChatPromptTemplate.from_messages([("human", "{q}")]) | llm | StrOutputParser()
    archive = finish(handler, langchain_asset=chain)

    params = archive.parameters()
    assert params["model_model_name"] == "gpt-4o-mini"
    assert params["model_temperature"] == 0.2
    assert params["model__type"] == "openai-chat"
    described = model_file(archive)
    assert described["langchain"]["lc"] == 1
    assert described["langchain"]["id"][-1] == "RunnableSequence"
    assert "graph" in described
    assert "sk-secret-do-not-log" not in json.dumps(described)
    assert "sk-secret-do-not-log" not in json.dumps(params)


def test_a_plain_llm_is_an_asset_too(handler, finish):
    archive = finish(handler, langchain_asset=FakeListLLM(responses=["a", "b"]))
    assert archive.parameters()["model__type"] == "fake-list"
    assert model_file(archive)["class"].endswith("FakeListLLM")


def test_a_runnable_of_plain_functions_is_described_by_its_graph(handler, finish):
    chain = RunnableLambda(lambda x: x, name="first") | RunnableLambda(lambda x: x, name="second")
    described = model_file(finish(handler, langchain_asset=chain))
    names = {n["data"]["name"] for n in described["graph"]["nodes"] if n["type"] == "runnable"}
    assert {"first", "second"} <= names


def test_the_model_is_named_after_the_handler(make_handler, finish):
    handler = make_handler(name="support-bot")
    archive = finish(handler, langchain_asset=FakeListLLM(responses=["a"]))
    (message,) = [
        m
        for m in archive.messages
        if m["type"] == "file_upload" and m["payload"]["upload_type"] == "model-element"
    ]
    assert message["payload"]["additional_params"]["groupingName"] == "support-bot"


def test_each_flush_writes_what_came_since_the_last_one(handler, finish):
    llm = FakeListLLM(responses=["one", "two"])
    llm.invoke("first", config={"callbacks": [handler]})
    handler.flush_tracker()
    llm.invoke("second", config={"callbacks": [handler]})
    archive = finish(handler)

    tables = archive.assets("langchain-llm-session.csv")
    assert len(tables) == 2
    assert list(archive.session_table()["text"]) == ["one", "two"]
    first, second = archive.assets("langchain-runs.jsonl")
    assert json.loads(first.text)["inputs"] == {"prompts": ["first"]}
    assert json.loads(second.text)["inputs"] == {"prompts": ["second"]}


def test_reset_starts_a_fresh_experiment_that_keeps_earlier_settings(make_handler, offline_dir):
    handler = make_handler(tags=["a"], name="bot", project_name="proj", stream_logs=False)
    llm = FakeListLLM(responses=["before", "after"])
    llm.invoke("1", config={"callbacks": [handler]})
    first_id = handler.experiment.id
    handler.flush_tracker(reset=True, name="bot-2")
    second_id = handler.experiment.id
    assert second_id != first_id
    assert handler.get_custom_callback_meta()["step"] == 0
    llm.invoke("2", config={"callbacks": [handler]})
    handler.flush_tracker(finish=True)

    first = Archive(offline_dir / f"{first_id}.zip")
    second = Archive(offline_dir / f"{second_id}.zip")
    assert [r["inputs"] for r in first.runs()] == [{"prompts": ["1"]}]
    assert [r["inputs"] for r in second.runs()] == [{"prompts": ["2"]}]
    assert second.tags == ["a"]
    assert second.project_name == "proj"  # the flush default did not override it
    assert first.name == "bot" and second.name == "bot-2"
    assert second.texts() == []  # stream_logs=False kept


def test_events_after_finish_go_to_a_new_experiment_with_a_warning(handler, offline_dir, caplog):
    llm = FakeListLLM(responses=["x", "y"])
    llm.invoke("1", config={"callbacks": [handler]})
    first_id = handler.experiment.id
    handler.flush_tracker(finish=True)
    with caplog.at_level(logging.WARNING, logger="langchain_comet"):
        llm.invoke("2", config={"callbacks": [handler]})
        handler.flush_tracker(finish=True)
    second_id = handler.experiment.id
    assert second_id != first_id
    assert any("after flush_tracker(finish=True)" in r.getMessage() for r in caplog.records)
    assert [r["inputs"] for r in Archive(offline_dir / f"{second_id}.zip").runs()] == [
        {"prompts": ["2"]}
    ]
