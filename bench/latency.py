"""Section A: per-call latency of the caller (hot path) and the deferred work, interleaved.

Every round runs every contender once, in a shuffled order, each with a fresh handler, so
drift of the machine (thermal, other tenants) spreads over all contenders alike. Each
contender lives in an interpreter of its own for the whole section (``python -m
bench.latency --serve NAME``): peers patch LangChain process-wide (MLflow), install
global OpenTelemetry providers (Langfuse) and keep background threads, none of which may
touch another contender's calls; the parent only sends "run a block" and collects times.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import random
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.child import Child, network_error, serve
from bench.contenders import Contender, by_name, handler_failures
from bench.env import CALLBACK_ERRORS, quiet_logging
from bench.stats import mean, percentile
from bench.workloads import WORKLOADS, Workload, config_for

WARMUP_CALLS = 20
START_TIMEOUT_S = 300

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


def serve_contender(name: str) -> None:
    """Child: answer ``{"workload", "calls", "round"}`` requests with one block each."""
    quiet_logging()
    contender = by_name(name)
    workloads = {w.name: w for w in WORKLOADS}

    def handle(request: dict[str, Any]) -> dict[str, Any]:
        if "workload" not in request:
            return {"ready": True}
        workload = workloads[request["workload"]]
        block = run_block(contender, workload, request["calls"], request["round"])
        return {"block": dataclasses.asdict(block)}

    serve(handle)


def _start(contenders: Sequence[Contender], series: dict[str, Series], log: Log) -> dict:
    """One interpreter per available contender, each ready (imports done) before any block."""
    children: dict[str, Child] = {}
    for contender in contenders:
        if series[contender.name].unavailable is not None:
            continue
        child = Child("bench.latency", ["--serve", contender.name], contender.name)
        answer = child.ask({}, START_TIMEOUT_S)
        reason = answer.get("error") or network_error(answer)
        if reason:
            series[contender.name].unavailable = reason
            child.stop()
            log(f"latency {contender.name}: n/a ({reason})")
            continue
        children[contender.name] = child
    return children


def _ask_block(
    child: Child, entry: Series, workload: Workload, calls: int, round_: int, timeout: float
) -> Block | None:
    """One block in the contender's interpreter; a failure makes it n/a for this workload."""
    answer = child.ask({"workload": workload.name, "calls": calls, "round": round_}, timeout)
    reason = answer.get("error") or network_error(answer)
    if reason:
        entry.unavailable = reason if "error" not in answer else f"raised {reason}"
        entry.blocks.clear()
        return None
    return Block(**answer["block"])


def run_workload(
    workload: Workload,
    children: dict[str, Child],
    contenders: Sequence[Contender],
    unavailable: dict[str, str],
    plan: tuple[int, int, float],
    rng: random.Random,
    log: Log,
) -> dict[str, Series]:
    """Warm every contender up once, then ``rounds`` shuffled rounds of one block each."""
    rounds, calls, timeout = plan
    series = {c.name: Series(c.name, unavailable=unavailable.get(c.name)) for c in contenders}
    live = [c for c in contenders if c.name in children and series[c.name].unavailable is None]
    for contender in live:
        entry = series[contender.name]
        _ask_block(children[contender.name], entry, workload, WARMUP_CALLS, 0, timeout)
    for round_ in range(1, rounds + 1):
        order = list(live)
        rng.shuffle(order)
        for contender in order:
            entry = series[contender.name]
            if entry.unavailable is not None:
                continue
            child = children[contender.name]
            block = _ask_block(child, entry, workload, calls, round_, timeout)
            if block is not None:
                entry.blocks.append(block)
                log(_progress(workload.name, round_, rounds, contender.name, block))
    return series


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
    block_timeout: float = 900.0,
) -> dict[str, dict[str, Series]]:
    rng = random.Random(seed)
    results = {}
    missing = {c.name: Series(c.name, unavailable=unavailable.get(c.name)) for c in contenders}
    children = _start(contenders, missing, log)
    known = {**unavailable, **{n: s.unavailable for n, s in missing.items() if s.unavailable}}
    try:
        for workload in workloads:
            calls = max(1, round(workload.calls * scale))
            results[workload.name] = run_workload(
                workload, children, contenders, known, (rounds, calls, block_timeout), rng, log
            )
    finally:
        for child in children.values():
            child.stop()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--serve", required=True, metavar="CONTENDER")
    serve_contender(parser.parse_args().serve)


if __name__ == "__main__":
    main()
