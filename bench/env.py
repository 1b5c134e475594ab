"""One environment for every contender, set before comet_ml or langchain_comet is imported."""

from __future__ import annotations

import logging
import os
import threading
import warnings

# Same for every contender: no crash reports, no summaries, no host probing, no system
# metrics threads (they take seconds to stop at every experiment end).
COMET_SETTINGS = {
    "COMET_ERROR_TRACKING_ENABLE": "false",
    "COMET_DISPLAY_SUMMARY_LEVEL": "0",
    "COMET_AUTO_LOG_ENV_DETAILS": "false",
    "COMET_AUTO_LOG_ENV_HOST": "false",
    "COMET_AUTO_LOG_ENV_CPU": "false",
    "COMET_AUTO_LOG_ENV_GPU": "false",
    "COMET_AUTO_LOG_ENV_NETWORK": "false",
    "COMET_AUTO_LOG_ENV_DISK": "false",
}

# comet_ml notices that repeat for every experiment or callback and say nothing new here.
COMET_NOTICES = (
    "Experiment Name is generated at upload time",
    "callback is currently in beta",
    "Unexpected data format provided",
    "Failed to log session data",
    "Failed to log visualizations",
)


def configure_environment() -> None:
    """Apply COMET_SETTINGS, drop any API key and mute the langchain-community sunset notice."""
    os.environ.update(COMET_SETTINGS)
    os.environ.pop("COMET_API_KEY", None)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", message=".*langchain-community.*")


class CountingFilter(logging.Filter):
    """Drops matching records and counts them, so noise is measured rather than printed."""

    def __init__(self, patterns: tuple[str, ...] | None = None) -> None:
        super().__init__()
        self.patterns = patterns
        self.count = 0
        self.examples: list[str] = []
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if self.patterns is not None and not any(p in message for p in self.patterns):
            return True
        with self._lock:
            self.count += 1
            if len(self.examples) < 6:
                example = message.splitlines()[0][:160]
                if example not in self.examples:
                    self.examples.append(example)
        return False

    def take(self) -> int:
        """The count since the last call."""
        with self._lock:
            count, self.count = self.count, 0
        return count


# LangChain logs (and swallows) every exception a callback raises on this logger.
CALLBACK_ERRORS = CountingFilter()
COMET_NOISE = CountingFilter(COMET_NOTICES)


def quiet_logging() -> None:
    """comet_ml at WARNING minus its per-experiment notices; callback errors counted, not shown.

    comet_ml's logger does not propagate and has its own handlers, so the filter goes on them.
    """
    import comet_ml  # noqa: F401  (creates comet_ml's handlers)

    comet_logger = logging.getLogger("comet_ml")
    comet_logger.setLevel(logging.WARNING)
    for handler in comet_logger.handlers:
        if COMET_NOISE not in handler.filters:
            handler.addFilter(COMET_NOISE)
    manager_logger = logging.getLogger("langchain_core.callbacks.manager")
    if CALLBACK_ERRORS not in manager_logger.filters:
        manager_logger.addFilter(CALLBACK_ERRORS)
