"""comet_ml calls made before the experiment exists, kept on disk in order until it does.

While an online experiment is being created (up to the connect deadline), the sink's
calls cannot go anywhere yet. They are pickled one by one to a file in the sink's
private spool directory, so memory holds one call at a time however much the
application logs meanwhile (visualizations are whole HTML pages, grouped text samples
hold hundreds of texts). If the disk refuses, the rest are kept in memory instead:
bounded by what the application logs during the deadline, and never lost for it.
"""

from __future__ import annotations

import contextlib
import pickle
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

KEPT_FILE = "kept-calls.pickle"

Call = tuple[str, tuple[Any, ...], dict[str, Any]]


class KeptCalls:
    """An ordered log of ``(method, args, kwargs)``; ``drain`` gives them back in order.

    ``on_disk_error`` is told once when the disk refuses a call (then kept in memory).
    The file is written and read by this process only, in a directory only it may read.
    """

    def __init__(self, directory: Path, on_disk_error: Callable[[OSError], None]) -> None:
        self._directory = directory
        self._on_disk_error = on_disk_error
        self._file: IO[bytes] | None = None
        self._memory: list[Call] | None = None  # once the disk refused: here, after the file
        self.count = 0

    def __len__(self) -> int:
        return self.count

    def add(self, method: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        call: Call = (method, args, kwargs)
        self.count += 1
        if self._memory is None:
            try:
                self._write(call)
                return
            except (OSError, pickle.PicklingError, TypeError, AttributeError) as exc:
                self._memory = []
                if isinstance(exc, OSError):
                    self._on_disk_error(exc)
        self._memory.append(call)

    def _write(self, call: Call) -> None:
        if self._file is None:
            self._directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            self._file = (self._directory / KEPT_FILE).open("w+b")
        data = pickle.dumps(call, protocol=pickle.HIGHEST_PROTOCOL)
        position = self._file.tell()
        try:
            self._file.write(data)
        except OSError:
            with contextlib.suppress(OSError):  # back to the last whole call
                self._file.truncate(position)
                self._file.seek(position)
            raise

    def drain(self) -> Iterator[Call]:
        """Every call in the order it was added; the store is empty afterwards.

        Raises ``OSError`` or ``pickle.UnpicklingError`` if the file cannot be read back
        (what it still held is then lost, and the caller reports it).
        """
        file, self._file = self._file, None
        memory, self._memory = self._memory or [], None
        self.count = 0
        if file is not None:
            with file:
                file.flush()
                file.seek(0)
                while True:
                    try:
                        call: Call = pickle.load(file)
                    except EOFError:
                        break
                    yield call
            self._remove()
        yield from memory

    def close(self) -> None:
        """Forget what is kept and remove the file."""
        if self._file is not None:
            with contextlib.suppress(OSError):
                self._file.close()
            self._file = None
        self._remove()
        self._memory, self.count = None, 0

    def _remove(self) -> None:
        with contextlib.suppress(OSError):
            (self._directory / KEPT_FILE).unlink(missing_ok=True)
