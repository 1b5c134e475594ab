"""The ``redact`` option: the user's function, applied to every text before it leaves.

Everything the run tree writes passes through :class:`RedactingWriter` on its way to the
sink (and the asset's parameters through :meth:`Redactor.json`), so no path can skip it.
Texts are redacted whole and only then cut to ``max_text_chars``: a secret straddling the
cut would otherwise leave a prefix no pattern matches. A redactor that raises, or returns
something that is not a string, must not let the text through: the text is replaced by a
marker and the failure reported once.

The handler's own words are covered too: comet_ml captures the console (stdout and
stderr) into the archive, so a WARNING that quotes an exception could carry a secret
there. :func:`cover_own_words` puts :class:`OwnWordsFilter` on the ``langchain_comet``
logger: every record it (or a child) writes is rewritten through the ``redact`` of every
live handler before any logging handler sees it.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import threading
import weakref
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, overload

from langchain_comet.failures import Failures
from langchain_comet.records import RecordWriter
from langchain_comet.serialize import JSON, truncate

if TYPE_CHECKING:
    from langchain_comet.media import Payload

Redact = Callable[[str], str]
REDACTION_FAILED = "[redaction failed]"
# A dict key shaped like a field name ("run_id", "prompts") is kept when redact fails, so
# the records keep their shape; any other key is replaced like a text.
FIELD_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")


class Redactor:
    """The user's ``redact`` with the cut and the failure policy around it."""

    def __init__(self, redact: Redact, failures: Failures, max_chars: int | None) -> None:
        self._redact = redact
        self._failures = failures
        self.max_chars = max_chars

    def text(self, value: str) -> str:
        """``value`` redacted, then cut to ``max_chars``."""
        return truncate(self._apply(value), self.max_chars)

    def json(self, value: JSON) -> JSON:
        """Every string of a JSON value redacted and cut, dict keys included."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {self._key(key): self.json(item) for key, item in value.items()}
        if isinstance(value, list):
            return [self.json(item) for item in value]
        return value

    def _key(self, key: str) -> str:
        redacted = self._apply(key, failed=None)
        if redacted is None:
            return key if FIELD_NAME.fullmatch(key) else REDACTION_FAILED
        return truncate(redacted, self.max_chars)

    @overload
    def _apply(self, value: str) -> str: ...
    @overload
    def _apply(self, value: str, failed: None) -> str | None: ...
    def _apply(self, value: str, failed: str | None = REDACTION_FAILED) -> str | None:
        try:
            redacted = self._redact(value)
            if not isinstance(redacted, str):
                raise TypeError(f"redact returned {type(redacted).__name__}, not str")
        except Exception as exc:
            self._failures.report("redact", exc, background=True)
            return failed
        return redacted

    def tokens(self, tokens: list[JSON]) -> list[JSON]:
        """A stream's tokens: a secret split across tokens matches no pattern token by
        token, so the joined text is redacted; if that changes it, it stands for them."""
        if not all(isinstance(token, str) for token in tokens):
            return [self.json(token) for token in tokens]
        joined = "".join(str(token) for token in tokens)
        redacted = self._apply(joined)
        if redacted == joined:
            return [self.text(str(token)) for token in tokens]
        return [truncate(redacted, self.max_chars)]


class RedactingWriter:
    """A :class:`~langchain_comet.records.RecordWriter` that redacts what it passes on."""

    def __init__(self, writer: RecordWriter, redactor: Redactor) -> None:
        self._writer = writer
        self._redactor = redactor

    def text(self, text: str, metadata: dict[str, JSON], step: int) -> None:
        self._writer.text(self._redactor.text(text), self._object(metadata), step)

    def metrics(self, values: Mapping[str, float], step: int, prefix: str | None = None) -> None:
        self._writer.metrics(values, step, prefix)

    def run(self, record: dict[str, JSON]) -> None:
        self._writer.run(self._object(record))

    def started(self, run_id: JSON, record: Callable[[], dict[str, JSON]]) -> None:
        # Redacted now, not when a sync needs it: the redactor is the user's code, which
        # must not run inside the store's sync.
        redacted = self._object(record())
        self._writer.started(run_id, lambda: redacted)

    def row(self, row: dict[str, JSON]) -> None:
        self._writer.row(self._object(row))

    def action(self, record: dict[str, JSON]) -> None:
        tokens = record.get("tokens")
        if not isinstance(tokens, list):
            self._writer.action(self._object(record))
            return
        redacted = self._object({key: value for key, value in record.items() if key != "tokens"})
        redacted["tokens"] = self._redactor.tokens(tokens)
        self._writer.action(redacted)

    def feedback(self, record: dict[str, JSON]) -> None:
        self._writer.feedback(self._object(record))

    def visualization(self, style: str, idx: int, html: str, prompt: str | None) -> None:
        # The page was rendered from redacted text (RunTree._visualize); its prompt is not.
        redacted = None if prompt is None else self._redactor.text(prompt)
        self._writer.visualization(style, idx, html, redacted)

    def media(self, payload: Payload) -> None:
        # The bytes are no text to redact; the metadata (a file name) is.
        metadata = self._object(payload.metadata)
        self._writer.media(dataclasses.replace(payload, metadata=metadata))

    def _object(self, value: dict[str, JSON]) -> dict[str, JSON]:
        redacted: Any = self._redactor.json(value)
        return dict(redacted)


# -- the handler's own words ------------------------------------------------------------

OWN_LOGGER = "langchain_comet"
# Every live handler's redact, keyed by an object that lives as long as the handler's
# session can still log (its Failures): a dropped handler's session still writes.
_own_redacts: weakref.WeakKeyDictionary[object, Redact] = weakref.WeakKeyDictionary()
_own_lock = threading.Lock()
_redacting = threading.local()


class OwnWordsFilter(logging.Filter):
    """Rewrites each record of the handler's loggers through every live ``redact``: its
    message, traceback and stack. A redactor that fails lets nothing through: the record
    then says only that a message was withheld, and why (an exception's type)."""

    def filter(self, record: logging.LogRecord) -> bool:
        with _own_lock:
            redacts = list(_own_redacts.values())
        if not redacts:
            return True
        if getattr(_redacting, "active", False):  # redact itself logged to us
            _withhold(record, "redact logged while redacting")
            return True
        _redacting.active = True
        try:
            _redact_record(record, redacts)
        finally:
            _redacting.active = False
        return True


OWN_WORDS_FILTER = OwnWordsFilter()


def cover_own_words(owner: object, redact: Redact | None) -> None:
    """While ``owner`` lives, pass every message of the handler's loggers through
    ``redact``. Without ``redact`` nothing is installed: such handlers pay nothing."""
    if redact is None:
        return
    with _own_lock:
        _own_redacts[owner] = redact
        manager = logging.Logger.manager
        loggers = [logging.getLogger(OWN_LOGGER)] + [
            logger
            for name, logger in list(manager.loggerDict.items())
            if name.startswith(OWN_LOGGER + ".") and isinstance(logger, logging.Logger)
        ]
        for logger in loggers:
            if OWN_WORDS_FILTER not in logger.filters:
                logger.addFilter(OWN_WORDS_FILTER)


def _redact_record(record: logging.LogRecord, redacts: list[Redact]) -> None:
    try:
        message = _through(record.getMessage(), redacts)
        trace = record.exc_text
        if trace is None and record.exc_info:
            trace = logging.Formatter().formatException(record.exc_info)
        stack = record.stack_info
        trace = None if trace is None else _through(trace, redacts)
        stack = None if stack is None else _through(stack, redacts)
    except Exception as exc:
        _withhold(record, f"redact raised {type(exc).__name__}")
        return
    # Formatters print exc_text when set, even without exc_info; the exception itself is
    # dropped so no handler can format it anew.
    record.msg, record.args = message, ()
    record.exc_info, record.exc_text, record.stack_info = None, trace, stack


def _through(text: str, redacts: list[Redact]) -> str:
    for redact in redacts:
        text = redact(text)
        if not isinstance(text, str):
            raise TypeError(f"redact returned {type(text).__name__}, not str")
    return text


def _withhold(record: logging.LogRecord, why: str) -> None:
    record.msg = (
        f"{REDACTION_FAILED} langchain-comet: a message ({record.levelname}) was withheld ({why})"
    )
    record.args = ()
    record.exc_info, record.exc_text, record.stack_info = None, None, None
