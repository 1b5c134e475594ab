"""How the handler fails: quietly for the application, loudly once for the operator.

A tracer runs inside other people's services, so its own failures must never reach
the application: each kind of failure is logged once as a WARNING that names the
cause. With ``raise_error=True`` (LangChain's flag, and what our own tests use) the
failure propagates instead; a failure on the background thread is re-raised at the
next callback or flush.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

logger = logging.getLogger("langchain_comet")


class HandlerError(RuntimeError):
    """A failure inside langchain-comet, re-raised because ``raise_error=True``."""


class Failures:
    """Reports each kind of failure once and keeps background ones for ``raise_error``."""

    def __init__(self, raise_error: bool = False) -> None:
        self.raise_error = raise_error
        self._seen: set[tuple[str, str]] = set()
        self._pending: BaseException | None = None
        self._lock = threading.Lock()

    def report(self, where: str, exc: BaseException, *, background: bool = False) -> None:
        """Log ``exc`` once per (where, exception type); keep it if it must be re-raised."""
        if isinstance(exc, BaseExceptionGroup):  # several parts failed: name each cause
            for part in exc.exceptions:
                self.report(where, part, background=background)
            return
        kind = (where, type(exc).__name__)
        with self._lock:
            first = kind not in self._seen
            self._seen.add(kind)
            if background and self.raise_error and self._pending is None:
                self._pending = exc
        if first:
            logger.warning(
                "langchain-comet: %s failed: %s. The application is not affected; "
                "further failures of this kind are not reported.",
                where,
                describe(exc),
                exc_info=exc if logger.isEnabledFor(logging.DEBUG) else None,
            )

    def after_fork_in_child(self) -> None:
        """A forked child starts with a lock of its own (the parent's may be held)."""
        self._lock = threading.Lock()

    def attempt(self, where: str, fn: Callable[..., Any], *args: Any) -> Any:
        """Background work that may fail on its own: ``fn(*args)``, or ``None`` once its
        failure is reported, so the rest of the work still runs."""
        try:
            return fn(*args)
        except Exception as exc:
            self.report(where, exc, background=True)
            return None

    def raise_pending(self) -> None:
        """Re-raise a background failure kept for ``raise_error=True``."""
        with self._lock:
            exc, self._pending = self._pending, None
        if exc is not None:
            raise HandlerError(f"langchain-comet background work failed: {describe(exc)}") from exc

    @property
    def kinds(self) -> set[tuple[str, str]]:
        """The (where, exception type) pairs seen so far."""
        with self._lock:
            return set(self._seen)


def describe(exc: BaseException) -> str:
    """``Type: message`` of an exception, even one whose ``__str__`` fails (a warning
    that cannot be formatted is a warning lost)."""
    try:
        message = str(exc)
    except Exception as error:
        message = f"<unprintable message: {type(error).__name__}>"
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__
