"""Spooled records: strict JSON on disk in their asset's final form, nothing lost."""

from __future__ import annotations

import errno
import io
import json
import shutil

import pytest

from langchain_comet import store as sink
from langchain_comet.store import Spool


def reject(constant: str) -> None:
    raise AssertionError(f"non-strict JSON constant {constant}")


def test_json_lines_spool_hands_over_a_finished_file_and_starts_a_new_one(tmp_path):
    spool = Spool(tmp_path, "runs.jsonl")
    assert spool.take() is None
    spool.append({"n": 1, "text": "héllo"})
    spool.append({"n": 2, "nested": [1, 2.5, None, True]})
    assert [json.loads(line) for line in spool.lines()] == [
        {"n": 1, "text": "héllo"},
        {"n": 2, "nested": [1, 2.5, None, True]},
    ]
    first = spool.take()
    spool.append({"n": 3})
    second = spool.take()
    assert first is not None and second is not None and first != second
    assert first.name == second.name == "runs.jsonl"
    assert [json.loads(line)["n"] for line in first.read_text().splitlines()] == [1, 2]
    assert [json.loads(line)["n"] for line in second.read_text().splitlines()] == [3]


def test_array_spool_is_one_json_array(tmp_path):
    spool = Spool(tmp_path, "actions.json", array=True)
    for n in range(3):
        spool.append({"n": n})
    path = spool.take()
    assert path is not None
    assert json.loads(path.read_text()) == [{"n": 0}, {"n": 1}, {"n": 2}]


def test_records_the_fast_encoder_refuses_are_converted_not_lost(tmp_path):
    spool = Spool(tmp_path, "runs.jsonl")
    cyclic: list = []
    cyclic.append(cyclic)
    spool.append({"nan": float("nan"), "name": "lone \ud800 surrogate", "obj": object()})
    spool.append({"cycle": cyclic})
    path = spool.take()
    assert path is not None
    first, second = (
        json.loads(line, parse_constant=reject) for line in path.read_bytes().decode().splitlines()
    )
    assert first["nan"] == "NaN"
    assert first["name"] == "lone \ufffd surrogate"
    assert first["obj"]["type"] == "object"
    assert second["cycle"] == ["<cycle>"]


class FullDisk(io.FileIO):
    """A file on a disk with ``free`` bytes left: a short write, then ENOSPC."""

    free: int | None = None

    def write(self, data) -> int:
        if FullDisk.free is None:
            return super().write(data)
        if FullDisk.free == 0:
            raise OSError(errno.ENOSPC, "No space left on device")
        written = super().write(memoryview(data)[: FullDisk.free])
        FullDisk.free -= written
        return written


@pytest.fixture
def full_disk(monkeypatch):
    monkeypatch.setattr(sink.Path, "open", lambda path, mode, **kw: FullDisk(path, mode))
    monkeypatch.setattr(sink, "SPOOL_BUFFER", 1)
    yield FullDisk
    FullDisk.free = None


def test_a_write_the_disk_refuses_is_cut_back_to_the_last_whole_record(tmp_path, full_disk):
    spool = Spool(tmp_path, "records.jsonl")
    spool.append({"n": 1})
    full_disk.free = 5  # part of the next record fits
    with pytest.raises(OSError, match="No space left"):
        spool.append({"n": 2, "pad": "x" * 20})
    assert spool.count == 1
    full_disk.free = None
    spool.append({"n": 3})
    path = spool.take()
    assert path is not None
    assert [json.loads(line)["n"] for line in path.read_text().splitlines()] == [1, 3]


def test_an_array_that_cannot_be_closed_is_kept_for_the_next_take(tmp_path, full_disk):
    spool = Spool(tmp_path, "records.json", array=True)
    spool.append({"n": 1})
    full_disk.free = 5
    with pytest.raises(OSError):
        spool.append({"n": 2, "pad": "x" * 20})
    full_disk.free = 0
    with pytest.raises(OSError):  # not even its closing bracket fits
        spool.take()
    full_disk.free = None
    spool.append({"n": 3})
    path = spool.take()
    assert path is not None
    assert [r["n"] for r in json.loads(path.read_text())] == [1, 3]


def test_a_file_whose_every_record_was_refused_is_not_handed_over(tmp_path, full_disk):
    spool = Spool(tmp_path, "records.jsonl")
    full_disk.free = 0
    with pytest.raises(OSError):
        spool.append({"n": 1})
    assert spool.take() is None


def test_a_spool_whose_folder_a_cleaner_removed_makes_it_again(tmp_path):
    folder = tmp_path / "offline" / "session"
    spool = Spool(folder, "runs.jsonl", fallback=lambda: pytest.fail("no fallback needed"))
    spool.append({"n": 1})
    assert spool.take() is not None
    shutil.rmtree(tmp_path / "offline")
    spool.append({"n": 2})
    handed = spool.take()
    assert handed is not None and handed.is_relative_to(folder)
    assert json.loads(handed.read_text()) == {"n": 2}


def _a_file_in_place_of(path):
    shutil.rmtree(path)
    path.write_text("a file")


@pytest.mark.parametrize(
    "replaced", [pytest.param(0, id="the folder"), pytest.param(1, id="its parent")]
)
def test_a_spool_whose_folder_became_a_file_opens_its_next_file_in_the_fallback(tmp_path, replaced):
    folder = tmp_path / "offline" / "session"
    folder.mkdir(parents=True)
    moved = tmp_path / "moved"

    def fallback():
        moved.mkdir(exist_ok=True)
        return moved

    spool = Spool(folder, "runs.jsonl", fallback=fallback)
    _a_file_in_place_of([folder, folder.parent][replaced])
    spool.append({"n": 1})
    handed = spool.take()

    assert handed is not None and handed.is_relative_to(moved)
    assert [json.loads(line) for line in handed.read_text().splitlines()] == [{"n": 1}]


def test_a_line_is_strict_compact_json_that_reads_back_as_the_record():
    from langchain_comet.store import json_line

    record = {
        "run_id": "01a23032-2d61-75ae-86e8-42c596f4ea1e",
        "name": 'naïve \u2028 \x1f "quoted" / 𝄞',
        "latency_ms": 0.1679800006968435,
        "tiny": 1e-05,
        "huge": 1.5e300,
        "count": 2**63 - 1,
        "flags": [True, False, None],
        "nested": {"tuple": (1, 2), "empty": {}},
    }
    line = json_line(record)
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert b": " not in line and b", " not in line  # compact
    back = json.loads(line.decode("utf-8"), parse_constant=reject)
    assert back == {**record, "nested": {"tuple": [1, 2], "empty": {}}}


def test_what_the_fast_encoder_cannot_write_is_converted_in_a_line():
    from langchain_comet.store import json_line

    for value, expected in (
        (2**64, str(2**64)),  # past 64 bits: as to_json spells it
        ({1: "int key"}, {"1": "int key"}),
        ("lone \ud800", "lone \ufffd"),
    ):
        line = json_line({"value": value})
        assert json.loads(line.decode("utf-8"), parse_constant=reject) == {"value": expected}
    # A NaN no converter spelt out is still strict JSON, never a NaN literal.
    json.loads(json_line({"nan": float("nan")}).decode("utf-8"), parse_constant=reject)
