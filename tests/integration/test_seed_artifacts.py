"""The seed's Comet artifacts, under the seed's names, so dashboards keep working."""

from __future__ import annotations

import json

import langchain_core
from langchain_core.language_models.fake import FakeListLLM
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate, PromptTemplate
from langchain_core.tools import tool


@tool
def shout(text: str) -> str:
    """Upper-cases text."""
    return text.upper()


def test_origin_tags_and_name(make_handler, finish):
    handler = make_handler(tags=["prod", "v2"], name="checkout-bot", project_name="shop")
    archive = finish(handler)
    assert archive.others()["Created from"] == "langchain"
    assert archive.name == "checkout-bot"
    assert sorted(archive.tags) == ["prod", "v2"]
    assert archive.project_name == "shop"


def test_streamed_texts_carry_action_and_run_ids(handler, finish):
    chain = PromptTemplate.from_template("Q: {q}") | FakeListLLM(responses=["A: 42"])
    chain.invoke({"q": "meaning"}, config={"callbacks": [handler]})
    shout.invoke({"text": "hey"}, config={"callbacks": [handler]})
    handler.on_text("a note", run_id=None)
    archive = finish(handler)
    runs = {r["run_type"]: r for r in archive.runs()}

    texts = {(t.metadata["action"], t.text): t for t in archive.texts()}
    assert ("on_chain_start", "meaning") in texts  # the chain's string input
    assert ("on_llm_start", "Q: meaning") in texts
    assert ("on_llm_end", "A: 42") in texts
    assert ("on_chain_end", "A: 42") in texts
    assert ("on_tool_start", "{'text': 'hey'}") in texts
    assert ("on_tool_end", "HEY") in texts
    assert ("on_text", "a note") in texts
    prompt = texts[("on_llm_start", "Q: meaning")]
    assert prompt.metadata["run_id"] == runs["llm"]["run_id"]
    assert prompt.metadata["parent_run_id"] == runs["chain"]["run_id"]
    assert prompt.metadata["trace_id"] == runs["chain"]["run_id"]
    steps = [t.step for t in archive.texts()]
    assert steps == sorted(steps) and len(set(steps)) == len(steps)


def test_stream_logs_false_logs_no_texts_but_keeps_records(make_handler, finish):
    handler = make_handler(stream_logs=False)
    FakeListLLM(responses=["x"]).invoke("p", config={"callbacks": [handler]})
    archive = finish(handler)
    assert archive.texts() == []
    assert len(archive.runs()) == 1
    assert len(archive.session_table()) == 1


def test_session_table_has_one_row_per_generation_with_its_own_prompt(handler, finish):
    llm = FakeListLLM(responses=["red", "green", "blue"])
    llm.batch(["sky?", "grass?", "sea?"], config={"callbacks": [handler]})
    archive = finish(handler)

    table = archive.session_table()
    assert len(table) == 3
    runs = {r["run_id"]: r for r in archive.runs()}
    for row in table.to_dict("records"):
        run = runs[row["run_id"]]
        assert [row["prompts"]] == run["inputs"]["prompts"]
        assert row["text"] == run["outputs"]["generations"][0][0]["text"]
        assert row["latency_ms"] == run["latency_ms"]


def test_session_table_keeps_chat_prompts_with_roles(handler, finish):
    model = GenericFakeChatModel(messages=iter([AIMessage(content="Hi!")]))
    prompt = ChatPromptTemplate.from_messages([("system", "Be kind."), ("human", "{q}")])
    (prompt | model | StrOutputParser()).invoke({"q": "Hello?"}, config={"callbacks": [handler]})
    (row,) = finish(handler).session_table().to_dict("records")
    assert row["prompts"] == "system: Be kind.\nuser: Hello?"
    assert row["text"] == "Hi!"


def test_action_records_asset_lists_every_callback_with_counters(handler, finish):
    FakeListLLM(responses=["ok"]).invoke("ping", config={"callbacks": [handler]})
    archive = finish(handler)

    (upload,) = archive.assets("langchain-action_records.json")
    assert upload.metadata == {"langchain_version": langchain_core.__version__}
    records = json.loads(upload.data)
    assert [r["action"] for r in records] == ["on_llm_start", "on_llm_end"]
    start, end = records
    assert start["prompts"] == ["ping"]
    assert start["step"] == 1 and start["llm_starts"] == 1 and start["starts"] == 1
    assert end["step"] == 2 and end["llm_ends"] == 1 and end["ends"] == 1
    assert end["text"] == ["ok"]


def test_custom_metrics_are_in_the_table_and_summarised_as_metrics(make_handler, finish):
    def length(generation, prompt_idx, gen_idx):
        return {"chars": len(generation.text)}

    handler = make_handler(custom_metrics=length)
    FakeListLLM(responses=["four", "sixsix"]).batch(["a", "b"], config={"callbacks": [handler]})
    archive = finish(handler)

    table = archive.session_table()
    assert sorted(table["chars"]) == [4, 6]
    names = {m.name for m in archive.metrics()}
    assert {"chars_count", "chars_mean", "chars_max", "chars_50%"} <= names
    assert [m.value for m in archive.metrics("chars_max")] and all(
        m.value in (4.0, 6.0) for m in archive.metrics("chars_max")
    )


def test_streamed_tokens_are_one_action_record_per_run_in_order(handler, finish):
    model = GenericFakeChatModel(messages=iter([AIMessage(content="a b c")]))
    list(model.stream("go", config={"callbacks": [handler]}))
    records = json.loads(finish(handler).assets("langchain-action_records.json")[0].data)

    assert [r["action"] for r in records] == [
        "on_chat_model_start",
        "on_llm_new_token",
        "on_llm_end",
    ]
    tokens = records[1]
    assert tokens["tokens"] == ["a", " ", "b", " ", "c"]
    assert tokens["llm_streams"] == 5  # the counters as of the last token


def test_complexity_metrics_are_in_the_table_and_summarised_without_nan(make_handler, finish):
    import math

    from langchain_comet.metrics import COMPLEXITY_METRICS

    handler = make_handler(complexity_metrics=True)
    llm = FakeListLLM(
        responses=["The cat sat on the mat. It was happy.", "Photosynthesis converts light."]
    )
    llm.batch(["a", "b"], config={"callbacks": [handler]})
    archive = finish(handler)

    table = archive.session_table()
    assert set(COMPLEXITY_METRICS) <= set(table.columns)
    assert all(isinstance(v, str) and "grade" in v for v in table["text_standard"])
    names = {m.name for m in archive.metrics()}
    assert {"flesch_reading_ease_mean", "gunning_fog_max", "osman_count"} <= names
    assert not any(name.startswith("text_standard") for name in names)
    assert all(math.isfinite(m.value) for m in archive.metrics())
