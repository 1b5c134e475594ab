"""displaCy pages of texts, from a spaCy pipeline: the spaCy half of visualizations.

It imports nothing of this package, so that it is also the program of the renderer
process (``render_process.py`` runs this file by its path: a child that neither imports
the application's ``__main__`` nor this package's LangChain and comet_ml side). Run so,
it reads frames of texts on its standard input and answers each with their pages.

Cost: only the components the requested styles read run (``dep`` reads the parse and
the part-of-speech tags, ``ent`` and ``span`` the entities; no style reads lemmas),
texts are parsed in ``nlp.pipe`` batches (2-3x cheaper per text than one call each), and
displaCy's renderers are made once. The pages are those ``displacy.render`` makes from
the full pipeline, byte for byte (displaCy's random rendering id aside).
"""

from __future__ import annotations

import functools
import json
import os
import struct
import sys
import warnings
from collections.abc import Sequence
from typing import IO, Any, BinaryIO

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
# How many texts ``render`` parses in one ``nlp.pipe`` batch.
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


class PageRenderer:
    """Each text's pages, ``{style: html}``, in each requested displaCy style. Texts must
    be exact ``str`` of valid UTF-8 (``Visualizer`` makes them so)."""

    def __init__(self, pipeline: Any, styles: Sequence[str]) -> None:
        self.styles = list(styles)
        self._pipeline = pipeline
        self._nlp: Any = None
        self._skipped: list[str] = []
        self._renderers: dict[str, Any] = {}

    def render(self, texts: Sequence[str]) -> list[dict[str, str]]:
        if self._nlp is None:
            pipeline = self._pipeline
            self._nlp = load_pipeline(pipeline) if isinstance(pipeline, str) else pipeline
            self._skipped = unread_components(self._nlp, self.styles)
        # ``disable`` skips components for this call only: the pipeline may be shared
        # with other handlers' workers, so it is never reconfigured.
        docs = self._nlp.pipe(texts, batch_size=PIPE_BATCH, disable=self._skipped)
        return [self._pages(doc) for doc in docs]

    def _pages(self, doc: Any) -> dict[str, str]:
        from spacy import displacy

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
                elif style == "ent":
                    parsed = [displacy.parse_ents(doc, OPTIONS)]
                else:
                    parsed = [displacy.parse_spans(doc, OPTIONS)]
                pages[style] = _page(self._renderer(style), parsed)
        return pages

    def _renderer(self, style: str) -> Any:
        """displaCy's renderer for ``style``, made once: ``displacy.render`` makes one per
        page, and an entity renderer's constructor reads every installed package's entry
        points for colours (~0.35 ms of a ~0.9 ms ``dep`` + ``ent`` pair of pages)."""
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


# -- the renderer process's side of its pipes ----------------------------------------------
# A frame is an 8-byte big-endian length, then that many bytes of JSON: a request
# ``[id, [text, ...]]``, an answer ``[id, true, [pages, ...]]`` or ``[id, false, "why"]``
# (id 0: the pipeline could not be loaded, and the process ends).
_LENGTH = struct.Struct(">Q")


def write_frame(out: BinaryIO, value: Any) -> None:
    write_bytes(out, json.dumps(value).encode("ascii"))  # escapes lone surrogates too
    out.flush()


def read_frame(source: BinaryIO) -> Any:
    """The next frame's value, or ``None`` at the end of the input."""
    body = read_bytes(source)
    return None if body is None else json.loads(body)


# Frames of bytes: a length and the bytes. Also the recorder process's (recorder_wire.py).


def write_bytes(out: IO[bytes], data: bytes) -> None:
    out.write(_LENGTH.pack(len(data)) + data)


def read_bytes(source: IO[bytes]) -> bytes | None:
    """The next frame's bytes, or ``None`` at the end of the input."""
    head = _read_exactly(source, _LENGTH.size)
    if head is None:
        return None
    (length,) = _LENGTH.unpack(head)
    return _read_exactly(source, length)


def _read_exactly(source: IO[bytes], size: int) -> bytes | None:
    chunks: list[bytes] = []
    while size:
        chunk = source.read(size)
        if not chunk:
            return None
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def serve(pipeline: str, styles: Sequence[str]) -> None:
    """Answer frames of texts with their pages until the parent closes the pipe."""
    # Frames go to a copy of standard output; anything printed (a library's notice)
    # goes to standard error instead of into a frame.
    out = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    source = sys.stdin.buffer
    renderer = PageRenderer(pipeline, styles)
    try:
        renderer.render([""])  # load the pipeline now, and say so if it cannot be
    except Exception as exc:
        write_frame(out, [0, False, f"loading spaCy pipeline {pipeline!r}: {exc!r}"])
        return
    while (request := read_frame(source)) is not None:
        batch, texts = request
        try:
            write_frame(out, [batch, True, renderer.render(texts)])
        except OSError:  # the parent is gone
            return
        except Exception as exc:
            write_frame(out, [batch, False, repr(exc)])


if __name__ == "__main__":
    serve(sys.argv[1], sys.argv[2:])
