"""Minimal cases of the bugs the hostile-input property test found (issue #6, part 4)."""

from __future__ import annotations

import json
import zipfile
from typing import Any

from langchain_core.messages import AIMessage
from langchain_core.outputs import ChatGeneration, LLMResult

from langchain_comet import metrics, usage
from langchain_comet.archive import Archive
from langchain_comet.runs import error_info
from langchain_comet.serialize import text_of, to_json


class Unprintable:
    def __str__(self) -> str:
        raise RuntimeError("no str")

    __repr__ = __str__


class UnprintableError(Exception):
    def __str__(self) -> str:
        raise RuntimeError("no message")


def deep(levels: int) -> Any:
    value: Any = "bottom"
    for _ in range(levels):
        value = [value]
    return value


def test_text_of_never_raises_and_falls_back_to_json():
    assert text_of("plain") == "plain"
    assert text_of({"a": 1}) == "{'a': 1}"  # str() where it works, as the seed streamed
    assert json.loads(text_of(Unprintable()))["type"].endswith("Unprintable")
    nested = text_of(deep(5000))  # str() raises RecursionError this deep
    assert nested.startswith('[["') or nested.startswith("[[[")
    assert text_of("x" * 50, 10).startswith("x" * 10 + "…[truncated, 50 chars]")
    assert text_of("lone \ud800") == "lone \ufffd"


def test_dict_keys_are_cut_like_any_other_text():
    assert to_json({"k" * 50: 1, 2: "two"}, 10) == {
        "k" * 10 + "…[truncated, 50 chars]": 1,
        "2": "two",
    }


def test_an_error_whose_message_cannot_be_printed_still_makes_a_record():
    info = error_info(UnprintableError(), 100)
    assert info["message"] == "<unprintable UnprintableError: RuntimeError>"
    assert "UnprintableError" in str(info["traceback"])
    long = error_info(ValueError("m" * 500), 100)
    assert str(long["message"]).endswith("…[truncated, 500 chars]")


def test_token_counts_that_are_not_finite_numbers_are_no_counts():
    message = AIMessage(content="hi")
    message.usage_metadata = {  # a provider reporting NaN/inf: no longer an OverflowError
        "input_tokens": float("nan"),
        "output_tokens": float("inf"),
        "total_tokens": 3,
    }
    result = LLMResult(generations=[[ChatGeneration(message=message)]])
    assert usage.token_usage(result) == {
        "total_tokens": 3,
        "prompt_tokens": 0,
        "completion_tokens": 0,
    }


def test_custom_metric_names_are_valid_utf8():
    values = metrics.custom_metrics(lambda g, p, i: {"len \ud800": 1.0}, None, 0, 0)
    assert values == {"len \ufffd": 1.0}


def test_run_records_are_split_at_newlines_only(tmp_path):
    record = {"run_id": "r", "text": "line\u2028separator\x85next"}
    path = tmp_path / "a.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(
            "messages.json",
            json.dumps(
                {
                    "type": "file_upload",
                    "payload": {
                        "file_path": "runs",
                        "upload_type": "asset",
                        "additional_params": {"fileName": "langchain-runs.jsonl"},
                    },
                }
            ),
        )
        archive.writestr("runs", json.dumps(record, ensure_ascii=False) + "\n")
    assert Archive(path).runs() == [record]


def test_text_of_a_structure_nested_past_the_recursion_limit_stops_at_a_marker():
    """Spelling a 5,000-deep list must not recurse into RecursionError: on a worker thread
    close to its stack's end, recovering from one can abort the interpreter ("Cannot
    recover from stack overflow", seen under hypothesis)."""
    import threading

    from langchain_comet.serialize import text_of

    value: object = "leaf"
    for _ in range(5_000):
        value = [value]
    found: list[str] = []
    thread = threading.Thread(target=lambda: found.append(text_of(value, None)))
    thread.start()
    thread.join(60)
    (text,) = found
    # Spelt as Python spells it, down to the marker (not the JSON fallback after an error).
    assert text.startswith("[[[[") and "[<max depth>]" in text and "leaf" not in text
