"""Section B: does memory stay flat when an application logs for a long time and never flushes?

The parent runs ``python -m bench.memory`` once per contender and pass, so no contender
inherits another's heap. A pass stops early (and says so) when it exceeds its time budget.
"""

from __future__ import annotations

import argparse
import gc
import os
import shutil
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.child import emit, network_error, run_child

CONTENDERS = ("noop", "ours", "ours+recorder", "community", "opik", "langfuse", "mlflow")
WARMUP_CALLS = 200
BUDGET_CHECK_EVERY = 100
# Handlers measured here stay referenced until the process exits: dropping ours would run
# its finaliser (flush and end, on this thread), the deferred work this section must skip.
_KEEP_ALIVE: list[Any] = []
_PAGE_MB = os.sysconf("SC_PAGE_SIZE") / 2**20


def rss_mb(pid: int | str = "self") -> float:
    """Resident set size from /proc/<pid>/statm (stdlib only)."""
    with open(f"/proc/{pid}/statm", encoding="ascii") as statm:
        return int(statm.read().split()[1]) * _PAGE_MB


def recorder_rss_mb(handler: Any) -> float:
    """The resident set size of ours' recorder process, if it has one: the application's
    memory too (it holds what the worker thread would hold in the application)."""
    link = getattr(getattr(handler, "_session", None), "_link", None)
    process = getattr(link, "_process", None)
    if process is None:
        return 0.0
    try:
        return rss_mb(process.pid)
    except OSError:
        return 0.0


def held(handler: Any) -> int | None:
    """Work the handler holds in memory: ours' queued events, the community's records,
    the traces an OpikTracer keeps for ``created_traces()``."""
    worker = getattr(getattr(handler, "_session", None), "worker", None)
    pending = getattr(worker, "pending", None)
    if pending is not None:
        return int(pending)
    records = getattr(handler, "action_records", None)
    if records is None:
        records = getattr(handler, "_created_traces", None)
    return len(records) if records is not None else None


def sample(calls: int, started: float, handler: Any) -> dict[str, Any]:
    gc.collect()
    point: dict[str, Any] = {
        "calls": calls,
        "elapsed_s": round(time.perf_counter() - started, 3),
        "rss_mb": rss_mb() + recorder_rss_mb(handler),
        "held": held(handler),
    }
    if tracemalloc.is_tracing():
        point["traced_mb"] = tracemalloc.get_traced_memory()[0] / 2**20
    return point


def measure(name: str, calls: int, checkpoints: set[int], traced: bool, budget: float) -> dict:
    """Run the chain ``calls`` times on one handler, sampling memory at ``checkpoints``."""
    from bench.contenders import by_name
    from bench.env import CALLBACK_ERRORS, quiet_logging
    from bench.workloads import call_chain, config_for

    quiet_logging()
    for i in range(WARMUP_CALLS):
        call_chain(i, {})
    directory = Path(tempfile.mkdtemp(prefix="bench-memory-"))
    if traced:
        tracemalloc.start()
    started = time.perf_counter()
    samples = [sample(0, started, None)]
    handler = by_name(name).make(directory)
    _KEEP_ALIVE.append(handler)
    config = config_for(handler)
    stopped = None
    for i in range(1, calls + 1):
        call_chain(i, config)
        if i in checkpoints:
            samples.append(sample(i, started, handler))
        if i % BUDGET_CHECK_EVERY == 0 and time.perf_counter() - started > budget:
            stopped = f"time budget {budget:.0f} s reached after {i} calls"
            break
    shutil.rmtree(directory, ignore_errors=True)
    return {
        "contender": name,
        "traced": traced,
        "samples": samples,
        "stopped": stopped,
        "callback_errors": CALLBACK_ERRORS.take(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--contender", choices=CONTENDERS, required=True)
    parser.add_argument("--calls", type=int, required=True)
    parser.add_argument("--checkpoints", required=True, help="comma-separated call counts")
    parser.add_argument("--traced", action="store_true", help="sample tracemalloc's heap")
    parser.add_argument("--budget", type=float, default=600.0, help="seconds")
    args = parser.parse_args()
    checkpoints = {int(c) for c in args.checkpoints.split(",")}
    emit(measure(args.contender, args.calls, checkpoints, args.traced, args.budget))


def run_memory(
    calls: int,
    checkpoints: tuple[int, ...],
    traced_calls: int,
    budgets: tuple[float, float],
    unavailable: dict[str, str],
    log: Callable[[str], None],
) -> dict[str, dict[str, Any]]:
    """Both passes for each contender, each in a fresh interpreter; RSS pass first."""
    results: dict[str, dict[str, Any]] = {}
    for name in CONTENDERS:
        if name in unavailable:
            reason = {"error": unavailable[name]}
            results[name] = {"rss": reason, "traced": reason}
            continue
        results[name] = {}
        for traced, n, budget in ((False, calls, budgets[0]), (True, traced_calls, budgets[1])):
            marks = ",".join(str(c) for c in checkpoints if c <= n)
            args = ["--contender", name, "--calls", str(n), "--checkpoints", marks]
            args += ["--budget", str(budget), *(["--traced"] if traced else [])]
            started = time.perf_counter()
            result = run_child("bench.memory", args, timeout=budget + 180)
            if (reason := network_error(result)) and "error" not in result:
                result = {"error": reason}
            kind = "traced" if traced else "rss"
            results[name][kind] = result
            log(f"memory {name} {kind}: {time.perf_counter() - started:.0f} s {_brief(result)}")
    return results


def _brief(result: dict[str, Any]) -> str:
    if "error" in result:
        return f"n/a ({result['error']})"
    last = result["samples"][-1]
    traced = f", traced {last['traced_mb']:.1f} MB" if "traced_mb" in last else ""
    return f"{last['calls']} calls: rss {last['rss_mb']:.1f} MB{traced}"


if __name__ == "__main__":
    main()
