"""``python -m bench.what_if``: what each kind of ours' deferred work costs, by leaving it out.

Not a setting of the handler: a measurement. In a fresh interpreter per variant, one part
of the worker's work is replaced by nothing (the records are then missing: nothing here
may be kept), ours' worker is held during ``--calls`` application calls, then released and
flushed; the process CPU time of that catching-up, per call, is the deferred work. The
difference to ``all`` is what the part costs. The parts overlap: a text is a journal line
and a ``comet_ml`` call too. Variants run in interleaved rounds and the median is printed,
as this machine's timings move from one run to the next.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

from bench.child import emit, run_child
from bench.contenders import by_name, warmed_up
from bench.env import quiet_logging
from bench.workloads import WORKLOADS, config_for, workload_named

WARMUP = 100


def _nothing(*args: Any, **kwargs: Any) -> None:
    return None


def _leave_out(module: str, owner: str | None, name: str) -> Callable[[], None]:
    def patch() -> None:
        import importlib

        target: Any = importlib.import_module(f"langchain_comet.{module}")
        if owner is not None:
            target = getattr(target, owner)
        setattr(target, name, _nothing)

    return patch


def _no_budget() -> None:
    """Every text and metric point over budget from the start: grouped, none one by one."""
    from langchain_comet import budget

    budget.TokenBucket.take = _refuse  # type: ignore[method-assign]


def _refuse(*args: Any, **kwargs: Any) -> bool:
    return False


VARIANTS: dict[str, tuple[str, Callable[[], None] | None]] = {
    "all": ("everything, as shipped", None),
    "no-action-records": (
        "the seed's action records (one per callback), built and spooled",
        _leave_out("runs", "RunTree", "_record_action"),
    ),
    "no-texts": (
        "the texts of prompts and outputs (journal line and comet_ml log_text)",
        _leave_out("sink", "CometSink", "text"),
    ),
    "no-journal": (
        "every journal line (what recover replays)",
        _leave_out("store", "SessionStore", "journal"),
    ),
    "no-spools": (
        "every spooled record (run records, action records, session rows)",
        _leave_out("store", "Spool", "append"),
    ),
    "no-burst": (
        "the Comet budget's items one by one (texts, metric calls): all grouped instead",
        _no_budget,
    ),
    "no-comet-calls": (
        "every comet_ml call made while recording (log_text, log_metrics, ...)",
        _leave_out("sink", None, "call_comet"),
    ),
}


def measure(variant: str, workload_name: str, calls: int) -> dict[str, Any]:
    from bench.profile import _hold, _worker

    patch = VARIANTS[variant][1]
    if patch is not None:
        patch()
    quiet_logging()
    contender = by_name("ours")
    workload = workload_named(workload_name)
    handler = warmed_up(contender, workload, WARMUP, "bench-what-if-")
    config = config_for(handler)
    gate = _hold(_worker(handler))
    for i in range(calls):
        workload.call(WARMUP + i, config)
    began = time.process_time()
    gate.set()
    contender.flush(handler)
    spent = time.process_time() - began
    return {"variant": variant, "deferred_us": spent / calls * 1e6}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.what_if", description=__doc__)
    parser.add_argument("--variant", action="append", choices=sorted(VARIANTS))
    parser.add_argument("--workload", default="chain", choices=[w.name for w in WORKLOADS])
    # The worker is held: calls x events per call must stay below its max_pending (20,000).
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    names = args.variant or list(VARIANTS)
    if args.child:
        emit(measure(names[0], args.workload, args.calls))
        return
    spent: dict[str, list[float]] = {name: [] for name in names}
    for _ in range(args.rounds):
        for name in names:
            child = ["--child", "--variant", name, "--workload", args.workload]
            result = run_child("bench.what_if", [*child, "--calls", str(args.calls)], timeout=600)
            if "error" in result:
                print(f"{name}: n/a: {result['error']}")
                continue
            spent[name].append(result["deferred_us"])
    base = statistics.median(spent["all"]) if spent.get("all") else None
    print(f"deferred CPU per {args.workload} call, median of {args.rounds} rounds:")
    for name, values in spent.items():
        if not values:
            continue
        median = statistics.median(values)
        share = f" ({(median - base) / base:+.0%})" if base and name != "all" else ""
        print(f"  {name:<18} {median:6.0f} µs{share}  {VARIANTS[name][0]}")


if __name__ == "__main__":
    main()
