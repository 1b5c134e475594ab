"""``python -m bench.gc_cost``: what the garbage collector costs the application's thread.

A handler that defers its work holds each callback's arguments until its worker gets to
them. Held objects survive the collector's young generations, and once enough have
survived, CPython runs a full collection, which walks every tracked object of the process
(LangChain, comet_ml, pydantic: a few hundred thousand) on whichever thread allocates:
usually the application's. This measures, per contender, in a fresh interpreter each:

- the hot path per call with the collector on, and with it off (``gc.disable()`` around
  the calls only), and the difference;
- collections per generation on the application's thread during the calls, and their time;
- the GC-tracked objects a call leaves alive while the worker is held (``--gate``-like).

Nothing here is a target: it explains the hot-path ratios of section A.
"""

from __future__ import annotations

import argparse
import gc
import threading
import time
from collections import Counter
from typing import Any

from bench.child import emit, run_child
from bench.contenders import by_name, warmed_up
from bench.env import quiet_logging
from bench.workloads import WORKLOADS, config_for, workload_named

WARMUP = 50
# Calls per timed block: well under the worker's max_delay (0.5 s) for every contender.
BLOCK = 200


def _timed_calls(
    contender: Any,
    handler: Any,
    workload: Any,
    config: dict[str, Any],
    calls: int,
    offset: int,
    gc_enabled: bool,
) -> float:
    """Mean µs per call, in blocks of ``BLOCK`` calls with a flush between them (not timed,
    the collector on): like section A, a block ends before the worker's ``max_delay``, so
    the worker does not run during it."""
    spent = 0.0
    for start in range(0, calls, BLOCK):
        if not gc_enabled:
            gc.disable()
        began = time.perf_counter()
        for i in range(start, min(start + BLOCK, calls)):
            workload.call(offset + i, config)
        spent += time.perf_counter() - began
        gc.enable()
        contender.flush(handler)
    return spent / calls * 1e6


def measure(name: str, workload_name: str, calls: int, freeze: bool = False) -> dict[str, Any]:
    """Collections and hot path with the collector on and off, then objects held per call.

    With ``freeze``, ``gc.freeze()`` after the warm-up, as a service may do once started:
    what exists then is left out of every later collection."""
    quiet_logging()
    contender = by_name(name)
    workload = workload_named(workload_name)
    handler = warmed_up(contender, workload, WARMUP, "bench-gc-")
    config = config_for(handler)
    if freeze:
        gc.collect()
        gc.freeze()

    stats = {generation: [0, 0.0] for generation in range(3)}
    began = [0.0]

    def on_gc(phase: str, info: dict[str, int]) -> None:
        # The application's thread only: the worker collects too, during the flushes.
        if threading.current_thread() is not threading.main_thread():
            return
        if phase == "start":
            began[0] = time.perf_counter()
        else:
            entry = stats[info["generation"]]
            entry[0] += 1
            entry[1] += time.perf_counter() - began[0]

    gc.callbacks.append(on_gc)
    hot_on = _timed_calls(contender, handler, workload, config, calls, WARMUP, gc_enabled=True)
    gc.callbacks.remove(on_gc)
    hot_off = _timed_calls(
        contender, handler, workload, config, calls, WARMUP + calls, gc_enabled=False
    )

    held = _held_per_call(handler, workload, config, min(calls, 500))
    contender.flush(handler)
    contender.finish(handler)
    return {
        "contender": name + (" (gc.freeze)" if freeze else ""),
        "workload": workload_name,
        "calls": calls,
        "hot_gc_on_us": hot_on,
        "hot_gc_off_us": hot_off,
        "collections": {str(g): {"count": n, "ms": t * 1e3} for g, (n, t) in stats.items()},
        "tracked_objects": len(gc.get_objects()),
        "held_per_call": held,
    }


def _held_per_call(
    handler: Any, workload: Any, config: dict[str, Any], calls: int
) -> dict[str, float]:
    """Tracked objects left alive per call while ours' worker waits (by type), else 0."""
    from bench.profile import _hold, _worker

    worker = _worker(handler)
    gate = _hold(worker) if worker is not None else None
    gc.collect()
    before = Counter(type(o).__qualname__ for o in gc.get_objects())
    for i in range(calls):
        workload.call(10**6 + i, config)
    gc.collect()
    after = Counter(type(o).__qualname__ for o in gc.get_objects())
    if gate is not None:
        gate.set()
    grown = after - before
    held = {kind: count / calls for kind, count in grown.most_common(8)}
    held["total"] = sum(grown.values()) / calls
    return held


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.gc_cost", description=__doc__)
    parser.add_argument("--contender", action="append", metavar="NAME")
    parser.add_argument("--workload", default="chain", choices=[w.name for w in WORKLOADS])
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument(
        "--freeze", action="store_true", help="gc.freeze() after the warm-up, as a service may"
    )
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    names = args.contender or ["noop", "ours", "ours+complexity"]
    if args.child:
        emit(measure(names[0], args.workload, args.calls, args.freeze))
        return
    for name in names:
        child = ["--child", "--contender", name, "--workload", args.workload]
        if args.freeze:
            child.append("--freeze")
        result = run_child("bench.gc_cost", [*child, "--calls", str(args.calls)], timeout=600)
        print(_line(result))


def _line(result: dict[str, Any]) -> str:
    if "error" in result:
        return f"n/a: {result['error']}"
    collections = ", ".join(
        f"gen{g} {c['count']}x {c['ms']:.0f} ms" for g, c in result["collections"].items()
    )
    held = result["held_per_call"]
    kinds = ", ".join(f"{k} {v:.1f}" for k, v in held.items() if k != "total")
    return (
        f"{result['contender']:<16} {result['workload']}: hot {result['hot_gc_on_us']:.0f} us "
        f"(collector off: {result['hot_gc_off_us']:.0f} us); during {result['calls']} calls: "
        f"{collections}; {result['tracked_objects']:,} tracked objects; "
        f"held per call {held['total']:.1f} ({kinds})"
    )


if __name__ == "__main__":
    main()
