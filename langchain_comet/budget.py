"""How much goes to comet_ml one item at a time, and what happens past that.

Every text sample and metric point costs comet_ml a message, and every text sample two
files on disk (measured here: ~0.85 ms of work per text sample, ~0.15 ms per metric
point). An application making hundreds of LLM calls a second would bury comet_ml in a
backlog that the experiment's end must then drain. So items go to comet_ml one by one
while a token bucket allows (normal traffic, and the seed's exact shapes); past it,
texts are grouped into one text sample and metric points into one point per metric
(their mean) per interval. Nothing is dropped: the grouped sample holds every text, and
the run tree and session table always hold every run's exact values.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from langchain_comet.serialize import JSON, MAX_RECORD_BYTES

# Individual Comet items per second per handler, and the burst allowed above that rate.
DEFAULT_RATE = 20.0
DEFAULT_BURST = 40.0
# A grouped text sample is written when it holds this many texts, or at the next tick.
MAX_GROUPED_TEXTS = 500
# ... or before a text would take it past this many characters (at most 4 bytes each in
# UTF-8: a grouped sample is no larger than one record). Each text is shorter than that.
MAX_GROUPED_CHARS = MAX_RECORD_BYTES // 4
_SEPARATOR = "\n\n"


class TokenBucket:
    """``rate`` tokens a second, at most ``burst`` saved up."""

    def __init__(
        self,
        rate: float = DEFAULT_RATE,
        burst: float = DEFAULT_BURST,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._tokens = burst
        self._last = clock()

    def take(self, tokens: float = 1.0) -> bool:
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
        self._last = now
        if self._tokens < tokens:
            return False
        self._tokens -= tokens
        return True


@dataclass(slots=True)
class GroupedTexts:
    """Texts that arrived over budget, to be written as one text sample."""

    texts: list[tuple[str, dict[str, JSON], int]] = field(default_factory=list)
    chars: int = 0  # of the sample rendered from them

    def add(self, text: str, metadata: dict[str, JSON], step: int) -> None:
        self.chars += _size(text, metadata, step)
        self.texts.append((text, metadata, step))

    def overflows(self, text: str, metadata: dict[str, JSON], step: int) -> bool:
        """Whether adding ``text`` would make the sample longer than ``MAX_GROUPED_CHARS``."""
        return bool(self.texts) and self.chars + _size(text, metadata, step) > MAX_GROUPED_CHARS

    def __len__(self) -> int:
        return len(self.texts)

    def render(self) -> tuple[str, dict[str, JSON], int]:
        """One text sample: each text under a header naming its action, step and run."""
        parts: list[str] = []
        items: list[JSON] = []
        for text, meta, step in self.texts:
            parts.append(f"{_header(meta, step)}\n{text}")
            items.append({"step": step, **meta})
        last_step = self.texts[-1][2]
        metadata: dict[str, JSON] = {
            "action": "grouped",
            "texts": len(self.texts),
            "first_step": self.texts[0][2],
            "last_step": last_step,
            "items": items,
        }
        self.texts, self.chars = [], 0
        return _SEPARATOR.join(parts), metadata, last_step


def _header(metadata: dict[str, JSON], step: int) -> str:
    """The line that names a text's action, step and run in the grouped sample."""
    return f"[step {step}] {metadata.get('action')} run {metadata.get('run_id')}"


def _size(text: str, metadata: dict[str, JSON], step: int) -> int:
    """The characters a text adds to the grouped sample: header, newline, separator."""
    return len(_header(metadata, step)) + 1 + len(text) + len(_SEPARATOR)


@dataclass(slots=True)
class _Mean:
    count: int = 0
    total: float = 0.0
    last_step: int = 0


@dataclass(slots=True)
class AggregatedPoints:
    """Metric points that arrived over budget, as one mean per metric and prefix."""

    means: dict[tuple[str | None, str], _Mean] = field(default_factory=dict)

    def add(self, values: dict[str, float], step: int, prefix: str | None) -> None:
        for name, value in values.items():
            mean = self.means.setdefault((prefix, name), _Mean())
            mean.count += 1
            mean.total += value
            mean.last_step = step

    def __len__(self) -> int:
        return len(self.means)

    def drain(self) -> list[tuple[str | None, str, float, int]]:
        """``(prefix, name, mean, last step)`` per metric; empties the aggregate."""
        points = [
            (prefix, name, mean.total / mean.count, mean.last_step)
            for (prefix, name), mean in self.means.items()
        ]
        self.means = {}
        return points
