"""Where the run tree's records go: the protocol between the run tree and the sink.

A module of its own so that the run tree (``runs.py``), the redacting wrapper
(``redact.py``) and the sink all depend on it, and none of them on each other for it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Protocol

from langchain_comet.serialize import JSON

if TYPE_CHECKING:
    from langchain_comet.media import Payload


class RecordWriter(Protocol):
    """Where records go: the sink, which alone talks to comet_ml."""

    def text(self, text: str, metadata: dict[str, JSON], step: int) -> None: ...

    def metrics(
        self, values: Mapping[str, float], step: int, prefix: str | None = None
    ) -> None: ...

    def run(self, record: dict[str, JSON]) -> None: ...

    def started(self, run_id: JSON, record: Callable[[], dict[str, JSON]]) -> None:
        """A run that started; ``record()`` makes its started record, which is only needed
        if a sync finds the run still open (most end within milliseconds)."""

    def row(self, row: dict[str, JSON]) -> None: ...

    def action(self, record: dict[str, JSON]) -> None: ...

    def feedback(self, record: dict[str, JSON]) -> None: ...

    def visualization(self, style: str, idx: int, html: str, prompt: str | None) -> None: ...

    def media(self, payload: Payload) -> None: ...
