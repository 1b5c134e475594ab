"""Bounded records (issue #13, item 7): collections are capped like strings, one value
costs at most ``MAX_CONVERTED_CHARS``, one record at most ``MAX_RECORD_BYTES``, and a
foreign object's ``str``/``repr`` is computed once per event."""

from __future__ import annotations

import json
from collections import OrderedDict, deque
from typing import Any

import numpy as np
import pytest

from langchain_comet.bounds import bounded_line, fit, recut, shrink
from langchain_comet.budget import MAX_GROUPED_CHARS, GroupedTexts
from langchain_comet.runs import error_info
from langchain_comet.serialize import (
    CUT_KEY,
    EVENT_TEXTS,
    MAX_CONVERTED_CHARS,
    MAX_RECORD_BYTES,
    MAX_STRING_CHARS,
    head,
    items_marker,
    text_of,
    to_json,
)


class Counted:
    """Counts every conversion to text: ``str()`` falls back to ``__repr__``."""

    def __init__(self, name: str = "c") -> None:
        self.name = name
        self.calls = 0

    def __repr__(self) -> str:
        self.calls += 1
        return f"Counted({self.name})"


class Twofaced(Counted):
    """A ``__str__`` of its own, counted apart from ``__repr__``."""

    def __init__(self) -> None:
        super().__init__("two")
        self.strs = 0

    def __str__(self) -> str:
        self.strs += 1
        return "twofaced"


def loose(value: Any) -> Any:
    return value


# -- max_items ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "make",
    [list, tuple, deque, lambda r: dict.fromkeys(r).keys(), lambda r: {i: i for i in r}.values()],
    ids=["list", "tuple", "deque", "dict keys", "dict values"],
)
def test_sequences_keep_max_items_then_say_how_many_there_were(make):
    value = make(range(5000))
    assert to_json(value, max_items=3) == [0, 1, 2, "…[truncated, 5000 items]"]
    assert len(loose(to_json(value))) == 1001  # the default, 1,000, and the marker
    assert to_json(make(range(3)), max_items=3) == [0, 1, 2]  # no marker when nothing is cut


def test_max_items_none_keeps_every_item():
    assert to_json(list(range(5000)), max_items=None) == list(range(5000))


def test_a_million_items_cost_only_the_items_kept():
    left_out = Counted()
    value = [*range(10), *[left_out] * 1_000_000]
    result = loose(to_json(value, max_items=10))
    assert result == [*range(10), "…[truncated, 1000010 items]"]
    assert left_out.calls == 0  # never converted
    assert len(json.dumps(result)) < 200


def test_dicts_keep_their_first_items_and_a_marker_key():
    value = {f"k{i}": i for i in range(2000)}
    result = loose(to_json(value, max_items=2))
    assert result == {"k0": 0, "k1": 1, CUT_KEY: "…[truncated, 2000 items]"}
    assert loose(to_json(OrderedDict(value), max_items=1)) == {
        "k0": 0,
        CUT_KEY: "…[truncated, 2000 items]",
    }


def test_a_dict_that_has_the_marker_key_keeps_it_and_gets_the_marker_beside_it():
    value = {CUT_KEY: "mine", "b": 2, "c": 3}
    result = loose(to_json(value, max_items=1))
    assert result[CUT_KEY] == "mine"
    assert list(result.values())[-1] == "…[truncated, 3 items]"


def test_a_large_set_is_cut_before_it_is_sorted():
    members = [Counted(str(i)) for i in range(50)]
    token = EVENT_TEXTS.set({})
    try:
        result = loose(to_json(set(members), max_items=5))
    finally:
        EVENT_TEXTS.reset(token)
    assert len(result) == 6 and result[-1] == "…[truncated, 50 items]"
    # Only the kept ones, once each: no repr of the others to sort them all.
    assert sorted(m.calls for m in members) == [0] * 45 + [1] * 5
    assert to_json({3, 1, 2}) == [1, 2, 3]  # a small one is still sorted


def test_numpy_arrays_are_cut_before_tolist():
    assert to_json(np.arange(1_000_000), max_items=3) == [0, 1, 2, "…[truncated, 1000000 items]"]
    grid = loose(to_json(np.zeros((3000, 4000)), max_items=2))
    assert grid == [[0.0, 0.0, items_marker(4000)]] * 2 + [items_marker(3000)]
    assert to_json(np.float32(1.5)) == 1.5 and to_json(np.int64(7)) == 7


def test_nested_collections_are_capped_at_every_level():
    value = {"rows": [[i] * 100 for i in range(100)]}
    result = loose(to_json(value, max_items=2))
    assert result == {
        "rows": [[0, 0, items_marker(100)], [1, 1, items_marker(100)], "…[truncated, 100 items]"]
    }


def test_the_handler_snapshot_copies_only_what_is_kept():
    big_list = list(range(10_000))
    big_dict = {i: i for i in range(10_000)}
    kept_list, kept_dict = head(big_list, 5), head(big_dict, 5)
    assert len(kept_list) == 5 and len(kept_dict) == 5
    big_list.clear(), big_dict.clear()  # the application changes its own objects later
    assert to_json(kept_list, max_items=5) == [0, 1, 2, 3, 4, items_marker(10_000)]
    assert loose(to_json(kept_dict, max_items=5))[CUT_KEY] == items_marker(10_000)
    small = {"a": 1}
    assert head(small, 5) == small and head(small, 5) is not small
    assert head("text", 5) == "text"


# -- one value's budget -------------------------------------------------------------------


def test_shared_parts_cannot_make_a_huge_value():
    row = [0] * 1000
    grid = [row] * 1000
    cube = [grid] * 1000  # 10**9 items through shared references, a few KB in memory
    text = json.dumps(to_json(cube), ensure_ascii=False)
    assert len(text) < 2 * MAX_CONVERTED_CHARS
    assert "…[truncated, 1000 items]" in text


def test_many_references_to_one_long_string_stay_within_the_budget():
    long = "x" * 90_000
    for value in ({str(i): long for i in range(64)}, [long] * 64, {"a": [long] * 40}):
        text = json.dumps(to_json(value), ensure_ascii=False)
        assert len(text) < MAX_CONVERTED_CHARS + 10_000
        assert "…[truncated, 90000 chars]" in text


def test_a_string_is_never_longer_than_max_string_chars_even_with_no_limit():
    result = loose(to_json({"a": "y" * (2 * MAX_STRING_CHARS)}, max_chars=None))
    assert len(result["a"]) < MAX_CONVERTED_CHARS + 100
    assert result["a"].endswith(f"…[truncated, {2 * MAX_STRING_CHARS} chars]")


# -- hostile leaves ---------------------------------------------------------------------


def test_huge_ints_are_cut_like_strings():
    digits = 10**3000  # str() works up to 4,300 digits
    assert to_json(digits, max_chars=10) == "1000000000…[truncated, 3001 chars]"
    huge = 7 << 4_000_000  # too long for str(): hex, and only its first digits
    result = loose(to_json(huge, max_chars=10))
    assert result.startswith("0x7000000") and result.endswith("…[truncated, 1000003 chars]")
    assert to_json(-huge, max_chars=10).startswith("-0x7")
    assert to_json(2**70) == str(2**70)  # beyond int64: still exact when it fits


def test_huge_bytes_decode_only_what_can_show():
    result = loose(to_json(bytearray(b"a" * 10_000_000), max_chars=5))
    assert result == {
        "type": "bytes",
        "length": 10_000_000,
        "text": "aaaaa…[truncated, 10000000 bytes]",
    }
    view = loose(to_json(memoryview(b"b" * 10_000_000), max_chars=3))
    assert view["length"] == 10_000_000 and view["text"].startswith("bbb…[truncated")


def test_long_dict_keys_roles_and_type_names_are_cut():
    assert to_json({"k" * 50: 1}, max_chars=10) == {"k" * 10 + "…[truncated, 50 chars]": 1}
    odd = type("N" * 5000, (), {})()
    result = loose(to_json(odd))
    assert len(result["type"]) < 1100
    assert result["type"].endswith(f"…[truncated, {len(__name__) + 5001} chars]")


# -- once per event -----------------------------------------------------------------------


def test_within_an_event_each_object_is_converted_once():
    obj, two = Counted(), Twofaced()
    token = EVENT_TEXTS.set({})
    try:
        to_json([obj, obj, {"a": obj}, {obj}, {obj: "key"}])
        assert text_of(obj) == "Counted(c)"
        assert text_of({"x": [obj, (obj,)]}) == "{'x': [Counted(c), (Counted(c),)]}"
        to_json({"two": two, "set": {two}})
        assert text_of(two) == "twofaced" and text_of([two]) == "[Counted(two)]"
    finally:
        EVENT_TEXTS.reset(token)
    assert obj.calls == 1
    assert (two.calls, two.strs) == (1, 1)  # each of its two texts once
    token = EVENT_TEXTS.set({})  # the next event converts afresh
    try:
        to_json(obj)
    finally:
        EVENT_TEXTS.reset(token)
    assert obj.calls == 2


def test_a_failing_repr_is_tried_once_per_event():
    class Broken:
        calls = 0

        def __repr__(self) -> str:
            Broken.calls += 1
            raise RuntimeError("no")

    broken = Broken()
    token = EVENT_TEXTS.set({})
    try:
        assert loose(to_json([broken, broken]))[0]["repr"] == "<unrepresentable: RuntimeError>"
        assert text_of(broken).startswith('{"type":')
    finally:
        EVENT_TEXTS.reset(token)
    assert Broken.calls == 1


def test_text_of_containers_is_what_str_gives():
    loop: list[Any] = [1]
    loop.append(loop)
    mapping: dict[str, Any] = {"a": (1,)}
    mapping["self"] = mapping
    for value in ({"a": 1, 2: (3,), "n": None, "t": ()}, loop, mapping, (), [1.5, "it's"]):
        assert text_of(value, None) == str(value)


def test_text_of_a_large_collection_spells_only_its_first_items():
    assert text_of(list(range(5000)), None, 3) == "[0, 1, 2, …[truncated, 5000 items]]"
    assert text_of({i: i for i in range(9)}, None, 2) == "{0: 0, 1: 1, …[truncated, 9 items]}"
    assert text_of(tuple(range(5)), None, 1) == "(0, …[truncated, 5 items])"
    assert text_of(list(range(5000)), None, None) == str(list(range(5000)))
    row = [0] * 1000
    cube = [[row] * 1000] * 1000  # shared parts: 10**9 items to spell, a bounded few are
    assert len(text_of(cube, None)) < 1_000_000


def test_an_error_message_is_read_once_for_message_and_traceback():
    class Slow(Exception):
        calls = 0

        def __str__(self) -> str:
            Slow.calls += 1
            return "slow message"

    try:
        raise Slow()
    except Slow as exc:
        info = error_info(exc, 1000)
    assert info["message"] == "slow message"
    assert "Slow: slow message" in str(info["traceback"])
    assert Slow.calls == 1


# -- one record's size ------------------------------------------------------------------


def encode(record: dict[str, Any]) -> bytes:
    return (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8")


def test_a_record_within_the_bound_is_encoded_as_it_is():
    record = {"run_id": "r", "inputs": {"q": "hi"}}
    assert bounded_line(record, encode) == encode(record)


def test_a_record_past_the_bound_is_cut_to_fit_and_marked():
    record = {
        "run_id": "r1",
        "name": "chain",
        "inputs": {f"k{i}": "é" * 90_000 for i in range(40)},  # ~7 MB of UTF-8
        "outputs": [list(range(1000))] * 50,
    }
    size = len(encode(record))
    line = bounded_line(record, encode)
    assert size > MAX_RECORD_BYTES >= len(line)
    cut = json.loads(line)
    assert cut["run_id"] == "r1" and cut["name"] == "chain"
    assert cut[CUT_KEY] == f"…[truncated, {size} bytes]"
    assert cut["inputs"]["k0"].endswith("…[truncated, 90000 chars]")


def test_cutting_again_keeps_the_original_counts():
    assert (
        recut("a" * 100 + "…[truncated, 5000 chars]", 10) == "a" * 10 + "…[truncated, 5000 chars]"
    )
    assert recut("short…[truncated, 9 chars]", 10) == "short…[truncated, 9 chars]"
    assert shrink([1, 2, 3, "…[truncated, 70 items]"], 10, 2) == [1, 2, "…[truncated, 70 items]"]
    assert shrink({"a": 1, "b": 2, CUT_KEY: "…[truncated, 80 items]"}, 10, 1) == {
        "a": 1,
        CUT_KEY: "…[truncated, 80 items]",
    }
    assert shrink({"k" * 30: 1, "k" * 31: 2}, 5, 5) == {
        "kkkkk…[truncated, 30 chars]": 1,
        "kkkkk…[truncated, 31 chars]": 2,
    }


def test_a_record_that_nothing_else_fits_keeps_its_identity():
    record = {"run_id": "r" * 100, "action": "on_llm_end", **{f"f{i}": "x" for i in range(200)}}
    small = fit(record, 10**6, encode, 200)
    assert small == {
        "action": "on_llm_end",
        "run_id": "r" * 64 + "…[truncated, 100 chars]",
        CUT_KEY: "…[truncated, 1000000 bytes]",
    }


def test_a_grouped_text_sample_stays_within_the_bound():
    grouped = GroupedTexts()
    meta: dict[str, Any] = {"action": "on_text", "run_id": "r"}
    text = "t" * 400_000
    assert not grouped.overflows(text, meta, 1)  # an empty group takes any text
    grouped.add(text, meta, 1)
    grouped.add(text, meta, 2)
    assert grouped.overflows(text, meta, 3)
    rendered, metadata, _ = grouped.render()
    assert metadata["texts"] == 2 and len(rendered) <= MAX_GROUPED_CHARS
    assert grouped.chars == 0 and not grouped.overflows(text, meta, 3)
