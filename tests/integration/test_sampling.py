"""``sample_rate``: the share of traces recorded, each trace whole or absent."""

from __future__ import annotations

from collections import Counter

import pytest
from langchain_core.language_models import FakeListLLM
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import PromptTemplate

from langchain_comet import CometCallbackHandler

pytestmark = pytest.mark.integration

TRACES = 400


def chain():
    return PromptTemplate.from_template("{i}") | FakeListLLM(responses=["x"]) | StrOutputParser()


@pytest.mark.parametrize("rate", [0.0, 0.25, 1.0])
def test_a_share_of_whole_traces_is_recorded(make_handler, finish, rate):
    handler = make_handler(sample_rate=rate, stream_logs=False)
    chain().batch([{"i": i} for i in range(TRACES)], config={"callbacks": [handler]})
    # Every callback is counted; only the sampled traces are recorded.
    assert handler.get_custom_callback_meta()["chain_starts"] == 3 * TRACES
    archive = finish(handler)
    runs = archive.runs()
    per_trace = Counter(run["trace_id"] for run in runs)
    assert set(per_trace.values()) <= {4}  # every recorded trace is whole
    kept = len(per_trace)
    if rate in (0.0, 1.0):
        assert kept == TRACES * rate
    else:  # binomial(400, 0.25): mean 100, sd 8.7; outside 55..145 is a 5-sigma event
        assert 55 <= kept <= 145
    assert len(archive.session_table()) == kept
    summary = {m.name: m.value for m in archive.metrics() if m.name.startswith("session_")}
    assert summary.get("session_traces", 0) == kept


@pytest.mark.parametrize("rate", [-0.1, 1.5, "half", True, float("nan")])
def test_a_bad_sample_rate_fails_at_construction(tmp_path, rate):
    with pytest.raises(ValueError, match="sample_rate must be a number from 0 to 1"):
        CometCallbackHandler(online=False, offline_directory=str(tmp_path), sample_rate=rate)
