"""Section E: a service busy all the time. How much of its throughput does a handler take?

Each contender runs in a fresh interpreter: ``threads`` threads invoke the ``chain``
workload back to back for ``seconds``; throughput is completed calls per second of that
window. Then the handler is flushed (timed: the backlog a saturated service leaves) and
ended, and the traces it recorded are counted where they landed (our archive's root runs,
what the local sink received from Opik and Langfuse, MLflow's local store): nothing may
have been dropped to reach the figure. Rounds run the contenders in a shuffled order.
"""

from __future__ import annotations

import argparse
import random
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from bench.child import emit, network_error, run_child
from bench.stats import mean

CONTENDERS = (
    "noop",
    "ours",
    "ours+complexity",
    "ours+recorder",
    "ours+complexity+recorder",
    "opik",
    "langfuse",
    "mlflow",
)
WARMUP_CALLS = 20
BASELINE = "noop"


def _hammer(config: dict[str, Any], threads: int, seconds: float) -> tuple[int, float]:
    """``threads`` threads calling the chain until the window closes: (calls, seconds)."""
    from bench.workloads import call_chain

    counts = [0] * threads
    start = threading.Barrier(threads + 1)
    deadline = [0.0]

    def loop(slot: int) -> None:
        start.wait()
        i = slot
        while time.perf_counter() < deadline[0]:
            call_chain(i, config)
            counts[slot] += 1
            i += threads

    workers = [threading.Thread(target=loop, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    began = time.perf_counter()
    deadline[0] = began + seconds
    start.wait()
    for worker in workers:
        worker.join()
    return sum(counts), time.perf_counter() - began


def _timed(fn: Callable[[], None]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def measure(name: str, threads: int, seconds: float) -> dict[str, Any]:
    """Warm up on a throwaway handler, then saturate a fresh one and count its traces."""
    from bench import peers
    from bench.contenders import by_name, handler_failures
    from bench.env import CALLBACK_ERRORS, quiet_logging
    from bench.workloads import call_chain, config_for

    quiet_logging()
    contender = by_name(name)
    root = Path(tempfile.mkdtemp(prefix="bench-saturation-"))
    warm = contender.make(root / "warmup")
    for i in range(WARMUP_CALLS):
        call_chain(i, config_for(warm))
    contender.flush(warm)
    contender.finish(warm)
    del warm
    if contender.peer:
        peers.sink_reset(record=True)
    CALLBACK_ERRORS.take()
    directory = root / "measured"
    handler = contender.make(directory)
    # A peer's store or the sink may hold the warm-up's traces; ours writes a new archive.
    before = contender.traces(handler, directory) if contender.peer else 0
    calls, window_s = _hammer(config_for(handler), threads, seconds)
    flush_s = _timed(lambda: contender.flush(handler))
    end_s = _timed(lambda: contender.finish(handler))
    after = contender.traces(handler, directory)
    result = {
        "contender": name,
        "threads": threads,
        "calls": calls,
        "window_s": window_s,
        "flush_s": flush_s,
        "end_s": end_s,
        "traces": None if after is None or before is None else after - before,
        "callback_errors": CALLBACK_ERRORS.take(),
        "failures": handler_failures(handler),
    }
    if contender.peer:
        peers.sink_reset(record=False)
    shutil.rmtree(root, ignore_errors=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--contender", choices=CONTENDERS, required=True)
    parser.add_argument("--threads", type=int, required=True)
    parser.add_argument("--seconds", type=float, required=True)
    args = parser.parse_args()
    emit(measure(args.contender, args.threads, args.seconds))


def run_saturation(
    threads: int,
    seconds: float,
    rounds: int,
    unavailable: dict[str, str],
    seed: int,
    log: Callable[[str], None],
) -> dict[str, Any]:
    """``rounds`` shuffled rounds of every contender, each in a fresh interpreter."""
    rng = random.Random(seed)
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in CONTENDERS}
    for round_ in range(1, rounds + 1):
        order = [name for name in CONTENDERS if name not in unavailable]
        rng.shuffle(order)
        for name in order:
            args = ["--contender", name, "--threads", str(threads), "--seconds", str(seconds)]
            result = run_child("bench.saturation", args, timeout=600 + 20 * seconds)
            if (reason := network_error(result)) and "error" not in result:
                result = {"error": reason}
            runs[name].append(result)
            log(f"saturation round {round_}/{rounds} {name:<16} {_brief(result)}")
    return {
        "threads": threads,
        "seconds": seconds,
        "rounds": rounds,
        "contenders": {name: summarize(runs[name], unavailable.get(name)) for name in CONTENDERS},
    }


def summarize(runs: Sequence[dict[str, Any]], unavailable: str | None) -> dict[str, Any]:
    """Mean throughput over the rounds, the final flush, and the traces against the calls."""
    errors = [run["error"] for run in runs if "error" in run]
    good = [run for run in runs if "error" not in run]
    if unavailable or errors or not good:
        return {"unavailable": unavailable or (errors[0] if errors else "not run"), "runs": runs}
    counted = [run for run in good if run["traces"] is not None]
    return {
        "unavailable": None,
        "runs": runs,
        "calls_per_s": mean([run["calls"] / run["window_s"] for run in good]),
        "calls_per_s_incl_flush": mean(
            [run["calls"] / (run["window_s"] + run["flush_s"]) for run in good]
        ),
        "flush_s": mean([run["flush_s"] for run in good]),
        "end_s": mean([run["end_s"] for run in good]),
        "calls": sum(run["calls"] for run in good),
        "traces": sum(run["traces"] for run in counted) if counted else None,
        "traced_calls": sum(run["calls"] for run in counted),
        "failures": sorted({f for run in good for f in run["failures"]}),
    }


def _brief(result: dict[str, Any]) -> str:
    if "error" in result:
        return f"n/a ({result['error']})"
    traces = result["traces"]
    kept = f", {traces}/{result['calls']} traces" if traces is not None else ""
    return (
        f"{result['calls'] / result['window_s']:7.1f} calls/s, flush {result['flush_s']:.2f} s, "
        f"end {result['end_s']:.2f} s{kept}"
    )


if __name__ == "__main__":
    main()
