"""``runs.iso`` is ``datetime.fromtimestamp(wall, UTC).isoformat()``, made faster: the same
text for every instant, including the roundings at a second's edges."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest

from langchain_comet.runs import iso


def reference(wall: float) -> str:
    return datetime.fromtimestamp(wall, UTC).isoformat()


EDGES = (0.0, 0.5, 1e-7, 5e-7, 1.5e-6, 0.4999995, 0.9999994999, 0.9999995, 0.99999999)


@pytest.mark.parametrize("second", [0, 1, 59, 86_399, 951_782_400, 1_764_570_000, 4_102_444_799])
def test_the_edges_of_a_second_round_as_datetime_rounds_them(second):
    for edge in EDGES:
        assert iso(second + edge) == reference(second + edge)


def test_any_instant_reads_as_datetime_writes_it():
    rng = random.Random(20261201)
    walls = [rng.uniform(-2e9, 4e9) for _ in range(20_000)]
    walls += [1_764_570_000 + i / 7 for i in range(20_000)]  # the same second, many times
    for wall in walls:
        assert iso(wall) == reference(wall), wall


def test_no_time_is_none():
    assert iso(None) is None
