"""Section A: per-call latency of the caller (hot path) and the deferred work, interleaved.

Every round runs every contender once, in a shuffled order, each with a fresh handler, so
drift of the machine (thermal, other tenants) spreads over all contenders alike.
"""

from __future__ import annotations

import gc
import random
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.contenders import Contender, handler_failures
from bench.env import CALLBACK_ERRORS
from bench.stats import mean, percentile
from bench.workloads import Workload, config_for

WARMUP_CALLS = 20

Log = Callable[[str], None]


@dataclass
class Block:
    """One contender's block of calls in one round; times in nanoseconds."""

    round: int
    calls_ns: list[int]
    flush_ns: int
    callback_errors: int
    failures: list[str]


@dataclass
class Series:
    """One contender on one workload: its blocks, or why it could not run."""

    contender: str
    blocks: list[Block] = field(default_factory=list)
    unavailable: str | None = None

    def summary(self) -> dict[str, Any] | None:
        """Pooled per-call figures in microseconds; None when the contender is n/a."""
        if self.unavailable or not self.blocks:
            return None
        samples = sorted(ns for block in self.blocks for ns in block.calls_ns)
        calls = len(samples)
        flush_ns = sum(block.flush_ns for block in self.blocks)
        return {
            "calls": calls,
            "hot_mean_us": mean(samples) / 1e3,
            "hot_p50_us": percentile(samples, 50) / 1e3,
            "hot_p99_us": percentile(samples, 99) / 1e3,
            "flush_per_call_us": flush_ns / calls / 1e3,
            "total_per_call_us": (sum(samples) + flush_ns) / calls / 1e3,
            "round_hot_means_us": [mean(block.calls_ns) / 1e3 for block in self.blocks],
            "callback_errors_per_call": sum(b.callback_errors for b in self.blocks) / calls,
            "failures": sorted({f for block in self.blocks for f in block.failures}),
        }


def run_block(contender: Contender, workload: Workload, calls: int, round_: int) -> Block:
    """Time each call, then the flush; end the experiment untimed and clean up."""
    directory = Path(tempfile.mkdtemp(prefix=f"bench-{contender.name}-"))
    try:
        handler = contender.make(directory)
        config = config_for(handler)
        call = workload.call
        CALLBACK_ERRORS.take()
        times = []
        for i in range(calls):
            start = time.perf_counter_ns()
            call(i, config)
            times.append(time.perf_counter_ns() - start)
        start = time.perf_counter_ns()
        if handler is not None:
            contender.flush(handler)
        flush_ns = time.perf_counter_ns() - start
        errors = CALLBACK_ERRORS.take()
        failures = handler_failures(handler)
        if handler is not None:
            contender.finish(handler)
        del handler, config
    finally:
        shutil.rmtree(directory, ignore_errors=True)
        gc.collect()
    return Block(round_, times, flush_ns, errors, failures)


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}".splitlines()[0][:200]


def run_workload(
    workload: Workload,
    contenders: Sequence[Contender],
    unavailable: dict[str, str],
    rounds: int,
    calls: int,
    rng: random.Random,
    log: Log,
) -> dict[str, Series]:
    """Warm every contender up once, then ``rounds`` shuffled rounds of one block each."""
    series = {c.name: Series(c.name, unavailable=unavailable.get(c.name)) for c in contenders}
    for contender in contenders:
        if series[contender.name].unavailable is None:
            _guarded_block(series[contender.name], contender, workload, WARMUP_CALLS, 0)
    for round_ in range(1, rounds + 1):
        order = list(contenders)
        rng.shuffle(order)
        for contender in order:
            entry = series[contender.name]
            if entry.unavailable is not None:
                continue
            block = _guarded_block(entry, contender, workload, calls, round_)
            if block is not None:
                entry.blocks.append(block)
                log(_progress(workload.name, round_, rounds, contender.name, block))
    return series


def _guarded_block(
    entry: Series, contender: Contender, workload: Workload, calls: int, round_: int
) -> Block | None:
    """One contender failing makes it n/a for this workload; the benchmark carries on."""
    try:
        return run_block(contender, workload, calls, round_)
    except Exception as exc:
        entry.unavailable = f"raised {_describe(exc)}"
        entry.blocks.clear()
        return None


def _progress(workload: str, round_: int, rounds: int, name: str, block: Block) -> str:
    hot = mean(block.calls_ns) / 1e3
    return (
        f"latency {workload} round {round_}/{rounds} {name:<21} hot {hot:8.0f} us/call"
        f"  flush {block.flush_ns / 1e6:8.1f} ms"
    )


def run_latency(
    workloads: Sequence[Workload],
    contenders: Sequence[Contender],
    unavailable: dict[str, str],
    rounds: int,
    scale: float,
    seed: int,
    log: Log,
) -> dict[str, dict[str, Series]]:
    rng = random.Random(seed)
    results = {}
    for workload in workloads:
        calls = max(1, round(workload.calls * scale))
        results[workload.name] = run_workload(
            workload, contenders, unavailable, rounds, calls, rng, log
        )
    return results
