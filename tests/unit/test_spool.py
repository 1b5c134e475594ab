"""Spooled records: strict JSON on disk in their asset's final form, nothing lost."""

from __future__ import annotations

import json

from langchain_comet.sink import Spool


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
