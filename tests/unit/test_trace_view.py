"""Record-level helpers that ``show`` and the report share (trace_view.py)."""

from __future__ import annotations

from uuid import uuid4

from langchain_core.utils.uuid import uuid7

from langchain_comet.trace_view import short_id


def test_traces_made_within_a_minute_get_different_short_ids() -> None:
    # LangChain 1.x's run ids: the first eight digits are a clock, alike for a minute.
    ids = [str(uuid7()) for _ in range(100)]
    assert len({run_id[:8] for run_id in ids}) <= 2
    shorts = [short_id(run_id) for run_id in ids]
    assert len(set(shorts)) == len(ids)
    # Each is the end of its id, so a search for it finds the trace.
    for run_id, short in zip(ids, shorts, strict=True):
        assert run_id.endswith(short.removeprefix("…"))


def test_a_short_id_of_random_ids_and_of_short_values() -> None:
    run_id = uuid4()
    assert short_id(run_id) == "…" + str(run_id)[-8:]
    assert short_id("abc") == "abc"
    assert short_id(None) == "None"
