"""KeptCalls: comet_ml calls kept in order on disk while the experiment is being created."""

from __future__ import annotations

import errno
import io
from pathlib import Path
from typing import Any

import pytest

from langchain_comet import kept_calls
from langchain_comet.kept_calls import KEPT_FILE, KeptCalls


def calls(n: int, start: int = 0) -> list[tuple[str, tuple[Any, ...], dict[str, Any]]]:
    return [
        ("log_text", (f"text {i}",), {"metadata": {"i": i}, "step": i})
        for i in range(start, start + n)
    ]


def keep(kept: KeptCalls, items: list[tuple[str, tuple[Any, ...], dict[str, Any]]]) -> None:
    for method, args, kwargs in items:
        kept.add(method, args, kwargs)


def test_calls_come_back_in_order_from_a_file_that_is_then_removed(tmp_path: Path) -> None:
    errors: list[OSError] = []
    kept = KeptCalls(tmp_path / "spool", errors.append)
    keep(kept, calls(100))
    assert len(kept) == 100
    assert (tmp_path / "spool" / KEPT_FILE).exists()
    assert list(kept.drain()) == calls(100)
    assert not (tmp_path / "spool" / KEPT_FILE).exists()
    assert len(kept) == 0 and list(kept.drain()) == []
    assert errors == []


def test_what_is_kept_is_on_disk_not_in_memory(tmp_path: Path) -> None:
    kept = KeptCalls(tmp_path, lambda exc: None)
    page = "<html>" + "x" * 50_000 + "</html>"  # a visualization's size
    for i in range(200):
        kept.add("log_asset_data", (page,), {"name": f"viz-{i}.html"})
    assert (tmp_path / KEPT_FILE).stat().st_size > 200 * 50_000
    drained = list(kept.drain())
    assert [c[2]["name"] for c in drained] == [f"viz-{i}.html" for i in range(200)]
    assert all(c[1] == (page,) for c in drained)


def test_a_directory_that_cannot_be_made_keeps_the_calls_in_memory(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("in the way")
    errors: list[OSError] = []
    kept = KeptCalls(tmp_path / "a-file" / "spool", errors.append)
    keep(kept, calls(5))
    assert list(kept.drain()) == calls(5)
    (error,) = errors  # told once, not once per call
    assert isinstance(error, OSError)


class FullDisk:
    """Files opened for the kept calls refuse writes once ``full`` is set."""

    def __init__(self) -> None:
        self.full = False

    def open(self, path: Path, mode: str) -> io.BufferedRandom:
        disk = self

        class File(io.BufferedRandom):
            def write(self, data: Any) -> int:
                if disk.full:
                    raise OSError(errno.ENOSPC, "No space left on device")
                return super().write(data)

        return File(io.FileIO(path, "w+"))


def test_a_disk_that_fills_up_keeps_the_rest_in_memory_in_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    disk = FullDisk()
    monkeypatch.setattr(kept_calls.Path, "open", lambda self, mode="r": disk.open(self, mode))
    errors: list[OSError] = []
    kept = KeptCalls(tmp_path, errors.append)
    keep(kept, calls(10))
    disk.full = True
    keep(kept, calls(10, start=10))
    disk.full = False  # later calls stay in memory, after those on disk: order is kept
    keep(kept, calls(5, start=20))
    assert list(kept.drain()) == calls(25)
    (error,) = errors
    assert error.errno == errno.ENOSPC


def test_a_call_that_cannot_be_pickled_is_kept_in_memory_in_order(tmp_path: Path) -> None:
    kept = KeptCalls(tmp_path, lambda exc: None)
    odd = ("log_other", ("key", lambda: None), {})
    keep(kept, [*calls(3), odd, *calls(3, start=3)])
    drained = list(kept.drain())
    assert drained[:3] == calls(3) and drained[4:] == calls(3, start=3)
    assert drained[3] == odd


def test_close_forgets_the_calls_and_removes_the_file(tmp_path: Path) -> None:
    kept = KeptCalls(tmp_path, lambda exc: None)
    keep(kept, calls(3))
    kept.close()
    assert not (tmp_path / KEPT_FILE).exists()
    assert len(kept) == 0 and list(kept.drain()) == []
