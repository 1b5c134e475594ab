"""Metric summaries match pandas' describe() and never carry NaN or infinity."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from langchain_comet.metrics import custom_metrics, describe, summarize


@pytest.mark.parametrize(
    "values",
    [[1.0], [1.0, 2.0], [3, 1, 4, 1, 5, 9, 2, 6], [0.1 * i for i in range(101)], [-5.5, 7.25, 0.0]],
)
def test_describe_matches_pandas(values):
    expected = pd.Series(values, dtype="float64").describe().to_dict()
    ours = describe(values)
    for stat, value in expected.items():
        if math.isnan(value):
            assert stat not in ours
        else:
            assert ours[stat] == pytest.approx(value)


def test_summaries_leave_out_text_and_non_finite_values():
    rows = [
        {"score": 1.0, "grade": "7th grade", "bad": float("nan")},
        {"score": 3.0, "grade": "8th grade", "bad": float("inf")},
    ]
    assert summarize(rows) == {"score": describe([1.0, 3.0])}


def test_custom_metrics_must_return_finite_numbers():
    assert custom_metrics(lambda g, p, i: {"n": 2}, None, 0, 0) == {"n": 2.0}
    assert custom_metrics(lambda g, p, i: None, None, 0, 0) == {}
    with pytest.raises(ValueError, match="must return a dict"):
        custom_metrics(lambda g, p, i: [1], None, 0, 0)
    with pytest.raises(ValueError, match="finite number"):
        custom_metrics(lambda g, p, i: {"n": float("nan")}, None, 0, 0)
